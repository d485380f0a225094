#include "libs/storage/layout.h"

#include <cstdio>
#include <system_error>

namespace batchscribe::storage {
namespace fs = std::filesystem;

std::string TranscriptRelativePath(std::string_view model, std::string_view document_id) {
  return "transcripts/" + std::string(model) + "/" + std::string(document_id) + ".json";
}

fs::path TranscriptPath(const fs::path& storage_root, std::string_view model,
                        std::string_view document_id) {
  return storage_root / TranscriptRelativePath(model, document_id);
}

bool TranscriptExists(const fs::path& storage_root, std::string_view model,
                      std::string_view document_id) {
  std::error_code ec;
  return fs::is_regular_file(TranscriptPath(storage_root, model, document_id), ec);
}

fs::path ShardDir(const fs::path& storage_root, std::string_view batch_id,
                  std::string_view shard_id) {
  return storage_root / "batches" / std::string(batch_id) / "shards" / std::string(shard_id);
}

std::string PartAnswerRelativePath(std::string_view batch_id, std::string_view document_id,
                                   int first_page, int last_page) {
  char range[32];
  std::snprintf(range, sizeof(range), "p%04d-%04d.json", first_page, last_page);
  return "batches/" + std::string(batch_id) + "/parts/" + std::string(document_id) + "/" + range;
}

}  // namespace batchscribe::storage
