// The batch lifecycle, driven step by step with a fake clock and no server.

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "services/openai-emulator/emulator.h"
#include "tests/emulator/harness.h"

namespace batchscribe::emulator {
namespace {

using batchscribe::testing::TempDir;
using testing::FakeClock;
using testing::MakePdf;
using testing::ParseLines;
using testing::RequestLine;
using testing::TranscriptRequest;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(); }

  void Make(const std::function<void(EmulatorOptions&)>& tweak = {}) {
    emulator_.reset();
    EmulatorOptions options;
    options.timings.validate_ms = 100;
    options.timings.in_progress_ms = 100;
    options.timings.line_ms = 0;
    options.timings.finalize_ms = 100;
    options.timings.cancel_ms = 100;
    if (tweak) tweak(options);
    auto created = Emulator::Create(options, &clock_);
    ASSERT_TRUE(created.ok()) << created.status();
    emulator_ = std::move(*created);
  }

  BatchEngine& engine() { return emulator_->batches(); }

  std::string AddFile(const std::string& content, const std::string& purpose = "batch") {
    const auto temp = emulator_->files().NewTempPath();
    std::ofstream(temp, std::ios::binary) << content;
    auto record = emulator_->files().Adopt(temp, "input.jsonl", purpose, std::nullopt);
    EXPECT_TRUE(record.ok());
    return record->id;
  }

  // n transcript requests for one-page PDFs, custom ids doc-0..doc-(n-1).
  std::string Lines(int n, const std::string& model = "gpt-4.1-mini") {
    std::string out;
    for (int i = 0; i < n; ++i) {
      out +=
          RequestLine("doc-" + std::to_string(i),
                      TranscriptRequest(MakePdf({"Document number " + std::to_string(i)}), model)) +
          "\n";
    }
    return out;
  }

  Json Create(const std::string& file_id, const Json& metadata = nullptr) {
    Json request = {{"input_file_id", file_id},
                    {"endpoint", "/v1/chat/completions"},
                    {"completion_window", "24h"}};
    if (!metadata.is_null()) request["metadata"] = metadata;
    auto result = engine().Create(request);
    EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
    return result.ok() ? result.value() : Json();
  }

  Json Get(const Json& batch) { return engine().Get(batch["id"].get<std::string>()).value(); }

  void Settle() {
    while (engine().RunDueWork()) {
    }
  }

  void Advance(int64_t ms) {
    clock_.Advance(ms);
    Settle();
  }

  std::string Content(const Json& file_id) {
    std::ifstream in(emulator_->files().PathOf(file_id.get<std::string>()), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::set<std::string> CustomIds(const std::vector<Json>& lines) {
    std::set<std::string> ids;
    for (const auto& l : lines) ids.insert(l["custom_id"].get<std::string>());
    return ids;
  }

  FakeClock clock_;
  std::unique_ptr<Emulator> emulator_;
};

TEST_F(EngineTest, CompletesThroughEveryStateWithTimestampsAndCounts) {
  const std::string file = AddFile(Lines(5));
  Json batch = Create(file, {{"job", "nightly"}});
  EXPECT_EQ(batch["status"], "validating");
  EXPECT_EQ(batch["request_counts"], Json({{"total", 0}, {"completed", 0}, {"failed", 0}}));
  EXPECT_EQ(batch["expires_at"], batch["created_at"].get<int64_t>() + 86400);
  EXPECT_TRUE(batch["in_progress_at"].is_null());

  Advance(50);
  EXPECT_EQ(Get(batch)["status"], "validating");
  Advance(50);
  Json running = Get(batch);
  // Every line ran at once (line_ms 0) but in_progress lasts in_progress_ms.
  EXPECT_EQ(running["status"], "in_progress");
  EXPECT_TRUE(running["in_progress_at"].is_number());
  EXPECT_EQ(running["model"], "gpt-4.1-mini-2025-04-14");
  EXPECT_EQ(running["request_counts"], Json({{"total", 5}, {"completed", 5}, {"failed", 0}}));

  Advance(100);
  Json finalizing = Get(batch);
  EXPECT_EQ(finalizing["status"], "finalizing");
  EXPECT_TRUE(finalizing["finalizing_at"].is_number());
  EXPECT_TRUE(finalizing["output_file_id"].is_null());

  Advance(100);
  Json done = Get(batch);
  EXPECT_EQ(done["status"], "completed");
  EXPECT_TRUE(done["completed_at"].is_number());
  EXPECT_TRUE(done["error_file_id"].is_null());
  EXPECT_TRUE(done["errors"].is_null());
  EXPECT_EQ(done["metadata"], Json({{"job", "nightly"}}));

  const auto lines = ParseLines(Content(done["output_file_id"]));
  ASSERT_EQ(lines.size(), 5u);
  int64_t input = 0, output = 0;
  for (const auto& line : lines) {
    EXPECT_TRUE(line["id"].get<std::string>().starts_with("batch_req_"));
    EXPECT_TRUE(line["error"].is_null());
    EXPECT_EQ(line["response"]["status_code"], 200);
    input += line["response"]["body"]["usage"]["prompt_tokens"].get<int64_t>();
    output += line["response"]["body"]["usage"]["completion_tokens"].get<int64_t>();
  }
  EXPECT_EQ(CustomIds(lines), (std::set<std::string>{"doc-0", "doc-1", "doc-2", "doc-3", "doc-4"}));
  EXPECT_EQ(done["usage"]["input_tokens"], input);
  EXPECT_EQ(done["usage"]["output_tokens"], output);
  EXPECT_EQ(done["usage"]["total_tokens"], input + output);

  auto output_file = emulator_->files().Get(done["output_file_id"].get<std::string>());
  ASSERT_TRUE(output_file);
  EXPECT_EQ(output_file->purpose, "batch_output");
  EXPECT_EQ(output_file->filename, done["id"].get<std::string>() + "_output.jsonl");

  const Json stats = emulator_->Stats();
  EXPECT_EQ(stats["lines"]["executed"]["doc-3"], 1);
  EXPECT_EQ(stats["lines"]["billed_total"], 5);
  EXPECT_EQ(stats["tokens_billed"]["gpt-4.1-mini"]["batch"]["input_tokens"], input);
  EXPECT_EQ(stats["batches"]["by_metadata"]["job"]["nightly"][0]["status"], "completed");
}

TEST_F(EngineTest, OutputOrderIsShuffled) {
  Json batch = Create(AddFile(Lines(30)));
  Advance(100);
  Advance(100);
  Advance(100);
  Json done = Get(batch);
  ASSERT_EQ(done["status"], "completed");
  const auto lines = ParseLines(Content(done["output_file_id"]));
  ASSERT_EQ(lines.size(), 30u);
  std::vector<std::string> order;
  for (const auto& l : lines) order.push_back(l["custom_id"]);
  std::vector<std::string> input_order;
  for (int i = 0; i < 30; ++i) input_order.push_back("doc-" + std::to_string(i));
  EXPECT_NE(order, input_order);
  std::sort(order.begin(), order.end());
  std::sort(input_order.begin(), input_order.end());
  EXPECT_EQ(order, input_order);
}

struct InvalidInput {
  const char* name;
  std::string content;
  const char* code;
  std::optional<int64_t> line;
};

TEST_F(EngineTest, ContentProblemsFailTheBatchAsynchronously) {
  const std::string good = RequestLine("a", TranscriptRequest(MakePdf({"x"})));
  Json other_model = TranscriptRequest(MakePdf({"x"}), "gpt-4o-mini");
  Json no_method = ParseJson(RequestLine("b", TranscriptRequest(MakePdf({"x"}))));
  no_method.erase("method");
  const std::vector<InvalidInput> cases = {
      {"invalid json", good + "\n{\"custom_id\": \"b\", oops\n", "invalid_json_line", 2},
      {"duplicate", good + "\n" + good + "\n", "duplicate_custom_id", 2},
      {"model mismatch", good + "\n" + RequestLine("b", other_model) + "\n", "model_mismatch", 2},
      {"url mismatch",
       good + "\n" + RequestLine("b", TranscriptRequest(MakePdf({"x"})), "/v1/embeddings") + "\n",
       "url_mismatch", 2},
      {"no method", good + "\n" + Dump(no_method) + "\n", "missing_required_parameter", 2},
      {"empty", "\n\n", "empty_file", std::nullopt},
      {"too many", Lines(4), "too_many_tasks", std::nullopt},
  };
  Make([](EmulatorOptions& o) { o.limits.max_requests_per_batch = 3; });
  for (const auto& c : cases) {
    Json batch = Create(AddFile(c.content));
    Advance(100);
    Json failed = Get(batch);
    EXPECT_EQ(failed["status"], "failed") << c.name;
    EXPECT_TRUE(failed["failed_at"].is_number()) << c.name;
    EXPECT_TRUE(failed["in_progress_at"].is_null()) << c.name;
    EXPECT_TRUE(failed["output_file_id"].is_null()) << c.name;
    EXPECT_TRUE(failed["error_file_id"].is_null()) << c.name;
    ASSERT_EQ(failed["errors"]["object"], "list") << c.name;
    const Json& error = failed["errors"]["data"][0];
    EXPECT_EQ(error["code"], c.code) << c.name << " " << Dump(failed["errors"]);
    EXPECT_TRUE(error["message"].is_string()) << c.name;
    if (c.line) {
      EXPECT_EQ(error["line"], *c.line) << c.name;
    } else {
      EXPECT_TRUE(error["line"].is_null()) << c.name;
    }
  }
  EXPECT_EQ(emulator_->Stats()["lines"]["executed_total"], 0);
}

TEST_F(EngineTest, EnqueuedTokenLimitCountsBatchesInFlight) {
  const std::string content = Lines(2);
  const int64_t tokens = [&] {
    int64_t sum = 0;
    for (const auto& l : ParseLines(content))
      sum += emulator_->completer().CountPromptTokens(l["body"]);
    return sum;
  }();
  Make([&](EmulatorOptions& o) {
    o.limits.enqueued_token_limits["gpt-4.1-mini"] = tokens * 3 / 2;
    o.timings.in_progress_ms = 1000;
  });
  Json first = Create(AddFile(content));
  Advance(100);
  ASSERT_EQ(Get(first)["status"], "in_progress");
  EXPECT_EQ(emulator_->Stats()["enqueued_tokens"]["gpt-4.1-mini"], tokens);

  Json second = Create(AddFile(content));
  Advance(100);
  Json failed = Get(second);
  ASSERT_EQ(failed["status"], "failed");
  EXPECT_EQ(failed["errors"]["data"][0]["code"], "token_limit_exceeded");
  EXPECT_NE(failed["errors"]["data"][0]["message"].get<std::string>().find(
                "Enqueued token limit reached for gpt-4.1-mini"),
            std::string::npos);

  Advance(1000);
  Advance(100);
  ASSERT_EQ(Get(first)["status"], "completed");
  Json third = Create(AddFile(content));
  Advance(100);
  EXPECT_EQ(Get(third)["status"], "in_progress");
}

TEST_F(EngineTest, ExpiryKeepsPartialResults) {
  Make([](EmulatorOptions& o) {
    o.timings.line_ms = 100;
    o.timings.expire_after_ms = 350;
  });
  Json batch = Create(AddFile(Lines(6)));
  Advance(100);  // validated; line 0 runs
  Advance(100);  // line 1
  Advance(100);  // line 2
  EXPECT_EQ(Get(batch)["request_counts"]["completed"], 3);
  Advance(100);  // past the window
  Json expired = Get(batch);
  ASSERT_EQ(expired["status"], "expired");
  EXPECT_TRUE(expired["expired_at"].is_number());
  EXPECT_TRUE(expired["finalizing_at"].is_null());
  EXPECT_EQ(expired["request_counts"], Json({{"total", 6}, {"completed", 3}, {"failed", 0}}));
  const auto output = ParseLines(Content(expired["output_file_id"]));
  const auto errors = ParseLines(Content(expired["error_file_id"]));
  EXPECT_EQ(output.size(), 3u);
  ASSERT_EQ(errors.size(), 3u);
  for (const auto& e : errors) {
    EXPECT_TRUE(e["response"].is_null());
    EXPECT_EQ(e["error"]["code"], "batch_expired");
    EXPECT_EQ(e["error"]["message"],
              "This request could not be executed before the completion window expired.");
  }
  std::set<std::string> all = CustomIds(output);
  for (const auto& id : CustomIds(errors)) all.insert(id);
  EXPECT_EQ(all.size(), 6u);
  // Only executed lines are billed.
  EXPECT_EQ(emulator_->Stats()["lines"]["billed_total"], 3);
}

TEST_F(EngineTest, CancellingKeepsPartialResults) {
  Make([](EmulatorOptions& o) { o.timings.line_ms = 100; });
  Json batch = Create(AddFile(Lines(5)));
  Advance(100);
  Advance(100);
  auto cancelling = engine().Cancel(batch["id"]);
  ASSERT_TRUE(cancelling.ok());
  EXPECT_EQ(cancelling.value()["status"], "cancelling");
  EXPECT_TRUE(cancelling.value()["cancelling_at"].is_number());
  Advance(50);
  EXPECT_EQ(Get(batch)["status"], "cancelling");
  EXPECT_EQ(engine().Cancel(batch["id"]).value()["status"], "cancelling");  // idempotent
  Advance(50);
  Json cancelled = Get(batch);
  ASSERT_EQ(cancelled["status"], "cancelled");
  EXPECT_TRUE(cancelled["cancelled_at"].is_number());
  EXPECT_EQ(cancelled["request_counts"]["completed"], 2);
  EXPECT_EQ(ParseLines(Content(cancelled["output_file_id"])).size(), 2u);
  const auto errors = ParseLines(Content(cancelled["error_file_id"]));
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0]["error"]["code"], "batch_cancelled");

  auto again = engine().Cancel(batch["id"]);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().http_status, 400);
  EXPECT_FALSE(engine().Cancel("batch_nope").ok());
}

TEST_F(EngineTest, CancelBeforeValidationEndsWithoutResults) {
  Json batch = Create(AddFile(Lines(3)));
  ASSERT_TRUE(engine().Cancel(batch["id"]).ok());
  Advance(100);
  Json cancelled = Get(batch);
  ASSERT_EQ(cancelled["status"], "cancelled");
  EXPECT_TRUE(cancelled["output_file_id"].is_null());
  EXPECT_TRUE(cancelled["error_file_id"].is_null());
  EXPECT_EQ(cancelled["request_counts"]["total"], 0);
  EXPECT_EQ(emulator_->Stats()["lines"]["executed_total"], 0);
}

TEST_F(EngineTest, AllLinesFailingLeaveOutputFileNull) {
  ASSERT_TRUE(
      emulator_->faults().Configure(ParseJson(R"({"lines": [{"kind": "server_error"}]})")).ok());
  Json batch = Create(AddFile(Lines(4)));
  Advance(100);
  Advance(100);
  Advance(100);
  Json done = Get(batch);
  ASSERT_EQ(done["status"], "completed");
  EXPECT_TRUE(done["output_file_id"].is_null());
  EXPECT_EQ(done["request_counts"], Json({{"total", 4}, {"completed", 0}, {"failed", 4}}));
  EXPECT_EQ(done["usage"]["total_tokens"], 0);
  for (const auto& line : ParseLines(Content(done["error_file_id"]))) {
    EXPECT_EQ(line["response"]["status_code"], 500);
    EXPECT_EQ(line["response"]["body"]["error"]["type"], "server_error");
    EXPECT_TRUE(line["error"].is_null());
  }
  EXPECT_EQ(emulator_->Stats()["lines"]["billed_total"], 0);
}

TEST_F(EngineTest, LineFaultsShapeResultLinesLikeTheRealService) {
  ASSERT_TRUE(emulator_->faults()
                  .Configure(ParseJson(R"({"lines": [
      {"custom_id": "^doc-0$", "kind": "status_0"},
      {"custom_id": "^doc-1$", "kind": "malformed"},
      {"custom_id": "^doc-2$", "kind": "length"},
      {"custom_id": "^doc-3$", "kind": "bad_request"},
      {"custom_id": "^doc-4$", "kind": "rate_limit"},
      {"custom_id": "^doc-5$", "kind": "refusal"},
      {"custom_id": "^doc-6$", "kind": "content_filter"},
      {"custom_id": "^doc-7$", "kind": "server_error", "status": 503}]})"))
                  .ok());
  Json batch = Create(AddFile(Lines(9)));
  Advance(100);
  Advance(100);
  Advance(100);
  Json done = Get(batch);
  ASSERT_EQ(done["status"], "completed");
  // status_0 lines count as completed, as observed in the wild.
  EXPECT_EQ(done["request_counts"], Json({{"total", 9}, {"completed", 6}, {"failed", 3}}));
  std::map<std::string, Json> by_id;
  std::string garbled;
  std::stringstream output(Content(done["output_file_id"]) + Content(done["error_file_id"]));
  std::string raw;
  while (std::getline(output, raw)) {
    Json line = ParseJson(raw);
    if (line.is_discarded()) {
      garbled = raw;
      continue;
    }
    by_id[line["custom_id"]] = line;
  }
  EXPECT_NE(garbled.find("\"custom_id\":\"doc-1\""), std::string::npos) << garbled;
  EXPECT_EQ(by_id["doc-0"]["response"],
            Json({{"status_code", 0}, {"request_id", ""}, {"body", Json::object()}}));
  EXPECT_EQ(by_id["doc-2"]["response"]["body"]["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(by_id["doc-3"]["response"]["status_code"], 400);
  EXPECT_EQ(by_id["doc-3"]["response"]["body"]["error"]["code"], "context_length_exceeded");
  EXPECT_TRUE(by_id["doc-3"]["error"].is_null());
  EXPECT_EQ(by_id["doc-4"]["response"]["status_code"], 429);
  EXPECT_TRUE(by_id["doc-5"]["response"]["body"]["choices"][0]["message"]["refusal"].is_string());
  EXPECT_EQ(by_id["doc-6"]["response"]["body"]["choices"][0]["finish_reason"], "content_filter");
  EXPECT_EQ(by_id["doc-7"]["response"]["status_code"], 503);
  EXPECT_EQ(by_id["doc-8"]["response"]["status_code"], 200);
  EXPECT_EQ(emulator_->Stats()["faults_fired"]["line:status_0"], 1);
}

TEST_F(EngineTest, FailingTheFirstAttemptOfEachLineConvergesOnRetry) {
  ASSERT_TRUE(emulator_->faults()
                  .Configure(ParseJson(R"({"lines": [{"kind": "server_error", "attempts": 1}]})"))
                  .ok());
  const std::string content = Lines(3);
  Json first = Create(AddFile(content));
  Advance(100);
  Advance(100);
  Advance(100);
  EXPECT_EQ(Get(first)["request_counts"]["failed"], 3);
  Json second = Create(AddFile(content));
  Advance(100);
  Advance(100);
  Advance(100);
  EXPECT_EQ(Get(second)["request_counts"], Json({{"total", 3}, {"completed", 3}, {"failed", 0}}));
  const Json stats = emulator_->Stats();
  EXPECT_EQ(stats["lines"]["executed"]["doc-0"], 2);
  EXPECT_EQ(stats["lines"]["billed"]["doc-0"], 1);
}

TEST_F(EngineTest, IdenticalLinesResentAfterADeterministicFailureAreCounted) {
  // doc-0 ends in length, doc-1 in a 400, doc-2 in a refusal (deterministic);
  // doc-3 in a 503 (transient); doc-4 succeeds.
  ASSERT_TRUE(emulator_->faults()
                  .Configure(ParseJson(R"({"lines": [
      {"custom_id": "^doc-0$", "kind": "length"},
      {"custom_id": "^doc-1$", "kind": "bad_request"},
      {"custom_id": "^doc-2$", "kind": "refusal"},
      {"custom_id": "^doc-3$", "kind": "server_error", "status": 503, "attempts": 1}]})"))
                  .ok());
  const std::string content = Lines(5);
  Create(AddFile(content));
  Advance(100);
  Advance(100);
  Advance(100);
  Json stats = emulator_->Stats();
  EXPECT_EQ(stats["lines"]["deterministic_failures"], 3);
  EXPECT_EQ(stats["lines"]["resent_after_deterministic_failure_total"], 0);

  // The same five lines again: the three deterministic ones are counted; the
  // transient 503 and the success are not.
  Create(AddFile(content));
  Advance(100);
  Advance(100);
  Advance(100);
  stats = emulator_->Stats();
  EXPECT_EQ(stats["lines"]["resent_after_deterministic_failure"],
            Json({{"doc-0", 1}, {"doc-1", 1}, {"doc-2", 1}}));
  EXPECT_EQ(stats["lines"]["resent_after_deterministic_failure_total"], 3);

  // A changed line under the same custom_id (here: another PDF) is not a resend.
  Create(AddFile(RequestLine("doc-0", TranscriptRequest(MakePdf({"First half"}))) + "\n"));
  Advance(100);
  Advance(100);
  Advance(100);
  EXPECT_EQ(emulator_->Stats()["lines"]["resent_after_deterministic_failure"]["doc-0"], 1);
}

TEST_F(EngineTest, BatchFaultsFailExpireAndStall) {
  ASSERT_TRUE(emulator_->faults()
                  .Configure(ParseJson(R"({"batches": [
      {"kind": "cannot_find_file", "count": 1},
      {"kind": "token_limit_exceeded", "count": 1, "metadata": {"k": "^tle$"}},
      {"kind": "expire", "count": 1, "after_lines": 1, "metadata": {"k": "^exp$"}},
      {"kind": "stuck_finalizing", "count": 1, "ms": 5000, "metadata": {"k": "^stuck$"}}]})"))
                  .ok());
  const std::string file = AddFile(Lines(3));
  Json missing = Create(file, {{"k", "first"}});
  Json tle = Create(file, {{"k", "tle"}});
  Json exp = Create(file, {{"k", "exp"}});
  Json stuck = Create(file, {{"k", "stuck"}});
  Advance(100);
  const Json missing_now = Get(missing);
  EXPECT_EQ(missing_now["status"], "failed");
  EXPECT_TRUE(missing_now["errors"]["data"][0]["message"].get<std::string>().starts_with(
      "Cannot find file " + file));
  EXPECT_EQ(Get(tle)["errors"]["data"][0]["code"], "token_limit_exceeded");
  const Json expired = Get(exp);
  EXPECT_EQ(expired["status"], "expired");
  EXPECT_EQ(expired["request_counts"]["completed"], 1);
  Advance(100);
  Advance(100);
  EXPECT_EQ(Get(stuck)["status"], "finalizing");
  Advance(4000);
  EXPECT_EQ(Get(stuck)["status"], "finalizing");
  Advance(1000);
  EXPECT_EQ(Get(stuck)["status"], "completed");
}

TEST_F(EngineTest, DeletingTheInputDoesNotDisturbARunningBatch) {
  const std::string file = AddFile(Lines(2));
  Json batch = Create(file);
  EXPECT_TRUE(emulator_->files().Remove(file));
  Advance(100);
  Advance(100);
  Advance(100);
  EXPECT_EQ(Get(batch)["request_counts"]["completed"], 2);
}

TEST_F(EngineTest, ListsNewestFirstWithCursor) {
  const std::string file = AddFile(Lines(1));
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Create(file)["id"]);
  auto page = engine().List(2, "").value();
  EXPECT_EQ(page["data"][0]["id"], ids[4]);
  EXPECT_EQ(page["data"][1]["id"], ids[3]);
  EXPECT_EQ(page["has_more"], true);
  EXPECT_EQ(page["last_id"], ids[3]);
  page = engine().List(10, ids[3]).value();
  ASSERT_EQ(page["data"].size(), 3u);
  EXPECT_EQ(page["data"][2]["id"], ids[0]);
  EXPECT_EQ(page["has_more"], false);
}

TEST_F(EngineTest, CreateRejectsBadParametersSynchronously) {
  const std::string file = AddFile(Lines(1));
  const std::string other = AddFile("x", "user_data");
  const Json base = {
      {"input_file_id", file}, {"endpoint", "/v1/chat/completions"}, {"completion_window", "24h"}};
  struct Case {
    std::function<void(Json&)> mutate;
    int status;
    const char* param;
  };
  Json many = Json::object();
  for (int i = 0; i < 17; ++i) many["k" + std::to_string(i)] = "v";
  const std::vector<Case> cases = {
      {[](Json& r) { r.erase("input_file_id"); }, 400, "input_file_id"},
      {[](Json& r) { r["endpoint"] = "/v1/nope"; }, 400, "endpoint"},
      {[](Json& r) { r["completion_window"] = "48h"; }, 400, "completion_window"},
      {[](Json& r) { r["input_file_id"] = 7; }, 400, "input_file_id"},
      {[&](Json& r) { r["metadata"] = many; }, 400, "metadata"},
      {[](Json& r) {
         r["metadata"] = {{"k", 1}};
       },
       400, "metadata.k"},
      {[](Json& r) {
         r["metadata"] = {{"k", std::string(513, 'v')}};
       },
       400, "metadata.k"},
      {[](Json& r) { r["surprise"] = true; }, 400, "surprise"},
      {[](Json& r) { r["input_file_id"] = "file-doesnotexist"; }, 404, "input_file_id"},
      {[&](Json& r) { r["input_file_id"] = other; }, 400, "input_file_id"},
      {[](Json& r) {
         r["output_expires_after"] = {{"anchor", "created_at"}, {"seconds", 10}};
       },
       400, "output_expires_after.seconds"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    Json request = base;
    cases[i].mutate(request);
    auto result = engine().Create(request);
    ASSERT_FALSE(result.ok()) << i;
    EXPECT_EQ(result.error().http_status, cases[i].status) << i;
    EXPECT_EQ(result.error().param, cases[i].param) << i << " " << result.error().message;
  }
  EXPECT_EQ(emulator_->Stats()["batches"]["created"], 0);
}

TEST(EnginePersistenceTest, RestartResumesUnfinishedBatches) {
  TempDir dir;
  FakeClock clock;
  EmulatorOptions options;
  options.state_dir = dir.path() / "state";
  options.timings.validate_ms = 100;
  options.timings.in_progress_ms = 100;
  options.timings.finalize_ms = 100;
  options.timings.line_ms = 100;
  std::string content;
  for (int i = 0; i < 4; ++i) {
    content += RequestLine("doc-" + std::to_string(i), TranscriptRequest(MakePdf({"p"}))) + "\n";
  }
  std::string batch_id;
  std::string file_id;
  {
    auto emulator = Emulator::Create(options, &clock);
    ASSERT_TRUE(emulator.ok()) << emulator.status();
    const auto temp = (*emulator)->files().NewTempPath();
    std::ofstream(temp, std::ios::binary) << content;
    file_id = (*emulator)->files().Adopt(temp, "in.jsonl", "batch", std::nullopt)->id;
    auto batch = (*emulator)->batches().Create({{"input_file_id", file_id},
                                                {"endpoint", "/v1/chat/completions"},
                                                {"completion_window", "24h"}});
    ASSERT_TRUE(batch.ok());
    batch_id = batch.value()["id"];
    clock.Advance(100);
    while ((*emulator)->batches().RunDueWork()) {
    }
    clock.Advance(100);
    while ((*emulator)->batches().RunDueWork()) {
    }
    ASSERT_EQ((*emulator)->batches().Get(batch_id).value()["request_counts"]["completed"], 2);
    (*emulator)->SaveNow();
  }
  auto emulator = Emulator::Create(options, &clock);
  ASSERT_TRUE(emulator.ok()) << emulator.status();
  EXPECT_TRUE((*emulator)->files().Get(file_id));
  EXPECT_EQ((*emulator)->batches().Get(batch_id).value()["status"], "in_progress");
  for (int i = 0; i < 5; ++i) {
    clock.Advance(100);
    while ((*emulator)->batches().RunDueWork()) {
    }
  }
  Json done = (*emulator)->batches().Get(batch_id).value();
  ASSERT_EQ(done["status"], "completed");
  EXPECT_EQ(done["request_counts"]["completed"], 4);
  const Json stats = (*emulator)->Stats();
  EXPECT_EQ(stats["lines"]["executed_total"], 4);  // nothing ran twice
  EXPECT_EQ(stats["batches"]["created"], 1);
}

TEST_F(EngineTest, ResetForgetsEverything) {
  Json batch = Create(AddFile(Lines(1)));
  ASSERT_TRUE(emulator_->faults().Configure(ParseJson(R"({"http": [{"status": 500}]})")).ok());
  emulator_->Reset(/*stats_only=*/true);
  EXPECT_EQ(emulator_->Stats()["batches"]["created"], 0);
  EXPECT_TRUE(engine().Get(batch["id"]).ok());
  emulator_->Reset(/*stats_only=*/false);
  EXPECT_FALSE(engine().Get(batch["id"]).ok());
  EXPECT_TRUE(emulator_->files().List().empty());
  EXPECT_TRUE(emulator_->faults().ToJson()["http"].empty());
}

}  // namespace
}  // namespace batchscribe::emulator
