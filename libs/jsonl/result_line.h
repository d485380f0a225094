#pragma once
// The one place that parses and classifies result lines (output and error
// files of a batch) and synchronous chat completions (openai-batch-api.md §5,
// §8.2, §12):
//   succeeded  error null/absent, response.status_code 200,
//              finish_reason "stop", no refusal, non-empty content
//   retryable  status_code 0, 408, 409, 429, >= 500; error.code
//              batch_expired (or any other top-level error); no response;
//              empty content;
//              an unparseable line (custom_id salvaged by pattern)
//   permanent  any other 4xx (the failure is in response.body.error, with the
//              top-level error null); refusal; finish_reason "length" (the
//              same request is cut again: split it, never re-send it);
//              finish_reason content_filter
//              or another unexpected reason
//   cancelled  error.code batch_cancelled
// Content is not parsed here: the caller validates it against the schema.

#include <absl/status/statusor.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "libs/pricing/price_table.h"

namespace batchscribe::jsonl {

enum class LineOutcome {
  kSucceeded,
  kRetryable,
  kPermanent,
  kCancelled,
};

std::string_view LineOutcomeName(LineOutcome outcome);

struct ResultLine {
  std::string custom_id;
  LineOutcome outcome = LineOutcome::kRetryable;
  /// Why the line did not succeed (for documents.error), "" on success.
  std::string reason;
  /// The model's answer (a JSON text under strict json_schema), on success.
  std::string content;
  /// Tokens the line reports (billed), when it has a usage object.
  std::optional<pricing::TokenUsage> usage;
  /// response.status_code, or -1 when the line had no response.
  int status_code = -1;
  std::string finish_reason;
  /// The request never ran (batch_expired, batch_cancelled): sending it again
  /// is not a second try, so it spends no attempt.
  bool never_ran = false;
};

/// Classifies one line of an output or error file. NOT_FOUND only when not
/// even a custom_id can be found in it (the line is then unusable).
absl::StatusOr<ResultLine> ClassifyResultLine(std::string_view line);

/// Classifies the body of a successful (HTTP 200) chat completion: the rules
/// above from finish_reason on. `custom_id` is copied into the result.
ResultLine ClassifyChatCompletion(std::string_view custom_id, const nlohmann::json& body);

/// Classifies a failed synchronous call by its HTTP status (0 = no reply):
/// retryable or permanent as for status_code in a result line.
LineOutcome OutcomeForHttpStatus(int http_status);

}  // namespace batchscribe::jsonl
