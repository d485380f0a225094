#include "services/coordinator/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "libs/common/logging.h"

namespace batchscribe::coordinator {
namespace {

std::array<unsigned char, 32> Sha256(std::string_view text) {
  std::array<unsigned char, 32> digest{};
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return digest;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

bool SameTime(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BearerTokenAuthenticator>> BearerTokenAuthenticator::Create(
    std::filesystem::path token_file) {
  std::unique_ptr<BearerTokenAuthenticator> auth(
      new BearerTokenAuthenticator(std::move(token_file)));
  std::lock_guard lock(auth->mu_);
  if (absl::Status s = auth->ReloadIfChanged(); !s.ok()) return s;
  if (auth->digests_.empty()) {
    log::Warn("the auth token file lists no token: every API call will be refused");
  }
  return auth;
}

absl::Status BearerTokenAuthenticator::ReloadIfChanged() {
  struct stat st {};
  if (::stat(token_file_.c_str(), &st) != 0) {
    if (!loaded_) {
      return absl::FailedPreconditionError("cannot read the auth token file " +
                                           token_file_.string());
    }
    return absl::OkStatus();  // keep the tokens we have
  }
  if (loaded_ && SameTime(st.st_mtim, mtime_) && st.st_size == size_ && st.st_ino == inode_) {
    return absl::OkStatus();
  }
  std::ifstream in(token_file_);
  if (!in) {
    if (!loaded_) {
      return absl::FailedPreconditionError("cannot read the auth token file " +
                                           token_file_.string());
    }
    log::Warn("cannot re-read the auth token file; keeping the previous tokens");
    return absl::OkStatus();
  }
  std::vector<Digest> digests;
  std::string line;
  while (std::getline(in, line)) {
    std::string_view token = Trim(line);
    if (token.empty() || token.front() == '#') continue;
    log::RegisterSecret(token);
    digests.push_back(Sha256(token));
  }
  bool reload = loaded_;
  digests_ = std::move(digests);
  mtime_ = st.st_mtim;
  size_ = st.st_size;
  inode_ = st.st_ino;
  loaded_ = true;
  if (reload) log::Info("auth tokens reloaded", {{"tokens", digests_.size()}});
  return absl::OkStatus();
}

absl::Status BearerTokenAuthenticator::Check(std::string_view authorization) {
  const absl::Status kDenied = absl::UnauthenticatedError(
      "this server needs an `authorization: Bearer <token>` header with a valid token");
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return kDenied;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return kDenied;
  }
  std::string_view token = Trim(authorization.substr(kScheme.size()));
  if (token.empty()) return kDenied;
  Digest presented = Sha256(token);
  std::lock_guard lock(mu_);
  ReloadIfChanged().IgnoreError();
  // Compare with every token, without stopping at a match, in constant time.
  int matched = 0;
  for (const Digest& digest : digests_) {
    matched |= CRYPTO_memcmp(digest.data(), presented.data(), digest.size()) == 0;
  }
  return matched ? absl::OkStatus() : kDenied;
}

std::size_t BearerTokenAuthenticator::token_count() {
  std::lock_guard lock(mu_);
  ReloadIfChanged().IgnoreError();
  return digests_.size();
}

}  // namespace batchscribe::coordinator
