#pragma once
// The repair sweep: no document may stay in a non-terminal state because the
// task that should move it failed for good (attempts exhausted, a permanent
// error whose handler could not run, or a lease rescued after its last
// attempt). One worker at a time runs it (pg_try_advisory_xact_lock); each
// repair is one of the ordinary transitions of batch_progress.h.

#include <cstdint>
#include <pqxx/pqxx>

namespace batchscribe::pipeline {

/// Key of the transaction-scoped advisory lock that makes the sweep exclusive
/// ("bs_sweep").
inline constexpr int64_t kSweepLockKey = 0x62735f7377656570;

/// What one sweep repaired.
struct SweepReport {
  bool ran = false;              // false when another process holds the sweep lock
  int shards_abandoned = 0;      // in-flight shards without a live task
  int plans_enqueued = 0;        // PENDING documents without a live plan task
  int documents_failed = 0;      // PENDING documents whose planning failed for good
  int documents_cancelled = 0;   // PENDING documents of a cancelling batch
  int batches_finished = 0;      // settled batches that had not ended
  int transcribes_enqueued = 0;  // SYNC batches with work but no live transcribe task
  int counts_compacted = 0;      // batches whose document_counts rows were folded
};

/// A live batch (or one ended within the hour) whose document_counts has more
/// delta rows than this gets them folded by the sweep.
inline constexpr int kCompactCountsAboveRows = 64;

/// Runs one sweep in its own transaction on `conn` (at most `limit` repairs
/// of each kind), then folds the document_counts rows of up to `limit`
/// batches that have more than kCompactCountsAboveRows of them. Returns
/// ran = false when another process is sweeping.
SweepReport SweepStrandedWork(pqxx::connection& conn, int limit = 100);

}  // namespace batchscribe::pipeline
