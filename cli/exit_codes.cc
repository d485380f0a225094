#include "cli/exit_codes.h"

#include <absl/status/status.h>

namespace batchscribe::cli {

namespace v1 = batchscribe::v1;

std::string StatusCodeName(grpc::StatusCode code) {
  // gRPC and absl share the canonical codes and their names.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

int ExitCodeForStatus(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return kExitOk;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return kExitBadRequest;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return kExitUnavailable;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return kExitAuth;
    default:
      return kExitError;
  }
}

int ExitCodeForBatchState(v1::BatchState state) {
  switch (state) {
    case v1::BATCH_STATE_FAILED:
      return kExitBatchFailed;
    case v1::BATCH_STATE_PARTIALLY_SUCCEEDED:
      return kExitBatchPartiallySucceeded;
    case v1::BATCH_STATE_CANCELLED:
      return kExitBatchCancelled;
    default:
      return kExitOk;
  }
}

bool IsFinal(v1::BatchState state) {
  return state == v1::BATCH_STATE_SUCCEEDED || state == v1::BATCH_STATE_PARTIALLY_SUCCEEDED ||
         state == v1::BATCH_STATE_FAILED || state == v1::BATCH_STATE_CANCELLED;
}

}  // namespace batchscribe::cli
