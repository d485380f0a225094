// cancel: asks OpenAI to cancel a shard's batch. Poll and retrieve then finish
// the shard as usual (a cancelled batch keeps its partial results). A shard
// not yet created at OpenAI needs nothing: submit sees the cancellation.

#include "libs/common/logging.h"
#include "libs/openai/api_error.h"
#include "libs/pipeline/batch_progress.h"
#include "services/worker/records.h"
#include "services/worker/step.h"

namespace batchscribe::worker {

StepResult RunCancel(StepContext& ctx) {
  const std::string batch_id = ctx.batch_id();
  const std::string shard_id = ctx.shard_id();
  auto shard = LoadShard(ctx.conn, batch_id, shard_id);
  if (!shard.ok() || shard->openai_batch_id.empty()) return StepResult::Complete();
  if (shard->state == "RETRIEVING" || shard->state == "DONE") return StepResult::Complete();
  auto b = ctx.openai.CancelBatch(shard->openai_batch_id);
  if (!b.ok()) {
    auto api = openai::GetApiError(b.status());
    // Unknown, or already finished (cannot be cancelled any more): poll and
    // retrieve take it from here.
    if (api && (api->http_status == 404 || api->http_status == 400 || api->http_status == 409)) {
      log::Info("OpenAI batch not cancellable", {{"batch_id", batch_id},
                                                 {"shard_id", shard_id},
                                                 {"openai_batch_id", shard->openai_batch_id},
                                                 {"error", std::string(b.status().message())}});
      return StepResult::Complete();
    }
    return StepResult::FromStatus(b.status(), "cancelling OpenAI batch " + shard->openai_batch_id);
  }
  log::Info("OpenAI batch cancel requested", {{"batch_id", batch_id},
                                              {"shard_id", shard_id},
                                              {"openai_batch_id", b->id},
                                              {"status", b->status}});
  return StepResult::Complete([batch_id, shard_id, status = b->status](pqxx::work& tx) {
    tx.exec_params(
        "UPDATE shards SET openai_status = $3, update_time = now() "
        "WHERE batch_id = $1 AND shard_id = $2 AND state = 'SUBMITTED'",
        batch_id, shard_id, status);
    // Poll soon rather than at the end of a long adaptive interval.
    tx.exec_params(
        "UPDATE tasks SET run_at = least(run_at, now()) "
        "WHERE subject = $1 AND kind = 'poll' AND state = 'available'",
        batch_id + "/" + shard_id);
    pipeline::NotifyBatchChanged(tx, batch_id);
  });
}

}  // namespace batchscribe::worker
