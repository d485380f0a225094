#pragma once
// The input root: the only folder batchscribe reads PDFs from. Every input path
// is relative to it and must stay inside it, even through symlinks and even when
// the path comes from a database row that may have been tampered with.
//
// Confinement is checked in three layers: the path itself (no absolute paths, no
// `..` components), its resolved form (realpath, prefix-checked against the
// resolved root), and the file actually opened (/proc/self/fd/N must name the
// same resolved path, so a symlink swapped in between the check and the open is
// caught).

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace batchscribe::storage {

/// What every PDF starts with.
inline constexpr std::string_view kPdfMagic = "%PDF-";

/// Checks the syntax of a path relative to the input root and returns it
/// normalised: no empty or "." components, no trailing slash. "" (or ".") is the
/// root itself. INVALID_ARGUMENT for absolute paths, `..` components and NUL
/// characters.
absl::StatusOr<std::string> NormalizeRelativePath(std::string_view path);

/// True when `relative_path` ("a/b/c.pdf") matches the shell glob `pattern`:
/// `*`, `?` and `[...]` match within one path component, `**` as a whole
/// component matches zero or more components, and a leading '.' in a component
/// must be matched explicitly (hidden files are skipped as in a shell).
bool GlobMatch(std::string_view pattern, std::string_view relative_path);

/// A PDF checked to be inside the input root.
struct InputFileInfo {
  /// Normalised path relative to the input root, as the caller gave it.
  std::string relative_path;
  /// Absolute path with every symlink resolved.
  std::filesystem::path resolved_path;
  /// Size in bytes.
  std::int64_t size_bytes = 0;
};

/// A PDF opened read-only after every confinement check passed. Move-only;
/// closes the file in the destructor.
class InputFile {
 public:
  InputFile() = default;
  ~InputFile();
  InputFile(InputFile&& other) noexcept;
  InputFile& operator=(InputFile&& other) noexcept;
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const InputFileInfo& info() const { return info_; }
  std::int64_t size_bytes() const { return info_.size_bytes; }
  /// The open descriptor (owned by this object), positioned at the start.
  int fd() const { return fd_; }
  /// Reads up to `n` bytes at the current position; 0 at the end of the file.
  absl::StatusOr<std::size_t> Read(char* buffer, std::size_t n);
  /// Reads the whole file (for small files and tests; prefer Read for PDFs).
  absl::StatusOr<std::string> ReadAll();

 private:
  friend class InputRoot;
  InputFile(int fd, InputFileInfo info) : fd_(fd), info_(std::move(info)) {}
  int fd_ = -1;
  InputFileInfo info_;
};

/// The input root folder. Cheap to copy.
class InputRoot {
 public:
  /// Resolves `root` (which must be an existing directory).
  static absl::StatusOr<InputRoot> Open(const std::filesystem::path& root);

  /// The resolved absolute root.
  const std::filesystem::path& path() const { return root_; }

  /// Checks that `relative_path` names a regular file inside the root that
  /// starts with "%PDF-". INVALID_ARGUMENT when the path is malformed, escapes
  /// the root, is not a regular file or not a PDF; NOT_FOUND when it does not
  /// exist; PERMISSION_DENIED when it cannot be read. Messages do not repeat the
  /// path: callers name it. This is validation (the coordinator checks every
  /// submitted file with it) and skips the opened-file check of OpenInputFile,
  /// which is what guards the actual reads.
  absl::StatusOr<InputFileInfo> Check(std::string_view relative_path) const;

  /// Like Check, and returns the file opened read-only. This is how workers
  /// read PDFs: whatever the database says, nothing outside the root is opened.
  absl::StatusOr<InputFile> OpenInputFile(std::string_view relative_path) const;

  /// Files under `directory` (relative to the root; "" is the root) whose path
  /// relative to `directory` matches `pattern` (see GlobMatch), returned as
  /// paths relative to the root in byte order, at most `limit` of them (0 = all).
  /// Directory symlinks are not descended into (files reached through them
  /// would need their own check anyway); file symlinks are listed and must
  /// pass Check later. NOT_FOUND when the directory does not exist,
  /// INVALID_ARGUMENT when it is not a directory or escapes the root.
  absl::StatusOr<std::vector<std::string>> Glob(std::string_view directory,
                                                std::string_view pattern, std::size_t limit) const;

 private:
  explicit InputRoot(std::filesystem::path root) : root_(std::move(root)) {}
  /// Check and OpenInputFile; `verify_opened` adds the /proc/self/fd check.
  absl::StatusOr<InputFile> OpenFile(std::string_view relative_path, bool verify_opened) const;
  /// Resolves a normalised relative path and checks the prefix.
  absl::StatusOr<std::filesystem::path> Resolve(const std::string& normalized) const;
  bool Contains(const std::filesystem::path& resolved) const;

  std::filesystem::path root_;
};

}  // namespace batchscribe::storage
