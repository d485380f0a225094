#include "services/openai-emulator/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace batchscribe::emulator {
namespace fs = std::filesystem;

absl::Status WriteStateFile(const fs::path& path, const Json& state) {
  const std::string text = state.dump(1, ' ', false, Json::error_handler_t::replace) + "\n";
  const fs::path temp = path.string() + ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError("open " + temp.string() + ": " + std::strerror(errno));
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string err = std::strerror(errno);
      ::close(fd);
      return absl::InternalError("write " + temp.string() + ": " + err);
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return absl::InternalError("fsync " + temp.string() + ": " + std::strerror(errno));
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) return absl::InternalError("rename " + temp.string() + ": " + ec.message());
  int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Json>> ReadStateFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::optional<Json>();
  std::stringstream buffer;
  buffer << in.rdbuf();
  Json state = ParseJson(buffer.str());
  if (state.is_discarded() || !state.is_object()) {
    return absl::DataLossError("the state file " + path.string() + " is not a JSON object");
  }
  return std::optional<Json>(std::move(state));
}

}  // namespace batchscribe::emulator
