// Faults over real HTTP: switched on and off through /_emulator/faults, set by
// --faults, and what clients see (statuses, retry headers, bodies, dropped
// connections, stalls), plus stats and reset.

#include <gtest/gtest.h>

#include "tests/emulator/harness.h"

namespace batchscribe::emulator {
namespace {

using testing::CreateBatch;
using testing::EmulatorProcess;
using testing::FileContent;
using testing::GetJson;
using testing::MakePdf;
using testing::ParseLines;
using testing::PostJson;
using testing::RequestLine;
using testing::TranscriptRequest;
using testing::UploadJsonl;
using testing::WaitForBatch;

std::string Lines(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += RequestLine("doc-" + std::to_string(i), TranscriptRequest(MakePdf({"page"}))) + "\n";
  }
  return out;
}

void SetFaults(httplib::Client& client, const std::string& config) {
  int status = 0;
  Json answer = PostJson(client, "/_emulator/faults", ParseJson(config), &status);
  ASSERT_EQ(status, 200) << Dump(answer);
}

TEST(HttpFaultsTest, RateLimitsCarryRetryHints) {
  EmulatorProcess emulator;
  auto client = emulator.Client();
  SetFaults(*client, R"({"http": [{"match": "^GET /v1/files$", "status": 429, "count": 2,
      "retry_after": 1, "retry_after_ms": 1000, "should_retry": true}]})");
  for (int i = 0; i < 2; ++i) {
    auto res = client->Get("/v1/files");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 429);
    EXPECT_EQ(res->get_header_value("retry-after"), "1");
    EXPECT_EQ(res->get_header_value("retry-after-ms"), "1000");
    EXPECT_EQ(res->get_header_value("x-should-retry"), "true");
    EXPECT_TRUE(res->has_header("x-request-id"));
    const Json error = ParseJson(res->body)["error"];
    EXPECT_EQ(error["code"], "rate_limit_exceeded");
    EXPECT_TRUE(error.contains("param"));
  }
  EXPECT_EQ(client->Get("/v1/files")->status, 200);  // count exhausted
  const Json faults = GetJson(*client, "/_emulator/faults");
  EXPECT_EQ(faults["http"][0]["fired"], 2);
  EXPECT_EQ(faults["http"][0]["matched"], 3);
  EXPECT_EQ(GetJson(*client, "/_emulator/stats")["faults_fired"]["http:429"], 2);
}

TEST(HttpFaultsTest, ServerErrorsInEveryShape) {
  EmulatorProcess emulator;
  auto client = emulator.Client();
  SetFaults(*client, R"({"http": [
      {"match": "^GET /v1/files$", "status": 500, "count": 1, "should_retry": false},
      {"match": "^GET /v1/files$", "status": 502, "body": "html", "count": 1},
      {"match": "^GET /v1/files$", "status": 502, "body": "cf_bad_gateway", "count": 1},
      {"match": "^GET /v1/files$", "status": 503, "count": 1},
      {"match": "^GET /v1/files$", "status": 429, "body": "insufficient_quota", "count": 1}]})");
  auto r500 = client->Get("/v1/files");
  EXPECT_EQ(r500->status, 500);
  EXPECT_EQ(r500->get_header_value("x-should-retry"), "false");
  EXPECT_EQ(ParseJson(r500->body)["error"]["type"], "server_error");
  auto html = client->Get("/v1/files");
  EXPECT_EQ(html->status, 502);
  EXPECT_NE(html->body.find("<title>502 Bad Gateway</title>"), std::string::npos);
  EXPECT_EQ(html->get_header_value("Content-Type"), "text/html");
  auto cf = client->Get("/v1/files");
  EXPECT_EQ(cf->status, 502);
  EXPECT_EQ(ParseJson(cf->body)["error"]["code"], 502);  // numeric, as Cloudflare sends it
  EXPECT_EQ(ParseJson(cf->body)["error"]["type"], "cf_bad_gateway");
  auto r503 = client->Get("/v1/files");
  EXPECT_EQ(r503->status, 503);
  auto quota = client->Get("/v1/files");
  EXPECT_EQ(quota->status, 429);
  EXPECT_EQ(ParseJson(quota->body)["error"]["code"], "insufficient_quota");
  EXPECT_EQ(client->Get("/v1/files")->status, 200);
}

TEST(HttpFaultsTest, EveryNthRequestAndReset) {
  EmulatorProcess emulator;
  auto client = emulator.Client();
  SetFaults(*client, R"({"http": [{"match": "^GET /v1/batches", "status": 503, "every": 3}]})");
  std::vector<int> statuses;
  for (int i = 0; i < 6; ++i) statuses.push_back(client->Get("/v1/batches")->status);
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 503, 200, 200, 503}));
  ASSERT_EQ(client->Delete("/_emulator/faults")->status, 200);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client->Get("/v1/batches")->status, 200);
  int status = 0;
  PostJson(*client, "/_emulator/faults", ParseJson(R"({"http": [{"status": 200}]})"), &status);
  EXPECT_EQ(status, 400);
}

TEST(HttpFaultsTest, FaultsFromTheCommandLine) {
  EmulatorProcess emulator(
      {{"--faults", R"({"http": [{"match": "^GET /v1/files$", "status": 503, "count": 1}]})"}});
  auto client = emulator.Client();
  EXPECT_EQ(client->Get("/v1/files")->status, 503);
  EXPECT_EQ(client->Get("/v1/files")->status, 200);
}

TEST(HttpFaultsTest, SlowResponsesTimeClientsOut) {
  EmulatorProcess emulator;
  auto client = emulator.Client();
  SetFaults(*client, R"({"http": [{"match": "^GET /v1/batches$", "action": "delay",
      "delay_ms": 5000, "count": 1}]})");
  httplib::Client impatient("127.0.0.1", emulator.port());
  impatient.set_bearer_token_auth("sk-test");
  impatient.set_read_timeout(0, 300000);
  auto res = impatient.Get("/v1/batches");
  EXPECT_FALSE(res);
  EXPECT_EQ(res.error(), httplib::Error::Read);
  EXPECT_EQ(client->Get("/v1/batches")->status, 200);
}

TEST(HttpFaultsTest, DroppedCreateLeavesTheBatchBehind) {
  EmulatorProcess emulator;
  auto client = emulator.Client();
  const std::string file = UploadJsonl(*client, Lines(2));
  SetFaults(*client, R"({"http": [{"match": "^POST /v1/batches$", "action": "drop",
      "phase": "after", "count": 1}]})");
  const Json body = {{"input_file_id", file},
                     {"endpoint", "/v1/chat/completions"},
                     {"completion_window", "24h"},
                     {"metadata", {{"batchscribe_shard", "s0001"}}}};
  auto lost = client->Post("/v1/batches", Dump(body), "application/json");
  EXPECT_FALSE(lost) << lost->status;
  // The batch exists: a careful client finds it by metadata instead of
  // creating a second one.
  Json list = GetJson(*client, "/v1/batches");
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_EQ(list["data"][0]["metadata"]["batchscribe_shard"], "s0001");
  WaitForBatch(*client, list["data"][0]["id"], {"completed"});
  // A failure before handling creates nothing.
  SetFaults(*client,
            R"({"http": [{"match": "^POST /v1/batches$", "action": "drop", "count": 1}]})");
  EXPECT_FALSE(client->Post("/v1/batches", Dump(body), "application/json"));
  EXPECT_EQ(GetJson(*client, "/_emulator/stats")["batches"]["created"], 1);
  auto ok = client->Post("/v1/batches", Dump(body), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST(HttpFaultsTest, ErrorAfterHandlingStillActs) {
  EmulatorProcess emulator;
  auto client = emulator.Client();
  const std::string file = UploadJsonl(*client, Lines(1));
  SetFaults(*client, R"({"http": [{"match": "^DELETE /v1/files/", "phase": "after",
      "status": 500, "count": 1}]})");
  EXPECT_EQ(client->Delete("/v1/files/" + file)->status, 500);
  EXPECT_EQ(client->Get("/v1/files/" + file)->status, 404);
}

TEST(HttpFaultsTest, LineAndBatchFaultsThroughTheControlEndpoint) {
  EmulatorProcess emulator;
  auto client = emulator.Client();
  SetFaults(*client, R"({"seed": 5,
      "lines": [{"custom_id": "^doc-(0|1)$", "kind": "server_error", "status": 502},
                {"custom_id": "^doc-2$", "kind": "status_0"}],
      "batches": [{"kind": "cannot_find_file", "count": 1}]})");
  const std::string file = UploadJsonl(*client, Lines(4));
  Json missing = WaitForBatch(*client, CreateBatch(*client, file)["id"], {"failed"});
  EXPECT_NE(missing["errors"]["data"][0]["message"].get<std::string>().find("Cannot find file"),
            std::string::npos);
  Json done = WaitForBatch(*client, CreateBatch(*client, file)["id"], {"completed"});
  EXPECT_EQ(done["request_counts"], Json({{"total", 4}, {"completed", 2}, {"failed", 2}}));
  const auto errors = ParseLines(FileContent(*client, done["error_file_id"]));
  EXPECT_EQ(errors.size(), 3u);
  EXPECT_EQ(ParseLines(FileContent(*client, done["output_file_id"])).size(), 1u);
}

TEST(HttpFaultsTest, TokenLimitFromTheFlag) {
  EmulatorProcess emulator({{"--enqueued_token_limit", "gpt-4.1-mini=10,*=100000000"}});
  auto client = emulator.Client();
  const std::string file = UploadJsonl(*client, Lines(1));
  Json failed = WaitForBatch(*client, CreateBatch(*client, file)["id"], {"failed"});
  EXPECT_EQ(failed["errors"]["data"][0]["code"], "token_limit_exceeded");
  EXPECT_NE(failed["errors"]["data"][0]["message"].get<std::string>().find("Limit: 10 enqueued"),
            std::string::npos);
}

TEST(HttpFaultsTest, ExpiryWindowFromTheFlag) {
  // Validation (20 ms) ends long before the window; 8 lines need 2.8 s, the window is 1.5 s.
  EmulatorProcess emulator({{"--line_ms", "400"}, {"--expire_after_ms", "1500"}});
  auto client = emulator.Client();
  const std::string file = UploadJsonl(*client, Lines(8));
  Json expired = WaitForBatch(*client, CreateBatch(*client, file)["id"], {"expired", "completed"});
  ASSERT_EQ(expired["status"], "expired");
  const auto errors = ParseLines(FileContent(*client, expired["error_file_id"]));
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0]["error"]["code"], "batch_expired");
  EXPECT_EQ(
      expired["request_counts"]["completed"].get<int64_t>() + static_cast<int64_t>(errors.size()),
      8);
}

TEST(HttpFaultsTest, StatsAndReset) {
  EmulatorProcess emulator;
  auto client = emulator.Client();
  const std::string file = UploadJsonl(*client, Lines(2));
  WaitForBatch(*client, CreateBatch(*client, file, {{"k", "v"}})["id"], {"completed"});
  Json stats = GetJson(*client, "/_emulator/stats");
  EXPECT_EQ(stats["batches"]["created"], 1);
  EXPECT_EQ(stats["batches"]["by_metadata"]["k"]["v"][0]["status"], "completed");
  EXPECT_EQ(stats["lines"]["executed_total"], 2);
  EXPECT_GT(stats["requests"]["by_route"]["GET /v1/batches/{id}"]["total"].get<int64_t>(), 0);
  int status = 0;
  PostJson(*client, "/_emulator/reset", {{"scope", "stats"}}, &status);
  EXPECT_EQ(status, 200);
  stats = GetJson(*client, "/_emulator/stats");
  EXPECT_EQ(stats["batches"]["created"], 0);
  EXPECT_EQ(GetJson(*client, "/v1/batches")["data"].size(), 1u);
  PostJson(*client, "/_emulator/reset", Json::object(), &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(GetJson(*client, "/v1/batches")["data"].size(), 0u);
  EXPECT_EQ(GetJson(*client, "/v1/files")["data"].size(), 0u);
}

}  // namespace
}  // namespace batchscribe::emulator
