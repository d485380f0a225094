#include "libs/pipeline/batch_progress.h"

#include "libs/queue/task_queue.h"

namespace batchscribe::pipeline {

void NotifyBatchChanged(pqxx::work& tx, const std::string& batch_id) {
  tx.exec_params("SELECT pg_notify($1, $2)", kBatchesChannel, batch_id);
}

std::optional<std::string> LockBatch(pqxx::work& tx, const std::string& batch_id) {
  auto r = tx.exec_params("SELECT state FROM batches WHERE id = $1 FOR UPDATE", batch_id);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::string>();
}

bool IsCancelState(const std::string& state) {
  return state == "CANCELLING" || state == "CANCELLED";
}

bool IsFinalBatchState(const std::string& state) {
  return state == "SUCCEEDED" || state == "PARTIALLY_SUCCEEDED" || state == "FAILED" ||
         state == "CANCELLED";
}

bool MarkBatchRunning(pqxx::work& tx, const std::string& batch_id) {
  auto r = tx.exec_params(
      "UPDATE batches SET state = 'RUNNING', update_time = now() "
      "WHERE id = $1 AND state = 'PENDING'",
      batch_id);
  if (r.affected_rows() == 0) return false;
  NotifyBatchChanged(tx, batch_id);
  return true;
}

std::optional<std::string> FinishBatchIfSettled(pqxx::work& tx, const std::string& batch_id) {
  // The per-state totals kept by triggers on documents (migration 0003), not a
  // count over the batch's documents: this runs in every step that moves
  // documents, while the batch row is locked. The triggers of this
  // transaction's own document changes have run, so they are included.
  auto r = tx.exec_params(
      "SELECT b.state, "
      "  coalesce(sum(c.documents) FILTER (WHERE c.state IN ('PENDING', 'PREPARED', "
      "    'SUBMITTED')), 0)::bigint, "
      "  coalesce(sum(c.documents) FILTER (WHERE c.state IN ('SUCCEEDED', 'SKIPPED')), 0)::bigint, "
      "  coalesce(sum(c.documents), 0)::bigint "
      "FROM batches b LEFT JOIN document_counts c ON c.batch_id = b.id "
      "WHERE b.id = $1 GROUP BY b.state",
      batch_id);
  if (r.empty()) return std::nullopt;
  std::string state = r[0][0].as<std::string>();
  int64_t in_flight = r[0][1].as<int64_t>();
  int64_t good = r[0][2].as<int64_t>();
  int64_t total = r[0][3].as<int64_t>();
  if (in_flight > 0) return std::nullopt;
  if (state != "PENDING" && state != "RUNNING" && state != "CANCELLING") return std::nullopt;
  std::string final_state;
  if (state == "CANCELLING") {
    final_state = "CANCELLED";
  } else if (good == total) {
    final_state = "SUCCEEDED";
  } else if (good == 0) {
    final_state = "FAILED";
  } else {
    final_state = "PARTIALLY_SUCCEEDED";
  }
  tx.exec_params(
      "UPDATE batches SET state = $2, update_time = now(), end_time = now() WHERE id = $1",
      batch_id, final_state);
  CompactDocumentCounts(tx, batch_id);
  NotifyBatchChanged(tx, batch_id);
  return final_state;
}

int CompactDocumentCounts(pqxx::transaction_base& tx, const std::string& batch_id) {
  return tx.exec_params("SELECT compact_document_counts($1)", batch_id)[0][0].as<int>();
}

void RecordBatchError(pqxx::work& tx, const std::string& batch_id, const std::string& error) {
  tx.exec_params(
      "UPDATE batches SET last_errors = (ARRAY[$2::text] || last_errors)[1:10], "
      "  update_time = now() WHERE id = $1",
      batch_id, error.substr(0, 2000));
  NotifyBatchChanged(tx, batch_id);
}

void AddBatchUsage(pqxx::work& tx, const std::string& batch_id, const pricing::TokenUsage& usage,
                   double cost_usd, double sync_cost_usd) {
  tx.exec_params(
      "UPDATE batches SET input_tokens = input_tokens + $2, "
      "  cached_input_tokens = cached_input_tokens + $3, output_tokens = output_tokens + $4, "
      "  cost_usd = cost_usd + $5, sync_cost_usd = sync_cost_usd + $6, update_time = now() "
      "WHERE id = $1",
      batch_id, usage.input_tokens, usage.cached_input_tokens, usage.output_tokens, cost_usd,
      sync_cost_usd);
}

ReleaseCounts ReleaseShardDocuments(pqxx::work& tx, const std::string& batch_id,
                                    const std::string& shard_id, const std::string& reason,
                                    bool spend_attempt) {
  ReleaseCounts counts;
  auto batch = tx.exec_params("SELECT state FROM batches WHERE id = $1", batch_id);
  if (batch.empty()) return counts;
  const bool cancelling = IsCancelState(batch[0][0].as<std::string>());
  const int spent = spend_attempt ? 1 : 0;
  auto r = tx.exec_params(
      "UPDATE documents SET attempts = attempts + $3, "
      "  state = CASE WHEN $4 THEN 'CANCELLED' "
      "               WHEN attempts + $3 < max_attempts THEN 'PENDING' ELSE 'FAILED' END, "
      "  error = CASE WHEN $4 THEN error "
      "               WHEN attempts + $3 < max_attempts THEN $5 "
      "               ELSE $5 || ' (after ' || (attempts + $3) || ' attempts)' END, "
      "  update_time = now() "
      "WHERE batch_id = $1 AND shard_id = $2 AND state IN ('PREPARED', 'SUBMITTED') "
      "RETURNING document_id, state",
      batch_id, shard_id, spent, cancelling, reason);
  for (const auto& row : r) {
    std::string state = row[1].as<std::string>();
    std::string outcome = state == "PENDING" ? "RETRYABLE" : state;
    if (state == "PENDING") ++counts.pending;
    if (state == "FAILED") ++counts.failed;
    if (state == "CANCELLED") ++counts.cancelled;
    tx.exec_params(
        "UPDATE shard_documents SET outcome = $4 "
        "WHERE batch_id = $1 AND shard_id = $2 AND document_id = $3 AND outcome IS NULL",
        batch_id, shard_id, row[0].as<std::string>(), outcome);
  }
  if (counts.pending > 0) {
    queue::NewTask plan;
    plan.kind = "plan";
    plan.subject = batch_id;
    plan.batch_id = batch_id;
    queue::Enqueue(tx, plan);
  }
  if (!r.empty()) NotifyBatchChanged(tx, batch_id);
  return counts;
}

ReleaseCounts AbandonShard(pqxx::work& tx, const std::string& batch_id, const std::string& shard_id,
                           const std::string& reason, bool cancel_at_openai) {
  auto shard = tx.exec_params(
      "SELECT state, coalesce(openai_batch_id, '') FROM shards "
      "WHERE batch_id = $1 AND shard_id = $2 FOR UPDATE",
      batch_id, shard_id);
  const bool live = !shard.empty() && shard[0][0].as<std::string>() != "DONE" &&
                    shard[0][0].as<std::string>() != "FAILED" &&
                    shard[0][0].as<std::string>() != "CANCELLED";
  if (live) {
    tx.exec_params(
        "UPDATE shards SET state = 'FAILED', error = $3, update_time = now() "
        "WHERE batch_id = $1 AND shard_id = $2",
        batch_id, shard_id, reason.substr(0, 2000));
  }
  if (live && cancel_at_openai && shard[0][0].as<std::string>() == "SUBMITTED" &&
      !shard[0][1].as<std::string>().empty()) {
    // The OpenAI batch may still run: cancel it so that the released documents
    // are not paid for twice.
    queue::NewTask cancel;
    cancel.kind = "cancel";
    cancel.subject = batch_id + "/" + shard_id;
    cancel.batch_id = batch_id;
    queue::Enqueue(tx, cancel);
  }
  ReleaseCounts counts =
      ReleaseShardDocuments(tx, batch_id, shard_id, "shard " + shard_id + ": " + reason, true);
  RecordBatchError(tx, batch_id, "shard " + shard_id + ": " + reason);
  FinishBatchIfSettled(tx, batch_id);
  return counts;
}

ReleaseCounts CancelShard(pqxx::work& tx, const std::string& batch_id,
                          const std::string& shard_id) {
  tx.exec_params(
      "UPDATE shards SET state = 'CANCELLED', update_time = now() "
      "WHERE batch_id = $1 AND shard_id = $2 AND state NOT IN ('DONE', 'FAILED', 'CANCELLED')",
      batch_id, shard_id);
  ReleaseCounts counts =
      ReleaseShardDocuments(tx, batch_id, shard_id, "cancelled before it was sent", false);
  NotifyBatchChanged(tx, batch_id);
  FinishBatchIfSettled(tx, batch_id);
  return counts;
}

int FailPendingDocuments(pqxx::work& tx, const std::string& batch_id, const std::string& reason) {
  auto r = tx.exec_params(
      "UPDATE documents SET state = 'FAILED', error = $2, update_time = now() "
      "WHERE batch_id = $1 AND state = 'PENDING'",
      batch_id, reason);
  if (r.affected_rows() > 0) {
    RecordBatchError(tx, batch_id, reason);
    NotifyBatchChanged(tx, batch_id);
  }
  FinishBatchIfSettled(tx, batch_id);
  return static_cast<int>(r.affected_rows());
}

}  // namespace batchscribe::pipeline
