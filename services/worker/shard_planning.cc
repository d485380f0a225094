#include "services/worker/shard_planning.h"

#include <algorithm>
#include <cmath>

namespace batchscribe::worker {

ShardLimits EffectiveShardLimits(const WorkerConfig& config) {
  ShardLimits limits;
  limits.max_bytes =
      static_cast<uint64_t>(std::clamp<int64_t>(config.max_shard_bytes, 1, kHardMaxShardBytes));
  limits.max_requests = std::clamp(config.max_shard_requests, 1, kHardMaxShardRequests);
  return limits;
}

std::vector<PlannedShard> GroupIntoShards(const std::vector<PlannedDocument>& documents,
                                          const ShardLimits& limits) {
  std::vector<PlannedShard> shards;
  for (const PlannedDocument& doc : documents) {
    // A document's parts always share one shard: a document with more lines
    // than max_requests gets a shard of its own.
    if (shards.empty() || shards.back().bytes + doc.line_bytes > limits.max_bytes ||
        (!shards.back().documents.empty() &&
         shards.back().lines + doc.lines > limits.max_requests)) {
      shards.emplace_back();
    }
    PlannedShard& shard = shards.back();
    shard.documents.push_back(doc);
    shard.lines += doc.lines;
    shard.bytes += doc.line_bytes;
    shard.estimated_tokens += doc.estimated_tokens;
  }
  return shards;
}



}  // namespace batchscribe::worker
