#include "libs/storage/input_root.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/support/test_env.h"

namespace batchscribe::storage {
namespace {
namespace fs = std::filesystem;
using ::batchscribe::testing::TempDir;
using ::batchscribe::testing::WriteMinimalPdf;

void WriteText(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

TEST(NormalizeRelativePath, CleansAndRejects) {
  EXPECT_EQ(*NormalizeRelativePath("a//b/./c.pdf"), "a/b/c.pdf");
  EXPECT_EQ(*NormalizeRelativePath("./a/"), "a");
  EXPECT_EQ(*NormalizeRelativePath(""), "");
  EXPECT_EQ(*NormalizeRelativePath("."), "");
  EXPECT_EQ(*NormalizeRelativePath("a..b/c..pdf"), "a..b/c..pdf");
  EXPECT_EQ(NormalizeRelativePath("/etc/passwd").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NormalizeRelativePath("a/../b.pdf").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NormalizeRelativePath("..").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NormalizeRelativePath(std::string("a\0b", 3)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GlobMatch, ShellSemanticsWithDoubleStar) {
  EXPECT_TRUE(GlobMatch("*.pdf", "a.pdf"));
  EXPECT_FALSE(GlobMatch("*.pdf", "sub/a.pdf"));
  EXPECT_FALSE(GlobMatch("*.pdf", "a.PDF"));
  EXPECT_TRUE(GlobMatch("**/*.pdf", "a.pdf"));
  EXPECT_TRUE(GlobMatch("**/*.pdf", "x/y/z/a.pdf"));
  EXPECT_TRUE(GlobMatch("x/**/a?.pdf", "x/a1.pdf"));
  EXPECT_TRUE(GlobMatch("x/**/a?.pdf", "x/q/r/a1.pdf"));
  EXPECT_FALSE(GlobMatch("x/**/a?.pdf", "y/a1.pdf"));
  EXPECT_TRUE(GlobMatch("[ab]*.pdf", "b7.pdf"));
  EXPECT_FALSE(GlobMatch("[ab]*.pdf", "c7.pdf"));
  // Hidden files and folders must be named explicitly.
  EXPECT_FALSE(GlobMatch("*.pdf", ".secret.pdf"));
  EXPECT_FALSE(GlobMatch("**/*.pdf", ".git/a.pdf"));
  EXPECT_TRUE(GlobMatch(".git/*.pdf", ".git/a.pdf"));
}

class InputRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() / "inputs";
    outside_ = dir_.path() / "outside";
    WriteMinimalPdf(root_ / "a.pdf", "a");
    WriteMinimalPdf(root_ / "sub" / "b.pdf", "b");
    WriteMinimalPdf(root_ / "sub" / "deeper" / "c.pdf", "c");
    WriteText(root_ / "notes.txt", "not a pdf");
    WriteText(root_ / "fake.pdf", "PK\x03\x04 zip");
    WriteText(root_ / "empty.pdf", "");
    WriteMinimalPdf(outside_ / "secret.pdf", "secret");
    fs::create_symlink(outside_ / "secret.pdf", root_ / "escape.pdf");
    fs::create_symlink("../outside/secret.pdf", root_ / "relative-escape.pdf");
    fs::create_symlink(outside_, root_ / "outdir");
    fs::create_symlink("sub/b.pdf", root_ / "inside-link.pdf");
    fs::create_symlink(root_ / "sub", root_ / "sublink");
    fs::create_symlink("missing.pdf", root_ / "dangling.pdf");
    auto root = InputRoot::Open(root_);
    ASSERT_TRUE(root.ok()) << root.status();
    root_obj_ = std::make_unique<InputRoot>(*root);
  }

  TempDir dir_;
  fs::path root_;
  fs::path outside_;
  std::unique_ptr<InputRoot> root_obj_;
};

TEST_F(InputRootTest, AcceptsPdfsInside) {
  auto info = root_obj_->Check("sub/b.pdf");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->relative_path, "sub/b.pdf");
  EXPECT_EQ(info->resolved_path, fs::canonical(root_ / "sub" / "b.pdf"));
  EXPECT_EQ(info->size_bytes, static_cast<int64_t>(fs::file_size(root_ / "sub" / "b.pdf")));
  EXPECT_TRUE(root_obj_->Check("./sub//b.pdf").ok());
}

TEST_F(InputRootTest, AcceptsSymlinksThatStayInside) {
  EXPECT_TRUE(root_obj_->Check("inside-link.pdf").ok());
  EXPECT_TRUE(root_obj_->Check("sublink/b.pdf").ok());
}

TEST_F(InputRootTest, RejectsEscapes) {
  for (const char* path : {"/etc/passwd", "../outside/secret.pdf", "sub/../../outside/secret.pdf",
                           "escape.pdf", "relative-escape.pdf", "outdir/secret.pdf"}) {
    auto info = root_obj_->Check(path);
    EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument) << path;
  }
  auto absolute = root_obj_->Check((root_ / "a.pdf").string());
  EXPECT_EQ(absolute.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(InputRootTest, RejectsNonPdfsAndNonFiles) {
  EXPECT_EQ(root_obj_->Check("notes.txt").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(root_obj_->Check("fake.pdf").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(root_obj_->Check("empty.pdf").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(root_obj_->Check("sub").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(root_obj_->Check("").status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(::mkfifo((root_ / "pipe.pdf").c_str(), 0600), 0);
  EXPECT_EQ(root_obj_->Check("pipe.pdf").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(InputRootTest, MissingFilesAreNotFound) {
  EXPECT_EQ(root_obj_->Check("nope.pdf").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(root_obj_->Check("dangling.pdf").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(root_obj_->Check("a.pdf/x.pdf").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(InputRootTest, OpenInputFileReadsTheFileAndRefusesEscapes) {
  auto file = root_obj_->OpenInputFile("a.pdf");
  ASSERT_TRUE(file.ok()) << file.status();
  auto content = file->ReadAll();
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(content->substr(0, 5), "%PDF-");
  EXPECT_EQ(static_cast<int64_t>(content->size()), file->size_bytes());
  // What a tampered database row could hold.
  EXPECT_FALSE(root_obj_->OpenInputFile("../outside/secret.pdf").ok());
  EXPECT_FALSE(root_obj_->OpenInputFile("escape.pdf").ok());
  EXPECT_FALSE(root_obj_->OpenInputFile((outside_ / "secret.pdf").string()).ok());
}

TEST_F(InputRootTest, InputFileIsMovable) {
  auto file = root_obj_->OpenInputFile("a.pdf");
  ASSERT_TRUE(file.ok());
  InputFile moved = std::move(*file);
  EXPECT_GE(moved.fd(), 0);
  char buf[5];
  auto n = moved.Read(buf, sizeof(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 5u);
}

TEST_F(InputRootTest, GlobListsMatchesInOrderWithLimit) {
  auto top = root_obj_->Glob("", "*.pdf", 0);
  ASSERT_TRUE(top.ok()) << top.status();
  // Every *.pdf at the top level, symlinks included (Check rejects the bad ones).
  EXPECT_EQ(*top, (std::vector<std::string>{"a.pdf", "dangling.pdf", "empty.pdf", "escape.pdf",
                                            "fake.pdf", "inside-link.pdf", "relative-escape.pdf"}));
  auto deep = root_obj_->Glob("sub", "**/*.pdf", 0);
  ASSERT_TRUE(deep.ok());
  EXPECT_EQ(*deep, (std::vector<std::string>{"sub/b.pdf", "sub/deeper/c.pdf"}));
  auto limited = root_obj_->Glob(".", "**/*.pdf", 2);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(*limited, (std::vector<std::string>{"a.pdf", "dangling.pdf"}));
  // Directory symlinks are not descended into.
  auto all = root_obj_->Glob("", "**/*.pdf", 0);
  ASSERT_TRUE(all.ok());
  for (const auto& p : *all) {
    EXPECT_NE(p.rfind("outdir/", 0), 0u) << p;
    EXPECT_NE(p.rfind("sublink/", 0), 0u) << p;
  }
}

TEST_F(InputRootTest, GlobRejectsBadDirectories) {
  EXPECT_EQ(root_obj_->Glob("../outside", "*.pdf", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(root_obj_->Glob("outdir", "*.pdf", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(root_obj_->Glob("nope", "*.pdf", 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(root_obj_->Glob("a.pdf", "*.pdf", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(root_obj_->Glob("", "", 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(InputRoot, OpenRequiresAnExistingDirectory) {
  TempDir dir;
  EXPECT_FALSE(InputRoot::Open(dir.path() / "missing").ok());
  EXPECT_FALSE(InputRoot::Open("").ok());
  WriteText(dir.path() / "file", "x");
  EXPECT_FALSE(InputRoot::Open(dir.path() / "file").ok());
  EXPECT_TRUE(InputRoot::Open(dir.path()).ok());
}

}  // namespace
}  // namespace batchscribe::storage
