// Fuzz target: the result-line parser and classifier (libs/jsonl), which reads
// whatever OpenAI's output and error files hold, and the schema validator that
// judges a successful answer. Input: one line of a result file.
//
// Invariants: nothing crashes or hangs; a line is classified exactly as the
// contract of result_line.h says (a success has content and no reason, every
// other outcome has a reason); token counts are never negative (a corrupted
// line must not lower what a document is recorded to have cost).

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "fuzz/fuzz_input.h"
#include "libs/jsonl/result_line.h"
#include "libs/jsonl/schema_validator.h"

namespace {

using batchscribe::jsonl::LineOutcome;
using batchscribe::jsonl::ResultLine;

const batchscribe::jsonl::SchemaValidator& TranscriptSchema() {
  static const batchscribe::jsonl::SchemaValidator* validator = [] {
    std::ifstream in(std::string(BATCHSCRIBE_SOURCE_DIR) + "/config/transcript.schema.json");
    std::stringstream text;
    text << in.rdbuf();
    auto created = batchscribe::jsonl::SchemaValidator::Create(text.str());
    FUZZ_CHECK(created.ok(), "the shipped transcript schema does not load");
    return new batchscribe::jsonl::SchemaValidator(*std::move(created));
  }();
  return *validator;
}

void CheckClassified(const ResultLine& r, const std::string& where) {
  if (r.outcome == LineOutcome::kSucceeded) {
    FUZZ_CHECK(!r.content.empty(), where + ": a success without content");
    FUZZ_CHECK(r.reason.empty(), where + ": a success with a failure reason: " + r.reason);
  } else {
    FUZZ_CHECK(!r.reason.empty(), where + ": a " +
                                      std::string(batchscribe::jsonl::LineOutcomeName(r.outcome)) +
                                      " line without a reason");
  }
  if (r.usage) {
    FUZZ_CHECK(r.usage->input_tokens >= 0 && r.usage->cached_input_tokens >= 0 &&
                   r.usage->output_tokens >= 0,
               where + ": negative token counts (" + std::to_string(r.usage->input_tokens) + ", " +
                   std::to_string(r.usage->cached_input_tokens) + ", " +
                   std::to_string(r.usage->output_tokens) + ")");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string line(reinterpret_cast<const char*>(data), size);
  auto classified = batchscribe::jsonl::ClassifyResultLine(line);
  if (classified.ok()) {
    CheckClassified(*classified, "ClassifyResultLine");
    if (classified->outcome == LineOutcome::kSucceeded) {
      // What retrieve does next with a success.
      TranscriptSchema().Validate(classified->content).IgnoreError();
    }
  } else {
    FUZZ_CHECK(classified.status().code() == absl::StatusCode::kNotFound,
               "ClassifyResultLine failed with " + classified.status().ToString());
  }
  // The same bytes as the body of a synchronous chat completion (SYNC mode).
  auto body = nlohmann::json::parse(line, nullptr, false);
  if (!body.is_discarded()) {
    CheckClassified(batchscribe::jsonl::ClassifyChatCompletion("fuzz", body),
                    "ClassifyChatCompletion");
  }
  TranscriptSchema().Validate(line).IgnoreError();
  (void)batchscribe::jsonl::OutcomeForHttpStatus(static_cast<int>(size) - 1);
  return 0;
}
