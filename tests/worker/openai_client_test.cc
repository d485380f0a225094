// The libcurl OpenAI client against a real openai-emulator process and its
// fault switches: the whole Files + Batches round trip, the SDK retry policy
// (with a recording sleeper, so nothing actually waits), error parsing, and
// unknown outcomes of a non-idempotent create.

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "libs/openai/api_error.h"
#include "libs/openai/curl_openai_client.h"
#include "tests/emulator/harness.h"
#include "tests/support/test_env.h"

namespace batchscribe::openai {
namespace {

using emulator::Json;
using emulator::testing::EmulatorProcess;
using std::chrono::milliseconds;

class OpenAiClientTest : public ::testing::Test {
 protected:
  OpenAiClientTest() : control_(emulator_.Client()) {}

  std::unique_ptr<CurlOpenAiClient> NewClient(int max_retries = 2) {
    ClientOptions options;
    options.base_url = emulator_.base_url() + "/v1";
    options.api_key = "sk-test-key-1234";
    options.max_retries = max_retries;
    options.request_timeout = milliseconds(20000);
    options.sleep = [this](milliseconds d) { sleeps_.push_back(d); };
    options.unit_random = [] { return 0.0; };
    return std::make_unique<CurlOpenAiClient>(options);
  }

  void SetFaults(const Json& faults) {
    auto res = control_->Post("/_emulator/faults", faults.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
  }

  int64_t Requests(const std::string& route) {
    auto res = control_->Get("/_emulator/stats");
    EXPECT_TRUE(res);
    Json stats = Json::parse(res->body);
    const Json& by_route = stats["requests"]["by_route"];
    return by_route.contains(route) ? by_route[route]["total"].get<int64_t>() : 0;
  }

  int64_t Created() {
    auto res = control_->Get("/_emulator/stats");
    EXPECT_TRUE(res);
    return Json::parse(res->body)["batches"]["created"].get<int64_t>();
  }

  std::filesystem::path WriteInput(const std::string& name, int lines) {
    std::string content;
    for (int i = 0; i < lines; ++i) {
      Json body = emulator::testing::TranscriptRequest(
          emulator::testing::MakePdf({"Page of line " + std::to_string(i)}));
      content += emulator::testing::RequestLine("doc-" + std::to_string(i), body) + "\n";
    }
    auto path = dir_.path() / name;
    std::ofstream(path) << content;
    return path;
  }

  BatchObject WaitTerminal(OpenAiClient& client, const std::string& id) {
    for (int i = 0; i < 600; ++i) {
      auto b = client.RetrieveBatch(id);
      EXPECT_TRUE(b.ok()) << b.status();
      if (b.ok() && b->IsTerminal()) return *b;
      std::this_thread::sleep_for(milliseconds(50));
    }
    ADD_FAILURE() << "batch " << id << " did not finish";
    return {};
  }

  EmulatorProcess emulator_;
  std::unique_ptr<httplib::Client> control_;
  batchscribe::testing::TempDir dir_;
  std::vector<milliseconds> sleeps_;
};

TEST_F(OpenAiClientTest, RunsAWholeBatchAndStreamsTheResultsToDisk) {
  auto client = NewClient();
  auto file = client->UploadBatchFile(WriteInput("in.jsonl", 3), "b1-s0001.jsonl");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->filename, "b1-s0001.jsonl");
  EXPECT_EQ(file->purpose, "batch");

  CreateBatchRequest request;
  request.input_file_id = file->id;
  request.metadata = {{"batchscribe_batch", "b1"}, {"batchscribe_shard", "s0001"}};
  auto created = client->CreateBatch(request);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->Metadata("batchscribe_shard"), "s0001");

  auto listed = client->ListBatches("", 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->data.size(), 1u);
  EXPECT_EQ(listed->data[0].id, created->id);

  BatchObject done = WaitTerminal(*client, created->id);
  EXPECT_EQ(done.status, "completed");
  EXPECT_EQ(done.request_counts.completed, 3);
  ASSERT_FALSE(done.output_file_id.empty());
  auto out = dir_.path() / "output.jsonl";
  ASSERT_TRUE(client->DownloadFileContent(done.output_file_id, out).ok());
  std::ifstream in(out);
  int lines = 0;
  for (std::string line; std::getline(in, line);) {
    Json j = Json::parse(line);
    EXPECT_EQ(j["response"]["status_code"], 200);
    ++lines;
  }
  EXPECT_EQ(lines, 3);
  // No temporary file is left behind.
  int files = 0;
  for (auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 2);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(OpenAiClientTest, HonoursRetryAfterMsOnRateLimits) {
  SetFaults({{"http",
              {{{"match", "^GET /v1/batches$"},
                {"action", "error"},
                {"status", 429},
                {"retry_after_ms", 250},
                {"count", 2}}}}});
  auto client = NewClient();
  auto listed = client->ListBatches("", 5);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(sleeps_, (std::vector<milliseconds>{milliseconds(250), milliseconds(250)}));
  EXPECT_EQ(Requests("GET /v1/batches"), 3);
}

TEST_F(OpenAiClientTest, BacksOffExponentiallyAndGivesUpAfterMaxRetries) {
  SetFaults({{"http", {{{"match", "^GET /v1/batches$"}, {"action", "error"}, {"status", 503}}}}});
  auto client = NewClient(3);
  auto listed = client->ListBatches("", 5);
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.status().code(), absl::StatusCode::kUnavailable);
  auto error = GetApiError(listed.status());
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->http_status, 503);
  EXPECT_FALSE(error->request_id.empty());
  EXPECT_EQ(sleeps_,
            (std::vector<milliseconds>{milliseconds(500), milliseconds(1000), milliseconds(2000)}));
  EXPECT_EQ(Requests("GET /v1/batches"), 4);
}

TEST_F(OpenAiClientTest, ShouldRetryFalseStopsAtOnce) {
  SetFaults({{"http",
              {{{"match", "^GET /v1/batches$"},
                {"action", "error"},
                {"status", 503},
                {"should_retry", false}}}}});
  auto client = NewClient();
  EXPECT_FALSE(client->ListBatches("", 5).ok());
  EXPECT_TRUE(sleeps_.empty());
  EXPECT_EQ(Requests("GET /v1/batches"), 1);
}

TEST_F(OpenAiClientTest, ShouldRetryTrueRetriesAClientError) {
  SetFaults({{"http",
              {{{"match", "^GET /v1/batches$"},
                {"action", "error"},
                {"status", 400},
                {"should_retry", true},
                {"count", 1}}}}});
  auto client = NewClient();
  EXPECT_TRUE(client->ListBatches("", 5).ok());
  EXPECT_EQ(sleeps_.size(), 1u);
}

TEST_F(OpenAiClientTest, DoesNotRetryInsufficientQuota) {
  SetFaults({{"http",
              {{{"match", "^GET /v1/batches$"},
                {"action", "error"},
                {"status", 429},
                {"body", "insufficient_quota"}}}}});
  auto client = NewClient();
  auto listed = client->ListBatches("", 5);
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(GetApiError(listed.status())->code, "insufficient_quota");
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(OpenAiClientTest, AServerDelayOverTwoMinutesIsReturnedNotAwaited) {
  SetFaults({{"http",
              {{{"match", "^GET /v1/batches$"},
                {"action", "error"},
                {"status", 429},
                {"retry_after", "600"}}}}});
  auto client = NewClient();
  auto listed = client->ListBatches("", 5);
  ASSERT_FALSE(listed.ok());
  EXPECT_TRUE(sleeps_.empty());
  auto error = GetApiError(listed.status());
  ASSERT_TRUE(error && error->retry_after);
  EXPECT_EQ(*error->retry_after, milliseconds(600000));
}

TEST_F(OpenAiClientTest, ParsesHtmlAndNumericCodeErrorBodies) {
  SetFaults({{"http",
              {{{"match", "^GET /v1/batches$"},
                {"action", "error"},
                {"status", 502},
                {"body", "html"},
                {"count", 1}},
               {{"match", "^GET /v1/batches$"},
                {"action", "error"},
                {"status", 502},
                {"body", "cf_bad_gateway"},
                {"count", 1}}}}});
  auto client = NewClient(0);
  auto html = client->ListBatches("", 5);
  ASSERT_FALSE(html.ok());
  auto error = GetApiError(html.status());
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->http_status, 502);
  EXPECT_NE(error->message.find("non-JSON"), std::string::npos) << error->message;

  auto numeric = client->ListBatches("", 5);
  ASSERT_FALSE(numeric.ok());
  error = GetApiError(numeric.status());
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, "502");
  EXPECT_FALSE(error->message.empty());
  EXPECT_TRUE(client->ListBatches("", 5).ok());
}

TEST_F(OpenAiClientTest, ALostCreateResponseIsAnUnknownOutcomeAndIsNotResent) {
  auto client = NewClient();
  auto file = client->UploadBatchFile(WriteInput("in.jsonl", 1), "b-s.jsonl");
  ASSERT_TRUE(file.ok());
  SetFaults({{"http",
              {{{"match", "^POST /v1/batches$"},
                {"phase", "after"},
                {"action", "drop"},
                {"count", 1}}}}});
  CreateBatchRequest request;
  request.input_file_id = file->id;
  request.metadata = {{"batchscribe_batch", "b"}, {"batchscribe_shard", "s0001"}};
  auto created = client->CreateBatch(request);
  ASSERT_FALSE(created.ok());
  auto error = GetApiError(created.status());
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->unknown_outcome);
  EXPECT_FALSE(CertainlyNotProcessed(created.status()));
  EXPECT_TRUE(sleeps_.empty());
  // Created once and not re-sent (the request count is recorded after the
  // connection drops, so count the batches instead).
  EXPECT_EQ(Created(), 1);
  // The batch exists: reconciliation will find it.
  auto listed = client->ListBatches("", 10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->data.size(), 1u);
  EXPECT_EQ(listed->data[0].Metadata("batchscribe_shard"), "s0001");
}

TEST_F(OpenAiClientTest, ARateLimitedCreateIsRetriedBecauseItDidNotRun) {
  auto client = NewClient();
  auto file = client->UploadBatchFile(WriteInput("in.jsonl", 1), "b-s.jsonl");
  ASSERT_TRUE(file.ok());
  SetFaults({{"http",
              {{{"match", "^POST /v1/batches$"},
                {"action", "error"},
                {"status", 429},
                {"retry_after_ms", 10},
                {"count", 1}}}}});
  CreateBatchRequest request;
  request.input_file_id = file->id;
  EXPECT_TRUE(client->CreateBatch(request).ok());
  EXPECT_EQ(Requests("POST /v1/batches"), 2);
}

TEST_F(OpenAiClientTest, AServerErrorOnCreateIsNotResent) {
  auto client = NewClient();
  auto file = client->UploadBatchFile(WriteInput("in.jsonl", 1), "b-s.jsonl");
  ASSERT_TRUE(file.ok());
  SetFaults(
      {{"http",
        {{{"match", "^POST /v1/batches$"}, {"action", "error"}, {"status", 500}, {"count", 1}}}}});
  CreateBatchRequest request;
  request.input_file_id = file->id;
  auto created = client->CreateBatch(request);
  ASSERT_FALSE(created.ok());
  EXPECT_TRUE(GetApiError(created.status())->unknown_outcome);
  EXPECT_EQ(Created(), 0);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(OpenAiClientTest, ConnectionRefusedIsCertainlyNotProcessed) {
  ClientOptions options;
  options.base_url = "http://127.0.0.1:" + std::to_string(batchscribe::testing::FreePort()) + "/v1";
  options.api_key = "k";
  options.sleep = [this](milliseconds d) { sleeps_.push_back(d); };
  options.unit_random = [] { return 0.0; };
  CurlOpenAiClient client(options);
  CreateBatchRequest request;
  request.input_file_id = "file-x";
  auto created = client.CreateBatch(request);
  ASSERT_FALSE(created.ok());
  EXPECT_TRUE(CertainlyNotProcessed(created.status()));
  EXPECT_EQ(sleeps_.size(), 2u);  // connect errors are retried even for a create
}

TEST_F(OpenAiClientTest, DownloadOfAnUnknownFileIsNotFoundAndLeavesNothing) {
  auto client = NewClient();
  auto path = dir_.path() / "missing.jsonl";
  absl::Status s = client->DownloadFileContent("file-doesnotexist", path);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path()));
}

TEST_F(OpenAiClientTest, AnAbortedCallEndsCancelled) {
  SetFaults(
      {{"http", {{{"match", "^GET /v1/batches$"}, {"action", "delay"}, {"delay_ms", 5000}}}}});
  ClientOptions options;
  options.base_url = emulator_.base_url() + "/v1";
  options.api_key = "k";
  auto start = std::chrono::steady_clock::now();
  options.aborted = [start] {
    return std::chrono::steady_clock::now() - start > milliseconds(200);
  };
  CurlOpenAiClient client(options);
  auto listed = client.ListBatches("", 5);
  EXPECT_EQ(listed.status().code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace batchscribe::openai
