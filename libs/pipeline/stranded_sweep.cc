#include "libs/pipeline/stranded_sweep.h"

#include <string>

#include "libs/pipeline/batch_progress.h"
#include "libs/queue/task_queue.h"

namespace batchscribe::pipeline {
namespace {

std::string LastError(pqxx::work& tx, const std::string& subject, const std::string& kinds) {
  auto r = tx.exec_params(
      "SELECT coalesce(last_error, kind || ' task failed') FROM tasks "
      "WHERE subject = $1 AND kind = ANY($2::text[]) AND state = 'failed' "
      "ORDER BY id DESC LIMIT 1",
      subject, kinds);
  return r.empty() ? std::string("no task left to finish it") : r[0][0].as<std::string>();
}

}  // namespace

SweepReport SweepStrandedWork(pqxx::connection& conn, int limit) {
  SweepReport report;
  pqxx::work tx(conn);
  if (!tx.exec_params("SELECT pg_try_advisory_xact_lock($1)", kSweepLockKey)[0][0].as<bool>()) {
    return report;
  }
  report.ran = true;

  // 1. Documents in flight in a shard that no live task will move any more.
  // One statement sees one snapshot: a task hand-off commits the next task with
  // the completion, so a shard with work always shows a live task.
  auto shards = tx.exec_params(
      "SELECT DISTINCT d.batch_id, d.shard_id FROM documents d "
      "JOIN batches b ON b.id = d.batch_id AND b.mode = 'BATCH' "
      "WHERE d.state IN ('PREPARED', 'SUBMITTED') AND d.shard_id IS NOT NULL "
      "  AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.subject = d.batch_id || '/' || d.shard_id "
      "    AND t.kind IN ('prepare', 'submit', 'poll', 'retrieve') "
      "    AND t.state IN ('available', 'running')) "
      "LIMIT $1",
      limit);
  for (const auto& row : shards) {
    std::string batch_id = row[0].as<std::string>();
    std::string shard_id = row[1].as<std::string>();
    if (!LockBatch(tx, batch_id)) continue;
    std::string reason = LastError(tx, batch_id + "/" + shard_id, "{prepare,submit,poll,retrieve}");
    AbandonShard(tx, batch_id, shard_id, "gave up: " + reason);
    ++report.shards_abandoned;
  }

  // 2. PENDING documents of a BATCH-mode batch without a live plan task.
  auto pending = tx.exec_params(
      "SELECT b.id, b.state, max(d.update_time) AS changed FROM batches b "
      "JOIN documents d ON d.batch_id = b.id AND d.state = 'PENDING' "
      "WHERE b.mode = 'BATCH' AND b.state IN ('PENDING', 'RUNNING', 'CANCELLING') "
      "  AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.subject = b.id AND t.kind = 'plan' "
      "    AND t.state IN ('available', 'running')) "
      "GROUP BY b.id, b.state LIMIT $1",
      limit);
  for (const auto& row : pending) {
    std::string batch_id = row[0].as<std::string>();
    auto state = LockBatch(tx, batch_id);
    if (!state) continue;
    if (IsCancelState(*state)) {
      auto r = tx.exec_params(
          "UPDATE documents SET state = 'CANCELLED', update_time = now() "
          "WHERE batch_id = $1 AND state = 'PENDING'",
          batch_id);
      report.documents_cancelled += static_cast<int>(r.affected_rows());
      NotifyBatchChanged(tx, batch_id);
      if (FinishBatchIfSettled(tx, batch_id)) ++report.batches_finished;
      continue;
    }
    // Planning failed for good after these documents became PENDING: fail
    // them with its error rather than loop. Otherwise plan again.
    auto failed_plan = tx.exec_params(
        "SELECT coalesce(last_error, 'planning failed') FROM tasks "
        "WHERE subject = $1 AND kind = 'plan' AND state = 'failed' AND finish_time > "
        "$2::timestamptz "
        "ORDER BY id DESC LIMIT 1",
        batch_id, row[2].as<std::string>());
    if (!failed_plan.empty()) {
      report.documents_failed += FailPendingDocuments(
          tx, batch_id, "planning failed: " + failed_plan[0][0].as<std::string>());
      continue;
    }
    queue::NewTask plan;
    plan.kind = "plan";
    plan.subject = batch_id;
    plan.batch_id = batch_id;
    if (queue::Enqueue(tx, plan)) ++report.plans_enqueued;
  }

  // 3. SYNC batches with PENDING or SUBMITTED documents but no live transcribe task.
  auto sync = tx.exec_params(
      "SELECT b.id FROM batches b "
      "WHERE b.mode = 'SYNC' AND b.state IN ('PENDING', 'RUNNING', 'CANCELLING') "
      "  AND EXISTS (SELECT 1 FROM documents d WHERE d.batch_id = b.id "
      "    AND d.state IN ('PENDING', 'PREPARED', 'SUBMITTED')) "
      "  AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.subject = b.id AND t.kind = 'transcribe' "
      "    AND t.state IN ('available', 'running')) "
      "LIMIT $1",
      limit);
  for (const auto& row : sync) {
    std::string batch_id = row[0].as<std::string>();
    auto state = LockBatch(tx, batch_id);
    if (!state) continue;
    auto failed = tx.exec_params(
        "SELECT coalesce(last_error, 'transcription failed') FROM tasks "
        "WHERE subject = $1 AND kind = 'transcribe' AND state = 'failed' "
        "  AND finish_time > (SELECT max(update_time) FROM documents WHERE batch_id = $1 "
        "    AND state IN ('PENDING', 'PREPARED', 'SUBMITTED')) "
        "ORDER BY id DESC LIMIT 1",
        batch_id);
    if (IsCancelState(*state) || !failed.empty()) {
      std::string reason = IsCancelState(*state)
                               ? std::string()
                               : "transcription failed: " + failed[0][0].as<std::string>();
      auto r = tx.exec_params(
          "UPDATE documents SET state = CASE WHEN $2 = '' THEN 'CANCELLED' ELSE 'FAILED' END, "
          "  error = CASE WHEN $2 = '' THEN error ELSE $2 END, update_time = now() "
          "WHERE batch_id = $1 AND state IN ('PENDING', 'PREPARED', 'SUBMITTED')",
          batch_id, reason);
      if (reason.empty()) {
        report.documents_cancelled += static_cast<int>(r.affected_rows());
      } else {
        report.documents_failed += static_cast<int>(r.affected_rows());
        RecordBatchError(tx, batch_id, reason);
      }
      NotifyBatchChanged(tx, batch_id);
      if (FinishBatchIfSettled(tx, batch_id)) ++report.batches_finished;
      continue;
    }
    queue::NewTask transcribe;
    transcribe.kind = "transcribe";
    transcribe.subject = batch_id;
    transcribe.batch_id = batch_id;
    if (queue::Enqueue(tx, transcribe)) ++report.transcribes_enqueued;
  }

  // 4. Batches with nothing in flight that have not ended.
  auto settled = tx.exec_params(
      "SELECT b.id FROM batches b WHERE b.state IN ('PENDING', 'RUNNING', 'CANCELLING') "
      "  AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.batch_id = b.id "
      "    AND d.state IN ('PENDING', 'PREPARED', 'SUBMITTED')) "
      "  AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.batch_id = b.id "
      "    AND t.state IN ('available', 'running') AND t.kind <> 'cancel') "
      "LIMIT $1",
      limit);
  for (const auto& row : settled) {
    std::string batch_id = row[0].as<std::string>();
    if (!LockBatch(tx, batch_id)) continue;
    if (FinishBatchIfSettled(tx, batch_id)) ++report.batches_finished;
  }

  // 5. Not a repair: keep document_counts short. Every statement that changes
  // documents appends a delta row per (batch, state) it touched, so a long
  // batch (many shards, or SYNC chunks) accumulates rows that GetBatch sums.
  // A batch is compacted when it ends (FinishBatchIfSettled); here live
  // batches, and ended ones whose compaction was skipped because another was
  // running, are folded once they pass the threshold. Only live and recent
  // batches are looked at, so the cost does not grow with the history.
  auto crowded = tx.exec_params(
      "SELECT b.id FROM batches b "
      "WHERE (b.state IN ('PENDING', 'RUNNING', 'CANCELLING') "
      "       OR b.end_time > now() - interval '1 hour') "
      "  AND (SELECT count(*) FROM (SELECT 1 FROM document_counts c WHERE c.batch_id = b.id "
      "       LIMIT $2 + 1) x) > $2 "
      "LIMIT $1",
      limit, kCompactCountsAboveRows);
  for (const auto& row : crowded) {
    if (CompactDocumentCounts(tx, row[0].as<std::string>()) >= 0) ++report.counts_compacted;
  }
  tx.commit();
  return report;
}

}  // namespace batchscribe::pipeline
