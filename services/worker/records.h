#pragma once
// The rows the steps read, loaded in one short read-only transaction each.

#include <absl/status/statusor.h>

#include <cstdint>
#include <pqxx/pqxx>
#include <string>

namespace batchscribe::worker {

struct BatchRecord {
  std::string id;
  std::string state;
  std::string model;
  std::string mode;
  std::string prompt;
  std::string json_schema;
  int max_completion_tokens = 0;
  double max_cost_usd = 0;
  double cost_usd = 0;
};

struct ShardRecord {
  std::string batch_id;
  std::string shard_id;
  std::string state;  // PLANNED PREPARING UPLOADED SUBMITTED RETRIEVING DONE FAILED CANCELLED
  int document_count = 0;
  int64_t input_bytes = 0;
  int64_t estimated_tokens = 0;
  std::string input_file_id;
  std::string openai_batch_id;
  std::string openai_status;
  std::string output_file_id;
  std::string error_file_id;
  int polls = 0;
  int resubmits = 0;
  /// Unix seconds of the shard's creation (planning).
  int64_t create_unix = 0;
};

/// NOT_FOUND when the batch does not exist (deleted).
absl::StatusOr<BatchRecord> LoadBatch(pqxx::connection& conn, const std::string& batch_id);
/// NOT_FOUND when the shard does not exist.
absl::StatusOr<ShardRecord> LoadShard(pqxx::connection& conn, const std::string& batch_id,
                                      const std::string& shard_id);

/// The shard's documents still in flight in it (state PREPARED or SUBMITTED
/// and shard_id = this shard), in document_id order.
struct ShardDocument {
  std::string document_id;
  std::string path;
  int64_t size_bytes = 0;
  std::string state;
  int attempts = 0;
  int max_attempts = 0;
};
std::vector<ShardDocument> LoadInFlightShardDocuments(pqxx::connection& conn,
                                                      const std::string& batch_id,
                                                      const std::string& shard_id);

}  // namespace batchscribe::worker
