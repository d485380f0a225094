#pragma once
// Readiness that follows the database: a background thread runs a trivial
// query on its own connection every `interval` and reports each change of
// reachability (and the first result) through `on_change`, which main wires to
// grpc.health.v1 SERVING / NOT_SERVING. Its own connection keeps the probe
// independent of how busy the request pool is.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "libs/db/connection_pool.h"

namespace batchscribe::coordinator {

class DatabaseReadiness {
 public:
  DatabaseReadiness(const db::ConnectionPool& pool, std::chrono::milliseconds interval,
                    std::function<void(bool ready)> on_change);
  ~DatabaseReadiness();
  DatabaseReadiness(const DatabaseReadiness&) = delete;
  DatabaseReadiness& operator=(const DatabaseReadiness&) = delete;

  void Start();
  void Stop();
  /// The last result (false before the first check).
  bool ready() const { return ready_.load(); }

 private:
  void Run();
  bool Probe();

  const db::ConnectionPool& pool_;
  const std::chrono::milliseconds interval_;
  std::function<void(bool)> on_change_;
  std::unique_ptr<pqxx::connection> conn_;
  std::atomic<bool> ready_{false};
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace batchscribe::coordinator
