#include "libs/storage/document_id.h"

#include <gtest/gtest.h>

#include <string>

namespace batchscribe::storage {
namespace {

TEST(ValidateDocumentId, AcceptsTheAllowedAlphabet) {
  EXPECT_TRUE(ValidateDocumentId("a").ok());
  EXPECT_TRUE(ValidateDocumentId("Report_2024-01.v2").ok());
  EXPECT_TRUE(ValidateDocumentId(std::string(64, 'x')).ok());
}

TEST(ValidateDocumentId, RejectsBadIds) {
  EXPECT_EQ(ValidateDocumentId("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateDocumentId(std::string(65, 'x')).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateDocumentId(".hidden").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateDocumentId("a/b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateDocumentId("a b").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateDocumentId("..").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateDocumentId("caf\xc3\xa9").code(), absl::StatusCode::kInvalidArgument);
}

TEST(DefaultDocumentId, IsTheStemWithOtherCharactersReplaced) {
  EXPECT_EQ(DefaultDocumentId("a/b/report.pdf"), "report");
  EXPECT_EQ(DefaultDocumentId("My Report (1).pdf"), "My_Report__1_");
  EXPECT_EQ(DefaultDocumentId("archive.tar.pdf"), "archive.tar");
  EXPECT_EQ(DefaultDocumentId("noext"), "noext");
  EXPECT_EQ(DefaultDocumentId("dir/.hidden.pdf"), "_hidden");
  EXPECT_EQ(DefaultDocumentId("dir/.pdf"), "_pdf");
  EXPECT_EQ(DefaultDocumentId("caf\xc3\xa9.pdf"), "caf__");
}

TEST(DefaultDocumentId, LongNamesStayValidAndDistinct) {
  std::string a = DefaultDocumentId(std::string(100, 'a') + "1.pdf");
  std::string b = DefaultDocumentId(std::string(100, 'a') + "2.pdf");
  EXPECT_EQ(a.size(), 64u);
  EXPECT_TRUE(ValidateDocumentId(a).ok());
  EXPECT_NE(a, b);
  EXPECT_EQ(a, DefaultDocumentId(std::string(100, 'a') + "1.pdf"));
}

}  // namespace
}  // namespace batchscribe::storage
