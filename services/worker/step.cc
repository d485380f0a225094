#include "services/worker/step.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "libs/common/logging.h"
#include "libs/openai/api_error.h"
#include "libs/pipeline/batch_progress.h"
#include "services/worker/records.h"

namespace batchscribe::worker {

void CrashPoints::Reach(const std::string& point) const {
  if (std::find(points_.begin(), points_.end(), point) == points_.end()) return;
  log::Warn("test crash point reached: killing this process", {{"point", point}});
  kill(getpid(), SIGKILL);
  pause();
}

std::string StepContext::shard_id() const {
  auto slash = task.subject.find('/');
  return slash == std::string::npos ? std::string() : task.subject.substr(slash + 1);
}

StepResult StepResult::Complete(std::function<void(pqxx::work&)> work) {
  StepResult r;
  r.kind = Kind::kComplete;
  r.work = std::move(work);
  return r;
}

StepResult StepResult::Snooze(std::chrono::milliseconds delay,
                              std::function<void(pqxx::work&)> work, std::string note) {
  StepResult r;
  r.kind = Kind::kSnooze;
  r.delay = delay;
  r.work = std::move(work);
  r.note = std::move(note);
  return r;
}

StepResult StepResult::Retry(std::string error, std::optional<std::chrono::milliseconds> after) {
  StepResult r;
  r.kind = Kind::kFail;
  r.failure.error = std::move(error);
  r.failure.retry_after = after;
  return r;
}

StepResult StepResult::Permanent(std::string error) {
  StepResult r;
  r.kind = Kind::kFail;
  r.failure.error = std::move(error);
  r.failure.permanent = true;
  return r;
}

StepResult StepResult::HandBack() {
  StepResult r;
  r.kind = Kind::kHandBack;
  return r;
}

StepResult StepResult::FromStatus(const absl::Status& status, const std::string& what,
                                  bool permanent_on_client_error) {
  if (status.code() == absl::StatusCode::kCancelled) return HandBack();
  std::string error = what + ": " + std::string(status.message());
  auto api = openai::GetApiError(status);
  if (api && permanent_on_client_error && api->http_status >= 400 && api->http_status < 500 &&
      api->http_status != 408 && api->http_status != 409 && api->http_status != 429 &&
      api->http_status != 401 && api->http_status != 403) {
    return Permanent(error);
  }
  if (api && api->retry_after && api->retry_after->count() > 0) {
    return Retry(error, api->retry_after);
  }
  return Retry(error);
}

std::chrono::milliseconds PaidWorkBackoff(int errors, double scale) {
  constexpr double kFirstMs = 1000;
  constexpr double kMaxMs = 3600.0 * 1000;  // an hour: OpenAI outages last minutes to hours
  const double ms = std::min(kMaxMs, kFirstMs * std::pow(2.0, std::min(errors - 1, 30)));
  return std::chrono::milliseconds(static_cast<int64_t>(std::max(1.0, ms * scale)));
}

StepResult SnoozePaidWork(const StepContext& ctx, const ShardRecord& shard,
                          const absl::Status& status, const std::string& what) {
  if (status.code() == absl::StatusCode::kCancelled) return StepResult::HandBack();
  const int errors = shard.consecutive_errors + 1;
  const std::string error = what + ": " + std::string(status.message());
  std::chrono::milliseconds delay = PaidWorkBackoff(errors, ctx.config.task_backoff_scale);
  if (auto api = openai::GetApiError(status);
      api && api->retry_after && api->retry_after->count() > 0) {
    delay = std::max(delay, *api->retry_after);
  }
  if (errors >= 3) {
    log::Error("OpenAI keeps failing for a shard that is paid for; still trying, not re-sending",
               {{"batch_id", shard.batch_id},
                {"shard_id", shard.shard_id},
                {"openai_batch_id", shard.openai_batch_id},
                {"errors_in_a_row", errors},
                {"next_try_ms", static_cast<int64_t>(delay.count())},
                {"error", error}});
  }
  return StepResult::Snooze(
      delay,
      [batch_id = shard.batch_id, shard_id = shard.shard_id, errors, error](pqxx::work& tx) {
        RecordShardErrors(tx, batch_id, shard_id, errors, error);
      },
      error);
}

void RecordShardErrors(pqxx::work& tx, const std::string& batch_id, const std::string& shard_id,
                       int errors, const std::string& error) {
  tx.exec_params(
      "UPDATE shards SET consecutive_errors = $3, error = $4, update_time = now() "
      "WHERE batch_id = $1 AND shard_id = $2",
      batch_id, shard_id, errors,
      error.substr(0, 2000) + " (" + std::to_string(errors) + " in a row; retrying)");
}

bool RunFenced(StepContext& ctx, const std::function<void(pqxx::work&)>& body) {
  pqxx::work tx(ctx.conn);
  auto r = tx.exec_params(
      "SELECT 1 FROM tasks WHERE id = $1 AND lease_token = $2::uuid AND state = 'running' "
      "FOR UPDATE",
      ctx.task.id, ctx.task.lease_token);
  if (r.empty()) return false;
  body(tx);
  tx.commit();
  return true;
}

void OnTaskFailedForGood(pqxx::work& tx, const queue::Task& task, const std::string& error) {
  const std::string& batch_id = task.batch_id;
  if (!pipeline::LockBatch(tx, batch_id)) return;
  if (task.kind == "plan") {
    pipeline::FailPendingDocuments(tx, batch_id, "planning failed: " + error);
    return;
  }
  if (task.kind == "prepare" || task.kind == "submit" || task.kind == "poll" ||
      task.kind == "retrieve") {
    auto slash = task.subject.find('/');
    if (slash == std::string::npos) return;
    pipeline::AbandonShard(tx, batch_id, task.subject.substr(slash + 1),
                           task.kind + " failed: " + error);
    return;
  }
  if (task.kind == "transcribe") {
    auto r = tx.exec_params(
        "UPDATE documents SET state = 'FAILED', error = $2, update_time = now() "
        "WHERE batch_id = $1 AND state IN ('PENDING', 'PREPARED', 'SUBMITTED')",
        batch_id, "transcription failed: " + error);
    if (r.affected_rows() > 0) {
      pipeline::RecordBatchError(tx, batch_id, "transcription failed: " + error);
    }
    pipeline::FinishBatchIfSettled(tx, batch_id);
    return;
  }
  // cancel: poll and retrieve still finish the shard.
  pipeline::RecordBatchError(tx, batch_id, task.kind + " failed: " + error);
}

}  // namespace batchscribe::worker
