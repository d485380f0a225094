#include "services/coordinator/batch_operations.h"

#include <algorithm>
#include <set>
#include <thread>

#include "libs/common/logging.h"
#include "libs/db/transaction.h"
#include "libs/pricing/price_table.h"
#include "services/coordinator/batch_store.h"
#include "services/coordinator/defaults.h"
#include "services/coordinator/page_token.h"
#include "services/coordinator/proto_convert.h"
#include "services/coordinator/resource_names.h"

namespace batchscribe::coordinator {
namespace {

constexpr db::TransactionOptions kSnapshot{.isolation = db::Isolation::kRepeatableRead};

absl::Status NotFound(const std::string& batch_id) {
  return absl::NotFoundError(BatchName(batch_id) + " not found");
}

std::string StateName(v1::BatchState state) { return std::string(BatchStateToDb(state)); }

}  // namespace

BatchOperations::BatchOperations(db::ConnectionPool& pool, const pricing::PriceTable& prices,
                                 storage::InputRoot input_root, BatchWatchHub& hub,
                                 BatchOperationsOptions options)
    : pool_(pool),
      prices_(prices),
      validator_(std::move(input_root), options.storage_root, prices,
                 options.max_documents_per_request),
      hub_(hub),
      options_(std::move(options)) {}

absl::StatusOr<v1::Batch> BatchOperations::ReadBatch(const std::string& batch_id,
                                                     bool with_shards,
                                                     bool with_split_documents) {
  std::optional<v1::Batch> batch;
  absl::Status status = db::RunInTransaction(
      pool_,
      [&](pqxx::work& tx) {
        batch = LoadBatch(tx, batch_id, with_shards, with_split_documents);
        return absl::OkStatus();
      },
      kSnapshot);
  if (!status.ok()) return status;
  if (!batch) return NotFound(batch_id);
  return *std::move(batch);
}

absl::StatusOr<v1::SubmitDocumentsResponse> BatchOperations::SubmitDocuments(
    const v1::SubmitDocumentsRequest& request) {
  const std::string hash = SubmitRequestHash(request, prices_);
  // Batches recorded while the default max_completion_tokens was 16000.
  const std::optional<std::string> legacy_hash = LegacySubmitRequestHash(request);
  // A replay returns the batch recorded the first time, whatever the input
  // folder looks like now; so it is looked up before the files are checked.
  auto replay = [&]() -> absl::StatusOr<std::optional<v1::SubmitDocumentsResponse>> {
    if (request.request_id().empty() || request.request_id().size() > kMaxRequestIdLength) {
      return std::nullopt;
    }
    std::optional<StoredRequest> stored;
    absl::Status status = db::RunInTransaction(pool_, [&](pqxx::work& tx) {
      stored = FindRequest(tx, request.request_id());
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    if (!stored) return std::nullopt;
    if (stored->request_hash != hash && stored->request_hash != legacy_hash) {
      return absl::InvalidArgumentError(
          "request_id: already used by " + BatchName(stored->batch_id) +
          " with a different request; use a new request_id for a different submission");
    }
    auto batch = ReadBatch(stored->batch_id, /*with_shards=*/true);
    if (!batch.ok()) return batch.status();
    v1::SubmitDocumentsResponse response;
    *response.mutable_batch() = *std::move(batch);
    response.set_replayed(true);
    return response;
  };

  auto earlier = replay();
  if (!earlier.ok()) return earlier.status();
  if (*earlier) return **earlier;

  auto started = std::chrono::steady_clock::now();
  auto submission = validator_.Validate(request);
  if (!submission.ok()) return submission.status();
  auto validated = std::chrono::steady_clock::now();

  const std::string batch_id = NewBatchId();
  absl::Status status = db::RunInTransaction(pool_, [&](pqxx::work& tx) {
    InsertSubmission(tx, batch_id, *submission);
    return absl::OkStatus();
  });
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  log::Debug("submission timing",
             {{"batch_id", batch_id},
              {"documents", submission->documents.size()},
              {"validate_ms", ms(validated - started)},
              {"record_ms", ms(std::chrono::steady_clock::now() - validated)}});
  if (absl::IsAlreadyExists(status) && !request.request_id().empty()) {
    // The same request_id committed concurrently: answer as a replay.
    auto concurrent = replay();
    if (!concurrent.ok()) return concurrent.status();
    if (*concurrent) return **concurrent;
  }
  if (!status.ok()) return status;

  auto batch = ReadBatch(batch_id, /*with_shards=*/true);
  if (!batch.ok()) return batch.status();
  v1::SubmitDocumentsResponse response;
  *response.mutable_batch() = *std::move(batch);
  return response;
}

absl::StatusOr<v1::GetBatchResponse> BatchOperations::GetBatch(const v1::GetBatchRequest& request) {
  auto id = ParseBatchName(request.name(), "name");
  if (!id.ok()) return id.status();
  auto batch = ReadBatch(*id, /*with_shards=*/true, /*with_split_documents=*/true);
  if (!batch.ok()) return batch.status();
  v1::GetBatchResponse response;
  *response.mutable_batch() = *std::move(batch);
  return response;
}

absl::StatusOr<v1::CancelBatchResponse> BatchOperations::CancelBatch(
    const v1::CancelBatchRequest& request) {
  auto id = ParseBatchName(request.name(), "name");
  if (!id.ok()) return id.status();
  absl::Status status = db::RunInTransaction(pool_, [&](pqxx::work& tx) -> absl::Status {
    auto locked = LockBatch(tx, *id);
    if (!locked) return NotFound(*id);
    switch (locked->state) {
      case v1::BATCH_STATE_PENDING:
      case v1::BATCH_STATE_RUNNING:
        CancelBatchRows(tx, *id);
        return absl::OkStatus();
      case v1::BATCH_STATE_CANCELLING:
      case v1::BATCH_STATE_CANCELLED:
        return absl::OkStatus();  // cancelling twice is fine
      default:
        return absl::FailedPreconditionError(BatchName(*id) + " already finished (" +
                                             StateName(locked->state) +
                                             "); only PENDING or RUNNING batches can be cancelled");
    }
  });
  if (!status.ok()) return status;
  auto batch = ReadBatch(*id, /*with_shards=*/true);
  if (!batch.ok()) return batch.status();
  v1::CancelBatchResponse response;
  *response.mutable_batch() = *std::move(batch);
  return response;
}

absl::StatusOr<v1::ListBatchesResponse> BatchOperations::ListBatches(
    const v1::ListBatchesRequest& request) {
  auto size = EffectivePageSize(request.page_size(), kDefaultBatchPageSize);
  if (!size.ok()) return size.status();
  const PageToken expected{"batches", "", "", 0, ""};
  std::optional<BatchKey> after;
  if (!request.page_token().empty()) {
    auto token = DecodePageToken(request.page_token(), expected);
    if (!token.ok()) return token.status();
    after = BatchKey{token->after_time_micros, token->after_id};
  }
  BatchPage page;
  absl::Status status = db::RunInTransaction(
      pool_,
      [&](pqxx::work& tx) {
        page = LoadBatchPage(tx, after, *size);
        return absl::OkStatus();
      },
      kSnapshot);
  if (!status.ok()) return status;
  v1::ListBatchesResponse response;
  for (auto& batch : page.batches) *response.add_batches() = std::move(batch);
  if (page.more && page.last) {
    PageToken next = expected;
    next.after_time_micros = page.last->create_time_micros;
    next.after_id = page.last->id;
    response.set_next_page_token(EncodePageToken(next));
  }
  return response;
}

absl::StatusOr<v1::ListDocumentsResponse> BatchOperations::ListDocuments(
    const v1::ListDocumentsRequest& request) {
  auto id = ParseBatchName(request.parent(), "parent");
  if (!id.ok()) return id.status();
  auto size = EffectivePageSize(request.page_size(), kDefaultDocumentPageSize);
  if (!size.ok()) return size.status();
  std::set<std::string> state_set;
  for (int state : request.states()) {
    std::string_view name = DocumentStateToDb(static_cast<v1::DocumentState>(state));
    if (name.empty()) {
      return absl::InvalidArgumentError("states: " + std::to_string(state) +
                                        " is not a document state");
    }
    state_set.emplace(name);
  }
  std::vector<std::string> states(state_set.begin(), state_set.end());
  std::string filter;
  for (const auto& s : states) filter += (filter.empty() ? "" : ",") + s;
  const PageToken expected{"documents", request.parent(), filter, 0, ""};
  std::optional<std::string> after;
  if (!request.page_token().empty()) {
    auto token = DecodePageToken(request.page_token(), expected);
    if (!token.ok()) return token.status();
    after = token->after_id;
  }
  DocumentPage page;
  absl::Status status = db::RunInTransaction(
      pool_,
      [&](pqxx::work& tx) -> absl::Status {
        if (!BatchExists(tx, *id)) return NotFound(*id);
        page = LoadDocumentPage(tx, *id, states, after, *size);
        return absl::OkStatus();
      },
      kSnapshot);
  if (!status.ok()) return status;
  v1::ListDocumentsResponse response;
  for (auto& doc : page.documents) *response.add_documents() = std::move(doc);
  if (page.more && !response.documents().empty()) {
    PageToken next = expected;
    next.after_id = response.documents().rbegin()->document_id();
    response.set_next_page_token(EncodePageToken(next));
  }
  return response;
}

absl::StatusOr<v1::RetryBatchResponse> BatchOperations::RetryBatch(
    const v1::RetryBatchRequest& request) {
  auto id = ParseBatchName(request.name(), "name");
  if (!id.ok()) return id.status();
  int requeued = 0;
  absl::Status status = db::RunInTransaction(pool_, [&](pqxx::work& tx) -> absl::Status {
    requeued = 0;
    auto locked = LockBatch(tx, *id);
    if (!locked) return NotFound(*id);
    if (locked->state == v1::BATCH_STATE_CANCELLED) {
      return absl::FailedPreconditionError(BatchName(*id) +
                                           " was cancelled; submit its documents again instead");
    }
    if (!IsFinalBatchState(locked->state)) {
      return absl::FailedPreconditionError(BatchName(*id) + " is still " +
                                           StateName(locked->state) +
                                           "; retry it once it has finished");
    }
    requeued = RequeueFailedDocuments(tx, *id, locked->mode);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  auto batch = ReadBatch(*id, /*with_shards=*/true);
  if (!batch.ok()) return batch.status();
  v1::RetryBatchResponse response;
  *response.mutable_batch() = *std::move(batch);
  response.set_requeued_documents(requeued);
  return response;
}

absl::StatusOr<v1::GetCostReportResponse> BatchOperations::GetCostReport(
    const v1::GetCostReportRequest& request) {
  std::optional<int64_t> start;
  std::optional<int64_t> end;
  if (request.has_start_time()) {
    if (!IsValidTimestamp(request.start_time())) {
      return absl::InvalidArgumentError("start_time: not a valid timestamp");
    }
    start = TimestampMicros(request.start_time());
  }
  if (request.has_end_time()) {
    if (!IsValidTimestamp(request.end_time())) {
      return absl::InvalidArgumentError("end_time: not a valid timestamp");
    }
    end = TimestampMicros(request.end_time());
  }
  if (start && end && *start > *end) {
    return absl::InvalidArgumentError("end_time: must not be before start_time");
  }
  if (!request.model().empty() && !pricing::ValidateModelName(request.model()).ok()) {
    return absl::InvalidArgumentError("model: not a model name");
  }
  v1::GetCostReportResponse response;
  absl::Status status = db::RunInTransaction(
      pool_,
      [&](pqxx::work& tx) {
        response = LoadCostReport(tx, start, end, request.model());
        return absl::OkStatus();
      },
      kSnapshot);
  if (!status.ok()) return status;
  return response;
}

absl::Status BatchOperations::WatchBatch(
    const v1::WatchBatchRequest& request,
    const std::function<bool(const v1::WatchBatchResponse&)>& write,
    const std::function<bool()>& cancelled) {
  auto id = ParseBatchName(request.name(), "name");
  if (!id.ok()) return id.status();
  const absl::Status kDraining = absl::UnavailableError("the server is shutting down; watch again");
  if (draining_) return kDraining;
  // Subscribe before the first read so that no change slips in between.
  auto subscription = hub_.Subscribe(*id);
  auto batch = ReadBatch(*id, /*with_shards=*/true);
  if (!batch.ok()) return batch.status();
  v1::WatchBatchResponse update;
  *update.mutable_batch() = *std::move(batch);
  if (!write(update)) return absl::CancelledError("the client went away");
  std::string last_sent = update.SerializeAsString();
  while (!IsFinalBatchState(update.batch().state())) {
    subscription->WaitForChange(options_.watch_poll_interval);
    if (draining_) return kDraining;
    if (cancelled()) return absl::CancelledError("the client went away");
    auto next = ReadBatch(*id, /*with_shards=*/true);
    if (absl::IsUnavailable(next.status())) continue;  // database blip: keep the stream
    if (!next.ok()) return next.status();
    v1::WatchBatchResponse candidate;
    *candidate.mutable_batch() = *std::move(next);
    std::string bytes = candidate.SerializeAsString();
    if (bytes == last_sent) continue;
    if (!write(candidate)) return absl::CancelledError("the client went away");
    update = std::move(candidate);
    last_sent = std::move(bytes);
    std::this_thread::sleep_for(options_.watch_min_interval);
  }
  return absl::OkStatus();
}

void BatchOperations::BeginDrain() {
  draining_ = true;
  hub_.PublishAll();
}

}  // namespace batchscribe::coordinator
