#pragma once
// What a pipeline step sees (StepContext) and what it decides (StepResult).
// Steps do their slow work (files, HTTP) outside any transaction and return
// the database changes as a closure; the runtime applies it in the task
// queue's fenced Complete / Snooze / Fail transaction, so a worker that lost
// its lease writes nothing.

#include <absl/status/status.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "libs/openai/openai_client.h"
#include "libs/queue/task_queue.h"
#include "libs/storage/input_root.h"
#include "services/worker/worker_config.h"

namespace batchscribe::metrics {
class Metrics;
}

namespace batchscribe::worker {

/// Test-only crash points (BATCHSCRIBE_TEST_CRASH_AT).
class CrashPoints {
 public:
  explicit CrashPoints(std::vector<std::string> points) : points_(std::move(points)) {}
  /// Kills the process with SIGKILL when `point` is armed: the harshest crash,
  /// with no chance to clean up, exactly as a kill -9 from outside.
  void Reach(const std::string& point) const;

 private:
  std::vector<std::string> points_;
};

/// Everything a step may use.
struct StepContext {
  const queue::Task& task;
  const WorkerConfig& config;
  /// This slot's connection, for reads and fenced writes.
  pqxx::connection& conn;
  openai::OpenAiClient& openai;
  /// More clients, for steps that make concurrent calls (SYNC mode).
  std::function<std::unique_ptr<openai::OpenAiClient>()> new_openai_client;
  const storage::InputRoot& input_root;
  const CrashPoints& crash_points;
  metrics::Metrics& metrics;
  /// True once the lease is lost or the process must stop now.
  std::function<bool()> stopped;

  /// "<batch>" of the subject.
  std::string batch_id() const { return task.batch_id; }
  /// "<shard>" of a "<batch>/<shard>" subject ("" otherwise).
  std::string shard_id() const;
};

/// The decision of a step.
struct StepResult {
  enum class Kind {
    kComplete,  // done: apply `work` and mark the task succeeded
    kSnooze,    // not yet: apply `work`, run again after `delay`, no attempt used
    kFail,      // failed: retry later (backoff or retry_after) or for good
    kHandBack,  // stopped (shutdown, lease lost): give the task back untouched
  };
  Kind kind = Kind::kComplete;
  std::function<void(pqxx::work&)> work;
  std::chrono::milliseconds delay{0};
  std::string note;
  queue::Failure failure;
  /// Runs after `work` committed (metrics of what it did).
  std::function<void()> after_commit;

  static StepResult Complete(std::function<void(pqxx::work&)> work = {});
  static StepResult Snooze(std::chrono::milliseconds delay,
                           std::function<void(pqxx::work&)> work = {}, std::string note = "");
  static StepResult Retry(std::string error,
                          std::optional<std::chrono::milliseconds> retry_after = std::nullopt);
  static StepResult Permanent(std::string error);
  static StepResult HandBack();
  /// A failed call: CANCELLED -> hand back; an OpenAI error with a retry hint
  /// -> retry after it; 401/403 and other client errors are retried too (a key
  /// may be fixed while the task waits) unless `permanent_on_client_error`.
  static StepResult FromStatus(const absl::Status& status, const std::string& what,
                               bool permanent_on_client_error = false);
};

struct ShardRecord;

/// The rule for paid work (README, Guarantees): once an OpenAI batch may exist
/// for a shard, its poll and retrieve steps never fail for good on an error of
/// a call to OpenAI. The task snoozes, spending no attempt, after Retry-After
/// when OpenAI gives one, else after a backoff that doubles with the shard's
/// errors in a row (1 s, 2 s, ... at most an hour, times --task_backoff_scale);
/// the shard records the count and the error, and the log says it loudly
/// from the third error in a row on. CANCELLED hands the task back. What is
/// repeated is a GET of the batch or of a result file (free, idempotent): no
/// request line is ever sent again from here, and giving up instead would
/// re-send lines OpenAI may already have run and billed.
StepResult SnoozePaidWork(const StepContext& ctx, const ShardRecord& shard,
                          const absl::Status& status, const std::string& what);

/// Records that the shard's last `errors` calls in a row failed, the last with
/// `error` (shown as the shard's error: "... (N in a row; retrying)").
void RecordShardErrors(pqxx::work& tx, const std::string& batch_id, const std::string& shard_id,
                       int errors, const std::string& error);

/// The SET items of an UPDATE of shards after a call that succeeded: no errors
/// in a row, and the error RecordShardErrors wrote is gone.
inline constexpr const char* kShardErrorsClearedSql =
    "consecutive_errors = 0, error = CASE WHEN consecutive_errors > 0 THEN NULL ELSE error END";

/// The backoff of SnoozePaidWork for `errors` errors in a row (>= 1).
std::chrono::milliseconds PaidWorkBackoff(int errors, double scale);

/// Runs `body` in a transaction that first locks the task row, fenced on its
/// lease token, for the rare write a step makes before its outcome (the
/// token-budget reservation). Returns false, having written nothing, when the
/// lease was lost. Exceptions propagate to the runtime.
bool RunFenced(StepContext& ctx, const std::function<void(pqxx::work&)>& body);

/// The step functions, one per task kind.
StepResult RunPlan(StepContext& ctx);
StepResult RunPrepare(StepContext& ctx);
StepResult RunSubmit(StepContext& ctx);
StepResult RunPoll(StepContext& ctx);
StepResult RunRetrieve(StepContext& ctx);
StepResult RunCancel(StepContext& ctx);
StepResult RunTranscribe(StepContext& ctx);

/// Runs in the Fail transaction when a task of `kind` failed for good, so
/// that its documents still end (retried in a new shard or FAILED).
void OnTaskFailedForGood(pqxx::work& tx, const queue::Task& task, const std::string& error);

}  // namespace batchscribe::worker
