#include "libs/metrics/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <exception>
#include <utility>
#include <vector>

#include "libs/common/logging.h"
#include "libs/metrics/database_stats.h"

#ifndef BATCHSCRIBE_VERSION
#define BATCHSCRIBE_VERSION "unknown"
#endif

namespace batchscribe::metrics {
namespace {

// Task durations range from milliseconds (a poll that finds nothing new) to many
// minutes (preparing and uploading a 190 MB shard).
const std::vector<double>& TaskDurationBuckets() {
  static const std::vector<double> buckets = {0.01, 0.05, 0.1, 0.25, 0.5, 1,   2.5,
                                              5,    10,   30,  60,   120, 300, 900};
  return buckets;
}

std::string S(std::string_view v) { return std::string(v); }

// True for a path segment that names one object rather than a collection.
bool IsIdSegment(std::string_view previous) { return previous == "files" || previous == "batches"; }

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  tasks_claimed_ = &prometheus::BuildCounter()
                        .Name("batchscribe_tasks_claimed_total")
                        .Help("Tasks claimed from the queue, by kind.")
                        .Register(r);
  tasks_succeeded_ = &prometheus::BuildCounter()
                          .Name("batchscribe_tasks_succeeded_total")
                          .Help("Tasks completed, by kind.")
                          .Register(r);
  tasks_failed_ = &prometheus::BuildCounter()
                       .Name("batchscribe_tasks_failed_total")
                       .Help("Task failures by kind; final=\"true\" when the task failed for good.")
                       .Register(r);
  tasks_snoozed_ =
      &prometheus::BuildCounter()
           .Name("batchscribe_tasks_snoozed_total")
           .Help("Tasks put back without using an attempt (poll not done, budget full).")
           .Register(r);
  task_duration_ = &prometheus::BuildHistogram()
                        .Name("batchscribe_task_duration_seconds")
                        .Help("Time from claim to complete, fail or snooze, by kind.")
                        .Register(r);
  lease_rescues_ = &prometheus::BuildCounter()
                        .Name("batchscribe_lease_rescues_total")
                        .Help("Running tasks whose lease expired and were returned to the queue.")
                        .Register(r)
                        .Add({});
  openai_requests_ = &prometheus::BuildCounter()
                          .Name("batchscribe_openai_requests_total")
                          .Help("HTTP requests to OpenAI by endpoint and status (0 = no response).")
                          .Register(r);
  auto& bytes = prometheus::BuildCounter()
                    .Name("batchscribe_openai_bytes_total")
                    .Help("Bytes of request and response bodies exchanged with OpenAI.")
                    .Register(r);
  bytes_uploaded_ = &bytes.Add({{"direction", "upload"}});
  bytes_downloaded_ = &bytes.Add({{"direction", "download"}});
  tokens_ = &prometheus::BuildCounter()
                 .Name("batchscribe_tokens_total")
                 .Help(
                     "Tokens recorded, by model, mode (batch, sync) and type (input, "
                     "cached_input, output).")
                 .Register(r);
  cost_usd_ = &prometheus::BuildCounter()
                   .Name("batchscribe_cost_usd_total")
                   .Help("Cost recorded in USD, by model and mode (batch, sync).")
                   .Register(r);
  documents_transitioned_ = &prometheus::BuildCounter()
                                 .Name("batchscribe_documents_transitioned_total")
                                 .Help("Documents that reached a state in this process, by state.")
                                 .Register(r);
  grpc_requests_ = &prometheus::BuildCounter()
                        .Name("batchscribe_grpc_requests_total")
                        .Help("BatchService calls handled, by method and status code.")
                        .Register(r);
}

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Start(const MetricsOptions& options) {
  std::unique_ptr<Metrics> metrics(new Metrics());
  prometheus::BuildGauge()
      .Name("batchscribe_build_info")
      .Help("Always 1; the labels say which build runs.")
      .Register(*metrics->registry_)
      .Add({{"service", options.service},
            {"version", options.version.empty() ? BATCHSCRIBE_VERSION : options.version}})
      .Set(1);
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError("--metrics_port must be 0..65535, got " +
                                      std::to_string(options.port));
  }
  if (options.port == 0) return metrics;
  const std::string address = options.bind_address + ":" + std::to_string(options.port);
  try {
    metrics->exposer_ = std::make_unique<prometheus::Exposer>(address, 1);
  } catch (const std::exception& e) {
    return absl::UnavailableError("cannot serve metrics on " + address + ": " + e.what());
  }
  metrics->exposer_->RegisterCollectable(metrics->registry_);
  const auto ports = metrics->exposer_->GetListeningPorts();
  metrics->port_ = ports.empty() ? options.port : ports.front();
  log::Info("metrics served", {{"address", address}, {"path", "/metrics"}});
  return metrics;
}

Metrics::~Metrics() = default;

void Metrics::TaskClaimed(std::string_view kind) {
  tasks_claimed_->Add({{"kind", S(kind)}}).Increment();
}

void Metrics::TaskSucceeded(std::string_view kind, std::chrono::duration<double> duration) {
  tasks_succeeded_->Add({{"kind", S(kind)}}).Increment();
  task_duration_->Add({{"kind", S(kind)}}, TaskDurationBuckets()).Observe(duration.count());
}

void Metrics::TaskFailed(std::string_view kind, TaskFailure failure,
                         std::chrono::duration<double> duration) {
  tasks_failed_
      ->Add({{"kind", S(kind)}, {"final", failure == TaskFailure::kFinal ? "true" : "false"}})
      .Increment();
  task_duration_->Add({{"kind", S(kind)}}, TaskDurationBuckets()).Observe(duration.count());
}

void Metrics::TaskSnoozed(std::string_view kind, std::chrono::duration<double> duration) {
  tasks_snoozed_->Add({{"kind", S(kind)}}).Increment();
  task_duration_->Add({{"kind", S(kind)}}, TaskDurationBuckets()).Observe(duration.count());
}

void Metrics::LeasesRescued(int64_t count) {
  if (count > 0) lease_rescues_->Increment(static_cast<double>(count));
}

void Metrics::OpenAiRequest(std::string_view endpoint, int http_status) {
  openai_requests_->Add({{"endpoint", S(endpoint)}, {"status", std::to_string(http_status)}})
      .Increment();
}

void Metrics::BytesUploaded(int64_t bytes) {
  if (bytes > 0) bytes_uploaded_->Increment(static_cast<double>(bytes));
}

void Metrics::BytesDownloaded(int64_t bytes) {
  if (bytes > 0) bytes_downloaded_->Increment(static_cast<double>(bytes));
}

void Metrics::RecordUsage(std::string_view model, std::string_view mode, int64_t input_tokens,
                          int64_t cached_input_tokens, int64_t output_tokens, double cost_usd) {
  const std::string m = S(model);
  const std::string md = S(mode);
  tokens_->Add({{"model", m}, {"mode", md}, {"type", "input"}})
      .Increment(static_cast<double>(std::max<int64_t>(input_tokens, 0)));
  tokens_->Add({{"model", m}, {"mode", md}, {"type", "cached_input"}})
      .Increment(static_cast<double>(std::max<int64_t>(cached_input_tokens, 0)));
  tokens_->Add({{"model", m}, {"mode", md}, {"type", "output"}})
      .Increment(static_cast<double>(std::max<int64_t>(output_tokens, 0)));
  cost_usd_->Add({{"model", m}, {"mode", md}}).Increment(std::max(cost_usd, 0.0));
}

void Metrics::DocumentsTransitioned(std::string_view state, int64_t count) {
  if (count > 0) documents_transitioned_->Add({{"state", S(state)}}).Increment(count);
}

void Metrics::GrpcRequest(std::string_view method, std::string_view code) {
  grpc_requests_->Add({{"method", S(method)}, {"code", S(code)}}).Increment();
}

void Metrics::AddDatabaseStats(std::string database_url, std::chrono::milliseconds min_interval) {
  if (database_stats_) return;
  database_stats_ = std::make_shared<DatabaseStatsCollector>(std::move(database_url), min_interval);
  if (exposer_) exposer_->RegisterCollectable(database_stats_);
}

std::string Metrics::Serialize() const {
  auto families = registry_->Collect();
  if (database_stats_) {
    auto more = database_stats_->Collect();
    families.insert(families.end(), more.begin(), more.end());
  }
  return prometheus::TextSerializer().Serialize(families);
}

std::string OpenAiEndpoint(std::string_view method, std::string_view path) {
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  if (path.starts_with("/v1/")) path.remove_prefix(3);
  std::string out = S(method) + " ";
  std::string_view previous;
  size_t start = path.starts_with('/') ? 1 : 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    out += '/';
    out += IsIdSegment(previous) ? std::string("{id}") : S(segment);
    previous = segment;
    start = end + 1;
  }
  return out;
}

}  // namespace batchscribe::metrics
