#pragma once
// The Postgres task queue of DESIGN §4: claim with FOR UPDATE SKIP LOCKED and a
// lease token, heartbeat, fenced complete that enqueues the next step in the
// same transaction, fail with backoff or Retry-After, snooze, rescue of expired
// leases, NOTIFY wake-ups. Every statement that changes a claimed task is fenced
// on (id, lease_token): a worker whose lease was rescued and re-granted (a
// zombie) changes nothing.

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace batchscribe::queue {

using TimePoint = std::chrono::system_clock::time_point;

/// Time source; tests inject a fixed or stepping clock.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

/// The wall clock.
class SystemClock : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

/// Channel NOTIFYed (payload = kind) whenever a task becomes available.
inline constexpr const char* kNotifyChannel = "batchscribe_tasks";

/// A task to enqueue.
struct NewTask {
  std::string kind;     // plan prepare submit poll retrieve cancel transcribe
  std::string subject;  // "<batch>" or "<batch>/<shard>"
  std::string batch_id;
  nlohmann::json payload = nlohmann::json::object();
  std::optional<TimePoint> run_at;  // default: now
  int max_attempts = 25;
};

/// Inserts `task` in the caller's transaction, unless a live (available or
/// running) task of the same (subject, kind) exists. Sends a NOTIFY that is
/// delivered when the transaction commits. Returns true when inserted.
bool Enqueue(pqxx::work& tx, const NewTask& task);

/// A claimed task. `lease_token` fences every later change.
struct Task {
  int64_t id = 0;
  std::string kind;
  std::string subject;
  std::string batch_id;
  nlohmann::json payload;
  int attempt = 0;  // including this one
  int max_attempts = 0;
  std::string lease_token;
  TimePoint lease_expires_at;
};

struct QueueOptions {
  std::chrono::seconds lease{std::chrono::seconds(60)};
  std::string owner = "worker";  // shown in the tasks table (host:pid)
  /// Multiplies the computed backoff (not a server's Retry-After); tests shrink it.
  double backoff_scale = 1.0;
};

/// How a failure should be handled.
struct Failure {
  std::string error;
  bool permanent = false;                                // fail now, whatever the attempts left
  std::optional<std::chrono::milliseconds> retry_after;  // server hint; else backoff
};

/// Backoff after `attempt` failed attempts: min(attempt^4, 3600) s, +-10% jitter
/// drawn from `unit_random` in [0,1).
std::chrono::milliseconds Backoff(int attempt, double unit_random);

class TaskQueue {
 public:
  TaskQueue(pqxx::connection& conn, const Clock& clock, QueueOptions options);

  /// Claims up to `limit` available tasks of `kinds` (all kinds when empty) whose
  /// run_at has passed, oldest run_at first; one autocommit statement.
  std::vector<Task> Claim(const std::vector<std::string>& kinds, int limit);

  /// Extends the lease. Returns false when the lease was lost (rescued,
  /// completed by someone else): the caller must stop and write nothing.
  bool Heartbeat(const Task& task);

  /// Runs `work` in one transaction that first locks the task row fenced on its
  /// lease, then marks it succeeded. `work` records the outcome and enqueues the
  /// next steps in the same transaction. Returns FAILED_PRECONDITION (and rolls
  /// everything back) when the lease was lost.
  absl::Status Complete(const Task& task, const std::function<void(pqxx::work&)>& work = {});

  /// Records a failure: back to available after backoff (or retry_after) while
  /// attempts remain, else (or when permanent) `failed`. `work` runs in the same
  /// transaction (e.g. to fail the documents of a shard). Returns true when the
  /// task failed for good; FAILED_PRECONDITION when the lease was lost.
  absl::StatusOr<bool> Fail(const Task& task, const Failure& failure,
                            const std::function<void(pqxx::work&, bool final)>& work = {});

  /// Puts the task back to available at now+delay without using an attempt.
  absl::Status Snooze(const Task& task, std::chrono::milliseconds delay,
                      const std::function<void(pqxx::work&)>& work = {},
                      const std::string& note = "");

 private:
  pqxx::connection& conn_;
  const Clock& clock_;
  QueueOptions options_;
};

/// Returns running tasks whose lease expired before `now` to available (or to
/// failed when their attempts are spent). Returns how many were rescued.
int RescueExpiredLeases(pqxx::connection& conn, TimePoint now);

/// Wake-ups for idle workers: LISTENs on kNotifyChannel on its own connection
/// (which must stay otherwise unused) so that a worker sleeping between polls
/// wakes as soon as a task is enqueued. Polling remains the fallback.
class TaskWakeup {
 public:
  explicit TaskWakeup(pqxx::connection& conn);
  ~TaskWakeup();
  TaskWakeup(const TaskWakeup&) = delete;
  TaskWakeup& operator=(const TaskWakeup&) = delete;
  /// Waits until a notification arrives or `timeout` passes; true on a notification.
  bool Wait(std::chrono::milliseconds timeout);

 private:
  class Receiver;
  pqxx::connection& conn_;
  bool notified_ = false;
  std::unique_ptr<Receiver> receiver_;
};

}  // namespace batchscribe::queue
