#pragma once
// Bearer-token authentication (--auth_token_file): the file holds one token per
// line (blank lines and lines starting with '#' are ignored). It is re-read
// when its modification time changes, so tokens rotate without a restart.
// Tokens are compared by SHA-256 digest in constant time and never logged.

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <sys/types.h>

#include <array>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace batchscribe::coordinator {

class BearerTokenAuthenticator {
 public:
  /// Reads `token_file`; fails when it cannot be read.
  static absl::StatusOr<std::unique_ptr<BearerTokenAuthenticator>> Create(
      std::filesystem::path token_file);

  /// Checks the value of an `authorization` header ("" when absent):
  /// UNAUTHENTICATED unless it is "Bearer <token>" with a listed token.
  absl::Status Check(std::string_view authorization);

  /// Tokens currently accepted.
  std::size_t token_count();

 private:
  using Digest = std::array<unsigned char, 32>;
  explicit BearerTokenAuthenticator(std::filesystem::path token_file)
      : token_file_(std::move(token_file)) {}
  /// Re-reads the file when its mtime changed; keeps the old tokens on failure.
  absl::Status ReloadIfChanged();

  const std::filesystem::path token_file_;
  std::mutex mu_;
  std::vector<Digest> digests_;
  // Identity of the file last read: a rotation by rename changes the inode, an
  // in-place rewrite the mtime or size.
  struct timespec mtime_ {};
  off_t size_ = 0;
  ino_t inode_ = 0;
  bool loaded_ = false;
};

}  // namespace batchscribe::coordinator
