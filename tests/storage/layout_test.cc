#include "libs/storage/layout.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "libs/storage/atomic_file.h"
#include "tests/support/test_env.h"

namespace batchscribe::storage {
namespace {
namespace fs = std::filesystem;
using ::batchscribe::testing::TempDir;

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(Layout, PathsFollowTheContract) {
  EXPECT_EQ(TranscriptRelativePath("gpt-4.1-mini", "doc1"), "transcripts/gpt-4.1-mini/doc1.json");
  EXPECT_EQ(TranscriptPath("/data", "gpt-4.1-mini", "doc1"),
            fs::path("/data/transcripts/gpt-4.1-mini/doc1.json"));
  EXPECT_EQ(ShardDir("/data", "0123456789abcdef0123", "s0001"),
            fs::path("/data/batches/0123456789abcdef0123/shards/s0001"));
}

TEST(Layout, TranscriptExistsOnlyForRegularFiles) {
  TempDir dir;
  EXPECT_FALSE(TranscriptExists(dir.path(), "m", "d"));
  fs::create_directories(TranscriptPath(dir.path(), "m", "d"));  // a folder is not a transcript
  EXPECT_FALSE(TranscriptExists(dir.path(), "m", "d"));
  ASSERT_TRUE(AtomicWriteFile(TranscriptPath(dir.path(), "m", "e"), "{}").ok());
  EXPECT_TRUE(TranscriptExists(dir.path(), "m", "e"));
}

TEST(AtomicWriteFile, CreatesParentsAndReplacesContent) {
  TempDir dir;
  fs::path target = dir.path() / "a" / "b" / "t.json";
  ASSERT_TRUE(AtomicWriteFile(target, "first").ok());
  EXPECT_EQ(Slurp(target), "first");
  ASSERT_TRUE(AtomicWriteFile(target, "second, longer").ok());
  EXPECT_EQ(Slurp(target), "second, longer");
  // No temporary file is left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(target.parent_path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(AtomicFileWriter, AbandonedWriterLeavesTargetUntouched) {
  TempDir dir;
  fs::path target = dir.path() / "input.jsonl";
  ASSERT_TRUE(AtomicWriteFile(target, "old").ok());
  {
    AtomicFileWriter writer;
    ASSERT_TRUE(AtomicFileWriter::Open(target, writer).ok());
    ASSERT_TRUE(writer.Append("new line\n").ok());
    EXPECT_EQ(writer.size(), 9u);
  }
  EXPECT_EQ(Slurp(target), "old");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(AtomicFileWriter, StreamsManyAppends) {
  TempDir dir;
  fs::path target = dir.path() / "big.jsonl";
  AtomicFileWriter writer;
  ASSERT_TRUE(AtomicFileWriter::Open(target, writer).ok());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(writer.Append("0123456789\n").ok());
  ASSERT_TRUE(writer.Commit().ok());
  EXPECT_EQ(fs::file_size(target), 11000u);
  EXPECT_FALSE(writer.Commit().ok());
}

TEST(AtomicWriteFile, DeferredWritesAreCompleteAndSyncedTogether) {
  TempDir dir;
  FileSystemSyncer syncer;
  EXPECT_TRUE(syncer.empty());
  for (int i = 0; i < 20; ++i) {
    fs::path target = dir.path() / "t" / (std::to_string(i) + ".json");
    ASSERT_TRUE(
        AtomicWriteFile(target, "{\"i\":" + std::to_string(i) + "}", Durability::kDeferred).ok());
    ASSERT_TRUE(syncer.Add(target.parent_path()).ok());
  }
  EXPECT_FALSE(syncer.empty());
  ASSERT_TRUE(syncer.Sync().ok());
  EXPECT_TRUE(syncer.empty());  // one syncfs per file system, then forgotten
  EXPECT_EQ(Slurp(dir.path() / "t" / "7.json"), "{\"i\":7}");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path() / "t")) ++entries;
  EXPECT_EQ(entries, 20);  // no temporary file left behind
  // Replacing keeps the atomicity of the synced form.
  ASSERT_TRUE(AtomicWriteFile(dir.path() / "t" / "7.json", "new", Durability::kDeferred).ok());
  EXPECT_EQ(Slurp(dir.path() / "t" / "7.json"), "new");
}

TEST(FileSystemSyncer, ReportsAPathThatDoesNotExist) {
  TempDir dir;
  FileSystemSyncer syncer;
  absl::Status status = syncer.Add(dir.path() / "missing");
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("missing"), std::string::npos) << status;
  EXPECT_TRUE(syncer.Sync().ok());  // nothing to do
}

TEST(AtomicWriteFile, FailsCleanlyWhereItCannotWrite) {
  TempDir dir;
  fs::path blocker = dir.path() / "file";
  ASSERT_TRUE(AtomicWriteFile(blocker, "x").ok());
  absl::Status status = AtomicWriteFile(blocker / "child.json", "y");
  EXPECT_FALSE(status.ok());
}

}  // namespace
}  // namespace batchscribe::storage
