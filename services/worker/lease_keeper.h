#pragma once
// Keeps the leases of the tasks this process runs alive: a heartbeat every
// lease/3 on its own connection. A lease that cannot be extended (rescued and
// given to another worker, or not renewed before it expired because the
// database was unreachable) is flagged lost, and the step holding it stops
// and writes nothing.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "libs/db/connection_pool.h"
#include "libs/queue/task_queue.h"

namespace batchscribe::worker {

class LeaseKeeper {
 public:
  LeaseKeeper(const db::ConnectionPool& pool, const queue::Clock& clock,
              queue::QueueOptions options);
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  void Start();
  void Stop();

  /// Starts heartbeating `task`; `lost` turns true when its lease is gone.
  void Add(const queue::Task& task, std::shared_ptr<std::atomic<bool>> lost);
  /// Stops heartbeating the task.
  void Remove(int64_t task_id);

 private:
  struct Entry {
    queue::Task task;
    std::shared_ptr<std::atomic<bool>> lost;
    queue::TimePoint expires;
  };
  void Run();
  void Beat();

  const db::ConnectionPool& pool_;
  const queue::Clock& clock_;
  const queue::QueueOptions options_;
  std::unique_ptr<pqxx::connection> conn_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::map<int64_t, Entry> entries_;
  std::thread thread_;
};

}  // namespace batchscribe::worker
