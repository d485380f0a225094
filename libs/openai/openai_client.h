#pragma once
// The seam between batchscribe and the OpenAI API (or the emulator): the calls
// of the Files, Batches and Chat Completions endpoints the pipeline uses.
// Failures are absl::Status values carrying an ApiError (api_error.h).

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "libs/openai/objects.h"

namespace batchscribe::openai {

class OpenAiClient {
 public:
  virtual ~OpenAiClient() = default;

  /// Uploads `path` with `purpose=batch` under `filename` (must end in
  /// `.jsonl`), streaming it from disk. Retried like any idempotent call: a
  /// re-upload only creates another file.
  virtual absl::StatusOr<FileObject> UploadBatchFile(const std::filesystem::path& path,
                                                     const std::string& filename) = 0;

  /// `POST /v1/batches`. Not idempotent: it is retried only when the request
  /// certainly did not run (connect error, 429); any other failure carries
  /// ApiError::unknown_outcome and the caller must reconcile (list batches and
  /// match the metadata) before creating again.
  virtual absl::StatusOr<BatchObject> CreateBatch(const CreateBatchRequest& request) = 0;

  /// `GET /v1/batches/{id}`.
  virtual absl::StatusOr<BatchObject> RetrieveBatch(const std::string& batch_id) = 0;

  /// `POST /v1/batches/{id}/cancel`.
  virtual absl::StatusOr<BatchObject> CancelBatch(const std::string& batch_id) = 0;

  /// One page of `GET /v1/batches` (newest first at OpenAI), `after` = the last
  /// id of the previous page or "" for the first.
  virtual absl::StatusOr<BatchList> ListBatches(const std::string& after, int limit) = 0;

  /// Streams `GET /v1/files/{id}/content` into `destination` (written to a
  /// temporary name, fsynced, then renamed: the file exists only when complete).
  virtual absl::Status DownloadFileContent(const std::string& file_id,
                                           const std::filesystem::path& destination) = 0;

  /// `DELETE /v1/files/{id}`.
  virtual absl::Status DeleteFile(const std::string& file_id) = 0;

  /// `POST /v1/chat/completions` with a JSON `body` (already serialised: it may
  /// hold a base64 PDF). Returns the parsed `chat.completion`.
  virtual absl::StatusOr<nlohmann::json> CreateChatCompletion(const std::string& body) = 0;
};

}  // namespace batchscribe::openai
