#include "libs/metrics/database_stats.h"

#include <array>
#include <exception>
#include <map>
#include <pqxx/pqxx>
#include <utility>

#include "libs/common/logging.h"
#include "libs/common/secrets.h"

namespace batchscribe::metrics {
namespace {

// Listed even when zero, so that a series does not vanish when a queue drains.
constexpr std::array<const char*, 7> kTaskKinds = {"plan",     "prepare", "submit",    "poll",
                                                   "retrieve", "cancel",  "transcribe"};
constexpr std::array<const char*, 7> kDocumentStates = {
    "PENDING", "PREPARED", "SUBMITTED", "SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"};
constexpr std::array<const char*, 7> kBatchStates = {
    "PENDING", "RUNNING", "CANCELLING", "SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED", "CANCELLED"};

// A scrape must not hang on an unreachable database.
std::string WithConnectTimeout(const std::string& url) {
  if (url.find("connect_timeout") != std::string::npos) return url;
  if (url.find("://") != std::string::npos) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=3";
  }
  return url + " connect_timeout=3";
}

prometheus::MetricFamily Gauge(std::string name, std::string help, const std::string& label,
                               const std::map<std::string, double>& values) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  for (const auto& [key, value] : values) {
    prometheus::ClientMetric metric;
    metric.label.push_back({label, key});
    metric.gauge.value = value;
    family.metric.push_back(std::move(metric));
  }
  return family;
}

template <size_t N>
std::map<std::string, double> Zeros(const std::array<const char*, N>& keys) {
  std::map<std::string, double> out;
  for (const char* key : keys) out[key] = 0;
  return out;
}

}  // namespace

DatabaseStatsCollector::DatabaseStatsCollector(std::string database_url,
                                               std::chrono::milliseconds min_interval)
    : database_url_(std::move(database_url)), min_interval_(min_interval) {
  RegisterDatabaseUrlSecret(database_url_);
}

DatabaseStatsCollector::~DatabaseStatsCollector() = default;

void DatabaseStatsCollector::Refresh() const {
  auto ready = Zeros(kTaskKinds);
  auto scheduled = Zeros(kTaskKinds);
  auto running = Zeros(kTaskKinds);
  auto lag = Zeros(kTaskKinds);
  auto documents = Zeros(kDocumentStates);
  auto batches = Zeros(kBatchStates);
  try {
    if (!conn_ || !conn_->is_open()) {
      conn_ = std::make_unique<pqxx::connection>(WithConnectTimeout(database_url_));
    }
    pqxx::work tx(*conn_);
    tx.exec0("SET LOCAL statement_timeout = 5000");
    for (const auto& row : tx.exec(R"sql(
        SELECT kind,
               count(*) FILTER (WHERE state = 'available' AND run_at <= now()),
               count(*) FILTER (WHERE state = 'available' AND run_at > now()),
               count(*) FILTER (WHERE state = 'running'),
               coalesce(extract(epoch FROM now() - min(run_at)
                        FILTER (WHERE state = 'available' AND run_at <= now())), 0)::float8
          FROM tasks
         WHERE state IN ('available', 'running')
         GROUP BY kind)sql")) {
      const auto kind = row[0].as<std::string>();
      ready[kind] = row[1].as<double>();
      scheduled[kind] = row[2].as<double>();
      running[kind] = row[3].as<double>();
      lag[kind] = row[4].as<double>();
    }
    // Only live batches: finished ones never change and the counter
    // batchscribe_documents_transitioned_total covers their history. Summed
    // from document_counts (migration 0003), not counted over documents: a
    // scrape must not scan every live document.
    for (const auto& row : tx.exec(R"sql(
        SELECT c.state, sum(c.documents)
          FROM document_counts c JOIN batches b ON b.id = c.batch_id
         WHERE b.state IN ('PENDING', 'RUNNING', 'CANCELLING')
         GROUP BY c.state HAVING sum(c.documents) <> 0)sql")) {
      documents[row[0].as<std::string>()] = row[1].as<double>();
    }
    for (const auto& row : tx.exec("SELECT state, count(*) FROM batches GROUP BY state")) {
      batches[row[0].as<std::string>()] = row[1].as<double>();
    }
    tx.commit();
  } catch (const std::exception& e) {
    if (up_ || !refreshed_once_) {
      log::Warn("metrics: cannot read queue statistics", {{"error", log::Redact(e.what())}});
    }
    conn_.reset();
    up_ = false;
    refreshed_once_ = true;
    return;
  }
  up_ = true;
  refreshed_once_ = true;
  cached_.clear();
  cached_.push_back(Gauge("batchscribe_queue_depth",
                          "Tasks ready to be claimed now (available, run_at passed), by kind.",
                          "kind", ready));
  cached_.push_back(Gauge("batchscribe_queue_scheduled",
                          "Tasks waiting for a later run_at (backoff, snooze), by kind.", "kind",
                          scheduled));
  cached_.push_back(
      Gauge("batchscribe_queue_running", "Tasks claimed by a worker, by kind.", "kind", running));
  cached_.push_back(Gauge("batchscribe_queue_lag_seconds",
                          "Age of the oldest ready task (now - run_at), by kind; 0 when none.",
                          "kind", lag));
  cached_.push_back(Gauge("batchscribe_documents",
                          "Documents of PENDING, RUNNING and CANCELLING batches, by state.",
                          "state", documents));
  cached_.push_back(Gauge("batchscribe_batches", "Batches by state.", "state", batches));
}

std::vector<prometheus::MetricFamily> DatabaseStatsCollector::Collect() const {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (!refreshed_once_ || now - last_refresh_ >= min_interval_) {
    Refresh();
    last_refresh_ = now;
  }
  std::vector<prometheus::MetricFamily> out = cached_;
  prometheus::MetricFamily up;
  up.name = "batchscribe_metrics_database_up";
  up.help = "1 when the last read of the queue statistics from the database succeeded.";
  up.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric value;
  value.gauge.value = up_ ? 1 : 0;
  up.metric.push_back(value);
  out.push_back(std::move(up));
  return out;
}

}  // namespace batchscribe::metrics
