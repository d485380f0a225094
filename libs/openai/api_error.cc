#include "libs/openai/api_error.h"

#include <absl/strings/cord.h>

#include <nlohmann/json.hpp>

namespace batchscribe::openai {
namespace {
constexpr const char* kPayloadUrl = "type.batchscribe.dev/openai.ApiError";
}  // namespace

absl::StatusCode StatusCodeForHttp(int http_status) {
  switch (http_status) {
    case 0:
      return absl::StatusCode::kUnavailable;
    case 400:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 408:
      return absl::StatusCode::kDeadlineExceeded;
    case 409:
      return absl::StatusCode::kAborted;
    case 413:
      return absl::StatusCode::kInvalidArgument;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    default:
      break;
  }
  if (http_status >= 500) return absl::StatusCode::kUnavailable;
  if (http_status >= 400) return absl::StatusCode::kFailedPrecondition;
  return absl::StatusCode::kUnknown;
}

absl::Status MakeStatus(const ApiError& error) {
  std::string message = error.http_status == 0 ? std::string("OpenAI request failed")
                                               : "OpenAI HTTP " + std::to_string(error.http_status);
  if (!error.code.empty()) message += " " + error.code;
  if (!error.message.empty()) message += ": " + error.message;
  if (!error.request_id.empty()) message += " (request " + error.request_id + ")";
  absl::Status status(StatusCodeForHttp(error.http_status), message);
  nlohmann::json payload = {{"http_status", error.http_status},
                            {"type", error.type},
                            {"code", error.code},
                            {"param", error.param},
                            {"message", error.message},
                            {"request_id", error.request_id},
                            {"unknown_outcome", error.unknown_outcome}};
  if (error.retry_after) payload["retry_after_ms"] = error.retry_after->count();
  status.SetPayload(kPayloadUrl, absl::Cord(payload.dump()));
  return status;
}

std::optional<ApiError> GetApiError(const absl::Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload) return std::nullopt;
  auto json = nlohmann::json::parse(std::string(*payload), nullptr, false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  ApiError error;
  error.http_status = json.value("http_status", 0);
  error.type = json.value("type", "");
  error.code = json.value("code", "");
  error.param = json.value("param", "");
  error.message = json.value("message", "");
  error.request_id = json.value("request_id", "");
  error.unknown_outcome = json.value("unknown_outcome", false);
  if (json.contains("retry_after_ms")) {
    error.retry_after = std::chrono::milliseconds(json["retry_after_ms"].get<int64_t>());
  }
  return error;
}

bool CertainlyNotProcessed(const absl::Status& status) {
  if (status.ok()) return false;
  auto error = GetApiError(status);
  if (!error) return false;
  return !error->unknown_outcome;
}

}  // namespace batchscribe::openai
