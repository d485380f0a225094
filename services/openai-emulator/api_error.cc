#include "services/openai-emulator/api_error.h"

namespace batchscribe::emulator {

Json ApiError::ToBody() const {
  Json error = Json::object();
  error["message"] = message;
  error["type"] = type;
  error["param"] = param ? Json(*param) : Json(nullptr);
  error["code"] = code ? Json(*code) : Json(nullptr);
  return Json{{"error", error}};
}

ApiError InvalidRequest(std::string message, std::optional<std::string> param,
                        std::optional<std::string> code) {
  return ApiError{400, std::move(message), "invalid_request_error", std::move(param),
                  std::move(code)};
}

ApiError MissingParameter(const std::string& param) {
  return InvalidRequest("Missing required parameter: '" + param + "'.", param,
                        "missing_required_parameter");
}

std::string DescribeJsonType(const Json& value) {
  if (value.is_null()) return "null";
  if (value.is_boolean()) return "a boolean";
  if (value.is_number_integer()) return "an integer";
  if (value.is_number()) return "a decimal";
  if (value.is_string()) return "a string";
  if (value.is_array()) return "an array";
  return "an object";
}

ApiError InvalidType(const std::string& param, const std::string& expected, const Json& got) {
  return InvalidRequest("Invalid type for '" + param + "': expected " + expected + ", but got " +
                            DescribeJsonType(got) + " instead.",
                        param, "invalid_type");
}

ApiError NoSuchObject(const std::string& object, const std::string& id) {
  return ApiError{404, "No such " + object + " object: " + id, "invalid_request_error", "id",
                  std::nullopt};
}

ApiError UnparseableJsonBody() {
  return InvalidRequest(
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
      "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
      "sent was not valid JSON. If you have trouble figuring out how to fix this, please contact "
      "us through our help center at help.openai.com.)");
}

ApiError ServerError(int status, const std::string& request_id) {
  ApiError e;
  e.http_status = status;
  e.type = "server_error";
  if (status == 502) {
    e.message = "Bad gateway.";
  } else if (status == 503) {
    e.message = "The engine is currently overloaded, please try again later.";
  } else {
    e.message =
        "The server had an error processing your request. Sorry about that! You can retry your "
        "request, or contact us through our help center at help.openai.com if you keep seeing "
        "this error. (Please include the request ID " +
        request_id + " in your email.)";
  }
  return e;
}

ApiError RateLimited(const std::string& model, const std::string& organization) {
  return ApiError{429,
                  "Rate limit reached for " + model + " in organization " + organization +
                      " on tokens per min (TPM): Limit 200000, Used 199000, Requested 3006. "
                      "Please try again in 1.146s. Visit https://platform.openai.com/account/"
                      "rate-limits to learn more.",
                  "tokens", std::nullopt, "rate_limit_exceeded"};
}

ApiError InsufficientQuota() {
  return ApiError{429,
                  "You exceeded your current quota, please check your plan and billing details. "
                  "For more information on this error, read the docs: "
                  "https://platform.openai.com/docs/guides/error-codes/api-errors.",
                  "insufficient_quota", std::nullopt, "insufficient_quota"};
}

std::string FormatWithCommas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

}  // namespace batchscribe::emulator
