#pragma once
// The coordinator's maintenance loop: every `interval`, return tasks whose
// lease expired (a worker died or hung) to the queue. Safe to run on every
// replica at once: the rescue statement skips rows another replica has locked.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "libs/db/connection_pool.h"
#include "libs/queue/task_queue.h"

namespace batchscribe::coordinator {

class MaintenanceLoop {
 public:
  /// `on_rescued` (optional) receives the number of leases rescued by each pass
  /// that rescued any (e.g. for a metric).
  MaintenanceLoop(const db::ConnectionPool& pool, const queue::Clock& clock,
                  std::chrono::milliseconds interval,
                  std::function<void(int rescued)> on_rescued = {});
  ~MaintenanceLoop();
  MaintenanceLoop(const MaintenanceLoop&) = delete;
  MaintenanceLoop& operator=(const MaintenanceLoop&) = delete;

  void Start();
  void Stop();
  /// One pass, on the calling thread: the number of leases rescued, or -1 when
  /// the database could not be reached.
  int RunOnce();

 private:
  void Run();

  const db::ConnectionPool& pool_;
  const queue::Clock& clock_;
  const std::chrono::milliseconds interval_;
  std::function<void(int)> on_rescued_;
  std::unique_ptr<pqxx::connection> conn_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace batchscribe::coordinator
