#pragma once
// What the emulator did, for tests that prove nothing was paid for twice:
// requests per route, files uploaded and deleted, batches created (with their
// metadata), request lines executed per custom_id and tokens billed per model.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "services/openai-emulator/json.h"

namespace batchscribe::emulator {

/// Thread-safe.
class Accounting {
 public:
  /// A request to `route` (e.g. "POST /v1/batches") answered with `status`.
  void CountRequest(const std::string& route, int status);
  /// A fault rule fired; `kind` e.g. "http:429", "http:drop", "line:server_error".
  void CountFault(const std::string& kind);
  void FileUploaded(int64_t bytes);
  void FileDeleted();
  void BatchCreated(const std::string& id, const Json& metadata, const std::string& input_file_id,
                    int64_t created_at);
  /// Records one execution of line `custom_id`; returns the attempt number
  /// (1 for its first execution in this emulator's lifetime). `fingerprint`
  /// identifies the exact request line (custom_id and body); `deterministic`
  /// says its answer was one that re-sending the same line cannot change (a
  /// 4xx other than 429, finish_reason length or content_filter, a refusal).
  /// A line executed again with the fingerprint of an earlier deterministic
  /// failure is counted in stats `lines.resent_after_deterministic_failure`:
  /// money spent on a request known to fail.
  int64_t LineExecuted(const std::string& custom_id, bool billed, uint64_t fingerprint = 0,
                       bool deterministic = false);
  /// An executed line was refused for its size (PDF pages or bytes, context
  /// length): counted once per execution.
  void LineRejectedForLimits();
  /// How many times `custom_id` was executed so far.
  int64_t Executions(const std::string& custom_id) const;
  /// Tokens of one executed request; `mode` is "batch" or "sync".
  void TokensBilled(const std::string& model, const std::string& mode, int64_t input_tokens,
                    int64_t output_tokens);

  /// The stats document of GET /_emulator/stats. `statuses` maps batch ids
  /// to their current status (batches no longer known show null).
  Json ToJson(const std::map<std::string, std::string>& statuses) const;

  Json ToState() const;
  void LoadState(const Json& state);
  void Clear();

 private:
  struct CreatedBatch {
    std::string id;
    Json metadata;
    std::string input_file_id;
    int64_t created_at = 0;
  };
  struct Tokens {
    int64_t requests = 0;
    int64_t input_tokens = 0;
    int64_t output_tokens = 0;
  };

  mutable std::mutex mu_;
  std::map<std::string, std::map<int, int64_t>> requests_;
  std::map<std::string, int64_t> faults_;
  int64_t files_uploaded_ = 0;
  int64_t bytes_uploaded_ = 0;
  int64_t files_deleted_ = 0;
  std::vector<CreatedBatch> batches_;
  std::map<std::string, int64_t> lines_executed_;
  std::map<std::string, int64_t> lines_billed_;
  int64_t lines_rejected_limits_ = 0;
  std::set<uint64_t> deterministic_failures_;            // fingerprints
  std::map<std::string, int64_t> resent_after_failure_;  // custom_id -> times
  // model -> mode -> tokens
  std::map<std::string, std::map<std::string, Tokens>> tokens_;
};

}  // namespace batchscribe::emulator
