#pragma once
// OpenAI's error body, {"error":{"message","type","param","code"}}, and the
// variant type the emulator's operations return.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "services/openai-emulator/json.h"

namespace batchscribe::emulator {

/// An error as OpenAI reports it: an HTTP status plus the four fields of the
/// spec's `Error` schema (all present in the body, param/code may be null).
struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::optional<std::string> param;
  std::optional<std::string> code;

  /// {"error":{"message":...,"type":...,"param":...,"code":...}}
  Json ToBody() const;
};

/// 400 invalid_request_error.
ApiError InvalidRequest(std::string message, std::optional<std::string> param = std::nullopt,
                        std::optional<std::string> code = std::nullopt);
/// 400 "Missing required parameter: 'x'."
ApiError MissingParameter(const std::string& param);
/// 400 "Invalid type for 'x': expected ..., but got ... instead."
ApiError InvalidType(const std::string& param, const std::string& expected, const Json& got);
/// 404 "No such <Object> object: <id>" (the wording the official SDK tests assert).
ApiError NoSuchObject(const std::string& object, const std::string& id);
/// 400 for a body that is not JSON, with OpenAI's wording.
ApiError UnparseableJsonBody();
/// A 5xx as OpenAI words it: 500 "The server had an error...", 502 "Bad
/// gateway.", 503 "The engine is currently overloaded...", type server_error.
ApiError ServerError(int status, const std::string& request_id);
/// 429 rate_limit_exceeded for `model` (type "tokens"), retryable.
ApiError RateLimited(const std::string& model, const std::string& organization);
/// 429 insufficient_quota: not worth retrying.
ApiError InsufficientQuota();
/// 1234567 -> "1,234,567", as OpenAI's messages print limits.
std::string FormatWithCommas(int64_t n);
/// The name of a JSON value's type as OpenAI's messages say it ("an integer", ...).
std::string DescribeJsonType(const Json& value);

/// Either a value or an ApiError.
template <typename T>
class ApiResult {
 public:
  ApiResult(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  ApiResult(ApiError error) : v_(std::move(error)) {}  // NOLINT: implicit by design
  bool ok() const { return v_.index() == 0; }
  const T& value() const { return std::get<0>(v_); }
  T& value() { return std::get<0>(v_); }
  const ApiError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

}  // namespace batchscribe::emulator
