// poll: asks OpenAI for the shard's batch until it reaches a terminal status
// (finalizing is not done: a batch can sit there for hours), snoozing with an
// adaptive interval in between. completed / expired / cancelled hand over to
// retrieve. A batch that failed validation is resubmitted when the failure is
// transient (token_limit_exceeded: later, with backoff, no document attempt
// spent; "Cannot find file": soon, re-uploading now and then), otherwise its
// documents are retried in a new shard. A batch OpenAI no longer knows (404)
// is lost: its documents are retried. Any other error of the call snoozes
// (SnoozePaidWork): a burst of 429s or an outage never abandons a batch that
// may have run.

#include <algorithm>
#include <cmath>

#include "libs/common/logging.h"
#include "libs/openai/api_error.h"
#include "libs/pipeline/batch_progress.h"
#include "services/worker/poll_schedule.h"
#include "services/worker/records.h"
#include "services/worker/step.h"

namespace batchscribe::worker {
namespace {

std::string DescribeErrors(const openai::BatchObject& b) {
  if (b.errors.empty()) return "the OpenAI batch failed without errors";
  std::string out;
  for (size_t i = 0; i < b.errors.size() && i < 3; ++i) {
    if (i > 0) out += "; ";
    out += b.errors[i].code.empty() ? "error" : b.errors[i].code;
    if (!b.errors[i].message.empty()) out += ": " + b.errors[i].message;
    if (b.errors[i].line) out += " (line " + std::to_string(*b.errors[i].line) + ")";
  }
  if (b.errors.size() > 3) out += "; and " + std::to_string(b.errors.size() - 3) + " more";
  return out;
}

// Sends the shard back to submit (or to prepare for a fresh upload) after its
// OpenAI batch failed validation for a transient reason. Documents go back to
// PREPARED and spend no attempt.
void Resubmit(pqxx::work& tx, const std::string& batch_id, const std::string& shard_id,
              const std::string& openai_batch_id, const std::string& reason, bool reupload,
              std::chrono::milliseconds delay) {
  tx.exec_params(
      "UPDATE shards SET state = $3, openai_batch_id = NULL, openai_status = 'failed', "
      "  input_file_id = CASE WHEN $6 THEN NULL ELSE input_file_id END, "
      "  abandoned_openai_batch_ids = abandoned_openai_batch_ids || $4::text, "
      "  resubmits = resubmits + 1, polls = 0, error = $5, update_time = now() "
      "WHERE batch_id = $1 AND shard_id = $2",
      batch_id, shard_id, reupload ? "PLANNED" : "UPLOADED", openai_batch_id,
      reason.substr(0, 2000), reupload);
  tx.exec_params(
      "UPDATE documents SET state = 'PREPARED', update_time = now() "
      "WHERE batch_id = $1 AND shard_id = $2 AND state = 'SUBMITTED'",
      batch_id, shard_id);
  queue::NewTask next{reupload ? "prepare" : "submit", batch_id + "/" + shard_id, batch_id};
  next.run_at = std::chrono::system_clock::now() + delay;
  queue::Enqueue(tx, next);
  pipeline::RecordBatchError(tx, batch_id, "shard " + shard_id + ": " + reason);
}

}  // namespace

StepResult RunPoll(StepContext& ctx) {
  const std::string batch_id = ctx.batch_id();
  const std::string shard_id = ctx.shard_id();
  auto shard = LoadShard(ctx.conn, batch_id, shard_id);
  if (!shard.ok() || shard->state != "SUBMITTED" || shard->openai_batch_id.empty()) {
    return StepResult::Complete();
  }
  const std::string openai_id = shard->openai_batch_id;
  auto b = ctx.openai.RetrieveBatch(openai_id);
  if (!b.ok()) {
    auto api = openai::GetApiError(b.status());
    if (api && api->http_status == 404) {
      std::string reason = "the OpenAI batch " + openai_id + " can no longer be found";
      return StepResult::Complete([batch_id, shard_id, reason](pqxx::work& tx) {
        if (!pipeline::LockBatch(tx, batch_id)) return;
        pipeline::AbandonShard(tx, batch_id, shard_id, reason, false);
      });
    }
    return SnoozePaidWork(ctx, *shard, b.status(), "polling OpenAI batch " + openai_id);
  }

  if (!b->IsTerminal()) {
    // OpenAI promises 24 h; batches stuck in finalizing for hours are known.
    // Keep polling (never cancel paid work), but say so.
    const int64_t age_s = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count() -
                          shard->create_unix;
    if (age_s > 26 * 3600) {
      log::Warn("OpenAI batch not finished after 26 hours", {{"batch_id", batch_id},
                                                             {"shard_id", shard_id},
                                                             {"openai_batch_id", openai_id},
                                                             {"status", b->status},
                                                             {"age_hours", age_s / 3600}});
    }
    const bool changed = b->status != shard->openai_status;
    const int polls = changed ? 0 : shard->polls + 1;
    const auto delay = NextPollDelay(ctx.config, polls);
    return StepResult::Snooze(
        delay,
        [batch_id, shard_id, status = b->status, polls, changed](pqxx::work& tx) {
          tx.exec_params(std::string("UPDATE shards SET openai_status = $3, polls = $4, ") +
                             kShardErrorsClearedSql +
                             ", update_time = now() "
                             "WHERE batch_id = $1 AND shard_id = $2 AND state = 'SUBMITTED'",
                         batch_id, shard_id, status, polls);
          if (changed) pipeline::NotifyBatchChanged(tx, batch_id);
        },
        "OpenAI batch " + openai_id + " is " + b->status);
  }

  if (b->status == "failed") {
    const std::string reason = "OpenAI rejected batch " + openai_id + ": " + DescribeErrors(*b);
    bool token_limit = false;
    bool missing_file = false;
    for (const auto& e : b->errors) {
      if (e.code == "token_limit_exceeded") token_limit = true;
      if (e.message.find("Cannot find file") != std::string::npos) missing_file = true;
    }
    log::Warn("OpenAI batch failed", {{"batch_id", batch_id},
                                      {"shard_id", shard_id},
                                      {"openai_batch_id", openai_id},
                                      {"reason", reason}});
    if ((token_limit || missing_file) && shard->resubmits < ctx.config.max_resubmits) {
      const bool reupload = missing_file && shard->resubmits % 3 == 2;
      const auto delay = token_limit ? ResubmitDelay(ctx.config, shard->resubmits)
                                     : ResubmitDelay(ctx.config, 0) / 10;
      return StepResult::Complete(
          [batch_id, shard_id, openai_id, reason, reupload, delay](pqxx::work& tx) {
            auto state = pipeline::LockBatch(tx, batch_id);
            if (!state) return;
            if (pipeline::IsCancelState(*state)) {
              // Cancelled meanwhile: the batch never ran, nothing to resubmit.
              pipeline::CancelShard(tx, batch_id, shard_id);
              return;
            }
            Resubmit(tx, batch_id, shard_id, openai_id, reason, reupload, delay);
          });
    }
    // A batch that never ran: its documents try again in a new shard (each
    // spending an attempt, so a request OpenAI always rejects ends FAILED).
    return StepResult::Complete([batch_id, shard_id, openai_id, reason](pqxx::work& tx) {
      if (!pipeline::LockBatch(tx, batch_id)) return;
      tx.exec_params(
          "UPDATE shards SET openai_status = 'failed', update_time = now() "
          "WHERE batch_id = $1 AND shard_id = $2",
          batch_id, shard_id);
      pipeline::AbandonShard(tx, batch_id, shard_id, reason, false);
    });
  }

  // completed, expired, cancelled: results (possibly partial) to fetch.
  return StepResult::Complete([batch_id, shard_id, b = *b](pqxx::work& tx) {
    auto r = tx.exec_params(
        "UPDATE shards SET state = 'RETRIEVING', openai_status = $3, "
        "  output_file_id = NULLIF($4, ''), error_file_id = NULLIF($5, ''), "
        "  " +
            std::string(kShardErrorsClearedSql) +
            ", update_time = now() "
            "WHERE batch_id = $1 AND shard_id = $2 AND state = 'SUBMITTED'",
        batch_id, shard_id, b.status, b.output_file_id, b.error_file_id);
    if (r.affected_rows() == 0) return;
    queue::NewTask retrieve{"retrieve", batch_id + "/" + shard_id, batch_id};
    queue::Enqueue(tx, retrieve);
    pipeline::NotifyBatchChanged(tx, batch_id);
  });
}

}  // namespace batchscribe::worker
