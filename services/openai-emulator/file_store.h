#pragma once
// Uploaded and generated files: metadata in memory (and in the state file),
// bytes on disk, one file per id. Nothing here holds a file's bytes in memory.

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "services/openai-emulator/clock.h"
#include "services/openai-emulator/ids.h"
#include "services/openai-emulator/json.h"

namespace batchscribe::emulator {

/// One file, as the Files API describes it.
struct FileRecord {
  std::string id;
  int64_t bytes = 0;
  int64_t created_at = 0;
  std::optional<int64_t> expires_at;
  std::string filename;
  std::string purpose;
  /// Creation order, for listing (created_at has only second resolution).
  int64_t sequence = 0;

  /// The `OpenAIFile` object.
  Json ToApiJson() const;
  Json ToStateJson() const;
  static FileRecord FromStateJson(const Json& json);
};

/// Thread-safe.
class FileStore {
 public:
  FileStore(std::filesystem::path dir, IdGenerator* ids, const Clock* clock);

  /// Creates the folder and removes leftovers that no record names (partial
  /// uploads and result files of a process that died).
  absl::Status Init();

  /// A fresh path inside the store's folder for bytes being written.
  std::filesystem::path NewTempPath();

  /// Adopts the finished bytes at `temp_path` (moved into place) as a new file.
  absl::StatusOr<FileRecord> Adopt(const std::filesystem::path& temp_path, std::string filename,
                                   std::string purpose, std::optional<int64_t> expires_at);

  /// The live (not deleted, not expired) file `id`.
  std::optional<FileRecord> Get(const std::string& id) const;
  /// Every live file, oldest first.
  std::vector<FileRecord> List() const;
  /// Deletes `id`; false when there is no such live file.
  bool Remove(const std::string& id);
  /// Where `id`'s bytes are.
  std::filesystem::path PathOf(const std::string& id) const;
  /// Deletes files whose expires_at has passed; returns how many.
  int PurgeExpired();

  Json ToState() const;
  void LoadState(const Json& state);
  /// Deletes every file.
  void Clear();

 private:
  bool IsLive(const FileRecord& record, int64_t now_seconds) const;

  const std::filesystem::path dir_;
  IdGenerator* ids_;
  const Clock* clock_;
  mutable std::mutex mu_;
  std::map<std::string, FileRecord> files_;
  int64_t next_sequence_ = 1;
  int64_t next_temp_ = 1;
};

}  // namespace batchscribe::emulator
