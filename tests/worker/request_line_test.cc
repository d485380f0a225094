// Request lines: the exact size known in advance, the same bytes whether
// streamed or built in memory, valid JSON of the documented shape, and
// streaming in constant memory.

#include "libs/jsonl/request_line.h"

#include <absl/strings/escaping.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

namespace batchscribe::jsonl {
namespace {

using nlohmann::json;

const char* kSchema =
    R"({"type":"object","properties":{"pages":{"type":"array","items":{"type":"object",
       "properties":{"page":{"type":"integer"},"text":{"type":"string"}},
       "required":["page","text"],"additionalProperties":false}}},
       "required":["pages"],"additionalProperties":false})";

RequestLineBuilder Builder(std::string prompt = "Transcribe \"this\"\n\tdocument.") {
  RequestTemplate t;
  t.model = "gpt-4.1-mini";
  t.prompt = std::move(prompt);
  t.json_schema = kSchema;
  t.max_completion_tokens = 1234;
  auto b = RequestLineBuilder::Create(t);
  EXPECT_TRUE(b.ok()) << b.status();
  return *b;
}

std::string Bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

std::string Base64(std::string_view in) {
  std::string out;
  Base64Append(in, out);
  return out;
}

TEST(Base64Test, MatchesRfc4648Vectors) {
  EXPECT_EQ(Base64(""), "");
  EXPECT_EQ(Base64("f"), "Zg==");
  EXPECT_EQ(Base64("fo"), "Zm8=");
  EXPECT_EQ(Base64("foo"), "Zm9v");
  EXPECT_EQ(Base64("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64("foobar"), "Zm9vYmFy");
  for (size_t n = 0; n < 10; ++n) EXPECT_EQ(Base64(std::string(n, 'x')).size(), Base64Size(n));
}

TEST(Base64Test, MatchesAReferenceOnEveryByteAndTail) {
  std::string all;
  for (int round = 0; round < 3; ++round) {
    for (int b = 0; b < 256; ++b) all += static_cast<char>((b * 7 + round * 31) & 255);
  }
  for (size_t n = 0; n <= all.size(); n += (n < 40 ? 1 : 37)) {
    EXPECT_EQ(Base64(std::string_view(all).substr(0, n)), absl::Base64Escape(all.substr(0, n)))
        << n << " bytes";
  }
  // Appends after what the string already holds.
  std::string out = "prefix:";
  Base64Append("foob", out);
  EXPECT_EQ(out, "prefix:Zm9vYg==");
}

TEST(RequestLineTest, HasTheDocumentedShape) {
  RequestLineBuilder builder = Builder();
  std::string pdf = "%PDF-1.4 tiny";
  std::string line = builder.BuildLine("doc-1", "inv oice.pdf", pdf);
  ASSERT_EQ(line.back(), '\n');
  json j = json::parse(line);
  EXPECT_EQ(j["custom_id"], "doc-1");
  EXPECT_EQ(j["method"], "POST");
  EXPECT_EQ(j["url"], "/v1/chat/completions");
  const json& body = j["body"];
  EXPECT_EQ(body["model"], "gpt-4.1-mini");
  EXPECT_EQ(body["max_completion_tokens"], 1234);
  EXPECT_FALSE(body.contains("max_tokens"));
  EXPECT_EQ(body["response_format"]["type"], "json_schema");
  EXPECT_EQ(body["response_format"]["json_schema"]["name"], "transcript");
  EXPECT_EQ(body["response_format"]["json_schema"]["strict"], true);
  EXPECT_EQ(body["response_format"]["json_schema"]["schema"], json::parse(kSchema));
  const json& content = body["messages"][0]["content"];
  EXPECT_EQ(body["messages"][0]["role"], "user");
  EXPECT_EQ(content[0]["type"], "text");
  EXPECT_EQ(content[0]["text"], "Transcribe \"this\"\n\tdocument.");
  EXPECT_EQ(content[1]["type"], "file");
  EXPECT_EQ(content[1]["file"]["filename"], "inv oice.pdf");
  EXPECT_EQ(content[1]["file"]["file_data"], "data:application/pdf;base64," + Base64(pdf));
}

TEST(RequestLineTest, KeepsTheSchemaPropertyOrder) {
  RequestTemplate t;
  t.model = "m";
  t.prompt = "p";
  t.json_schema =
      R"({"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"string"}}})";
  auto builder = RequestLineBuilder::Create(t);
  ASSERT_TRUE(builder.ok());
  std::string line = builder->BuildLine("d", "d.pdf", "x");
  EXPECT_LT(line.find("zeta"), line.find("alpha"));
}

TEST(RequestLineTest, SizeIsExactForEveryPaddingAndEscaping) {
  RequestLineBuilder builder = Builder("ünïcödé prompt with \"quotes\" and \\ backslashes");
  for (size_t n : {0, 1, 2, 3, 4, 5, 100, 1000, 65537}) {
    std::string pdf = Bytes(n, static_cast<uint32_t>(n));
    for (std::string id : {"a", "doc.with-dots_and-64chars"}) {
      std::string line = builder.BuildLine(id, "dir \"x\".pdf", pdf);
      EXPECT_EQ(line.size(), builder.LineBytes(id, "dir \"x\".pdf", n)) << n << " " << id;
    }
  }
}

TEST(RequestLineTest, StreamingWritesTheSameBytesWithShortReads) {
  RequestLineBuilder builder = Builder();
  const std::string pdf = Bytes(300'001, 7);
  std::mt19937 rng(3);
  size_t pos = 0;
  std::string streamed;
  absl::Status s = builder.WriteLine(
      "doc-2", "a.pdf", pdf.size(),
      [&](char* buf, size_t n) -> absl::StatusOr<size_t> {
        size_t take = std::min<size_t>({n, pdf.size() - pos, 1 + rng() % 7000});
        std::copy_n(pdf.data() + pos, take, buf);
        pos += take;
        return take;
      },
      [&](std::string_view bytes) {
        streamed.append(bytes);
        return absl::OkStatus();
      });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(streamed, builder.BuildLine("doc-2", "a.pdf", pdf));
}

TEST(RequestLineTest, StreamsAHugeFileInSmallWrites) {
  // 64 MB of PDF never exists in memory: the reader generates it and the
  // writer only counts; no single write may be large.
  RequestLineBuilder builder = Builder();
  const uint64_t size = 64ull * 1024 * 1024 + 1;
  uint64_t produced = 0;
  uint64_t written = 0;
  size_t largest_write = 0;
  absl::Status s = builder.WriteLine(
      "big", "big.pdf", size,
      [&](char* buf, size_t n) -> absl::StatusOr<size_t> {
        size_t take = static_cast<size_t>(std::min<uint64_t>(n, size - produced));
        std::fill_n(buf, take, 'A');
        produced += take;
        return take;
      },
      [&](std::string_view bytes) {
        written += bytes.size();
        largest_write = std::max(largest_write, bytes.size());
        return absl::OkStatus();
      });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(written, builder.LineBytes("big", "big.pdf", size));
  EXPECT_LE(largest_write, 256u * 1024 + 4096);  // 192 KiB chunks encode to 256 KiB
}

TEST(RequestLineTest, AFileOfTheWrongSizeIsDataLoss) {
  RequestLineBuilder builder = Builder();
  std::string pdf = "0123456789";
  for (uint64_t claimed : {9, 11}) {
    size_t pos = 0;
    absl::Status s = builder.WriteLine(
        "d", "d.pdf", claimed,
        [&](char* buf, size_t n) -> absl::StatusOr<size_t> {
          size_t take = std::min(n, pdf.size() - pos);
          std::copy_n(pdf.data() + pos, take, buf);
          pos += take;
          return take;
        },
        [](std::string_view) { return absl::OkStatus(); });
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << claimed;
  }
}

TEST(RequestLineTest, ReadAndWriteErrorsAreReturned) {
  RequestLineBuilder builder = Builder();
  absl::Status s = builder.WriteLine(
      "d", "d.pdf", 10,
      [](char*, size_t) -> absl::StatusOr<size_t> { return absl::PermissionDeniedError("eacces"); },
      [](std::string_view) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  s = builder.WriteLine(
      "d", "d.pdf", 0, [](char*, size_t) -> absl::StatusOr<size_t> { return 0; },
      [](std::string_view) { return absl::ResourceExhaustedError("disk full"); });
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
}

TEST(RequestLineTest, ChatBodyIsTheLineBody) {
  RequestLineBuilder builder = Builder();
  std::string pdf = Bytes(77, 1);
  json line = json::parse(builder.BuildLine("d", "d.pdf", pdf));
  EXPECT_EQ(json::parse(builder.BuildChatBody("d.pdf", pdf)), line["body"]);
}

TEST(RequestLineTest, RejectsBadTemplates) {
  RequestTemplate t;
  t.model = "m";
  t.prompt = "p";
  t.json_schema = "[1,2]";
  EXPECT_EQ(RequestLineBuilder::Create(t).status().code(), absl::StatusCode::kInvalidArgument);
  t.json_schema = "{}";
  t.schema_name = "bad name!";
  EXPECT_EQ(RequestLineBuilder::Create(t).status().code(), absl::StatusCode::kInvalidArgument);
  t.schema_name = "ok";
  t.max_completion_tokens = 0;
  EXPECT_EQ(RequestLineBuilder::Create(t).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace batchscribe::jsonl
