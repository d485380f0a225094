#pragma once
// Crash-safe file writes: readers see either the old file or the complete new
// one, never a prefix. Write to a temporary file in the same folder, fsync it,
// rename it over the target, fsync the folder so the rename itself survives a
// crash.

#include <absl/status/status.h>

#include <cstdint>
#include <filesystem>
#include <string_view>

namespace batchscribe::storage {

/// Writes `bytes` to `path` atomically, creating missing parent folders.
absl::Status AtomicWriteFile(const std::filesystem::path& path, std::string_view bytes);

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
  /// fsync, rename over the target, fsync the folder.
  absl::Status Commit();

 private:
  void Abandon();

  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::filesystem::path path_;
  std::filesystem::path temp_path_;
};

}  // namespace batchscribe::storage
