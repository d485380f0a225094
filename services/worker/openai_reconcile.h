#pragma once
// Reconcile-before-create: the OpenAI batch of a shard is found by its
// metadata ({"batchscribe_batch": <batch>, "batchscribe_shard": <shard>}), so
// that a lost create response or a crash between create and the database
// hand-off never leads to a second OpenAI batch for one shard.

#include <absl/status/statusor.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "libs/openai/openai_client.h"

namespace batchscribe::worker {

inline constexpr const char* kMetadataBatchKey = "batchscribe_batch";
inline constexpr const char* kMetadataShardKey = "batchscribe_shard";

/// The metadata naming a shard.
std::map<std::string, std::string> ShardMetadata(const std::string& batch_id,
                                                 const std::string& shard_id);

/// Pages through GET /v1/batches (newest first) for a batch whose metadata
/// names the shard and that is not `failed` (a batch that failed validation
/// never ran; resubmitting after it is intended) and not in `ignore`.
/// Stops at the first match, when a page is wholly older than `since_unix`
/// (the shard was planned after that), or after `max_pages` pages.
absl::StatusOr<std::optional<openai::BatchObject>> FindShardBatch(
    openai::OpenAiClient& client, const std::string& batch_id, const std::string& shard_id,
    int64_t since_unix, const std::set<std::string>& ignore = {}, int max_pages = 100);

}  // namespace batchscribe::worker
