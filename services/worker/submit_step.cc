// submit: creates the OpenAI batch of an uploaded shard. First it reserves
// room in the model's enqueued-token budget (snoozing while it is full), then
// it looks for a batch already created for this shard (reconcile-before-
// create) and only creates one when there is none. A create whose outcome is
// unknown (timeout, dropped connection, 5xx) is never blindly repeated: the
// task fails and its next attempt reconciles first.

#include <cstdint>

#include "libs/common/logging.h"
#include "libs/openai/api_error.h"
#include "libs/pipeline/batch_progress.h"
#include "services/worker/openai_reconcile.h"
#include "services/worker/records.h"
#include "services/worker/step.h"

namespace batchscribe::worker {
namespace {

// Transaction-scoped lock per model so that two workers cannot both see room
// in the budget and both submit.
constexpr const char* kBudgetLock =
    "SELECT pg_advisory_xact_lock(hashtext('batchscribe.budget:' || $1))";

struct Reservation {
  bool lease_lost = false;
  bool reserved = false;
  int64_t enqueued = 0;
};

// Moves the shard UPLOADED -> SUBMITTED (the state that counts against the
// budget) when the model's budget has room, or when nothing else is enqueued
// (a shard larger than the whole budget must still go through eventually).
Reservation Reserve(StepContext& ctx, const std::string& model, int64_t budget) {
  Reservation out;
  const std::string batch_id = ctx.batch_id();
  const std::string shard_id = ctx.shard_id();
  bool fenced = RunFenced(ctx, [&](pqxx::work& tx) {
    tx.exec_params(kBudgetLock, model);
    auto r = tx.exec_params(
        "SELECT coalesce(sum(s.estimated_tokens), 0), "
        "  (SELECT estimated_tokens FROM shards WHERE batch_id = $2 AND shard_id = $3) "
        "FROM shards s JOIN batches b ON b.id = s.batch_id "
        "WHERE s.state = 'SUBMITTED' AND b.model = $1 "
        "  AND NOT (s.batch_id = $2 AND s.shard_id = $3)",
        model, batch_id, shard_id);
    out.enqueued = r[0][0].as<int64_t>();
    int64_t mine = r[0][1].is_null() ? 0 : r[0][1].as<int64_t>();
    if (budget > 0 && out.enqueued > 0 && out.enqueued + mine > budget) return;
    tx.exec_params(
        "UPDATE shards SET state = 'SUBMITTED', submit_time = now(), update_time = now() "
        "WHERE batch_id = $1 AND shard_id = $2 AND state = 'UPLOADED'",
        batch_id, shard_id);
    out.reserved = true;
  });
  out.lease_lost = !fenced;
  return out;
}

// The create says the shard's input file is not there: a 404, or the real
// API's 400 "Cannot find file ..." with param "file_id" (also seen for a few
// seconds right after an upload) or "input_file_id".
bool InputFileMissing(const absl::Status& status) {
  auto api = openai::GetApiError(status);
  if (!api) return false;
  if (api->http_status == 404) return true;
  return api->http_status == 400 && (api->param == "input_file_id" || api->param == "file_id");
}

// Creates that miss the same file before it is uploaded again (issue 14, item 7).
constexpr int kCreateMissesBeforeReupload = 3;

}  // namespace

StepResult RunSubmit(StepContext& ctx) {
  const std::string batch_id = ctx.batch_id();
  const std::string shard_id = ctx.shard_id();
  auto batch = LoadBatch(ctx.conn, batch_id);
  auto shard = LoadShard(ctx.conn, batch_id, shard_id);
  if (!batch.ok() || !shard.ok()) return StepResult::Complete();
  if ((pipeline::IsCancelState(batch->state) || pipeline::IsFinalBatchState(batch->state)) &&
      shard->openai_batch_id.empty()) {
    // Nothing to create any more. A worker that died between create and its
    // hand-off may have left an OpenAI batch behind: cancel it too.
    std::string orphan;
    if (!shard->input_file_id.empty()) {
      auto found = FindShardBatch(ctx.openai, batch_id, shard_id, shard->create_unix - 3600);
      if (!found.ok()) return StepResult::FromStatus(found.status(), "listing OpenAI batches");
      if (found->has_value() && !(*found)->IsTerminal()) {
        orphan = (*found)->id;
        auto cancelled = ctx.openai.CancelBatch(orphan);
        if (!cancelled.ok()) {
          return StepResult::FromStatus(cancelled.status(), "cancelling OpenAI batch " + orphan);
        }
        log::Info("cancelled the OpenAI batch of a cancelled shard",
                  {{"batch_id", batch_id}, {"shard_id", shard_id}, {"openai_batch_id", orphan}});
      }
    }
    return StepResult::Complete([batch_id, shard_id, orphan](pqxx::work& tx) {
      if (!pipeline::LockBatch(tx, batch_id)) return;
      if (!orphan.empty()) {
        tx.exec_params(
            "UPDATE shards SET openai_batch_id = $3, openai_status = 'cancelling' "
            "WHERE batch_id = $1 AND shard_id = $2 AND openai_batch_id IS NULL",
            batch_id, shard_id, orphan);
      }
      pipeline::CancelShard(tx, batch_id, shard_id);
    });
  }
  if (shard->state == "PLANNED" || shard->state == "PREPARING") {
    // Sent back for a fresh upload: prepare will queue submit again.
    return StepResult::Complete([batch_id, shard_id](pqxx::work& tx) {
      queue::NewTask prepare{"prepare", batch_id + "/" + shard_id, batch_id};
      queue::Enqueue(tx, prepare);
    });
  }
  if (shard->state != "UPLOADED" && shard->state != "SUBMITTED") return StepResult::Complete();
  if (shard->state == "SUBMITTED" && !shard->openai_batch_id.empty()) {
    // Created and recorded by an earlier run; make sure it is polled.
    return StepResult::Complete([batch_id, shard_id](pqxx::work& tx) {
      queue::NewTask poll{"poll", batch_id + "/" + shard_id, batch_id};
      queue::Enqueue(tx, poll);
    });
  }

  if (shard->state == "UPLOADED") {
    auto budget_it = ctx.config.token_budgets.find(batch->model);
    int64_t budget = budget_it == ctx.config.token_budgets.end() ? 0 : budget_it->second;
    Reservation reservation = Reserve(ctx, batch->model, budget);
    if (reservation.lease_lost) return StepResult::HandBack();
    if (!reservation.reserved) {
      std::string note = "enqueued-token budget of " + batch->model + " is full (" +
                         std::to_string(reservation.enqueued) + " of " + std::to_string(budget) +
                         " tokens at OpenAI)";
      log::Info("shard held back by the token budget",
                {{"batch_id", batch_id}, {"shard_id", shard_id}, {"note", note}});
      return StepResult::Snooze(ctx.config.budget_wait, {}, note);
    }
  }

  std::set<std::string> abandoned;
  {
    pqxx::read_transaction tx(ctx.conn);
    auto r = tx.exec_params(
        "SELECT unnest(abandoned_openai_batch_ids) FROM shards "
        "WHERE batch_id = $1 AND shard_id = $2",
        batch_id, shard_id);
    for (const auto& row : r) abandoned.insert(row[0].as<std::string>());
  }
  // Batches are listed newest first; anything created before the shard was
  // planned (minus clock skew) cannot be its batch.
  auto found = FindShardBatch(ctx.openai, batch_id, shard_id, shard->create_unix - 3600, abandoned);
  if (!found.ok()) return StepResult::FromStatus(found.status(), "listing OpenAI batches");
  if (ctx.stopped()) return StepResult::HandBack();

  openai::BatchObject created;
  if (found->has_value()) {
    created = **found;
    log::Info("adopted the existing OpenAI batch of the shard",
              {{"batch_id", batch_id}, {"shard_id", shard_id}, {"openai_batch_id", created.id}});
  } else {
    ctx.crash_points.Reach("submit.before_create");
    openai::CreateBatchRequest request;
    request.input_file_id = shard->input_file_id;
    request.metadata = ShardMetadata(batch_id, shard_id);
    // The create runs under the task's row lock, taken only if this worker
    // still holds the lease. A lease cannot be rescued while its row is locked
    // (RescueExpiredLeases skips locked rows), so no other worker can take the
    // task and create a second batch meanwhile; and a worker paused (SIGSTOP,
    // a stall) after the listing above finds its lease gone when it resumes,
    // instead of creating a batch the new holder has already created. The
    // fault suite's zombie worker met exactly that: one shard, two batches run.
    absl::StatusOr<openai::BatchObject> result =
        absl::UnknownError("the OpenAI batch was not created");
    if (!RunFenced(ctx, [&](pqxx::work&) { result = ctx.openai.CreateBatch(request); })) {
      return StepResult::HandBack();
    }
    if (!result.ok()) {
      if (InputFileMissing(result.status())) {
        // The same file a few times first (it may not be visible yet), then a
        // fresh upload, at most max_resubmits times: never a loop of uploads.
        const int misses = shard->consecutive_errors + 1;
        const std::string reason = "OpenAI cannot find the input file " + shard->input_file_id +
                                   " at create: " + std::string(result.status().message());
        log::Warn("input file rejected at create",
                  {{"batch_id", batch_id},
                   {"shard_id", shard_id},
                   {"misses_in_a_row", misses},
                   {"uploads_so_far", shard->resubmits + 1},
                   {"error", std::string(result.status().message())}});
        if (misses < kCreateMissesBeforeReupload) {
          return StepResult::Snooze(
              PaidWorkBackoff(misses, ctx.config.task_backoff_scale),
              [batch_id, shard_id, misses, reason](pqxx::work& tx) {
                RecordShardErrors(tx, batch_id, shard_id, misses, reason);
              },
              reason);
        }
        if (shard->resubmits >= ctx.config.max_resubmits) {
          const std::string why = reason + " (uploaded " + std::to_string(shard->resubmits + 1) +
                                  " times; giving up on this shard)";
          return StepResult::Complete([batch_id, shard_id, why](pqxx::work& tx) {
            if (!pipeline::LockBatch(tx, batch_id)) return;
            pipeline::AbandonShard(tx, batch_id, shard_id, why, false);
          });
        }
        return StepResult::Complete([batch_id, shard_id, reason](pqxx::work& tx) {
          tx.exec_params(
              "UPDATE shards SET state = 'PLANNED', input_file_id = NULL, "
              "  resubmits = resubmits + 1, consecutive_errors = 0, error = $3, "
              "  update_time = now() "
              "WHERE batch_id = $1 AND shard_id = $2 AND state IN ('UPLOADED', 'SUBMITTED') "
              "  AND openai_batch_id IS NULL",
              batch_id, shard_id, reason.substr(0, 2000) + " (uploading it again)");
          queue::NewTask prepare{"prepare", batch_id + "/" + shard_id, batch_id};
          queue::Enqueue(tx, prepare);
        });
      }
      // Unknown outcome or not: the next attempt reconciles before creating.
      return StepResult::FromStatus(result.status(), "creating the OpenAI batch");
    }
    created = *result;
    log::Info("OpenAI batch created", {{"batch_id", batch_id},
                                       {"shard_id", shard_id},
                                       {"openai_batch_id", created.id},
                                       {"input_file_id", shard->input_file_id}});
  }
  ctx.crash_points.Reach("submit.after_create");

  const auto first_poll = ctx.config.batch_poll_min;
  return StepResult::Complete([batch_id, shard_id, created, first_poll](pqxx::work& tx) {
    auto state = pipeline::LockBatch(tx, batch_id);
    if (!state) return;
    auto shard_state =
        tx.exec_params("SELECT state FROM shards WHERE batch_id = $1 AND shard_id = $2 FOR UPDATE",
                       batch_id, shard_id);
    const bool shard_cancelled =
        shard_state.empty() || shard_state[0][0].as<std::string>() == "CANCELLED";
    if (shard_cancelled || pipeline::IsCancelState(*state) || pipeline::IsFinalBatchState(*state)) {
      // CancelBatch ran while we were creating: record the batch and cancel it
      // right away (its documents were already cancelled).
      tx.exec_params(
          "UPDATE shards SET openai_batch_id = $3, openai_status = $4, update_time = now() "
          "WHERE batch_id = $1 AND shard_id = $2",
          batch_id, shard_id, created.id, created.status);
      queue::NewTask cancel{"cancel", batch_id + "/" + shard_id, batch_id};
      queue::Enqueue(tx, cancel);
      if (!shard_cancelled) {
        queue::NewTask poll{"poll", batch_id + "/" + shard_id, batch_id};
        tx.exec_params(
            "UPDATE shards SET state = 'SUBMITTED' WHERE batch_id = $1 AND shard_id = $2", batch_id,
            shard_id);
        tx.exec_params(
            "UPDATE documents SET state = 'SUBMITTED', update_time = now() "
            "WHERE batch_id = $1 AND shard_id = $2 AND state = 'PREPARED'",
            batch_id, shard_id);
        queue::Enqueue(tx, poll);
      }
      pipeline::NotifyBatchChanged(tx, batch_id);
      return;
    }
    tx.exec_params(
        "UPDATE shards SET state = 'SUBMITTED', openai_batch_id = $3, openai_status = $4, "
        "  submit_time = coalesce(submit_time, now()), polls = 0, error = NULL, "
        "  consecutive_errors = 0, "
        "  update_time = now() WHERE batch_id = $1 AND shard_id = $2",
        batch_id, shard_id, created.id, created.status);
    tx.exec_params(
        "UPDATE documents SET state = 'SUBMITTED', update_time = now() "
        "WHERE batch_id = $1 AND shard_id = $2 AND state = 'PREPARED'",
        batch_id, shard_id);
    queue::NewTask poll{"poll", batch_id + "/" + shard_id, batch_id};
    poll.run_at = std::chrono::system_clock::now() + first_poll;
    queue::Enqueue(tx, poll);
    pipeline::NotifyBatchChanged(tx, batch_id);
  });
}

}  // namespace batchscribe::worker
