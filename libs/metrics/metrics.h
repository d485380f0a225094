#pragma once
// Prometheus metrics of the coordinator and the workers (prometheus-cpp).
//
// One `Metrics` object is built in main() and passed by reference to whatever
// records something; there is no global registry. With `port == 0` nothing is
// served, but every recording call still works, so callers never branch on
// whether metrics are enabled. The series names are stable: dashboards and
// alerts depend on them (README.md lists them).

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace prometheus {
class Exposer;
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace batchscribe::metrics {

/// What to expose and how to describe this process.
struct MetricsOptions {
  /// TCP port of the /metrics endpoint; 0 serves nothing.
  int port = 0;
  /// Address to bind the endpoint to.
  std::string bind_address = "0.0.0.0";
  /// "coordinator" or "worker"; the `service` label of batchscribe_build_info.
  std::string service;
  /// Version label of batchscribe_build_info; default: the CMake project version.
  std::string version;
};

/// How a failed task ends.
enum class TaskFailure {
  /// Goes back to the queue after a backoff.
  kRetry,
  /// Failed for good (permanent error or attempts spent).
  kFinal,
};

class DatabaseStatsCollector;

/// The process's metrics: a registry, the series of issue 5, and (when a port is
/// given) an HTTP exposer. Thread-safe: every method may be called from any thread.
class Metrics {
 public:
  /// Builds the series and, when `options.port > 0`, starts serving /metrics.
  /// Fails (UNAVAILABLE) when the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<Metrics>> Start(const MetricsOptions& options);

  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Tasks (worker). `kind` is the task kind: plan, prepare, submit, poll, retrieve,
  // cancel, transcribe.

  /// A task of `kind` was claimed.
  void TaskClaimed(std::string_view kind);
  /// A task completed; `duration` is claim-to-complete.
  void TaskSucceeded(std::string_view kind, std::chrono::duration<double> duration);
  /// A task failed, to be retried or for good.
  void TaskFailed(std::string_view kind, TaskFailure failure,
                  std::chrono::duration<double> duration);
  /// A task was snoozed (poll not terminal yet, token budget full).
  void TaskSnoozed(std::string_view kind, std::chrono::duration<double> duration);

  // Coordinator maintenance.

  /// `count` expired leases were returned to the queue.
  void LeasesRescued(int64_t count);

  // OpenAI traffic (worker).

  /// One HTTP request to OpenAI. `endpoint` is a template such as
  /// "POST /files" or "GET /batches/{id}" (see OpenAiEndpoint); `http_status` is
  /// the response status, or 0 when no response arrived (connect error, timeout).
  void OpenAiRequest(std::string_view endpoint, int http_status);
  /// Bytes sent to OpenAI in request bodies (file uploads, chat completions).
  void BytesUploaded(int64_t bytes);
  /// Bytes received from OpenAI in response bodies (file downloads, completions).
  void BytesDownloaded(int64_t bytes);

  // Usage and cost (worker, when a document's usage is recorded).

  /// Adds one document's tokens and cost. `mode` is "batch" or "sync".
  void RecordUsage(std::string_view model, std::string_view mode, int64_t input_tokens,
                   int64_t cached_input_tokens, int64_t output_tokens, double cost_usd);

  // Documents (worker): final outcomes as they happen.

  /// `count` documents reached `state` (SUCCEEDED, FAILED, SKIPPED, CANCELLED or,
  /// for a retryable failure, PENDING again).
  void DocumentsTransitioned(std::string_view state, int64_t count = 1);

  // Coordinator API.

  /// One finished gRPC call: `method` is the short RPC name ("SubmitDocuments"),
  /// `code` the grpc::StatusCode name ("OK", "NOT_FOUND", ...).
  void GrpcRequest(std::string_view method, std::string_view code);

  /// Adds the gauges computed from the database on each scrape (at most once per
  /// `min_interval`): batchscribe_queue_depth, batchscribe_queue_running,
  /// batchscribe_queue_lag_seconds, batchscribe_documents, batchscribe_batches.
  /// The collector opens its own connection to `database_url` lazily and
  /// reconnects after errors; a scrape never fails because the database does.
  /// The coordinator calls this once; workers need not.
  void AddDatabaseStats(std::string database_url,
                        std::chrono::milliseconds min_interval = std::chrono::seconds(5));

  /// The exposition text of every series, as a scrape would return it.
  std::string Serialize() const;

  /// The port actually serving /metrics, or 0.
  int port() const { return port_; }

  /// The registry, for a component that wants a series of its own.
  prometheus::Registry& registry() { return *registry_; }

 private:
  Metrics();

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<DatabaseStatsCollector> database_stats_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;

  prometheus::Family<prometheus::Counter>* tasks_claimed_;
  prometheus::Family<prometheus::Counter>* tasks_succeeded_;
  prometheus::Family<prometheus::Counter>* tasks_failed_;
  prometheus::Family<prometheus::Counter>* tasks_snoozed_;
  prometheus::Family<prometheus::Histogram>* task_duration_;
  prometheus::Counter* lease_rescues_;
  prometheus::Family<prometheus::Counter>* openai_requests_;
  prometheus::Counter* bytes_uploaded_;
  prometheus::Counter* bytes_downloaded_;
  prometheus::Family<prometheus::Counter>* tokens_;
  prometheus::Family<prometheus::Counter>* cost_usd_;
  prometheus::Family<prometheus::Counter>* documents_transitioned_;
  prometheus::Family<prometheus::Counter>* grpc_requests_;
};

/// Turns a request line into the `endpoint` label of batchscribe_openai_requests_total:
/// ids become "{id}" and the "/v1" prefix and query string are dropped, so the label
/// has a handful of values. ("GET", "/v1/batches/batch_abc") -> "GET /batches/{id}";
/// ("GET", "/v1/files/file-1/content") -> "GET /files/{id}/content".
std::string OpenAiEndpoint(std::string_view method, std::string_view path);

}  // namespace batchscribe::metrics
