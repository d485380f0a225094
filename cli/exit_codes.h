#pragma once
// Exit codes of the batchscribe CLI. Scripts depend on them: keep the numbers
// stable and documented (README.md).

#include <grpcpp/support/status.h>

#include <string>

#include "batchscribe/v1/batch_service.pb.h"

namespace batchscribe::cli {

enum ExitCode : int {
  /// The command did what was asked; for status/watch, the batch is in progress
  /// or SUCCEEDED.
  kExitOk = 0,
  /// Anything else: a local file that cannot be read, an internal server error.
  kExitError = 1,
  /// The command line itself is wrong (unknown flag, missing argument).
  kExitUsage = 2,
  /// The server refused the request: INVALID_ARGUMENT, NOT_FOUND,
  /// FAILED_PRECONDITION, ALREADY_EXISTS, OUT_OF_RANGE, RESOURCE_EXHAUSTED.
  kExitBadRequest = 3,
  /// The server could not be reached or did not answer in time: UNAVAILABLE,
  /// DEADLINE_EXCEEDED, or a watch stream that broke for good.
  kExitUnavailable = 4,
  /// UNAUTHENTICATED or PERMISSION_DENIED: a missing or wrong token.
  kExitAuth = 5,
  /// status/watch: the batch ended FAILED.
  kExitBatchFailed = 10,
  /// status/watch: the batch ended PARTIALLY_SUCCEEDED.
  kExitBatchPartiallySucceeded = 11,
  /// status/watch: the batch ended CANCELLED.
  kExitBatchCancelled = 12,
};

/// "NOT_FOUND" for grpc::StatusCode::NOT_FOUND.
std::string StatusCodeName(grpc::StatusCode code);

/// The exit code for a failed RPC.
int ExitCodeForStatus(const grpc::Status& status);

/// The exit code status and watch return for a batch in `state`.
int ExitCodeForBatchState(batchscribe::v1::BatchState state);

/// True for the states a batch never leaves.
bool IsFinal(batchscribe::v1::BatchState state);

}  // namespace batchscribe::cli
