#pragma once
// Crash-safe file writes: readers see either the old file or the complete new
// one, never a prefix. Write to a temporary file in the same folder, fsync it,
// rename it over the target, fsync the folder so the rename itself survives a
// crash.
//
// Group commit: many small files (a shard's transcripts) can skip both fsyncs
// (Durability::kDeferred) and be made durable together by one
// FileSystemSyncer::Sync (syncfs(2)) before anything records them as written.
// Until then a crash may leave such a file empty or missing (never a prefix
// of another version): the writer must be able to write it again, which is
// why only callers that commit their outcome after the sync may defer.

#include <absl/status/status.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <utility>
#include <vector>

namespace batchscribe::storage {

enum class Durability {
  kSynced,    // durable when the call returns (2 fsyncs: the file, its folder)
  kDeferred,  // durable after the next FileSystemSyncer::Sync covering it
};

/// Writes `bytes` to `path` atomically, creating missing parent folders.
absl::Status AtomicWriteFile(const std::filesystem::path& path, std::string_view bytes,
                             Durability durability = Durability::kSynced);

/// Remembers the file systems that deferred writes went to and flushes them
/// all with one syncfs(2) each: every file written, renamed or created on
/// them before Sync is on stable storage when it returns OK (Linux >= 5.8
/// reports write-back errors through syncfs).
class FileSystemSyncer {
 public:
  /// Notes the file system holding `path` (an existing file or folder).
  absl::Status Add(const std::filesystem::path& path);
  absl::Status Sync();
  bool empty() const { return folders_.empty(); }

 private:
  std::vector<std::pair<dev_t, std::filesystem::path>> folders_;  // one per device
};

/// The streaming form, for files too large to hold in memory (shard input
/// files): Append as often as needed, then Commit. Destroying the writer
/// without Commit removes the temporary file and leaves `path` untouched.
class AtomicFileWriter {
 public:
  /// Creates the temporary file next to `path` (and missing parent folders).
  static absl::Status Open(const std::filesystem::path& path, AtomicFileWriter& writer);

  AtomicFileWriter() = default;
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  absl::Status Append(std::string_view bytes);
  /// Bytes appended so far.
  std::uint64_t size() const { return size_; }
  /// fsync, rename over the target, fsync the folder (kSynced); or only the
  /// rename (kDeferred, see FileSystemSyncer).
  absl::Status Commit(Durability durability = Durability::kSynced);

 private:
  void Abandon();

  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::filesystem::path path_;
  std::filesystem::path temp_path_;
};

}  // namespace batchscribe::storage
