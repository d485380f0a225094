#pragma once
// Batch, document and shard state transitions shared by every step of the
// pipeline (and usable by the coordinator). Each function runs inside the
// caller's transaction, so that a step's outcome, the documents it moves, the
// batch state that follows and the next task commit together (or not at all);
// each change sends NOTIFY batchscribe_batches (delivered at commit).
//
// The batch rules of docs/CONTRACTS.md: PENDING until the first task is
// claimed, then RUNNING; when no document is PENDING, PREPARED or SUBMITTED
// the batch ends SUCCEEDED (every document SUCCEEDED or SKIPPED), FAILED (none
// is) or PARTIALLY_SUCCEEDED; a CANCELLING batch ends CANCELLED.

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "libs/pricing/price_table.h"

namespace batchscribe::pipeline {

/// Channel notified (payload = batch id) whenever a batch or its documents change.
inline constexpr const char* kBatchesChannel = "batchscribe_batches";

/// Sends NOTIFY batchscribe_batches, batch_id (delivered when the transaction commits).
void NotifyBatchChanged(pqxx::work& tx, const std::string& batch_id);

/// Locks the batch row (FOR UPDATE) and returns its state; nullopt when the
/// batch no longer exists. Lock the batch before its documents to keep one
/// lock order everywhere.
std::optional<std::string> LockBatch(pqxx::work& tx, const std::string& batch_id);

/// True for CANCELLING and CANCELLED: no new work may start for the batch.
bool IsCancelState(const std::string& batch_state);

/// True for the final states (SUCCEEDED, PARTIALLY_SUCCEEDED, FAILED, CANCELLED).
bool IsFinalBatchState(const std::string& batch_state);

/// PENDING -> RUNNING. Returns true when the state changed.
bool MarkBatchRunning(pqxx::work& tx, const std::string& batch_id);

/// Ends the batch when no document is PENDING, PREPARED or SUBMITTED and the
/// batch is PENDING, RUNNING or CANCELLING. Returns the final state when it
/// ended in this call. Reads the document_counts totals, and compacts them when
/// the batch ends (its documents no longer change unless the batch is retried).
std::optional<std::string> FinishBatchIfSettled(pqxx::work& tx, const std::string& batch_id);

/// Folds the batch's document_counts delta rows into one per state
/// (compact_document_counts(), migration 0003: safe alongside writers, readers
/// and other compactions). Returns how many rows fewer the batch has, or -1
/// when another transaction is compacting it at this moment.
int CompactDocumentCounts(pqxx::transaction_base& tx, const std::string& batch_id);

/// Puts `error` first in the batch's last_errors (newest first, at most 10).
void RecordBatchError(pqxx::work& tx, const std::string& batch_id, const std::string& error);

/// Adds usage and cost to the batch totals.
void AddBatchUsage(pqxx::work& tx, const std::string& batch_id, const pricing::TokenUsage& usage,
                   double cost_usd, double sync_cost_usd);

/// How many documents went where.
struct ReleaseCounts {
  int pending = 0;    // retried: back to PENDING (a plan task is queued)
  int failed = 0;     // attempts spent: FAILED
  int cancelled = 0;  // the batch is being cancelled: CANCELLED
};

/// Ends the in-flight documents (PREPARED or SUBMITTED, shard_id = shard) of
/// a shard that will not produce results: each goes back to PENDING for a new
/// shard while it has attempts left (spending one when `spend_attempt`), else
/// FAILED with `reason`; CANCELLED instead when the batch is being cancelled.
/// Their shard_documents rows get the matching outcome. Queues a plan task
/// when some went back to PENDING. Does not touch the shard row or finish the
/// batch (callers do, after all their changes).
ReleaseCounts ReleaseShardDocuments(pqxx::work& tx, const std::string& batch_id,
                                    const std::string& shard_id, const std::string& reason,
                                    bool spend_attempt);

/// Gives up a shard whose task failed for good: the shard becomes FAILED with
/// `reason`, its in-flight documents are released (one attempt spent), a
/// `cancel` task is queued when the shard may still run at OpenAI and
/// `cancel_at_openai` (so that it is not paid for twice), the error is
/// recorded and the batch finished if settled.
ReleaseCounts AbandonShard(pqxx::work& tx, const std::string& batch_id, const std::string& shard_id,
                           const std::string& reason, bool cancel_at_openai = true);

/// Ends a shard of a batch being cancelled that will not (or no longer) run
/// at OpenAI: the shard becomes CANCELLED unless already ended, its in-flight
/// documents CANCELLED (no attempt spent), and the batch finished if settled.
/// For a batch that is not being cancelled the documents are released for a
/// new shard instead (ReleaseShardDocuments semantics).
ReleaseCounts CancelShard(pqxx::work& tx, const std::string& batch_id, const std::string& shard_id);

/// Fails the PENDING documents of a batch (e.g. its planning failed for good)
/// and finishes the batch if settled. Returns how many documents failed.
int FailPendingDocuments(pqxx::work& tx, const std::string& batch_id, const std::string& reason);

}  // namespace batchscribe::pipeline
