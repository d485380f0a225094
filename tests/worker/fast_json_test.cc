// jsonl::ParseJson (simdjson, converted to nlohmann::json) must give exactly
// what nlohmann::json::parse gives: the same values, the same number kinds,
// the same rejections.

#include "libs/jsonl/fast_json.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace batchscribe::jsonl {
namespace {

void ExpectSameAsNlohmann(const std::string& text) {
  nlohmann::json ours = ParseJson(text);
  nlohmann::json theirs = nlohmann::json::parse(text, nullptr, false);
  ASSERT_EQ(ours.is_discarded(), theirs.is_discarded()) << text;
  if (theirs.is_discarded()) return;
  EXPECT_EQ(ours, theirs) << text;
  EXPECT_EQ(ours.dump(), theirs.dump()) << text;  // also the number kinds
  // The emulator's insertion-ordered form keeps the document's key order.
  nlohmann::ordered_json ordered = ParseJsonAs<nlohmann::ordered_json>(text);
  EXPECT_EQ(ordered.dump(), nlohmann::ordered_json::parse(text).dump()) << text;
}

TEST(FastJsonTest, ValuesAndNumberKindsMatchNlohmann) {
  const std::vector<std::string> texts = {
      R"({"a":1,"b":-2,"c":2.5,"d":true,"e":null,"f":"x","g":[1,[2,{}]],"h":{}})",
      R"([0, -0, 1e3, 1.5e-7, 9223372036854775807, 9223372036854775808, 18446744073709551615])",
      R"(-9223372036854775808)",
      R"("escapes \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00")",
      "\"caf\xc3\xa9 \xe2\x82\xac\"",
      R"({"dup":1,"dup":2})",
      R"({"z":1,"a":{"y":2,"b":3},"m":[{"k":1,"c":2}]})",
      R"(  {"spaces" : [ 1 , 2 ] }  )",
      R"({"custom_id":"doc-1","response":{"status_code":200,"body":{"choices":[]}},"error":null})",
      "[]",
      "{}",
      "\"\"",
      "0",
  };
  for (const auto& text : texts) ExpectSameAsNlohmann(text);
}

TEST(FastJsonTest, RejectsWhatNlohmannRejects) {
  const std::vector<std::string> texts = {
      "",
      "{",
      R"({"a":1,})",
      R"([1,2)",
      "\"bad utf-8 \xff\"",
      "\"truncated \xc3\"",
      "nul",
      R"({"a":1} trailing)",
      R"({'single':1})",
      "01",
      "1.",
      "\"control \x01 character\"",
  };
  for (const auto& text : texts) {
    EXPECT_TRUE(ParseJson(text).is_discarded()) << text;
    ExpectSameAsNlohmann(text);
  }
}

TEST(FastJsonTest, FallsBackWhereSimdjsonStops) {
  // Beyond 64 bits (simdjson: BIGINT_ERROR) nlohmann reads a double.
  ExpectSameAsNlohmann("[123456789012345678901234567890]");
  // Deeper than simdjson's default limit of 1024 levels.
  ExpectSameAsNlohmann(std::string(2000, '[') + std::string(2000, ']'));
}

}  // namespace
}  // namespace batchscribe::jsonl
