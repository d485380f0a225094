#include "libs/jsonl/result_line.h"

#include <absl/status/status.h>

#include <algorithm>
#include <cstdint>
#include <regex>

#include "libs/jsonl/fast_json.h"

namespace batchscribe::jsonl {
namespace {

using nlohmann::json;

std::string Text(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// A token count: a non-negative integer, else 0. Floats, negatives and values
// out of range (a garbled line) must not become usage or cost.
int64_t Integer(const json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  if (it == object.end()) return 0;
  if (it->is_number_unsigned()) {
    const uint64_t v = it->get<uint64_t>();
    return v > static_cast<uint64_t>(INT64_MAX) ? 0 : static_cast<int64_t>(v);
  }
  if (it->is_number_integer()) return std::max<int64_t>(it->get<int64_t>(), 0);
  return 0;
}

std::optional<pricing::TokenUsage> UsageOf(const json& body) {
  if (!body.is_object()) return std::nullopt;
  auto it = body.find("usage");
  if (it == body.end() || !it->is_object()) return std::nullopt;
  pricing::TokenUsage usage;
  usage.input_tokens = Integer(*it, "prompt_tokens");
  usage.output_tokens = Integer(*it, "completion_tokens");
  if (auto details = it->find("prompt_tokens_details");
      details != it->end() && details->is_object()) {
    usage.cached_input_tokens = Integer(*details, "cached_tokens");
  }
  return usage;
}

// "HTTP 400 context_length_exceeded: This model's maximum context length..."
std::string DescribeHttpFailure(int status, const json& body) {
  std::string out = "HTTP " + std::to_string(status);
  json error = body.is_object() && body.contains("error") ? body["error"] : json();
  std::string code = Text(error, "code");
  std::string message = error.is_string() ? error.get<std::string>() : Text(error, "message");
  if (!code.empty()) out += " " + code;
  if (!message.empty()) out += ": " + message;
  if (status == 0 && code.empty() && message.empty()) out += " (the request was not executed)";
  return out;
}

std::string Truncate(std::string text, size_t max) {
  if (text.size() > max) text = text.substr(0, max) + "...";
  return text;
}

}  // namespace

std::string_view LineOutcomeName(LineOutcome outcome) {
  switch (outcome) {
    case LineOutcome::kSucceeded:
      return "SUCCEEDED";
    case LineOutcome::kRetryable:
      return "RETRYABLE";
    case LineOutcome::kPermanent:
      return "FAILED";
    case LineOutcome::kCancelled:
      return "CANCELLED";
  }
  return "RETRYABLE";
}

LineOutcome OutcomeForHttpStatus(int status) {
  if (status == 0 || status == 408 || status == 409 || status == 429 || status >= 500) {
    return LineOutcome::kRetryable;
  }
  if (status >= 400) return LineOutcome::kPermanent;
  return LineOutcome::kRetryable;
}

ResultLine ClassifyChatCompletion(std::string_view custom_id, const json& body) {
  ResultLine result;
  result.custom_id = std::string(custom_id);
  result.status_code = 200;
  result.usage = UsageOf(body);
  const json* choice = nullptr;
  if (body.is_object()) {
    auto choices = body.find("choices");
    if (choices != body.end() && choices->is_array() && !choices->empty() &&
        (*choices)[0].is_object()) {
      choice = &(*choices)[0];
    }
  }
  if (choice == nullptr) {
    result.outcome = LineOutcome::kRetryable;
    result.reason = "the response has no choices";
    return result;
  }
  result.finish_reason = Text(*choice, "finish_reason");
  json message = choice->contains("message") ? (*choice)["message"] : json();
  std::string refusal = Text(message, "refusal");
  if (!refusal.empty()) {
    result.outcome = LineOutcome::kPermanent;
    result.reason = "the model refused: " + Truncate(refusal, 500);
    return result;
  }
  if (result.finish_reason == "length") {
    // Deterministic: the same request is cut at the same place again. The
    // batch pipeline splits the part instead (retrieve); nothing re-sends it.
    result.outcome = LineOutcome::kPermanent;
    result.reason =
        "output truncated at max_completion_tokens (finish_reason=length); raise "
        "max_completion_tokens";
    return result;
  }
  if (result.finish_reason == "content_filter") {
    result.outcome = LineOutcome::kPermanent;
    result.reason = "the answer was blocked by the content filter (finish_reason=content_filter)";
    return result;
  }
  if (result.finish_reason != "stop") {
    result.outcome = LineOutcome::kPermanent;
    result.reason = "unexpected finish_reason '" + result.finish_reason + "'";
    return result;
  }
  result.content = Text(message, "content");
  if (result.content.empty()) {
    result.outcome = LineOutcome::kRetryable;
    result.reason = "the answer is empty";
    return result;
  }
  result.outcome = LineOutcome::kSucceeded;
  return result;
}

absl::StatusOr<ResultLine> ClassifyResultLine(std::string_view line) {
  json parsed = ParseJson(line);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("custom_id") ||
      !parsed["custom_id"].is_string()) {
    // Salvage the custom_id of a truncated or corrupted line by pattern.
    static const std::regex kCustomId(R"re("custom_id"\s*:\s*"([A-Za-z0-9._-]{1,64})")re");
    std::match_results<std::string_view::const_iterator> m;
    if (!std::regex_search(line.begin(), line.end(), m, kCustomId)) {
      return absl::NotFoundError("result line without a custom_id");
    }
    ResultLine result;
    result.custom_id = m[1].str();
    result.outcome = LineOutcome::kRetryable;
    result.reason = "unparseable result line";
    return result;
  }
  ResultLine result;
  result.custom_id = parsed["custom_id"].get<std::string>();
  const json& error = parsed.contains("error") ? parsed["error"] : json();
  const json& response = parsed.contains("response") ? parsed["response"] : json();

  if (!error.is_null()) {
    std::string code = Text(error, "code");
    std::string message = error.is_string() ? error.get<std::string>() : Text(error, "message");
    if (code == "batch_cancelled") {
      result.outcome = LineOutcome::kCancelled;
      result.reason = "cancelled before it ran";
      result.never_ran = true;
      return result;
    }
    result.outcome = LineOutcome::kRetryable;
    if (code == "batch_expired") {
      result.reason = "the OpenAI batch expired before this request ran";
      result.never_ran = true;
    } else {
      result.reason = "request error" + (code.empty() ? "" : " " + code) +
                      (message.empty() ? "" : ": " + Truncate(message, 500));
    }
    return result;
  }
  if (!response.is_object()) {
    result.outcome = LineOutcome::kRetryable;
    result.reason = "the result line has neither a response nor an error";
    return result;
  }
  const json& status = response.contains("status_code") ? response["status_code"] : json();
  result.status_code = status.is_number_integer() ? status.get<int>() : 0;
  const json& body = response.contains("body") ? response["body"] : json();
  if (result.status_code != 200) {
    result.outcome = OutcomeForHttpStatus(result.status_code);
    result.reason = Truncate(DescribeHttpFailure(result.status_code, body), 700);
    result.usage = UsageOf(body);
    return result;
  }
  ResultLine classified = ClassifyChatCompletion(result.custom_id, body);
  return classified;
}

}  // namespace batchscribe::jsonl
