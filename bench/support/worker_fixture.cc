#include "bench/support/worker_fixture.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "bench/support/bench_support.h"
#include "libs/metrics/metrics.h"
#include "libs/queue/task_queue.h"
#include "libs/storage/input_root.h"
#include "services/worker/worker.h"
#include "services/worker/worker_config.h"

namespace batchscribe::bench {
namespace fs = std::filesystem;

namespace {

absl::Status NotUsed(const char* what) {
  return absl::FailedPreconditionError(std::string("the benchmark's OpenAI stand-in does not ") +
                                       what);
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::StatusOr<openai::FileObject> LocalOpenAi::UploadBatchFile(const fs::path& path,
                                                                const std::string& filename) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return absl::NotFoundError("upload: " + path.string() + ": " + ec.message());
  openai::FileObject file;
  file.id = "file-bench-" + filename;
  file.bytes = static_cast<int64_t>(size);
  file.filename = filename;
  file.purpose = "batch";
  file.status = "processed";
  return file;
}

absl::StatusOr<openai::BatchObject> LocalOpenAi::CreateBatch(const openai::CreateBatchRequest&) {
  return NotUsed("create batches");
}
absl::StatusOr<openai::BatchObject> LocalOpenAi::RetrieveBatch(const std::string&) {
  return NotUsed("retrieve batches");
}
absl::StatusOr<openai::BatchObject> LocalOpenAi::CancelBatch(const std::string&) {
  return NotUsed("cancel batches");
}
absl::StatusOr<openai::BatchList> LocalOpenAi::ListBatches(const std::string&, int) {
  return NotUsed("list batches");
}
absl::Status LocalOpenAi::DeleteFile(const std::string&) { return absl::OkStatus(); }
absl::StatusOr<nlohmann::json> LocalOpenAi::CreateChatCompletion(const std::string&) {
  return NotUsed("answer chat completions");
}

absl::Status LocalOpenAi::DownloadFileContent(const std::string&, const fs::path& destination) {
  const fs::path temp = destination.string() + ".download";
  int in = ::open(download_source_.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return absl::NotFoundError("no download source " + download_source_.string());
  int out = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    ::close(in);
    return absl::UnavailableError("cannot create " + temp.string());
  }
  bool ok = true;
  while (true) {
    ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
    if (n < 0) ok = false;
    if (n <= 0) break;
  }
  ok = ok && ::fsync(out) == 0;
  ::close(in);
  ok = ::close(out) == 0 && ok;
  if (!ok || ::rename(temp.c_str(), destination.c_str()) != 0) {
    return absl::UnavailableError("copying the download to " + destination.string());
  }
  return absl::OkStatus();
}

absl::StatusOr<double> RunWorkerUntilDone(const WorkerRun& run) {
  worker::WorkerConfig config;
  config.database_url = run.database_url;
  config.input_root = run.input_root;
  config.storage_root = run.storage_root;
  config.kinds = run.kinds;
  config.concurrency = run.concurrency;
  config.poll_interval = std::chrono::milliseconds(50);
  config.sweep_interval = std::chrono::milliseconds(0);
  config.owner = "bench:" + std::to_string(::getpid());
  auto input_root = storage::InputRoot::Open(run.input_root);
  if (!input_root.ok()) return input_root.status();
  metrics::MetricsOptions metrics_options;
  metrics_options.service = "worker";
  auto metrics = metrics::Metrics::Start(metrics_options);
  if (!metrics.ok()) return metrics.status();
  const fs::path source = run.download_source;
  auto factory = [source](std::function<bool()>) -> std::unique_ptr<openai::OpenAiClient> {
    return std::make_unique<LocalOpenAi>(source);
  };
  queue::SystemClock clock;
  pqxx::connection watch(run.database_url);
  worker::Worker worker(std::move(config), *std::move(input_root), factory, **metrics, clock);
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + run.timeout;
  worker.Start();
  bool done = false;
  while (!(done = run.done(watch)) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double seconds = SecondsSince(start);
  worker.Drain();
  worker.Join();
  if (!done) return absl::DeadlineExceededError("the worker did not finish in time");
  return seconds;
}

std::string ShippedPrompt() {
  return ReadText(fs::path(BATCHSCRIBE_SOURCE_DIR) / "config" / "transcript.prompt.txt");
}

std::string ShippedSchema() {
  return ReadText(fs::path(BATCHSCRIBE_SOURCE_DIR) / "config" / "transcript.schema.json");
}

}  // namespace batchscribe::bench
