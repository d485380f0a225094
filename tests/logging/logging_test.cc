// The log line schema (docs/CONTRACTS.md, "Log lines"): the same keys in every
// service, correlation ids from the thread's context, no line over 16 KB, and
// redaction that no cut can defeat.

#include "libs/common/logging.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace batchscribe::log {
namespace {

nlohmann::json Line(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object()) {
  const std::string text = FormatLine("info", msg, fields);
  EXPECT_LE(text.size(), kMaxLineBytes);
  auto json = nlohmann::json::parse(text, nullptr, false);
  EXPECT_TRUE(json.is_object()) << text;
  return json;
}

TEST(LoggingTest, EveryLineHasTheSchemaKeys) {
  Init("worker");
  const auto line = Line("task claimed", {{kTaskId, 7}, {"kind", "plan"}});
  EXPECT_TRUE(line["ts"].get<std::string>().ends_with("Z")) << line;
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["service"], "worker");
  EXPECT_EQ(line["msg"], "task claimed");
  EXPECT_EQ(line["task_id"], 7);
  EXPECT_FALSE(line.contains("truncated"));
}

TEST(LoggingTest, TheThreadsContextNamesTheTaskBatchAndShard) {
  Init("worker");
  {
    ScopedContext task(nlohmann::json{{kTaskId, 9}, {kBatchId, "b1"}, {kShardId, "s0002"}});
    const auto call = Line("openai call", {{kOpenAiRequestId, "req_123"}});
    EXPECT_EQ(call["task_id"], 9);
    EXPECT_EQ(call["batch_id"], "b1");
    EXPECT_EQ(call["shard_id"], "s0002");
    EXPECT_EQ(call["openai_request_id"], "req_123");
    {
      ScopedContext document(nlohmann::json{{kDocumentId, "letter-1"}});
      EXPECT_EQ(Line("x")["document_id"], "letter-1");
      EXPECT_EQ(Line("x")["shard_id"], "s0002") << "nested contexts add up";
    }
    EXPECT_FALSE(Line("x").contains("document_id"));
    EXPECT_EQ(Line("x", {{kBatchId, "b2"}})["batch_id"], "b2") << "a line's own field wins";
  }
  EXPECT_FALSE(Line("after").contains("task_id"));
}

TEST(LoggingTest, NoLineIsLongerThan16KB) {
  Init("worker");
  const std::string body(100'000, 'x');
  const auto line = Line("openai call failed", {{kBatchId, "b1"}, {"error", body}});
  EXPECT_EQ(line["truncated"], true);
  EXPECT_EQ(line["batch_id"], "b1") << "the schema keys survive";
  EXPECT_EQ(line["msg"], "openai call failed");
  EXPECT_NE(line["error"].get<std::string>().find("bytes cut]"), std::string::npos);
  EXPECT_GT(line["error"].get<std::string>().size(), 8'000u) << "as much as fits is kept";

  // Many fields, each small enough, together too long.
  nlohmann::json many = nlohmann::json::object();
  for (int i = 0; i < 2000; ++i) many["field" + std::to_string(i)] = std::string(40, 'y');
  many[kTaskId] = 3;
  const auto cut = Line("many", many);
  EXPECT_EQ(cut["truncated"], true);
  EXPECT_EQ(cut["task_id"], 3);

  // A long multi-byte value is cut between characters: the line stays valid UTF-8.
  std::string greek;
  for (int i = 0; i < 20'000; ++i) greek += "\xCE\xB1";  // U+03B1
  const auto utf8 = Line("greek", {{"text", greek}});
  EXPECT_EQ(utf8["text"].get<std::string>().find("\xEF\xBF\xBD"), std::string::npos)
      << "no replacement character from a split sequence";
}

TEST(LoggingTest, ASecretCutByTruncationIsStillRedacted) {
  Init("worker");
  const std::string secret = "sk-live-secret-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  RegisterSecret(secret);
  // The secret straddles the place where the cut falls.
  std::string body(kMaxLineBytes - 1000, 'z');
  for (int i = 0; i < 40; ++i) body += secret;
  const std::string text = FormatLine("warn", "leak?", {{"error", body}});
  EXPECT_LE(text.size(), kMaxLineBytes);
  EXPECT_EQ(text.find("sk-live-secret"), std::string::npos) << text.substr(text.size() - 300);
  EXPECT_NE(text.find("[redacted]"), std::string::npos);
}

}  // namespace
}  // namespace batchscribe::log
