#include "services/coordinator/batch_store.h"

#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "libs/pdf/part_ids.h"
#include "libs/queue/task_queue.h"
#include "libs/storage/layout.h"
#include "services/coordinator/proto_convert.h"
#include "services/coordinator/resource_names.h"

namespace batchscribe::coordinator {
namespace {

// Timestamps leave the database as microseconds since the epoch (exact: extract
// returns numeric) and come back the same way.
std::string Micros(const std::string& column) {
  return "(extract(epoch FROM " + column + ") * 1000000)::bigint";
}
std::string FromMicros(int param) {
  return "(timestamptz 'epoch' + $" + std::to_string(param) +
         "::bigint * interval '1 microsecond')";
}

const std::string& BatchColumns() {
  static const std::string* columns = new std::string(
      "id, coalesce(request_id, ''), display_name, state, model, mode, max_completion_tokens, "
      "max_cost_usd, labels::text, array_to_json(last_errors)::text, " +
      Micros("create_time") + ", " + Micros("update_time") + ", " + Micros("end_time") +
      ", split_policy, page_count, pages_succeeded, part_count, parts_succeeded");
  return *columns;
}

// Reads a row selected with BatchColumns(); returns the create_time in micros.
int64_t ReadBatchRow(const pqxx::row& row, v1::Batch* batch) {
  batch->set_name(BatchName(row[0].as<std::string>()));
  batch->set_request_id(row[1].as<std::string>());
  batch->set_display_name(row[2].as<std::string>());
  batch->set_state(BatchStateFromDb(row[3].as<std::string>()));
  batch->set_model(row[4].as<std::string>());
  batch->set_mode(ModeFromDb(row[5].as<std::string>()));
  batch->set_max_completion_tokens(row[6].as<int32_t>());
  batch->set_max_cost_usd(row[7].as<double>());
  nlohmann::json labels = nlohmann::json::parse(row[8].as<std::string>(), nullptr, false);
  if (labels.is_object()) {
    for (const auto& [key, value] : labels.items()) {
      if (value.is_string()) (*batch->mutable_labels())[key] = value.get<std::string>();
    }
  }
  nlohmann::json errors = nlohmann::json::parse(row[9].as<std::string>(), nullptr, false);
  if (errors.is_array()) {
    for (const auto& e : errors) {
      if (batch->last_errors_size() >= 10) break;
      if (e.is_string()) batch->add_last_errors(e.get<std::string>());
    }
  }
  int64_t created = row[10].as<int64_t>();
  SetTimestamp(created, batch->mutable_create_time());
  SetTimestamp(row[11].as<int64_t>(), batch->mutable_update_time());
  if (!row[12].is_null()) SetTimestamp(row[12].as<int64_t>(), batch->mutable_end_time());
  batch->set_split_policy(SplitPolicyFromDb(row[13].as<std::string>()));
  v1::PageCounts* pages = batch->mutable_pages();
  pages->set_pages(row[14].as<int64_t>());
  pages->set_pages_succeeded(row[15].as<int64_t>());
  pages->set_parts(row[16].as<int64_t>());
  pages->set_parts_succeeded(row[17].as<int64_t>());
  return created;
}

// Per-state totals of a batch's documents, summed from document_counts (kept
// by triggers on documents, migration 0003) rather than counted over the
// documents themselves: a GROUP BY over 100,000 documents took 42 ms per
// GetBatch. Counts and tokens are exact; costs are exact numeric sums rounded
// once to float8.
const char* kCountColumns =
    "state, sum(documents)::int, coalesce(sum(input_tokens), 0)::bigint, "
    "coalesce(sum(cached_input_tokens), 0)::bigint, coalesce(sum(output_tokens), 0)::bigint, "
    "coalesce(sum(cost_usd), 0)::float8, coalesce(sum(sync_cost_usd), 0)::float8";

// Adds one GROUP BY state row (columns from `first` on, as kCountColumns) to `batch`.
void AddCounts(const pqxx::row& row, int first, v1::Batch* batch) {
  v1::DocumentCounts* counts = batch->mutable_counts();
  int n = row[first + 1].as<int>();
  counts->set_total(counts->total() + n);
  switch (DocumentStateFromDb(row[first].as<std::string>())) {
    case v1::DOCUMENT_STATE_PENDING:
      counts->set_pending(counts->pending() + n);
      break;
    case v1::DOCUMENT_STATE_PREPARED:
      counts->set_prepared(counts->prepared() + n);
      break;
    case v1::DOCUMENT_STATE_SUBMITTED:
      counts->set_submitted(counts->submitted() + n);
      break;
    case v1::DOCUMENT_STATE_SUCCEEDED:
      counts->set_succeeded(counts->succeeded() + n);
      break;
    case v1::DOCUMENT_STATE_FAILED:
      counts->set_failed(counts->failed() + n);
      break;
    case v1::DOCUMENT_STATE_SKIPPED:
      counts->set_skipped(counts->skipped() + n);
      break;
    case v1::DOCUMENT_STATE_CANCELLED:
      counts->set_cancelled(counts->cancelled() + n);
      break;
    default:
      break;
  }
  v1::Usage* usage = batch->mutable_usage();
  usage->set_input_tokens(usage->input_tokens() + row[first + 2].as<int64_t>());
  usage->set_cached_input_tokens(usage->cached_input_tokens() + row[first + 3].as<int64_t>());
  usage->set_output_tokens(usage->output_tokens() + row[first + 4].as<int64_t>());
  batch->set_cost_usd(batch->cost_usd() + row[first + 5].as<double>());
  batch->set_sync_equivalent_cost_usd(batch->sync_equivalent_cost_usd() +
                                      row[first + 6].as<double>());
}

void EnqueueFirstTask(pqxx::work& tx, const std::string& batch_id, v1::Mode mode) {
  queue::NewTask task;
  task.kind = mode == v1::MODE_SYNC ? "transcribe" : "plan";
  task.subject = batch_id;
  task.batch_id = batch_id;
  queue::Enqueue(tx, task);
}

std::string BigintArrayLiteral(const std::vector<int64_t>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(items[i]);
  }
  return out + "}";
}

// Like TextArrayLiteral, with NULL for empty strings.
std::string NullableTextArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    if (items[i].empty()) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// Fills Document.parts of `documents` (all of `batch_id`) with one query.
// Parts replaced by their halves (SPLIT) are history, not shown.
void AddDocumentParts(pqxx::transaction_base& tx, const std::string& batch_id,
                      std::vector<v1::Document>* documents) {
  std::unordered_map<std::string, v1::Document*> by_id;
  std::vector<std::string> ids;
  for (auto& doc : *documents) {
    if (doc.part_count() == 0) continue;  // not planned yet
    by_id.emplace(doc.document_id(), &doc);
    ids.push_back(doc.document_id());
  }
  if (ids.empty()) return;
  auto rows = tx.exec_params(
      "SELECT document_id, first_page, last_page, state, coalesce(error, '') FROM document_parts "
      "WHERE batch_id = $1 AND document_id = ANY($2::text[]) AND state <> 'SPLIT' "
      "ORDER BY document_id, first_page",
      batch_id, TextArrayLiteral(ids));
  for (const auto& row : rows) {
    const std::string id = row[0].as<std::string>();
    v1::Document* doc = by_id.at(id);
    v1::DocumentPart* part = doc->add_parts();
    part->set_first_page(row[1].as<int32_t>());
    part->set_last_page(row[2].as<int32_t>());
    part->set_state(row[3].as<std::string>());
    part->set_error(row[4].as<std::string>());
    part->set_custom_id(
        pdf::PartCustomId(id, doc->part_count(), part->first_page(), part->last_page()));
  }
}

}  // namespace

std::string TextArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

void NotifyBatchChanged(pqxx::transaction_base& tx, const std::string& batch_id) {
  tx.exec_params("SELECT pg_notify($1, $2)", kBatchesChannel, batch_id);
}

std::optional<StoredRequest> FindRequest(pqxx::transaction_base& tx,
                                         const std::string& request_id) {
  auto r = tx.exec_params("SELECT id, request_hash FROM batches WHERE request_id = $1", request_id);
  if (r.empty()) return std::nullopt;
  return StoredRequest{r[0][0].as<std::string>(), r[0][1].as<std::string>()};
}

void InsertSubmission(pqxx::work& tx, const std::string& batch_id, const Submission& s) {
  const bool done = s.AllSkipped();
  nlohmann::json labels = nlohmann::json::object();
  for (const auto& [key, value] : s.labels) labels[key] = value;
  std::optional<std::string> request_id;
  if (!s.request_id.empty()) request_id = s.request_id;
  tx.exec_params(
      "INSERT INTO batches (id, request_id, request_hash, display_name, state, model, mode, "
      "prompt, json_schema, max_completion_tokens, max_cost_usd, skip_existing, labels, "
      "end_time, split_policy) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
      "$13::jsonb, CASE WHEN $14::boolean THEN now() END, $15)",
      batch_id, request_id, s.request_hash, s.display_name, done ? "SUCCEEDED" : "PENDING", s.model,
      std::string(ModeToDb(s.mode)), s.prompt, s.json_schema, s.max_completion_tokens,
      s.max_cost_usd, s.skip_existing, labels.dump(), done,
      std::string(SplitPolicyToDb(s.split_policy)));

  // Multi-row inserts through unnest: one round trip per chunk, so a 100,000
  // document batch is recorded in seconds.
  constexpr std::size_t kChunk = 10000;
  for (std::size_t start = 0; start < s.documents.size(); start += kChunk) {
    std::size_t end = std::min(s.documents.size(), start + kChunk);
    std::vector<std::string> ids, paths, states, transcripts;
    std::vector<int64_t> sizes;
    for (std::size_t i = start; i < end; ++i) {
      const DocumentRecord& d = s.documents[i];
      ids.push_back(d.document_id);
      paths.push_back(d.path);
      sizes.push_back(d.size_bytes);
      states.push_back(d.skipped ? "SKIPPED" : "PENDING");
      transcripts.push_back(d.skipped ? storage::TranscriptRelativePath(s.model, d.document_id)
                                      : "");
    }
    tx.exec_params(
        "INSERT INTO documents (batch_id, document_id, path, size_bytes, state, transcript_path) "
        "SELECT $1, t.document_id, t.path, t.size_bytes, t.state, t.transcript_path "
        "FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[]) "
        "AS t(document_id, path, size_bytes, state, transcript_path)",
        batch_id, TextArrayLiteral(ids), TextArrayLiteral(paths), BigintArrayLiteral(sizes),
        TextArrayLiteral(states), NullableTextArrayLiteral(transcripts));
  }
  if (!done) EnqueueFirstTask(tx, batch_id, s.mode);
  NotifyBatchChanged(tx, batch_id);
}

std::optional<v1::Batch> LoadBatch(pqxx::transaction_base& tx, const std::string& batch_id,
                                   bool with_shards, bool with_split_documents) {
  auto r = tx.exec_params("SELECT " + BatchColumns() + " FROM batches WHERE id = $1", batch_id);
  if (r.empty()) return std::nullopt;
  v1::Batch batch;
  ReadBatchRow(r[0], &batch);
  batch.mutable_counts();
  batch.mutable_usage();
  for (const auto& row :
       tx.exec_params(std::string("SELECT ") + kCountColumns +
                          " FROM document_counts WHERE batch_id = $1 GROUP BY state",
                      batch_id)) {
    AddCounts(row, 0, &batch);
  }
  if (with_split_documents) {
    batch.mutable_pages()->set_split_documents(
        tx.exec_params("SELECT count(*) FROM documents WHERE batch_id = $1 AND part_count > 1",
                       batch_id)[0][0]
            .as<int64_t>());
  }
  if (with_shards) {
    auto shards = tx.exec_params(
        "SELECT shard_id, state, coalesce(openai_batch_id, ''), coalesce(openai_status, ''), "
        "document_count, input_bytes, coalesce(input_file_id, ''), "
        "coalesce(output_file_id, ''), coalesce(error_file_id, ''), coalesce(error, ''), " +
            Micros("create_time") + ", " + Micros("update_time") +
            " FROM shards WHERE batch_id = $1 ORDER BY shard_id",
        batch_id);
    for (const auto& row : shards) {
      v1::Shard* shard = batch.add_shards();
      shard->set_shard_id(row[0].as<std::string>());
      shard->set_state(row[1].as<std::string>());
      shard->set_openai_batch_id(row[2].as<std::string>());
      shard->set_openai_status(row[3].as<std::string>());
      shard->set_document_count(row[4].as<int32_t>());
      shard->set_input_bytes(row[5].as<int64_t>());
      shard->set_input_file_id(row[6].as<std::string>());
      shard->set_output_file_id(row[7].as<std::string>());
      shard->set_error_file_id(row[8].as<std::string>());
      shard->set_error(row[9].as<std::string>());
      SetTimestamp(row[10].as<int64_t>(), shard->mutable_create_time());
      SetTimestamp(row[11].as<int64_t>(), shard->mutable_update_time());
    }
  }
  return batch;
}

bool BatchExists(pqxx::transaction_base& tx, const std::string& batch_id) {
  return !tx.exec_params("SELECT 1 FROM batches WHERE id = $1", batch_id).empty();
}

BatchPage LoadBatchPage(pqxx::transaction_base& tx, const std::optional<BatchKey>& after,
                        int limit) {
  std::string order = " ORDER BY create_time DESC, id DESC LIMIT $1";
  pqxx::result rows;
  if (after) {
    rows = tx.exec_params("SELECT " + BatchColumns() + " FROM batches WHERE (create_time, id) < (" +
                              FromMicros(2) + ", $3)" + order,
                          limit + 1, after->create_time_micros, after->id);
  } else {
    rows = tx.exec_params("SELECT " + BatchColumns() + " FROM batches" + order, limit + 1);
  }
  BatchPage page;
  std::map<std::string, v1::Batch*> by_id;
  std::vector<std::string> ids;
  for (const auto& row : rows) {
    if (static_cast<int>(page.batches.size()) == limit) {
      page.more = true;
      break;
    }
    v1::Batch& batch = page.batches.emplace_back();
    int64_t created = ReadBatchRow(row, &batch);
    batch.mutable_counts();
    batch.mutable_usage();
    page.last = BatchKey{created, row[0].as<std::string>()};
    ids.push_back(row[0].as<std::string>());
  }
  for (std::size_t i = 0; i < page.batches.size(); ++i) by_id[ids[i]] = &page.batches[i];
  if (!ids.empty()) {
    auto counts = tx.exec_params(std::string("SELECT batch_id, ") + kCountColumns +
                                     " FROM document_counts WHERE batch_id = ANY($1::text[]) "
                                     "GROUP BY batch_id, state",
                                 TextArrayLiteral(ids));
    for (const auto& row : counts) AddCounts(row, 1, by_id[row[0].as<std::string>()]);
  }
  return page;
}

DocumentPage LoadDocumentPage(pqxx::transaction_base& tx, const std::string& batch_id,
                              const std::vector<std::string>& states,
                              const std::optional<std::string>& after, int limit) {
  std::string sql =
      "SELECT document_id, path, state, attempts, coalesce(error, ''), "
      "coalesce(transcript_path, ''), coalesce(shard_id, ''), input_tokens, "
      "cached_input_tokens, output_tokens, cost_usd, size_bytes, " +
      Micros("update_time") +
      ", coalesce(page_count, 0), part_count, parts_succeeded"
      " FROM documents WHERE batch_id = $1 AND (cardinality($2::text[]) = 0 OR state = "
      "ANY($2::text[]))";
  pqxx::result rows;
  if (after) {
    rows = tx.exec_params(sql + " AND document_id > $4 ORDER BY document_id LIMIT $3", batch_id,
                          TextArrayLiteral(states), limit + 1, *after);
  } else {
    rows = tx.exec_params(sql + " ORDER BY document_id LIMIT $3", batch_id,
                          TextArrayLiteral(states), limit + 1);
  }
  DocumentPage page;
  for (const auto& row : rows) {
    if (static_cast<int>(page.documents.size()) == limit) {
      page.more = true;
      break;
    }
    v1::Document& doc = page.documents.emplace_back();
    std::string document_id = row[0].as<std::string>();
    doc.set_name(DocumentName(batch_id, document_id));
    doc.set_document_id(document_id);
    doc.set_path(row[1].as<std::string>());
    doc.set_state(DocumentStateFromDb(row[2].as<std::string>()));
    doc.set_attempts(row[3].as<int32_t>());
    doc.set_error(row[4].as<std::string>());
    doc.set_transcript_path(row[5].as<std::string>());
    doc.set_shard_id(row[6].as<std::string>());
    doc.mutable_usage()->set_input_tokens(row[7].as<int64_t>());
    doc.mutable_usage()->set_cached_input_tokens(row[8].as<int64_t>());
    doc.mutable_usage()->set_output_tokens(row[9].as<int64_t>());
    doc.set_cost_usd(row[10].as<double>());
    doc.set_size_bytes(row[11].as<int64_t>());
    SetTimestamp(row[12].as<int64_t>(), doc.mutable_update_time());
    doc.set_page_count(row[13].as<int32_t>());
    doc.set_part_count(row[14].as<int32_t>());
    doc.set_parts_succeeded(row[15].as<int32_t>());
  }
  AddDocumentParts(tx, batch_id, &page.documents);
  return page;
}

std::optional<LockedBatch> LockBatch(pqxx::work& tx, const std::string& batch_id) {
  auto r = tx.exec_params("SELECT state, mode FROM batches WHERE id = $1 FOR UPDATE", batch_id);
  if (r.empty()) return std::nullopt;
  return LockedBatch{BatchStateFromDb(r[0][0].as<std::string>()),
                     ModeFromDb(r[0][1].as<std::string>())};
}

v1::BatchState CancelBatchRows(pqxx::work& tx, const std::string& batch_id) {
  // Documents that never reached OpenAI: PENDING ones, and PREPARED ones whose
  // shard has no OpenAI batch yet.
  tx.exec_params(
      "UPDATE documents d SET state = 'CANCELLED', update_time = now() "
      "WHERE d.batch_id = $1 AND (d.state = 'PENDING' OR (d.state = 'PREPARED' AND NOT EXISTS ("
      "  SELECT 1 FROM shards s WHERE s.batch_id = d.batch_id AND s.shard_id = d.shard_id "
      "  AND s.openai_batch_id IS NOT NULL)))",
      batch_id);
  tx.exec_params(
      "UPDATE shards SET state = 'CANCELLED', update_time = now() "
      "WHERE batch_id = $1 AND openai_batch_id IS NULL "
      "AND state NOT IN ('DONE', 'FAILED', 'CANCELLED')",
      batch_id);
  // Shards at OpenAI and not yet being retrieved: cancel them there.
  auto at_openai = tx.exec_params(
      "SELECT shard_id FROM shards WHERE batch_id = $1 AND openai_batch_id IS NOT NULL "
      "AND state NOT IN ('RETRIEVING', 'DONE', 'FAILED', 'CANCELLED') ORDER BY shard_id",
      batch_id);
  for (const auto& row : at_openai) {
    queue::NewTask task;
    task.kind = "cancel";
    task.subject = batch_id + "/" + row[0].as<std::string>();
    task.batch_id = batch_id;
    queue::Enqueue(tx, task);
  }
  // Anything still in flight (shards at OpenAI, documents being transcribed)
  // finishes through the workers, which end the batch CANCELLED.
  auto in_flight = tx.exec_params(
      "SELECT (SELECT coalesce(sum(documents), 0)::bigint FROM document_counts "
      "        WHERE batch_id = $1 AND state IN ('PENDING', 'PREPARED', 'SUBMITTED')) + "
      "       (SELECT count(*) FROM shards WHERE batch_id = $1 AND openai_batch_id IS NOT NULL "
      "        AND state NOT IN ('DONE', 'FAILED', 'CANCELLED'))",
      batch_id);
  bool done = in_flight[0][0].as<int64_t>() == 0;
  tx.exec_params(
      "UPDATE batches SET state = $2, update_time = now(), "
      "end_time = CASE WHEN $3::boolean THEN now() END WHERE id = $1",
      batch_id, done ? "CANCELLED" : "CANCELLING", done);
  // An ended batch's counts no longer change: fold them into one row per state
  // (as the workers do when they end a batch, libs/pipeline/batch_progress.cc).
  if (done) tx.exec_params("SELECT compact_document_counts($1)", batch_id);
  NotifyBatchChanged(tx, batch_id);
  return done ? v1::BATCH_STATE_CANCELLED : v1::BATCH_STATE_CANCELLING;
}

int RequeueFailedDocuments(pqxx::work& tx, const std::string& batch_id, v1::Mode mode) {
  // Only the parts that failed are sent again: SUCCEEDED ones keep their
  // answers (and are not paid for twice), SPLIT ones stay replaced by their halves.
  tx.exec_params(
      "UPDATE document_parts p SET state = 'PENDING', attempts = 0, error = NULL, "
      "update_time = now() FROM documents d "
      "WHERE p.batch_id = $1 AND p.state = 'FAILED' AND d.batch_id = p.batch_id "
      "AND d.document_id = p.document_id AND d.state = 'FAILED'",
      batch_id);
  auto r = tx.exec_params(
      "UPDATE documents SET state = 'PENDING', attempts = 0, error = NULL, update_time = now() "
      "WHERE batch_id = $1 AND state = 'FAILED'",
      batch_id);
  int requeued = static_cast<int>(r.affected_rows());
  if (requeued == 0) return 0;
  tx.exec_params(
      "UPDATE batches SET state = 'RUNNING', end_time = NULL, update_time = now() WHERE id = $1",
      batch_id);
  EnqueueFirstTask(tx, batch_id, mode);
  NotifyBatchChanged(tx, batch_id);
  return requeued;
}

v1::GetCostReportResponse LoadCostReport(pqxx::transaction_base& tx,
                                         const std::optional<int64_t>& start_micros,
                                         const std::optional<int64_t>& end_micros,
                                         const std::string& model) {
  auto rows = tx.exec_params(
      "SELECT to_char(d.usage_time AT TIME ZONE 'UTC', 'YYYY-MM-DD'), b.model, b.mode, "
      "count(*)::bigint, coalesce(sum(d.input_tokens), 0)::bigint, "
      "coalesce(sum(d.cached_input_tokens), 0)::bigint, "
      "coalesce(sum(d.output_tokens), 0)::bigint, coalesce(sum(d.cost_usd), 0)::float8, "
      "coalesce(sum(d.sync_cost_usd), 0)::float8 "
      "FROM documents d JOIN batches b ON b.id = d.batch_id "
      "WHERE d.usage_time IS NOT NULL "
      "AND ($1::bigint IS NULL OR d.usage_time >= " +
          FromMicros(1) + ") AND ($2::bigint IS NULL OR d.usage_time < " + FromMicros(2) +
          ") AND ($3 = '' OR b.model = $3) "
          "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
      start_micros, end_micros, model);
  v1::GetCostReportResponse report;
  v1::CostReportRow* total = report.mutable_total();
  total->mutable_usage();
  for (const auto& row : rows) {
    v1::CostReportRow* out = report.add_rows();
    out->set_day(row[0].as<std::string>());
    out->set_model(row[1].as<std::string>());
    out->set_mode(ModeFromDb(row[2].as<std::string>()));
    out->set_documents(row[3].as<int64_t>());
    out->mutable_usage()->set_input_tokens(row[4].as<int64_t>());
    out->mutable_usage()->set_cached_input_tokens(row[5].as<int64_t>());
    out->mutable_usage()->set_output_tokens(row[6].as<int64_t>());
    out->set_cost_usd(row[7].as<double>());
    out->set_sync_equivalent_cost_usd(row[8].as<double>());
    total->set_documents(total->documents() + out->documents());
    total->mutable_usage()->set_input_tokens(total->usage().input_tokens() +
                                             out->usage().input_tokens());
    total->mutable_usage()->set_cached_input_tokens(total->usage().cached_input_tokens() +
                                                    out->usage().cached_input_tokens());
    total->mutable_usage()->set_output_tokens(total->usage().output_tokens() +
                                              out->usage().output_tokens());
    total->set_cost_usd(total->cost_usd() + out->cost_usd());
    total->set_sync_equivalent_cost_usd(total->sync_equivalent_cost_usd() +
                                        out->sync_equivalent_cost_usd());
  }
  return report;
}

}  // namespace batchscribe::coordinator
