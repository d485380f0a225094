#pragma once
// The OpenAI objects batchscribe reads (openai-batch-api.md §2-§3), parsed
// defensively: absent and null fields are the same, unknown keys are ignored.

#include <absl/status/statusor.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace batchscribe::openai {

/// A File object (`POST /v1/files`, `GET /v1/files/{id}`).
struct FileObject {
  std::string id;
  int64_t bytes = 0;
  std::string filename;
  std::string purpose;
  std::string status;

  static absl::StatusOr<FileObject> FromJson(const nlohmann::json& json);
};

/// One entry of a failed batch's `errors.data[]`.
struct BatchError {
  std::string code;
  std::string message;
  std::string param;
  std::optional<int64_t> line;
};

/// `request_counts` of a batch.
struct RequestCounts {
  int64_t total = 0;
  int64_t completed = 0;
  int64_t failed = 0;
};

/// A Batch object.
struct BatchObject {
  std::string id;
  std::string
      status;  // validating failed in_progress finalizing completed expired cancelling cancelled
  std::string endpoint;
  std::string input_file_id;
  std::string output_file_id;  // "" when null
  std::string error_file_id;   // "" when null
  int64_t created_at = 0;
  std::map<std::string, std::string> metadata;
  std::vector<BatchError> errors;
  RequestCounts request_counts;

  /// failed, completed, expired or cancelled: nothing will change any more.
  bool IsTerminal() const;
  /// The metadata value for `key`, or "".
  std::string Metadata(const std::string& key) const;

  static absl::StatusOr<BatchObject> FromJson(const nlohmann::json& json);
};

/// True for the terminal batch statuses.
bool IsTerminalBatchStatus(const std::string& status);

/// One page of `GET /v1/batches`.
struct BatchList {
  std::vector<BatchObject> data;
  bool has_more = false;
  std::string last_id;  // id to pass as `after` for the next page

  static absl::StatusOr<BatchList> FromJson(const nlohmann::json& json);
};

/// Parameters of `POST /v1/batches`.
struct CreateBatchRequest {
  std::string input_file_id;
  std::string endpoint = "/v1/chat/completions";
  std::string completion_window = "24h";
  std::map<std::string, std::string> metadata;
};

}  // namespace batchscribe::openai
