#pragma once
// The rows the steps read, loaded in one short read-only transaction each.

#include <absl/status/statusor.h>

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <vector>

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
  std::string split_policy = "AUTO";  // AUTO ALLOW NEVER (proto SplitPolicy)
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
  /// Transient errors in a row of its poll and retrieve steps (0 after a success).
  int consecutive_errors = 0;
  /// Unix seconds of the shard's creation (planning).
  int64_t create_unix = 0;
};

/// NOT_FOUND when the batch does not exist (deleted).
absl::StatusOr<BatchRecord> LoadBatch(pqxx::connection& conn, const std::string& batch_id);
/// NOT_FOUND when the shard does not exist.
absl::StatusOr<ShardRecord> LoadShard(pqxx::connection& conn, const std::string& batch_id,
                                      const std::string& shard_id);

/// One part of a document (table document_parts): a page range sent as its
/// own request line.
struct PartRecord {
  int first_page = 1;
  int last_page = 0;  // 0: the whole document, pages unknown (upgraded rows)
  std::string state;  // PENDING SUCCEEDED FAILED (SPLIT parts are not loaded)
  std::string shard_id;
  uint64_t pdf_bytes = 0;
  uint64_t line_bytes = 0;
  int64_t estimated_input_tokens = 0;
  int64_t estimated_output_tokens = 0;
  std::string answer_path;
  int pages() const { return last_page - first_page + 1; }
};

/// The columns of document_parts (alias p) that PartFromRow reads, in order,
/// after the document_id column: SELECT p.document_id, <kPartColumns> ...
inline constexpr const char* kPartColumns =
    "p.first_page, p.last_page, p.state, coalesce(p.shard_id, ''), p.pdf_bytes, p.line_bytes, "
    "p.estimated_input_tokens, p.estimated_output_tokens, coalesce(p.answer_path, '')";

/// A part from a row of `SELECT p.document_id, <kPartColumns>`.
PartRecord PartFromRow(const pqxx::row& row);

/// The shard's documents still in flight in it (state PREPARED or SUBMITTED
/// and shard_id = this shard), in document_id order.
struct ShardDocument {
  std::string document_id;
  std::string path;
  int64_t size_bytes = 0;
  std::string state;
  int attempts = 0;
  int max_attempts = 0;
  int page_count = 0;  // 0: unknown (planned before parts existed)
  int part_count = 0;
  /// Every live (not SPLIT) part, in page order; a part is in flight in this
  /// shard when its state is PENDING and its shard_id is the shard's.
  std::vector<PartRecord> parts;
  bool whole() const { return part_count <= 1; }
};
std::vector<ShardDocument> LoadInFlightShardDocuments(pqxx::connection& conn,
                                                      const std::string& batch_id,
                                                      const std::string& shard_id);

}  // namespace batchscribe::worker
