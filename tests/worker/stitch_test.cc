// Stitching the parts of a document into its one transcript.

#include "services/worker/stitch.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/support/test_env.h"

namespace batchscribe::worker {
namespace {

using nlohmann::json;

json Pages(int n, const std::string& tag) {
  json pages = json::array();
  for (int i = 1; i <= n; ++i) pages.push_back({{"page", i}, {"text", tag + std::to_string(i)}});
  return pages;
}

TEST(StitchTest, ShippedSchemaHasThePagesArray) {
  std::ifstream in(testing::SourceDir() / "config" / "transcript.schema.json");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(PageArrayProperty(ss.str()), "pages");
  EXPECT_EQ(PageArrayProperty(R"({"type":"object","properties":{"summary":{"type":"string"}}})"),
            std::nullopt);
  EXPECT_EQ(PageArrayProperty("not json"), std::nullopt);
}

TEST(StitchTest, PagesInOrderRenumberedInTheDocument) {
  std::vector<PartAnswer> parts = {
      {4, 5, {{"title", "second"}, {"language", "en"}, {"pages", Pages(2, "b")}}},
      {1, 3, {{"title", "first"}, {"language", "de"}, {"pages", Pages(3, "a")}}},
  };
  auto text = StitchTranscript(parts, "pages", 5);
  ASSERT_TRUE(text.ok()) << text.status();
  json t = json::parse(*text);
  EXPECT_EQ(t["title"], "first");  // title and language from the first part
  EXPECT_EQ(t["language"], "de");
  ASSERT_EQ(t["pages"].size(), 5u);
  const std::vector<std::string> texts = {"a1", "a2", "a3", "b1", "b2"};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(t["pages"][i]["page"], i + 1);
    EXPECT_EQ(t["pages"][i]["text"], texts[i]);
  }
}

TEST(StitchTest, GapsOverlapsAndShortCoverageAreRefused) {
  EXPECT_FALSE(StitchTranscript({{1, 2, {{"pages", Pages(2, "a")}}},
                                 {4, 5, {{"pages", Pages(2, "b")}}}},
                                "pages", 5)
                   .ok());
  EXPECT_FALSE(StitchTranscript({{1, 3, {{"pages", Pages(3, "a")}}},
                                 {3, 5, {{"pages", Pages(3, "b")}}}},
                                "pages", 5)
                   .ok());
  EXPECT_FALSE(StitchTranscript({{1, 3, {{"pages", Pages(3, "a")}}}}, "pages", 5).ok());
  EXPECT_FALSE(StitchTranscript({}, "pages", 0).ok());
}

TEST(StitchTest, APartWithTheWrongNumberOfPagesIsRefused) {
  EXPECT_TRUE(CheckPartAnswer({{"pages", Pages(40, "x")}}, "pages", 1, 40).ok());
  absl::Status s = CheckPartAnswer({{"pages", Pages(39, "x")}}, "pages", 1, 40);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("39 page entries for 40 pages"), std::string::npos) << s;
  EXPECT_FALSE(CheckPartAnswer({{"title", "t"}}, "pages", 1, 2).ok());
  EXPECT_FALSE(StitchTranscript({{1, 2, {{"pages", Pages(3, "a")}}}}, "pages", 2).ok());
}

TEST(StitchTest, OtherSchemasGetTheListOfPartAnswers) {
  auto text = StitchTranscript(
      {{51, 80, {{"summary", "b"}}}, {1, 50, {{"summary", "a"}}}}, "", 80);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(json::parse(*text),
            json::parse(R"({"parts":[{"first_page":1,"last_page":50,"answer":{"summary":"a"}},
                                     {"first_page":51,"last_page":80,"answer":{"summary":"b"}}]})"));
}

}  // namespace
}  // namespace batchscribe::worker
