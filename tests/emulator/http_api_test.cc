// The openai-emulator binary over real HTTP: every endpoint, auth, request
// ids, errors, streaming uploads and downloads, persistence and robustness.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

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
    out += RequestLine("doc-" + std::to_string(i),
                       TranscriptRequest(MakePdf({"Page of document " + std::to_string(i)}))) +
           "\n";
  }
  return out;
}

httplib::Result Upload(httplib::Client& client, const std::string& content,
                       const std::string& filename, const std::string& purpose,
                       const std::vector<std::pair<std::string, std::string>>& extra = {}) {
  httplib::MultipartFormDataItems items = {{"file", content, filename, "application/octet-stream"}};
  if (!purpose.empty()) items.push_back({"purpose", purpose, "", ""});
  for (const auto& [k, v] : extra) items.push_back({k, v, "", ""});
  return client.Post("/v1/files", items);
}

void ExpectError(const httplib::Result& res, int status, const std::string& message_part) {
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, status) << res->body;
  Json body = ParseJson(res->body);
  ASSERT_TRUE(body.is_object()) << res->body;
  const Json& error = body["error"];
  EXPECT_TRUE(error.contains("message") && error.contains("type") && error.contains("param") &&
              error.contains("code"))
      << res->body;
  EXPECT_NE(error["message"].get<std::string>().find(message_part), std::string::npos) << res->body;
  EXPECT_TRUE(res->has_header("x-request-id"));
}

int64_t PeakRssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

TEST(HttpApiTest, EveryResponseCarriesARequestId) {
  EmulatorProcess emulator;
  auto client = emulator.Client();
  httplib::Client anonymous("127.0.0.1", emulator.port());
  std::vector<httplib::Result> results;
  results.push_back(client->Get("/v1/files"));
  results.push_back(client->Get("/v1/files/file-nope"));
  results.push_back(client->Get("/v1/nowhere"));
  results.push_back(anonymous.Get("/v1/batches"));
  results.push_back(client->Post("/v1/batches", "{not json", "application/json"));
  results.push_back(client->Get("/_emulator/stats"));
  std::set<std::string> ids;
  for (auto& res : results) {
    ASSERT_TRUE(res);
    const std::string id = res->get_header_value("x-request-id");
    EXPECT_TRUE(id.starts_with("req_")) << res->status;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), results.size());
  ExpectError(results[1], 404, "No such File object: file-nope");
  ExpectError(results[2], 404, "Invalid URL (GET /v1/nowhere)");
  ExpectError(results[3], 401, "You didn't provide an API key");
  ExpectError(results[4], 400, "We could not parse the JSON body");
}

TEST(HttpApiTest, ApiKeyIsEnforcedWhenConfiguredAndNeverLogged) {
  EmulatorProcess emulator({{"--api_key", "sk-the-one-key"}, {"--log_level", "debug"}});
  httplib::Client client("127.0.0.1", emulator.port());
  client.set_bearer_token_auth("sk-wrong");
  auto wrong = client.Get("/v1/files");
  ExpectError(wrong, 401, "Incorrect API key provided");
  EXPECT_EQ(ParseJson(wrong->body)["error"]["code"], "invalid_api_key");
  EXPECT_EQ(wrong->body.find("sk-wrong"), std::string::npos);
  client.set_bearer_token_auth("sk-the-one-key");
  auto right = client.Get("/v1/files");
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200);
  // Control routes need no key.
  httplib::Client anonymous("127.0.0.1", emulator.port());
  EXPECT_EQ(anonymous.Get("/_emulator/stats")->status, 200);
  EXPECT_EQ(emulator.Log().find("sk-the-one-key"), std::string::npos);
}

TEST(HttpApiTest, UploadsAreValidatedLikeOpenAi) {
  EmulatorProcess emulator({{"--max_batch_file_bytes", "1000"}});
  auto client = emulator.Client();
  ExpectError(Upload(*client, "{}", "requests.txt", "batch"), 400,
              "Invalid file format for Batch API. Must be .jsonl");
  ExpectError(Upload(*client, "{}", "requests.jsonl", ""), 400,
              "Missing required parameter: 'purpose'");
  ExpectError(Upload(*client, "{}", "requests.jsonl", "homework"), 400, "is not one of");
  ExpectError(Upload(*client, std::string(1001, 'x'), "big.jsonl", "batch"), 400,
              "File is too large.");
  ExpectError(Upload(*client, "{}", "a.jsonl", "batch",
                     {{"expires_after[anchor]", "created_at"}, {"expires_after[seconds]", "60"}}),
              400, "expires_after[seconds]");
  ExpectError(Upload(*client, "{}", "a.jsonl", "batch", {{"colour", "blue"}}), 400,
              "Unrecognized request argument supplied: colour");
  ExpectError(client->Post("/v1/files", "purpose=batch", "application/x-www-form-urlencoded"), 400,
              "expected multipart/form-data");
  ExpectError(client->Post("/v1/files", "--x\r\nbroken", "multipart/form-data; boundary=x"), 400,
              "");
  // Not checked at upload: line content (OpenAI validates it when a batch runs).
  auto ok = Upload(*client, "not json at all\n", "junk.jsonl", "batch",
                   {{"expires_after[anchor]", "created_at"}, {"expires_after[seconds]", "3600"}});
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  const Json file = ParseJson(ok->body);
  EXPECT_EQ(file["status"], "processed");
  EXPECT_EQ(file["expires_at"], file["created_at"].get<int64_t>() + 3600);
  // Other purposes may be larger and do not expire by default.
  auto other = Upload(*client, std::string(5000, 'y'), "notes.txt", "user_data");
  ASSERT_TRUE(other);
  ASSERT_EQ(other->status, 200) << other->body;
  EXPECT_TRUE(ParseJson(other->body)["expires_at"].is_null());
  EXPECT_EQ(ParseJson(other->body)["bytes"], 5000);
}

TEST(HttpApiTest, FilesCanBeListedReadDownloadedAndDeleted) {
  EmulatorProcess emulator;
  auto client = emulator.Client();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto res = Upload(*client, "line " + std::to_string(i) + "\n",
                      "f" + std::to_string(i) + ".jsonl", i == 1 ? "user_data" : "batch");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    ids.push_back(ParseJson(res->body)["id"]);
    EXPECT_TRUE(ids.back().starts_with("file-"));
    EXPECT_EQ(ids.back().size(), 27u);
  }
  Json list = GetJson(*client, "/v1/files");
  EXPECT_EQ(list["object"], "list");
  ASSERT_EQ(list["data"].size(), 3u);
  EXPECT_EQ(list["data"][0]["id"], ids[2]);  // newest first
  EXPECT_EQ(list["first_id"], ids[2]);
  EXPECT_EQ(list["last_id"], ids[0]);
  EXPECT_EQ(list["has_more"], false);
  Json asc = GetJson(*client, "/v1/files?order=asc&limit=2");
  ASSERT_EQ(asc["data"].size(), 2u);
  EXPECT_EQ(asc["data"][0]["id"], ids[0]);
  EXPECT_EQ(asc["has_more"], true);
  Json next = GetJson(*client, "/v1/files?order=asc&limit=2&after=" + ids[1]);
  ASSERT_EQ(next["data"].size(), 1u);
  EXPECT_EQ(next["data"][0]["id"], ids[2]);
  EXPECT_EQ(GetJson(*client, "/v1/files?purpose=user_data")["data"].size(), 1u);
  int status = 0;
  GetJson(*client, "/v1/files?limit=0", &status);
  EXPECT_EQ(status, 400);
  GetJson(*client, "/v1/files?order=sideways", &status);
  EXPECT_EQ(status, 400);

  Json file = GetJson(*client, "/v1/files/" + ids[0]);
  EXPECT_EQ(file["filename"], "f0.jsonl");
  EXPECT_EQ(file["bytes"], 7);
  EXPECT_EQ(file["purpose"], "batch");
  auto content = client->Get("/v1/files/" + ids[0] + "/content");
  ASSERT_TRUE(content);
  EXPECT_EQ(content->body, "line 0\n");  // raw bytes, not a JSON string

  auto deleted = client->Delete("/v1/files/" + ids[0]);
  ASSERT_TRUE(deleted);
  EXPECT_EQ(ParseJson(deleted->body),
            Json({{"id", ids[0]}, {"object", "file"}, {"deleted", true}}));
  ExpectError(client->Delete("/v1/files/" + ids[0]), 404, "No such File object");
  ExpectError(client->Get("/v1/files/" + ids[0] + "/content"), 404, "No such File object");
  const Json stats = GetJson(*client, "/_emulator/stats");
  EXPECT_EQ(stats["files"]["uploaded"], 3);
  EXPECT_EQ(stats["files"]["deleted"], 1);
}

TEST(HttpApiTest, LargeUploadsStreamToDiskAndBack) {
  EmulatorProcess emulator;
  auto client = emulator.Client();
  constexpr size_t kSize = 64 * 1024 * 1024;
  // Deterministic bytes, produced chunk by chunk so the test holds little.
  auto byte_at = [](size_t i) { return static_cast<char>('a' + (i * 7 + i / 4093) % 26); };
  const int64_t before_kb = PeakRssKb(emulator.pid());
  httplib::MultipartFormDataProviderItems providers = {
      {"file",
       [&](size_t offset, httplib::DataSink& sink) {
         if (offset >= kSize) {
           sink.done();
           return true;
         }
         std::string chunk(std::min<size_t>(1 << 20, kSize - offset), '\0');
         for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = byte_at(offset + i);
         return sink.write(chunk.data(), chunk.size());
       },
       "big.jsonl", "application/octet-stream"}};
  auto res = client->Post("/v1/files", {}, {{"purpose", "batch", "", ""}}, providers);
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  ASSERT_EQ(res->status, 200) << res->body;
  const Json file = ParseJson(res->body);
  EXPECT_EQ(file["bytes"], static_cast<int64_t>(kSize));
  const int64_t after_kb = PeakRssKb(emulator.pid());
  EXPECT_LT(after_kb - before_kb, 32 * 1024) << "the upload was buffered in memory";

  size_t received = 0;
  bool same = true;
  auto download = client->Get("/v1/files/" + file["id"].get<std::string>() + "/content",
                              [&](const char* data, size_t size) {
                                for (size_t i = 0; i < size; ++i) {
                                  same = same && data[i] == byte_at(received + i);
                                }
                                received += size;
                                return true;
                              });
  ASSERT_TRUE(download);
  EXPECT_EQ(download->status, 200);
  EXPECT_EQ(received, kSize);
  EXPECT_TRUE(same);
  EXPECT_LT(PeakRssKb(emulator.pid()) - before_kb, 32 * 1024)
      << "the download was loaded in memory";
}

TEST(HttpApiTest, WholeBatchLifecycleOverHttp) {
  EmulatorProcess emulator;
  auto client = emulator.Client();
  const std::string file = UploadJsonl(*client, Lines(4));
  Json batch =
      CreateBatch(*client, file, {{"batchscribe_batch", "b1"}, {"batchscribe_shard", "s0001"}});
  ASSERT_TRUE(batch.is_object());
  EXPECT_EQ(batch["status"], "validating");
  EXPECT_EQ(batch["id"].get<std::string>().size(), 6u + 32u);
  Json done = WaitForBatch(*client, batch["id"], {"completed", "failed", "expired"});
  ASSERT_EQ(done["status"], "completed") << Dump(done);
  EXPECT_EQ(done["request_counts"], Json({{"total", 4}, {"completed", 4}, {"failed", 0}}));
  const auto lines = ParseLines(FileContent(*client, done["output_file_id"]));
  ASSERT_EQ(lines.size(), 4u);
  for (const auto& line : lines) {
    const Json answer =
        ParseJson(line["response"]["body"]["choices"][0]["message"]["content"].get<std::string>());
    const std::string expected =
        "Page of document " + line["custom_id"].get<std::string>().substr(4);
    EXPECT_EQ(answer["pages"][0]["text"], expected);
  }
  const Json output_file =
      GetJson(*client, "/v1/files/" + done["output_file_id"].get<std::string>());
  EXPECT_EQ(output_file["purpose"], "batch_output");
  const Json stats = GetJson(*client, "/_emulator/stats");
  const Json& created =
      stats["batches"]["by_metadata_set"]["batchscribe_batch=b1,batchscribe_shard=s0001"];
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0]["id"], batch["id"]);
  EXPECT_EQ(created[0]["status"], "completed");
  EXPECT_EQ(created[0]["input_file_id"], file);
  EXPECT_EQ(stats["lines"]["executed"]["doc-2"], 1);
  EXPECT_GT(stats["tokens_billed"]["gpt-4.1-mini"]["batch"]["input_tokens"].get<int64_t>(), 0);
}

TEST(HttpApiTest, BatchesAreListedAndCancelled) {
  EmulatorProcess emulator({{"--line_ms", "500"}});
  auto client = emulator.Client();
  const std::string file = UploadJsonl(*client, Lines(10));
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(CreateBatch(*client, file)["id"]);
  Json page = GetJson(*client, "/v1/batches?limit=2");
  ASSERT_EQ(page["data"].size(), 2u);
  EXPECT_EQ(page["data"][0]["id"], ids[2]);
  EXPECT_EQ(page["has_more"], true);
  Json rest = GetJson(*client, "/v1/batches?limit=2&after=" + page["last_id"].get<std::string>());
  ASSERT_EQ(rest["data"].size(), 1u);
  EXPECT_EQ(rest["data"][0]["id"], ids[0]);
  EXPECT_EQ(rest["has_more"], false);
  int status = 0;
  GetJson(*client, "/v1/batches?limit=101", &status);
  EXPECT_EQ(status, 400);

  WaitForBatch(*client, ids[0], {"in_progress"});
  auto cancel = client->Post("/v1/batches/" + ids[0] + "/cancel");
  ASSERT_TRUE(cancel);
  ASSERT_EQ(cancel->status, 200) << cancel->body;
  EXPECT_EQ(ParseJson(cancel->body)["status"], "cancelling");
  Json cancelled = WaitForBatch(*client, ids[0], {"cancelled"});
  EXPECT_TRUE(cancelled["cancelled_at"].is_number());
  EXPECT_LT(cancelled["request_counts"]["completed"].get<int64_t>(), 10);
  EXPECT_TRUE(cancelled["error_file_id"].is_string());
  ExpectError(client->Post("/v1/batches/" + ids[0] + "/cancel"), 400, "Cannot cancel a batch");
  ExpectError(client->Post("/v1/batches/batch_nope/cancel"), 404, "No such Batch object");
  ExpectError(client->Get("/v1/batches/batch_nope"), 404, "No such Batch object");
}

TEST(HttpApiTest, BatchCreateErrorsAreSynchronous) {
  EmulatorProcess emulator;
  auto client = emulator.Client();
  const std::string file = UploadJsonl(*client, Lines(1));
  auto post = [&](const Json& body) {
    return client->Post("/v1/batches", Dump(body), "application/json");
  };
  auto missing = post({{"endpoint", "/v1/chat/completions"}, {"completion_window", "24h"}});
  ExpectError(missing, 400, "Missing required parameter: 'input_file_id'.");
  EXPECT_EQ(ParseJson(missing->body)["error"]["code"], "missing_required_parameter");
  EXPECT_EQ(ParseJson(missing->body)["error"]["param"], "input_file_id");
  ExpectError(
      post({{"input_file_id", file}, {"endpoint", "/v1/nope"}, {"completion_window", "24h"}}), 400,
      "Invalid value: '/v1/nope'");
  ExpectError(post({{"input_file_id", "file-unknown"},
                    {"endpoint", "/v1/chat/completions"},
                    {"completion_window", "24h"}}),
              404, "No such File object: file-unknown");
  // An empty input is accepted now and fails asynchronously.
  const std::string empty = UploadJsonl(*client, "");
  Json batch = CreateBatch(*client, empty);
  Json failed = WaitForBatch(*client, batch["id"], {"failed"});
  EXPECT_EQ(failed["errors"]["data"][0]["code"], "empty_file");
}

TEST(HttpApiTest, SynchronousChatCompletions) {
  EmulatorProcess emulator;
  auto client = emulator.Client();
  int status = 0;
  Json answer = PostJson(*client, "/v1/chat/completions",
                         TranscriptRequest(MakePdf({"Synchronous page one", "and two"})), &status);
  ASSERT_EQ(status, 200) << Dump(answer);
  const Json content = ParseJson(answer["choices"][0]["message"]["content"].get<std::string>());
  EXPECT_EQ(content["pages"].size(), 2u);
  EXPECT_EQ(content["pages"][1]["text"], "and two");
  Json bad = PostJson(*client, "/v1/chat/completions", {{"messages", Json::array()}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(bad["error"]["message"], "you must provide a model parameter");
  const Json stats = GetJson(*client, "/_emulator/stats");
  EXPECT_EQ(stats["tokens_billed"]["gpt-4.1-mini"]["sync"]["requests"], 1);
}

// A transcript request for a PDF of `pages` pages, each with a line of text.
Json PagesRequest(int pages) {
  std::vector<std::string> texts;
  for (int i = 1; i <= pages; ++i) texts.push_back("Text of page " + std::to_string(i));
  return TranscriptRequest(MakePdf(texts));
}

TEST(HttpApiTest, PdfPageLimitHoldsForSyncRequestsAndBatchLines) {
  EmulatorProcess emulator;
  auto client = emulator.Client();
  int status = 0;
  Json over = PostJson(*client, "/v1/chat/completions", PagesRequest(150), &status);
  EXPECT_EQ(status, 400) << Dump(over);
  EXPECT_EQ(over["error"]["message"],
            "Invalid 'messages[1].content[1].file': the PDF has 150 pages; at most 100 pages are "
            "allowed per request.");
  EXPECT_EQ(over["error"]["param"], "messages[1].content[1].file");
  EXPECT_EQ(over["error"]["code"], "invalid_value");
  Json ok = PostJson(*client, "/v1/chat/completions", PagesRequest(100), &status);
  ASSERT_EQ(status, 200) << Dump(ok);
  const Json answer = ParseJson(ok["choices"][0]["message"]["content"].get<std::string>());
  ASSERT_EQ(answer["pages"].size(), 100u);
  EXPECT_EQ(answer["pages"][99]["page"], 100);
  EXPECT_EQ(answer["pages"][99]["text"], "Text of page 100");

  // In a batch the long line fails alone, with the same 400 as its result.
  const std::string file = UploadJsonl(*client, RequestLine("long", PagesRequest(150)) + "\n" +
                                                    RequestLine("short", PagesRequest(3)) + "\n");
  Json done = WaitForBatch(*client, CreateBatch(*client, file)["id"], {"completed", "failed"});
  ASSERT_EQ(done["status"], "completed") << Dump(done);
  EXPECT_EQ(done["request_counts"], Json({{"total", 2}, {"completed", 1}, {"failed", 1}}));
  const auto good = ParseLines(FileContent(*client, done["output_file_id"]));
  ASSERT_EQ(good.size(), 1u);
  EXPECT_EQ(good[0]["custom_id"], "short");
  EXPECT_EQ(good[0]["response"]["status_code"], 200);
  const auto bad = ParseLines(FileContent(*client, done["error_file_id"]));
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0]["custom_id"], "long");
  EXPECT_EQ(bad[0]["response"]["status_code"], 400);
  EXPECT_EQ(bad[0]["response"]["body"], over);

  const Json lines = GetJson(*client, "/_emulator/stats")["lines"];
  EXPECT_EQ(lines["executed_total"], 2);
  EXPECT_EQ(lines["max_executions"], 1);
  EXPECT_EQ(lines["rejected_limits"], 1);
  EXPECT_EQ(lines["billed_total"], 1);
  EXPECT_EQ(lines["executed"]["long"], 1);
}

TEST(HttpApiTest, PdfByteLimitIsAFlag) {
  const std::string pdf = MakePdf({"A page with some text"});
  EmulatorProcess emulator({{"--max_pdf_bytes_per_request", std::to_string(pdf.size() - 1)}});
  auto client = emulator.Client();
  int status = 0;
  Json over = PostJson(*client, "/v1/chat/completions", TranscriptRequest(pdf), &status);
  EXPECT_EQ(status, 400) << Dump(over);
  EXPECT_EQ(over["error"]["param"], "messages[1].content[1].file");
  EXPECT_NE(over["error"]["message"].get<std::string>().find(
                "the file is " + std::to_string(pdf.size()) + " bytes; at most " +
                std::to_string(pdf.size() - 1) + " bytes of file content are allowed per request."),
            std::string::npos)
      << Dump(over);
  const Json small = TranscriptRequest(MakePdf({"x"}));
  PostJson(*client, "/v1/chat/completions", small, &status);
  EXPECT_EQ(status, 200);
}

TEST(HttpApiTest, StatsShowWhetherALineRanTwice) {
  EmulatorProcess emulator;
  auto client = emulator.Client();
  const std::string file = UploadJsonl(*client, Lines(3));
  for (int round = 0; round < 2; ++round) {
    Json done = WaitForBatch(*client, CreateBatch(*client, file)["id"], {"completed", "failed"});
    ASSERT_EQ(done["status"], "completed");
    const Json lines = GetJson(*client, "/_emulator/stats")["lines"];
    EXPECT_EQ(lines["executed_total"], 3 * (round + 1));
    EXPECT_EQ(lines["max_executions"], round + 1);
    EXPECT_EQ(lines["rejected_limits"], 0);
  }
}

TEST(HttpApiTest, StateDirSurvivesAKill) {
  batchscribe::testing::TempDir state;
  EmulatorProcess emulator({{"--state_dir", (state.path() / "s").string()}, {"--line_ms", "200"}});
  auto client = emulator.Client();
  const std::string file = UploadJsonl(*client, Lines(6));
  const std::string id = CreateBatch(*client, file)["id"];
  Json running = WaitForBatch(*client, id, {"in_progress"});
  ASSERT_EQ(running["status"], "in_progress");
  emulator.Kill();
  emulator.Restart();
  client = emulator.Client();
  EXPECT_EQ(GetJson(*client, "/v1/files/" + file)["id"], file);
  Json done = WaitForBatch(*client, id, {"completed"});
  EXPECT_EQ(done["request_counts"]["completed"], 6);
  EXPECT_EQ(ParseLines(FileContent(*client, done["output_file_id"])).size(), 6u);
  const Json stats = GetJson(*client, "/_emulator/stats");
  EXPECT_EQ(stats["batches"]["created"], 1);
  EXPECT_EQ(stats["files"]["uploaded"], 1);
}

TEST(HttpApiTest, SurvivesGarbage) {
  EmulatorProcess emulator({{"--max_batch_file_bytes", "50000000"}});
  // Not HTTP at all.
  for (const char* junk : {"\x16\x03\x01 garbage\r\n\r\n", "GET /v1/files HTTP/1.1\r\nHost\r\n\r\n",
                           "POST /v1/batches HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"}) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(emulator.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_GT(write(fd, junk, strlen(junk)), 0);
    shutdown(fd, SHUT_WR);
    char buffer[512];
    while (read(fd, buffer, sizeof(buffer)) > 0) {
    }
    close(fd);
  }
  auto client = emulator.Client();
  // A huge unparseable line and a huge valid one are batch content problems.
  const std::string huge = std::string(8 * 1024 * 1024, '{') + "\n";
  const std::string file = UploadJsonl(*client, huge + Lines(1));
  Json failed = WaitForBatch(*client, CreateBatch(*client, file)["id"], {"failed"});
  EXPECT_EQ(failed["errors"]["data"][0]["code"], "invalid_json_line");
  EXPECT_EQ(failed["errors"]["data"][0]["line"], 1);
  ExpectError(client->Post("/v1/chat/completions", "[1,2", "application/json"), 400,
              "We could not parse the JSON body");
  ExpectError(client->Post("/v1/chat/completions", "[1,2]", "application/json"), 400,
              "Invalid type for 'body'");
  ExpectError(client->Post("/v1/batches", "\"string\"", "application/json"), 400, "");
  auto health = client->Get("/_emulator/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

}  // namespace
}  // namespace batchscribe::emulator
