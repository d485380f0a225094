#pragma once
// The worker runtime: `concurrency` slots, each a loop of claim -> run the
// step -> apply its outcome through the fenced queue calls; a LeaseKeeper
// heartbeating every held task; NOTIFY wake-ups with polling as a fallback;
// and the stranded-work sweep. Draining (SIGTERM) stops claiming and lets
// running steps finish; Stop() makes the rest hand their tasks back.

#include <absl/status/status.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "libs/db/connection_pool.h"
#include "libs/db/listener.h"
#include "libs/metrics/metrics.h"
#include "libs/openai/openai_client.h"
#include "libs/queue/task_queue.h"
#include "libs/storage/input_root.h"
#include "services/worker/health.h"
#include "services/worker/lease_keeper.h"
#include "services/worker/step.h"
#include "services/worker/worker_config.h"

namespace batchscribe::worker {

/// Makes one OpenAI client whose calls stop when `aborted` turns true.
using OpenAiClientFactory =
    std::function<std::unique_ptr<openai::OpenAiClient>(std::function<bool()> aborted)>;

class Worker {
 public:
  Worker(WorkerConfig config, storage::InputRoot input_root, OpenAiClientFactory clients,
         metrics::Metrics& metrics, const queue::Clock& clock);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Starts the threads.
  void Start();
  /// Stops claiming; running steps go on.
  void Drain();
  /// Running steps stop at their next checkpoint and hand their tasks back.
  void Stop();
  /// Waits until every slot has ended (after Drain or Stop), then stops the
  /// helper threads.
  void Join();
  /// Tasks running now.
  int running() const { return running_.load(); }
  /// The slots' heartbeats, for the liveness probe.
  const LoopHealth& health() const { return health_; }
  /// True once Drain or Stop was called: no more claims.
  bool draining() const { return draining_.load(); }

 private:
  void SlotLoop(int slot);
  /// Test hook (BATCHSCRIBE_TEST_FREEZE_FILE): while that file exists, the slot
  /// stands still without beating, as a stuck loop would.
  void FreezeWhileRequested(int slot);
  void Execute(int slot, db::ConnectionPool::Lease& lease, openai::OpenAiClient& client,
               const std::shared_ptr<std::atomic<bool>>& lost, const queue::Task& task);
  void Apply(db::ConnectionPool::Lease& lease, const queue::Task& task, StepResult& result,
             std::chrono::steady_clock::time_point started);
  StepResult RunStep(StepContext& ctx);
  void SweepLoop();
  void WaitForWork();

  const WorkerConfig config_;
  const storage::InputRoot input_root_;
  OpenAiClientFactory clients_;
  metrics::Metrics& metrics_;
  const queue::Clock& clock_;
  const CrashPoints crash_points_;
  queue::QueueOptions queue_options_;
  LoopHealth health_;

  db::ConnectionPool pool_;
  LeaseKeeper lease_keeper_;
  std::unique_ptr<db::NotificationListener> listener_;

  std::atomic<bool> draining_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int> running_{0};
  std::mutex mu_;
  std::condition_variable wake_;
  uint64_t wake_generation_ = 0;
  std::vector<std::thread> slots_;
  std::thread sweeper_;
};

}  // namespace batchscribe::worker
