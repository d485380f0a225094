#include "services/worker/records.h"

#include <absl/status/status.h>

namespace batchscribe::worker {

absl::StatusOr<BatchRecord> LoadBatch(pqxx::connection& conn, const std::string& batch_id) {
  pqxx::read_transaction tx(conn);
  auto r = tx.exec_params(
      "SELECT id, state, model, mode, prompt, json_schema, max_completion_tokens, max_cost_usd, "
      "  cost_usd FROM batches WHERE id = $1",
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
  return b;
}

absl::StatusOr<ShardRecord> LoadShard(pqxx::connection& conn, const std::string& batch_id,
                                      const std::string& shard_id) {
  pqxx::read_transaction tx(conn);
  auto r = tx.exec_params(
      "SELECT state, document_count, input_bytes, estimated_tokens, coalesce(input_file_id, ''), "
      "  coalesce(openai_batch_id, ''), coalesce(openai_status, ''), "
      "  coalesce(output_file_id, ''), coalesce(error_file_id, ''), polls, resubmits, "
      "  extract(epoch from create_time)::bigint "
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
  return s;
}

std::vector<ShardDocument> LoadInFlightShardDocuments(pqxx::connection& conn,
                                                      const std::string& batch_id,
                                                      const std::string& shard_id) {
  pqxx::read_transaction tx(conn);
  auto r = tx.exec_params(
      "SELECT document_id, path, size_bytes, state, attempts, max_attempts FROM documents "
      "WHERE batch_id = $1 AND shard_id = $2 AND state IN ('PREPARED', 'SUBMITTED') "
      "ORDER BY document_id",
      batch_id, shard_id);
  std::vector<ShardDocument> docs;
  docs.reserve(r.size());
  for (const auto& row : r) {
    ShardDocument d;
    d.document_id = row[0].as<std::string>();
    d.path = row[1].as<std::string>();
    d.size_bytes = row[2].as<int64_t>();
    d.state = row[3].as<std::string>();
    d.attempts = row[4].as<int>();
    d.max_attempts = row[5].as<int>();
    docs.push_back(std::move(d));
  }
  return docs;
}

}  // namespace batchscribe::worker
