#pragma once
// What went wrong in a call to the OpenAI API, carried inside an absl::Status
// payload so that callers can tell a rate limit from a bad request, see the
// server's Retry-After hint and know whether a failed POST may have been
// processed anyway (timeouts, dropped connections, 5xx).

#include <absl/status/status.h>

#include <chrono>
#include <optional>
#include <string>

namespace batchscribe::openai {

/// Details of one failed call (after the client's own retries).
struct ApiError {
  /// HTTP status of the last reply; 0 when no reply arrived (connect error,
  /// timeout, dropped connection).
  int http_status = 0;
  /// `error.type`, `error.code` (numeric codes become text), `error.param`,
  /// `error.message` of OpenAI's error body, when the body had one.
  std::string type;
  std::string code;
  std::string param;
  std::string message;
  /// `x-request-id` of the last reply, for support tickets.
  std::string request_id;
  /// The server's retry hint (`retry-after-ms` / `retry-after`), if any.
  std::optional<std::chrono::milliseconds> retry_after;
  /// True when the request may have been executed although no success reply
  /// arrived: a non-idempotent POST must be reconciled before it is re-sent.
  bool unknown_outcome = false;
};

/// The absl code for an HTTP status: 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED,
/// 403 PERMISSION_DENIED, 404 NOT_FOUND, 408 DEADLINE_EXCEEDED, 409 ABORTED,
/// 429 RESOURCE_EXHAUSTED, 5xx UNAVAILABLE, 0 (no reply) UNAVAILABLE.
absl::StatusCode StatusCodeForHttp(int http_status);

/// A status whose message summarises `error` and whose payload carries it.
absl::Status MakeStatus(const ApiError& error);

/// The details attached by MakeStatus, or nullopt for any other status.
std::optional<ApiError> GetApiError(const absl::Status& status);

/// True when the status says the call certainly did not run at OpenAI and can
/// be re-sent without reconciliation. False for unknown outcomes.
bool CertainlyNotProcessed(const absl::Status& status);

}  // namespace batchscribe::openai
