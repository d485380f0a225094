#include "services/worker/records.h"

#include <absl/status/status.h>

#include <unordered_map>

namespace batchscribe::worker {

absl::StatusOr<BatchRecord> LoadBatch(pqxx::connection& conn, const std::string& batch_id) {
  pqxx::read_transaction tx(conn);
  auto r = tx.exec_params(
      "SELECT id, state, model, mode, prompt, json_schema, max_completion_tokens, max_cost_usd, "
      "  cost_usd, split_policy FROM batches WHERE id = $1",
      batch_id);
  if (r.empty()) return absl::NotFoundError("batch " + batch_id + " does not exist");
  BatchRecord b;
  b.id = r[0][0].as<std::string>();
  b.state = r[0][1].as<std::string>();
  b.model = r[0][2].as<std::string>();
  b.mode = r[0][3].as<std::string>();
  b.prompt = r[0][4].as<std::string>();
  b.json_schema = r[0][5].as<std::string>();
  b.max_completion_tokens = r[0][6].as<int>();
  b.max_cost_usd = r[0][7].as<double>();
  b.cost_usd = r[0][8].as<double>();
  b.split_policy = r[0][9].as<std::string>();
  return b;
}

absl::StatusOr<ShardRecord> LoadShard(pqxx::connection& conn, const std::string& batch_id,
                                      const std::string& shard_id) {
  pqxx::read_transaction tx(conn);
  auto r = tx.exec_params(
      "SELECT state, document_count, input_bytes, estimated_tokens, coalesce(input_file_id, ''), "
      "  coalesce(openai_batch_id, ''), coalesce(openai_status, ''), "
      "  coalesce(output_file_id, ''), coalesce(error_file_id, ''), polls, resubmits, "
      "  extract(epoch from create_time)::bigint, consecutive_errors "
      "FROM shards WHERE batch_id = $1 AND shard_id = $2",
      batch_id, shard_id);
  if (r.empty()) {
    return absl::NotFoundError("shard " + batch_id + "/" + shard_id + " does not exist");
  }
  ShardRecord s;
  s.batch_id = batch_id;
  s.shard_id = shard_id;
  s.state = r[0][0].as<std::string>();
  s.document_count = r[0][1].as<int>();
  s.input_bytes = r[0][2].as<int64_t>();
  s.estimated_tokens = r[0][3].as<int64_t>();
  s.input_file_id = r[0][4].as<std::string>();
  s.openai_batch_id = r[0][5].as<std::string>();
  s.openai_status = r[0][6].as<std::string>();
  s.output_file_id = r[0][7].as<std::string>();
  s.error_file_id = r[0][8].as<std::string>();
  s.polls = r[0][9].as<int>();
  s.resubmits = r[0][10].as<int>();
  s.create_unix = r[0][11].as<int64_t>();
  s.consecutive_errors = r[0][12].as<int>();
  return s;
}

PartRecord PartFromRow(const pqxx::row& row) {
  PartRecord part;
  part.first_page = row[1].as<int>();
  part.last_page = row[2].as<int>();
  part.state = row[3].as<std::string>();
  part.shard_id = row[4].as<std::string>();
  part.pdf_bytes = row[5].as<uint64_t>();
  part.line_bytes = row[6].as<uint64_t>();
  part.estimated_input_tokens = row[7].as<int64_t>();
  part.estimated_output_tokens = row[8].as<int64_t>();
  part.answer_path = row[9].as<std::string>();
  return part;
}

std::vector<ShardDocument> LoadInFlightShardDocuments(pqxx::connection& conn,
                                                      const std::string& batch_id,
                                                      const std::string& shard_id) {
  pqxx::read_transaction tx(conn);
  auto r = tx.exec_params(
      "SELECT document_id, path, size_bytes, state, attempts, max_attempts, "
      "  coalesce(page_count, 0), part_count FROM documents "
      "WHERE batch_id = $1 AND shard_id = $2 AND state IN ('PREPARED', 'SUBMITTED') "
      "ORDER BY document_id",
      batch_id, shard_id);
  std::vector<ShardDocument> docs;
  docs.reserve(r.size());
  std::unordered_map<std::string, size_t> index;
  for (const auto& row : r) {
    ShardDocument d;
    d.document_id = row[0].as<std::string>();
    d.path = row[1].as<std::string>();
    d.size_bytes = row[2].as<int64_t>();
    d.state = row[3].as<std::string>();
    d.attempts = row[4].as<int>();
    d.max_attempts = row[5].as<int>();
    d.page_count = row[6].as<int>();
    d.part_count = row[7].as<int>();
    index.emplace(d.document_id, docs.size());
    docs.push_back(std::move(d));
  }
  auto parts = tx.exec_params(
      std::string("SELECT p.document_id, ") + kPartColumns +
          " FROM document_parts p JOIN documents d "
          "  ON d.batch_id = p.batch_id AND d.document_id = p.document_id "
          "WHERE d.batch_id = $1 AND d.shard_id = $2 AND d.state IN ('PREPARED', 'SUBMITTED') "
          "  AND p.state <> 'SPLIT' "
          "ORDER BY p.document_id, p.first_page",
      batch_id, shard_id);
  for (const auto& row : parts) {
    auto it = index.find(row[0].as<std::string>());
    if (it == index.end()) continue;
    docs[it->second].parts.push_back(PartFromRow(row));
  }
  return docs;
}

}  // namespace batchscribe::worker
