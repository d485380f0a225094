#pragma once
// The BatchService API as a plain class: proto requests in, StatusOr responses
// out, PostgreSQL behind. The gRPC adapter (grpc_service.h) adds auth, logging
// and status conversion; tests call this class directly without a server.

#include <absl/status/statusor.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>

#include "batchscribe/v1/batch_service.pb.h"
#include "libs/db/connection_pool.h"
#include "libs/pricing/price_table.h"
#include "libs/storage/input_root.h"
#include "services/coordinator/batch_watch_hub.h"
#include "services/coordinator/submission.h"

namespace batchscribe::coordinator {

namespace v1 = ::batchscribe::v1;

struct BatchOperationsOptions {
  std::filesystem::path storage_root;
  std::size_t max_documents_per_request = 100000;
  /// How often a WatchBatch stream re-reads its batch without a notification.
  std::chrono::milliseconds watch_poll_interval{1000};
  /// Least time between two snapshots of one stream (bursts of changes coalesce).
  std::chrono::milliseconds watch_min_interval{100};
};

class BatchOperations {
 public:
  /// `pool`, `prices` and `hub` must outlive this object.
  BatchOperations(db::ConnectionPool& pool, const pricing::PriceTable& prices,
                  storage::InputRoot input_root, BatchWatchHub& hub,
                  BatchOperationsOptions options);

  absl::StatusOr<v1::SubmitDocumentsResponse> SubmitDocuments(
      const v1::SubmitDocumentsRequest& request);
  absl::StatusOr<v1::GetBatchResponse> GetBatch(const v1::GetBatchRequest& request);
  absl::StatusOr<v1::CancelBatchResponse> CancelBatch(const v1::CancelBatchRequest& request);
  absl::StatusOr<v1::ListBatchesResponse> ListBatches(const v1::ListBatchesRequest& request);
  absl::StatusOr<v1::ListDocumentsResponse> ListDocuments(const v1::ListDocumentsRequest& request);
  absl::StatusOr<v1::RetryBatchResponse> RetryBatch(const v1::RetryBatchRequest& request);
  absl::StatusOr<v1::GetCostReportResponse> GetCostReport(const v1::GetCostReportRequest& request);

  /// Sends the current snapshot through `write`, then one per change, until
  /// the batch is in a final state (OK), `write` returns false or `cancelled`
  /// returns true (CANCELLED), or the server drains (UNAVAILABLE). Errors before
  /// the first snapshot (malformed name, unknown batch) are returned unsent.
  absl::Status WatchBatch(const v1::WatchBatchRequest& request,
                          const std::function<bool(const v1::WatchBatchResponse&)>& write,
                          const std::function<bool()>& cancelled);

  /// Ends every WatchBatch stream (UNAVAILABLE) and refuses new ones: called on
  /// SIGTERM so that long-lived streams do not hold up the shutdown.
  void BeginDrain();

 private:
  /// `with_split_documents`: count the documents sent in more than one part
  /// (a scan of the batch's documents, so GetBatch only).
  absl::StatusOr<v1::Batch> ReadBatch(const std::string& batch_id, bool with_shards,
                                      bool with_split_documents = false);

  db::ConnectionPool& pool_;
  const pricing::PriceTable& prices_;
  SubmissionValidator validator_;
  BatchWatchHub& hub_;
  BatchOperationsOptions options_;
  std::atomic<bool> draining_{false};
};

}  // namespace batchscribe::coordinator
