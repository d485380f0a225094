#pragma once
// The coordinator's SQL, one function per question or change. Every statement
// is parameterised. Functions throw libpqxx exceptions; callers run them inside
// db::RunInTransaction, which maps and retries them.

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "batchscribe/v1/batch_service.pb.h"
#include "services/coordinator/submission.h"

namespace batchscribe::coordinator {

namespace v1 = ::batchscribe::v1;

/// Channel NOTIFYed (payload: batch id) when a batch or its documents change.
inline constexpr const char* kBatchesChannel = "batchscribe_batches";

/// NOTIFY kBatchesChannel with `batch_id`, delivered at commit.
void NotifyBatchChanged(pqxx::transaction_base& tx, const std::string& batch_id);

/// A batch recorded with a request_id.
struct StoredRequest {
  std::string batch_id;
  std::string request_hash;
};
std::optional<StoredRequest> FindRequest(pqxx::transaction_base& tx, const std::string& request_id);

/// Records the batch, its documents (multi-row inserts) and its first task
/// (plan for BATCH, transcribe for SYNC; none when every document is SKIPPED,
/// in which case the batch is SUCCEEDED at once), and notifies watchers.
void InsertSubmission(pqxx::work& tx, const std::string& batch_id, const Submission& submission);

/// The batch with counts, usage and cost (summed over its documents), pages
/// and parts (from the batch row), last errors and, when `with_shards`, its
/// shards. `with_split_documents` fills pages.split_documents, which counts
/// over the batch's documents (GetBatch only: not cheap enough for every
/// WatchBatch snapshot or ListBatches row). nullopt when there is none.
std::optional<v1::Batch> LoadBatch(pqxx::transaction_base& tx, const std::string& batch_id,
                                   bool with_shards, bool with_split_documents);

bool BatchExists(pqxx::transaction_base& tx, const std::string& batch_id);

/// Keyset position in the batch list (newest first).
struct BatchKey {
  int64_t create_time_micros = 0;
  std::string id;
};
struct BatchPage {
  std::vector<v1::Batch> batches;
  std::optional<BatchKey> last;  // key of the last batch returned
  bool more = false;             // another page follows
};
/// Up to `limit` batches after `after`, newest first, with counts, without shards.
BatchPage LoadBatchPage(pqxx::transaction_base& tx, const std::optional<BatchKey>& after,
                        int limit);

struct DocumentPage {
  std::vector<v1::Document> documents;
  bool more = false;
};
/// Up to `limit` documents of `batch_id` with document_id > `after`, in
/// document_id order, restricted to `states` (database names) when not empty,
/// each with its live parts (not SPLIT) in page order.
DocumentPage LoadDocumentPage(pqxx::transaction_base& tx, const std::string& batch_id,
                              const std::vector<std::string>& states,
                              const std::optional<std::string>& after, int limit);

/// State and mode of a batch, row-locked until the transaction ends.
struct LockedBatch {
  v1::BatchState state = v1::BATCH_STATE_UNSPECIFIED;
  v1::Mode mode = v1::MODE_UNSPECIFIED;
};
std::optional<LockedBatch> LockBatch(pqxx::work& tx, const std::string& batch_id);

/// The row changes of CancelBatch for a PENDING or RUNNING batch
/// (docs/CONTRACTS.md, Cancellation): documents not at OpenAI and their shards
/// -> CANCELLED, a `cancel` task per shard at OpenAI, batch -> CANCELLED when
/// nothing is in flight any more, else CANCELLING. Returns the new state.
v1::BatchState CancelBatchRows(pqxx::work& tx, const std::string& batch_id);

/// RetryBatch's row changes: FAILED documents -> PENDING with attempts reset
/// and error cleared, and so are their FAILED parts (SUCCEEDED parts stay, so
/// a retry sends only what failed); when there were any, batch -> RUNNING and a plan (BATCH)
/// or transcribe (SYNC) task is queued. Returns how many documents were re-queued.
int RequeueFailedDocuments(pqxx::work& tx, const std::string& batch_id, v1::Mode mode);

/// Usage and cost of documents whose usage_time is in [start, end), per UTC
/// day, model and mode, oldest first, plus the total.
v1::GetCostReportResponse LoadCostReport(pqxx::transaction_base& tx,
                                         const std::optional<int64_t>& start_micros,
                                         const std::optional<int64_t>& end_micros,
                                         const std::string& model);

/// A PostgreSQL array literal ({"a","b"}) of `items`, for `$n::text[]` parameters.
std::string TextArrayLiteral(const std::vector<std::string>& items);

}  // namespace batchscribe::coordinator
