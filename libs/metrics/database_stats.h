#pragma once
// Gauges read from the database on scrape: queue depth and lag per task kind,
// documents of live batches per state, batches per state. Computing them from
// the tables (instead of counting in each process) keeps them right however many
// coordinators and workers run and whatever crashed.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <pqxx/connection>
#include <string>
#include <vector>

namespace batchscribe::metrics {

/// A prometheus Collectable that queries PostgreSQL at most once per
/// `min_interval` and serves the cached result in between. Never throws: when the
/// database cannot be reached the last values are kept and
/// batchscribe_metrics_database_up is 0.
class DatabaseStatsCollector : public prometheus::Collectable {
 public:
  DatabaseStatsCollector(std::string database_url, std::chrono::milliseconds min_interval);
  ~DatabaseStatsCollector() override;

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  /// Runs the queries; fills the caches. Caller holds mu_.
  void Refresh() const;

  std::string database_url_;
  std::chrono::milliseconds min_interval_;

  mutable std::mutex mu_;
  mutable std::unique_ptr<pqxx::connection> conn_;
  mutable std::chrono::steady_clock::time_point last_refresh_{};
  mutable bool refreshed_once_ = false;
  mutable bool up_ = false;
  mutable std::vector<prometheus::MetricFamily> cached_;
};

}  // namespace batchscribe::metrics
