#include "services/coordinator/auth.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/test_env.h"

namespace batchscribe::coordinator {
namespace {
namespace fs = std::filesystem;
using ::batchscribe::testing::TempDir;

void WriteTokens(const fs::path& path, const std::string& content,
                 fs::file_time_type::duration offset = {}) {
  std::ofstream(path, std::ios::trunc) << content;
  // Coarse file-system clocks could give a rewrite the same mtime: move it on.
  fs::last_write_time(path, fs::file_time_type::clock::now() + offset);
}

TEST(BearerTokenAuthenticator, AcceptsListedTokensOnly) {
  TempDir dir;
  WriteTokens(dir.path() / "tokens", "# operators\nalpha-token-1\n\n  beta-token-2  \n");
  auto auth = BearerTokenAuthenticator::Create(dir.path() / "tokens");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ((*auth)->token_count(), 2u);
  EXPECT_TRUE((*auth)->Check("Bearer alpha-token-1").ok());
  EXPECT_TRUE((*auth)->Check("bearer beta-token-2").ok());
  EXPECT_TRUE((*auth)->Check("BEARER alpha-token-1 ").ok());
  for (const char* bad : {"", "Bearer", "Bearer ", "alpha-token-1", "Basic alpha-token-1",
                          "Bearer alpha-token", "Bearer alpha-token-12", "Bearer # operators"}) {
    EXPECT_EQ((*auth)->Check(bad).code(), absl::StatusCode::kUnauthenticated) << bad;
  }
}

TEST(BearerTokenAuthenticator, RereadsTheFileWhenItChanges) {
  TempDir dir;
  fs::path file = dir.path() / "tokens";
  WriteTokens(file, "old-token\n");
  auto auth = BearerTokenAuthenticator::Create(file);
  ASSERT_TRUE(auth.ok());
  EXPECT_TRUE((*auth)->Check("Bearer old-token").ok());
  WriteTokens(file, "new-token\n", std::chrono::seconds(5));
  EXPECT_TRUE((*auth)->Check("Bearer new-token").ok());
  EXPECT_FALSE((*auth)->Check("Bearer old-token").ok());
  // Rotation by rename (how Kubernetes updates mounted secrets).
  WriteTokens(dir.path() / "tokens.next", "third-token\n", std::chrono::seconds(10));
  fs::rename(dir.path() / "tokens.next", file);
  EXPECT_TRUE((*auth)->Check("Bearer third-token").ok());
  // A file that disappears keeps the last tokens rather than locking everyone out.
  fs::remove(file);
  EXPECT_TRUE((*auth)->Check("Bearer third-token").ok());
}

TEST(BearerTokenAuthenticator, EmptyFileRefusesEveryone) {
  TempDir dir;
  WriteTokens(dir.path() / "tokens", "# nobody yet\n");
  auto auth = BearerTokenAuthenticator::Create(dir.path() / "tokens");
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ((*auth)->Check("Bearer anything").code(), absl::StatusCode::kUnauthenticated);
}

TEST(BearerTokenAuthenticator, MissingFileFailsAtStart) {
  TempDir dir;
  EXPECT_FALSE(BearerTokenAuthenticator::Create(dir.path() / "missing").ok());
}

}  // namespace
}  // namespace batchscribe::coordinator
