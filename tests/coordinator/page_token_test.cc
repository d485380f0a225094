#include "services/coordinator/page_token.h"

#include <gtest/gtest.h>

#include "services/coordinator/resource_names.h"

namespace batchscribe::coordinator {
namespace {

TEST(PageToken, RoundTrips) {
  PageToken token{"documents", "batches/abc", "FAILED,PENDING", 0, "doc-9"};
  auto decoded = DecodePageToken(EncodePageToken(token), token);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->after_id, "doc-9");
  PageToken batches{"batches", "", "", 1732900000123456, "0123456789abcdef0123"};
  auto b = DecodePageToken(EncodePageToken(batches), batches);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->after_time_micros, 1732900000123456);
  // URL-safe and padding-free: usable in query strings and JSON without escaping.
  for (char c : EncodePageToken(token)) EXPECT_TRUE(std::isalnum(c) || c == '-' || c == '_');
}

TEST(PageToken, RejectsTokensOfOtherLists) {
  PageToken token{"documents", "batches/abc", "", 0, "d"};
  std::string text = EncodePageToken(token);
  PageToken other_parent = token;
  other_parent.parent = "batches/xyz";
  EXPECT_EQ(DecodePageToken(text, other_parent).status().code(),
            absl::StatusCode::kInvalidArgument);
  PageToken other_filter = token;
  other_filter.filter = "FAILED";
  EXPECT_EQ(DecodePageToken(text, other_filter).status().code(),
            absl::StatusCode::kInvalidArgument);
  PageToken batches{"batches", "", "", 0, ""};
  EXPECT_EQ(DecodePageToken(text, batches).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PageToken, RejectsGarbage) {
  PageToken expected{"batches", "", "", 0, ""};
  for (const char* text : {"!!!", "abc", "e30", "W10", "eyJ2IjoyfQ"}) {
    EXPECT_EQ(DecodePageToken(text, expected).status().code(), absl::StatusCode::kInvalidArgument)
        << text;
  }
  EXPECT_EQ(DecodePageToken(std::string(5000, 'A'), expected).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EffectivePageSize, DefaultsCapsAndRejectsNegative) {
  EXPECT_EQ(*EffectivePageSize(0, 50), 50);
  EXPECT_EQ(*EffectivePageSize(7, 50), 7);
  EXPECT_EQ(*EffectivePageSize(5000, 50), 1000);
  EXPECT_EQ(EffectivePageSize(-1, 50).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ResourceNames, ParseAndFormat) {
  EXPECT_EQ(*ParseBatchName("batches/0123456789abcdef0123", "name"), "0123456789abcdef0123");
  EXPECT_EQ(*ParseBatchName("batches/my-batch-1", "name"), "my-batch-1");
  for (const char* bad : {"", "batches/", "batches/ABC", "batch/abc", "batches/a/b", "batches/a_b",
                          "abc", "batches/../x"}) {
    auto id = ParseBatchName(bad, "name");
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(std::string(id.status().message()).rfind("name", 0), 0u);
  }
  EXPECT_EQ(ParseBatchName("batches/" + std::string(64, 'a'), "name").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BatchName("x"), "batches/x");
  EXPECT_EQ(DocumentName("x", "d"), "batches/x/documents/d");
}

TEST(ResourceNames, NewBatchIdsAreTwentyHexCharactersAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewBatchId();
    EXPECT_EQ(id.size(), 20u);
    EXPECT_TRUE(IsValidBatchId(id));
    for (char c : id) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

}  // namespace
}  // namespace batchscribe::coordinator
