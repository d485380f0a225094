#pragma once
// Pure planning arithmetic, unit-tested without a database: shard caps, the
// greedy grouping by exact line size, the file name sent with each PDF and
// the input-token estimate used by the enqueued-token budget.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libs/pdf/part_planner.h"
#include "services/worker/worker_config.h"

namespace batchscribe::worker {

struct ShardLimits {
  uint64_t max_bytes = 0;
  int max_requests = 0;
};

/// The configured caps clamped to OpenAI's limits (200 MB, 50,000 lines), at least 1.
ShardLimits EffectiveShardLimits(const WorkerConfig& config);

struct PlannedDocument {
  std::string document_id;
  int64_t pdf_bytes = 0;
  uint64_t line_bytes = 0;  // exact, with its newline (all its parts' lines)
  int64_t estimated_tokens = 0;
  int lines = 1;  // request lines: one per part
};

struct PlannedShard {
  std::vector<PlannedDocument> documents;
  uint64_t bytes = 0;
  int64_t estimated_tokens = 0;
  int lines = 0;
};

/// Fills shards in order: a document (all its parts' lines) goes into the
/// current shard unless it would pass either cap, then a new shard starts. Every document must fit a
/// shard alone (the caller fails the others first).
std::vector<PlannedShard> GroupIntoShards(const std::vector<PlannedDocument>& documents,
                                          const ShardLimits& limits);

/// The `filename` sent with a PDF: the last component of its input path.
using pdf::RequestFilename;


}  // namespace batchscribe::worker
