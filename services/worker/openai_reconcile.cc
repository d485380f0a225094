#include "services/worker/openai_reconcile.h"

#include <map>

namespace batchscribe::worker {

std::map<std::string, std::string> ShardMetadata(const std::string& batch_id,
                                                 const std::string& shard_id) {
  return {{kMetadataBatchKey, batch_id}, {kMetadataShardKey, shard_id}};
}

absl::StatusOr<std::optional<openai::BatchObject>> FindShardBatch(
    openai::OpenAiClient& client, const std::string& batch_id, const std::string& shard_id,
    int64_t since_unix, const std::set<std::string>& ignore, int max_pages) {
  std::string after;
  for (int page = 0; page < max_pages; ++page) {
    auto list = client.ListBatches(after, 100);
    if (!list.ok()) return list.status();
    bool all_older = !list->data.empty();
    bool descending = true;
    for (size_t i = 0; i < list->data.size(); ++i) {
      const openai::BatchObject& b = list->data[i];
      if (i > 0 && b.created_at > list->data[i - 1].created_at) descending = false;
      if (b.created_at >= since_unix) all_older = false;
      if (b.Metadata(kMetadataBatchKey) == batch_id && b.Metadata(kMetadataShardKey) == shard_id &&
          b.status != "failed" && ignore.count(b.id) == 0) {
        return std::optional<openai::BatchObject>(b);
      }
    }
    // Only a newest-first listing lets us stop at batches older than the shard.
    if (!list->has_more || list->last_id.empty() || (all_older && descending)) break;
    after = list->last_id;
  }
  return std::optional<openai::BatchObject>();
}

}  // namespace batchscribe::worker
