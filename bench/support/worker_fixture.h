#pragma once
// Runs the real worker (services/worker: Worker, its steps, libs/jsonl,
// libs/storage, libs/queue) on a real database, with only the network to
// OpenAI replaced: uploads are accepted at once and downloads copy a local
// file. What is measured is then the worker's own work (reading PDFs,
// building lines, writing files, parsing and classifying results, writing
// transcripts, the database updates), not an HTTP round trip.

#include <absl/status/statusor.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "libs/openai/openai_client.h"

namespace batchscribe::bench {

/// OpenAI stand-in: UploadBatchFile returns a file object for the file (its
/// size, no transfer); DownloadFileContent copies `download_source` to the
/// destination the way a download lands (temporary name, fsync, rename).
/// Other calls fail: the benchmarks never reach them.
class LocalOpenAi : public openai::OpenAiClient {
 public:
  explicit LocalOpenAi(std::filesystem::path download_source)
      : download_source_(std::move(download_source)) {}

  absl::StatusOr<openai::FileObject> UploadBatchFile(const std::filesystem::path& path,
                                                     const std::string& filename) override;
  absl::StatusOr<openai::BatchObject> CreateBatch(const openai::CreateBatchRequest&) override;
  absl::StatusOr<openai::BatchObject> RetrieveBatch(const std::string& batch_id) override;
  absl::StatusOr<openai::BatchObject> CancelBatch(const std::string& batch_id) override;
  absl::StatusOr<openai::BatchList> ListBatches(const std::string& after, int limit) override;
  absl::Status DownloadFileContent(const std::string& file_id,
                                   const std::filesystem::path& destination) override;
  absl::Status DeleteFile(const std::string& file_id) override;
  absl::StatusOr<nlohmann::json> CreateChatCompletion(const std::string& body) override;

 private:
  std::filesystem::path download_source_;
};

/// What one worker run needs.
struct WorkerRun {
  std::string database_url;
  std::filesystem::path input_root;
  std::filesystem::path storage_root;
  std::vector<std::string> kinds;
  int concurrency = 4;
  /// File the stand-in serves for every download ("" when none is needed).
  std::filesystem::path download_source;
  /// Polled every few milliseconds on its own connection; the run ends when
  /// it returns true.
  std::function<bool(pqxx::connection&)> done;
  std::chrono::seconds timeout{3600};
};

/// Starts a worker process-in-process, waits for `run.done`, drains it and
/// returns the seconds from Start to done.
absl::StatusOr<double> RunWorkerUntilDone(const WorkerRun& run);

/// The shipped prompt and schema (config/), read from the source tree.
std::string ShippedPrompt();
std::string ShippedSchema();

}  // namespace batchscribe::bench
