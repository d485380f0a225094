#include "services/worker/worker.h"

#include <filesystem>

#include "libs/common/logging.h"
#include "libs/db/status.h"
#include "libs/pipeline/batch_progress.h"
#include "libs/pipeline/stranded_sweep.h"

namespace batchscribe::worker {
namespace {

db::PoolOptions PoolFor(const WorkerConfig& config) {
  db::PoolOptions options;
  // One connection per slot plus room for the sweep and short reads.
  options.max_connections = config.concurrency + 2;
  return options;
}

nlohmann::json TaskFields(const queue::Task& task) {
  return {{log::kTaskId, task.id},
          {"kind", task.kind},
          {"subject", task.subject},
          {log::kBatchId, task.batch_id},
          {"attempt", task.attempt}};
}

// The log context of a step: its task, batch and (subject "<batch>/<shard>") shard.
nlohmann::json TaskContext(const queue::Task& task) {
  nlohmann::json context = {{log::kTaskId, task.id}, {log::kBatchId, task.batch_id}};
  if (const auto slash = task.subject.find('/'); slash != std::string::npos) {
    context[log::kShardId] = task.subject.substr(slash + 1);
  }
  return context;
}

}  // namespace

Worker::Worker(WorkerConfig config, storage::InputRoot input_root, OpenAiClientFactory clients,
               metrics::Metrics& metrics, const queue::Clock& clock)
    : config_(std::move(config)),
      input_root_(std::move(input_root)),
      clients_(std::move(clients)),
      metrics_(metrics),
      clock_(clock),
      crash_points_(config_.crash_points),
      queue_options_{config_.lease, config_.owner, config_.task_backoff_scale},
      health_(config_.concurrency, config_.liveness_timeout),
      pool_(config_.database_url, PoolFor(config_)),
      lease_keeper_(pool_, clock_, queue_options_) {}

Worker::~Worker() {
  Stop();
  Join();
}

void Worker::Start() {
  lease_keeper_.Start();
  listener_ = std::make_unique<db::NotificationListener>(
      pool_, queue::kNotifyChannel,
      [this](const std::string&) {
        {
          std::lock_guard lock(mu_);
          ++wake_generation_;
        }
        wake_.notify_all();
      },
      [this] { wake_.notify_all(); });
  listener_->Start();
  for (int i = 0; i < config_.concurrency; ++i) {
    slots_.emplace_back([this, i] { SlotLoop(i); });
  }
  if (config_.sweep_interval.count() > 0) sweeper_ = std::thread([this] { SweepLoop(); });
  log::Info("worker started", {{"concurrency", config_.concurrency},
                               {"owner", config_.owner},
                               {"lease_seconds", config_.lease.count()}});
}

void Worker::Drain() {
  if (draining_.exchange(true)) return;
  log::Info("draining: no new tasks are claimed", {{"running", running_.load()}});
  wake_.notify_all();
}

void Worker::Stop() {
  draining_ = true;
  if (!stopping_.exchange(true)) {
    log::Info("stopping: running tasks are handed back", {{"running", running_.load()}});
  }
  wake_.notify_all();
}

void Worker::Join() {
  for (auto& t : slots_) {
    if (t.joinable()) t.join();
  }
  slots_.clear();
  stopping_ = true;
  wake_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
  if (listener_) listener_->Stop();
  lease_keeper_.Stop();
}

void Worker::WaitForWork() {
  std::unique_lock lock(mu_);
  const uint64_t seen = wake_generation_;
  wake_.wait_for(lock, config_.poll_interval,
                 [&] { return draining_.load() || wake_generation_ != seen; });
}

void Worker::FreezeWhileRequested(int slot) {
  if (config_.test_freeze_file.empty()) return;
  std::error_code ec;
  if (!std::filesystem::exists(config_.test_freeze_file, ec)) return;
  log::Warn("test hook: claim loop frozen", {{"slot", slot}});
  while (!draining_.load() && std::filesystem::exists(config_.test_freeze_file, ec)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  log::Warn("test hook: claim loop thawed", {{"slot", slot}});
}

void Worker::SlotLoop(int slot) {
  // The task this slot runs; the client's transfers stop when it is lost. Each
  // check of whether to stop is also the slot's heartbeat (LoopHealth).
  auto lost = std::make_shared<std::atomic<bool>>(false);
  auto current_lost = std::make_shared<std::shared_ptr<std::atomic<bool>>>(lost);
  std::unique_ptr<openai::OpenAiClient> client = clients_([this, slot, current_lost] {
    health_.Beat(slot);
    return stopping_.load() || (*current_lost)->load();
  });
  while (!draining_.load()) {
    health_.Beat(slot);
    FreezeWhileRequested(slot);
    auto lease = pool_.Acquire();
    if (!lease.ok()) {
      log::Warn("database unavailable",
                {{"slot", slot}, {"error", std::string(lease.status().message())}});
      WaitForWork();
      continue;
    }
    std::vector<queue::Task> tasks;
    try {
      queue::TaskQueue queue(lease->conn(), clock_, queue_options_);
      tasks = queue.Claim(config_.kinds, 1);
    } catch (const std::exception& e) {
      if (db::IsConnectionError(e)) lease->MarkBroken();
      log::Warn("claim failed", {{"slot", slot}, {"error", log::Redact(e.what())}});
      WaitForWork();
      continue;
    }
    if (tasks.empty()) {
      WaitForWork();
      continue;
    }
    for (const queue::Task& task : tasks) {
      auto task_lost = std::make_shared<std::atomic<bool>>(false);
      *current_lost = task_lost;
      Execute(slot, *lease, *client, task_lost, task);
    }
  }
  health_.Ended(slot);
}

void Worker::Execute(int slot, db::ConnectionPool::Lease& lease, openai::OpenAiClient& client,
                     const std::shared_ptr<std::atomic<bool>>& lost, const queue::Task& task) {
  const auto started = std::chrono::steady_clock::now();
  // Every line logged while the step runs (OpenAI calls included) names the task.
  log::ScopedContext log_context(TaskContext(task));
  health_.SetTask(slot, task.id);
  ++running_;
  metrics_.TaskClaimed(task.kind);
  lease_keeper_.Add(task, lost);
  log::Info("task claimed", TaskFields(task));

  StepResult result;
  try {
    if (task.kind != "cancel") {
      pqxx::work tx(lease.conn());
      pipeline::MarkBatchRunning(tx, task.batch_id);
      tx.commit();
    }
    StepContext ctx{task,
                    config_,
                    lease.conn(),
                    client,
                    [this, slot, lost] {
                      return clients_([this, slot, lost] {
                        health_.Beat(slot);
                        return stopping_.load() || lost->load();
                      });
                    },
                    input_root_,
                    crash_points_,
                    metrics_,
                    [this, slot, lost] {
                      health_.Beat(slot);
                      return stopping_.load() || lost->load();
                    }};
    result = RunStep(ctx);
  } catch (const std::exception& e) {
    if (db::IsConnectionError(e)) lease.MarkBroken();
    result = StepResult::Retry(std::string("step failed: ") + log::Redact(e.what()));
  }

  if (lost->load()) {
    log::Warn("lease lost: the outcome is dropped", TaskFields(task));
  } else {
    Apply(lease, task, result, started);
  }
  lease_keeper_.Remove(task.id);
  --running_;
  health_.SetTask(slot, 0);
}

StepResult Worker::RunStep(StepContext& ctx) {
  const std::string& kind = ctx.task.kind;
  if (kind == "plan") return RunPlan(ctx);
  if (kind == "prepare") return RunPrepare(ctx);
  if (kind == "submit") return RunSubmit(ctx);
  if (kind == "poll") return RunPoll(ctx);
  if (kind == "retrieve") return RunRetrieve(ctx);
  if (kind == "cancel") return RunCancel(ctx);
  if (kind == "transcribe") return RunTranscribe(ctx);
  return StepResult::Permanent("unknown task kind '" + kind + "'");
}

void Worker::Apply(db::ConnectionPool::Lease& lease, const queue::Task& task, StepResult& result,
                   std::chrono::steady_clock::time_point started) {
  const auto elapsed = std::chrono::steady_clock::now() - started;
  nlohmann::json fields = TaskFields(task);
  fields["ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
  // A broken connection is replaced and the outcome applied again: every call
  // is fenced, so one that did commit is recognised (lease gone) and not repeated.
  std::optional<db::ConnectionPool::Lease> replacement;
  for (int attempt = 0; attempt < 3; ++attempt) {
    pqxx::connection& conn = replacement ? replacement->conn() : lease.conn();
    queue::TaskQueue queue(conn, clock_, queue_options_);
    try {
      absl::Status status;
      switch (result.kind) {
        case StepResult::Kind::kComplete:
          status = queue.Complete(task, result.work);
          if (status.ok()) {
            if (result.after_commit) result.after_commit();
            metrics_.TaskSucceeded(task.kind, elapsed);
            log::Info("task done", fields);
          }
          break;
        case StepResult::Kind::kSnooze:
          status = queue.Snooze(task, result.delay, result.work, result.note);
          if (status.ok()) {
            metrics_.TaskSnoozed(task.kind, elapsed);
            fields["delay_ms"] = result.delay.count();
            fields["note"] = result.note;
            log::Debug("task snoozed", fields);
          }
          break;
        case StepResult::Kind::kHandBack:
          status = queue.Snooze(task, std::chrono::milliseconds(0), {}, "handed back");
          if (status.ok()) log::Info("task handed back", fields);
          break;
        case StepResult::Kind::kFail: {
          const std::string error = result.failure.error;
          auto final = queue.Fail(task, result.failure, [&](pqxx::work& tx, bool final) {
            if (final) OnTaskFailedForGood(tx, task, error);
          });
          status = final.status();
          if (final.ok()) {
            metrics_.TaskFailed(
                task.kind, *final ? metrics::TaskFailure::kFinal : metrics::TaskFailure::kRetry,
                elapsed);
            fields["error"] = error;
            fields["final"] = *final;
            if (*final) {
              log::Error("task failed for good", fields);
            } else {
              log::Warn("task failed, will retry", fields);
            }
          }
          break;
        }
      }
      if (status.code() == absl::StatusCode::kFailedPrecondition) {
        log::Warn("lease lost before the outcome was recorded", fields);
      } else if (!status.ok()) {
        log::Error("recording the outcome failed",
                   {{"task_id", task.id}, {"error", std::string(status.message())}});
      }
      return;
    } catch (const std::exception& e) {
      const bool broken = db::IsConnectionError(e);
      log::Warn(
          "recording the outcome failed",
          {{"task_id", task.id}, {"error", log::Redact(e.what())}, {"connection_lost", broken}});
      if (broken) {
        (replacement ? *replacement : lease).MarkBroken();
        replacement.reset();
        auto fresh = pool_.Acquire();
        if (fresh.ok()) replacement.emplace(std::move(*fresh));
        continue;
      }
      if (result.kind == StepResult::Kind::kFail) return;  // the lease will expire and be rescued
      // The outcome's own SQL failed: record a failure instead, so that the
      // task is retried with backoff and, when its attempts are spent, its
      // documents still end.
      result =
          StepResult::Retry(std::string("recording the outcome failed: ") + log::Redact(e.what()));
    }
  }
}

void Worker::SweepLoop() {
  std::unique_ptr<pqxx::connection> conn;
  while (!stopping_.load() && !draining_.load()) {
    {
      std::unique_lock lock(mu_);
      wake_.wait_for(lock, config_.sweep_interval,
                     [this] { return stopping_.load() || draining_.load(); });
    }
    if (stopping_.load() || draining_.load()) break;
    try {
      if (!conn || !conn->is_open()) {
        auto opened = pool_.OpenDedicated();
        if (!opened.ok()) continue;
        conn = std::move(*opened);
      }
      pipeline::SweepReport report = pipeline::SweepStrandedWork(*conn);
      if (report.shards_abandoned + report.plans_enqueued + report.documents_failed +
              report.documents_cancelled + report.batches_finished + report.transcribes_enqueued >
          0) {
        log::Warn("sweep repaired stranded work",
                  {{"shards_abandoned", report.shards_abandoned},
                   {"plans_enqueued", report.plans_enqueued},
                   {"documents_failed", report.documents_failed},
                   {"documents_cancelled", report.documents_cancelled},
                   {"batches_finished", report.batches_finished},
                   {"transcribes_enqueued", report.transcribes_enqueued}});
      }
    } catch (const std::exception& e) {
      log::Warn("sweep failed", {{"error", log::Redact(e.what())}});
      conn.reset();
    }
  }
}

}  // namespace batchscribe::worker
