#include "libs/storage/input_root.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace batchscribe::storage {
namespace fs = std::filesystem;
namespace {

// `what` names the thing for the message ("" for the caller's path, which the
// caller names itself).
absl::Status ErrnoStatus(int err, std::string_view what) {
  std::string prefix = what.empty() ? "" : std::string(what) + ": ";
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(prefix + "does not exist");
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(prefix + "permission denied");
    case ELOOP:
      return absl::InvalidArgumentError(prefix + "too many levels of symlinks");
    case ENAMETOOLONG:
      return absl::InvalidArgumentError(prefix + "path too long");
    default:
      return absl::UnavailableError(prefix + std::strerror(err));
  }
}

absl::StatusOr<fs::path> RealPath(const fs::path& path, std::string_view what) {
  char buffer[PATH_MAX];
  if (::realpath(path.c_str(), buffer) == nullptr) return ErrnoStatus(errno, what);
  return fs::path(buffer);
}

std::vector<std::string_view> Components(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

bool MatchComponents(const std::vector<std::string_view>& pattern, std::size_t i,
                     const std::vector<std::string_view>& parts, std::size_t j) {
  if (i == pattern.size()) return j == parts.size();
  if (pattern[i] == "**") {
    // Zero or more non-hidden components.
    for (std::size_t k = j; k <= parts.size(); ++k) {
      if (MatchComponents(pattern, i + 1, parts, k)) return true;
      if (k < parts.size() && !parts[k].empty() && parts[k].front() == '.') return false;
    }
    return false;
  }
  if (j == parts.size()) return false;
  std::string p(pattern[i]);
  std::string s(parts[j]);
  if (::fnmatch(p.c_str(), s.c_str(), FNM_PERIOD) != 0) return false;
  return MatchComponents(pattern, i + 1, parts, j + 1);
}

}  // namespace

absl::StatusOr<std::string> NormalizeRelativePath(std::string_view path) {
  if (path.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("path contains a NUL character");
  }
  if (!path.empty() && path.front() == '/') {
    return absl::InvalidArgumentError("path is absolute; give it relative to the input root");
  }
  std::string out;
  for (std::string_view part : Components(path)) {
    if (part == ".") continue;
    if (part == "..") {
      return absl::InvalidArgumentError("path has a '..' component");
    }
    if (!out.empty()) out.push_back('/');
    out.append(part);
  }
  return out;
}

bool GlobMatch(std::string_view pattern, std::string_view relative_path) {
  return MatchComponents(Components(pattern), 0, Components(relative_path), 0);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

InputFile::InputFile(InputFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), info_(std::move(other.info_)) {}

InputFile& InputFile::operator=(InputFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    info_ = std::move(other.info_);
  }
  return *this;
}

absl::StatusOr<std::size_t> InputFile::Read(char* buffer, std::size_t n) {
  if (fd_ < 0) return absl::FailedPreconditionError("input file is not open");
  for (;;) {
    ssize_t got = ::read(fd_, buffer, n);
    if (got >= 0) return static_cast<std::size_t>(got);
    if (errno == EINTR) continue;
    return ErrnoStatus(errno, "reading input file");
  }
}

absl::StatusOr<std::string> InputFile::ReadAll() {
  std::string out;
  char buffer[1 << 16];
  for (;;) {
    auto got = Read(buffer, sizeof(buffer));
    if (!got.ok()) return got.status();
    if (*got == 0) return out;
    out.append(buffer, *got);
  }
}

absl::StatusOr<InputRoot> InputRoot::Open(const fs::path& root) {
  if (root.empty()) return absl::InvalidArgumentError("input root is not set");
  auto resolved = RealPath(root, "input root");
  if (!resolved.ok()) return resolved.status();
  std::error_code ec;
  if (!fs::is_directory(*resolved, ec)) {
    return absl::InvalidArgumentError("input root is not a directory");
  }
  return InputRoot(*resolved);
}

bool InputRoot::Contains(const fs::path& resolved) const {
  const std::string& root = root_.native();
  const std::string& candidate = resolved.native();
  if (root == "/") return !candidate.empty() && candidate.front() == '/';
  return candidate == root ||
         (candidate.size() > root.size() && candidate.compare(0, root.size(), root) == 0 &&
          candidate[root.size()] == '/');
}

absl::StatusOr<fs::path> InputRoot::Resolve(const std::string& normalized) const {
  auto resolved = RealPath(normalized.empty() ? root_ : root_ / normalized, "");
  if (!resolved.ok()) return resolved.status();
  if (!Contains(*resolved)) {
    return absl::InvalidArgumentError("path leads outside the input root (through a symlink)");
  }
  return resolved;
}

absl::StatusOr<InputFileInfo> InputRoot::Check(std::string_view relative_path) const {
  auto file = OpenFile(relative_path, /*verify_opened=*/false);
  if (!file.ok()) return file.status();
  return file->info();
}

absl::StatusOr<InputFile> InputRoot::OpenInputFile(std::string_view relative_path) const {
  return OpenFile(relative_path, /*verify_opened=*/true);
}

absl::StatusOr<InputFile> InputRoot::OpenFile(std::string_view relative_path,
                                              bool verify_opened) const {
  auto normalized = NormalizeRelativePath(relative_path);
  if (!normalized.ok()) return normalized.status();
  if (normalized->empty()) return absl::InvalidArgumentError("path is empty");
  auto resolved = Resolve(*normalized);
  if (!resolved.ok()) return resolved.status();

  // O_NONBLOCK: opening a FIFO must not hang; it is rejected as not regular below.
  int fd = ::open(resolved->c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ELOOP) {
      return absl::InvalidArgumentError("path changed while being opened (symlink swapped in)");
    }
    return ErrnoStatus(errno, "");
  }
  InputFile file(fd, InputFileInfo{*normalized, *resolved, 0});

  // The descriptor names the file really opened: if any directory on the way
  // was swapped for a symlink after realpath, this differs.
  if (verify_opened) {
    char linked[PATH_MAX];
    std::string proc = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(proc.c_str(), linked, sizeof(linked) - 1);
    if (n >= 0) {
      linked[n] = '\0';
      if (resolved->native() != linked) {
        return absl::InvalidArgumentError("path changed while being opened");
      }
    } else if (errno != ENOENT) {
      return ErrnoStatus(errno, "checking the opened file");
    }
  }

  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, "");
  if (!S_ISREG(st.st_mode)) return absl::InvalidArgumentError("not a regular file");
  file.info_.size_bytes = st.st_size;

  char magic[kPdfMagic.size()];
  ssize_t got;
  do {
    got = ::pread(fd, magic, sizeof(magic), 0);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return ErrnoStatus(errno, "reading");
  if (static_cast<std::size_t>(got) != sizeof(magic) ||
      std::string_view(magic, sizeof(magic)) != kPdfMagic) {
    return absl::InvalidArgumentError("not a PDF (does not start with %PDF-)");
  }
  // O_NONBLOCK stays set: it has no effect on regular files.
  return file;
}

absl::StatusOr<std::vector<std::string>> InputRoot::Glob(std::string_view directory,
                                                         std::string_view pattern,
                                                         std::size_t limit) const {
  auto normalized = NormalizeRelativePath(directory);
  if (!normalized.ok()) return normalized.status();
  auto resolved = Resolve(*normalized);
  if (!resolved.ok()) return resolved.status();
  std::error_code ec;
  if (!fs::is_directory(*resolved, ec)) return absl::InvalidArgumentError("not a directory");

  std::vector<std::string_view> pattern_parts = Components(pattern);
  if (pattern_parts.empty()) return absl::InvalidArgumentError("glob is empty");
  bool recursive =
      std::find(pattern_parts.begin(), pattern_parts.end(), "**") != pattern_parts.end();
  // Without `**` nothing deeper than the pattern's own depth can match.
  const int max_depth = recursive ? INT_MAX : static_cast<int>(pattern_parts.size()) - 1;

  // Walk the resolved directory but report paths under the caller's spelling,
  // which Check resolves again.
  std::string prefix = normalized->empty() ? "" : *normalized + "/";
  std::vector<std::string> found;
  fs::recursive_directory_iterator it(*resolved, fs::directory_options::skip_permission_denied, ec);
  if (ec) return ErrnoStatus(ec.value(), "directory");
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return ErrnoStatus(ec.value(), "listing directory");
    const fs::directory_entry& entry = *it;
    std::error_code type_ec;
    bool is_symlink = entry.is_symlink(type_ec);
    bool is_dir = !is_symlink && entry.is_directory(type_ec);
    if (is_dir) {
      if (it.depth() >= max_depth) it.disable_recursion_pending();
      continue;
    }
    std::string rel = entry.path().lexically_relative(*resolved).generic_string();
    if (!GlobMatch(pattern, rel)) continue;
    if (is_symlink) {
      // A symlink to a directory is not a document; one to a file is, if it checks out.
      if (fs::is_directory(entry.path(), type_ec)) continue;
    }
    found.push_back(prefix + rel);
  }
  std::sort(found.begin(), found.end());
  if (limit > 0 && found.size() > limit) found.resize(limit);
  return found;
}

}  // namespace batchscribe::storage
