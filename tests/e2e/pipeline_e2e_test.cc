// End-to-end scenarios of issue 4 with real processes: PostgreSQL, the
// coordinator, two or more workers and the openai-emulator with its
// deterministic fault switches. Each test asserts on transcripts, database
// rows and /_emulator/stats.

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "libs/jsonl/result_line.h"
#include "libs/jsonl/schema_validator.h"
#include "tests/e2e/stack.h"

namespace batchscribe::e2e {
namespace {

using std::chrono::seconds;

const char* kApiKey = "sk-e2e-secret-key-0123456789";

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool IsTerminal(v1::DocumentState s) {
  return s == v1::DOCUMENT_STATE_SUCCEEDED || s == v1::DOCUMENT_STATE_FAILED ||
         s == v1::DOCUMENT_STATE_SKIPPED || s == v1::DOCUMENT_STATE_CANCELLED;
}

std::map<std::string, v1::Document> ById(const std::vector<v1::Document>& docs) {
  std::map<std::string, v1::Document> out;
  for (const auto& d : docs) out[d.document_id()] = d;
  return out;
}

int64_t Executions(const json& stats, const std::string& custom_id) {
  const json& executed = stats["lines"]["executed"];
  return executed.contains(custom_id) ? executed[custom_id].get<int64_t>() : 0;
}

// Every transcript is the model's JSON, valid against the shipped schema, and
// carries the PDF's own text.
void ExpectTranscript(Stack& stack, const std::string& id) {
  static const auto* validator = new jsonl::SchemaValidator(*jsonl::SchemaValidator::Create(
      ReadFile(testing::SourceDir() / "config" / "transcript.schema.json")));
  std::string transcript = stack.Transcript(id);
  ASSERT_FALSE(transcript.empty()) << "no transcript for " << id;
  EXPECT_TRUE(validator->Validate(transcript).ok()) << transcript;
  EXPECT_NE(transcript.find("This is document " + id + " speaking."), std::string::npos)
      << transcript;
}

// The content of `id`'s successful line in a shard's output file.
std::string OutputContent(Stack& stack, const std::string& batch_id, const std::string& shard_id,
                          const std::string& id) {
  std::ifstream in(stack.storage_root() / "batches" / batch_id / "shards" / shard_id /
                   "output.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto r = jsonl::ClassifyResultLine(line);
    if (r.ok() && r->custom_id == id && r->outcome == jsonl::LineOutcome::kSucceeded) {
      return r->content;
    }
  }
  return "";
}

// 1. The seed's small batch.
TEST(PipelineE2eTest, SmallBatchSucceedsAtHalfTheStandardPrice) {
  Stack stack;
  stack.StartWorker();
  stack.StartWorker();
  auto ids = stack.WritePdfs("small", 5, "doc");
  v1::Batch submitted = stack.SubmitDirectory("small");
  const std::string batch_id = BatchId(submitted);
  v1::Batch batch = stack.WaitForEnd(batch_id);
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_SUCCEEDED) << batch.ShortDebugString();
  EXPECT_EQ(batch.counts().succeeded(), 5);

  auto docs = ById(stack.Documents(batch_id));
  double cost = 0;
  for (const auto& id : ids) {
    ExpectTranscript(stack, id);
    const v1::Document& d = docs.at(id);
    EXPECT_EQ(d.state(), v1::DOCUMENT_STATE_SUCCEEDED);
    EXPECT_EQ(d.transcript_path(), "transcripts/gpt-4.1-mini/" + id + ".json");
    EXPECT_GT(d.usage().input_tokens(), 0);
    EXPECT_GT(d.usage().output_tokens(), 0);
    EXPECT_GT(d.cost_usd(), 0);
    EXPECT_EQ(d.attempts(), 1);
    cost += d.cost_usd();
  }
  // Batch price = exactly half of the standard price, per document and in total.
  for (const auto& row : stack.Rows(
           "SELECT cost_usd, sync_cost_usd FROM documents WHERE batch_id = '" + batch_id + "'")) {
    EXPECT_NEAR(std::stod(row[1]), 2 * std::stod(row[0]), 1e-12);
  }
  EXPECT_GT(batch.cost_usd(), 0);
  EXPECT_NEAR(batch.cost_usd(), cost, 1e-9);
  EXPECT_NEAR(batch.sync_equivalent_cost_usd(), 2 * batch.cost_usd(), 1e-9);
  EXPECT_EQ(batch.usage().input_tokens(),
            std::stoll(stack.Query("SELECT sum(input_tokens) FROM documents WHERE batch_id = '" +
                                   batch_id + "'")));

  // The shard's files are kept where the contract says.
  auto shard = stack.storage_root() / "batches" / batch_id / "shards" / "s0001";
  EXPECT_TRUE(std::filesystem::is_regular_file(shard / "input.jsonl"));
  EXPECT_TRUE(std::filesystem::is_regular_file(shard / "output.jsonl"));
  json stats = stack.EmulatorStats();
  for (const auto& [shard_name, n] : OpenAiBatchesPerShard(stats)) EXPECT_EQ(n, 1) << shard_name;
  EXPECT_EQ(stats["tokens_billed"]["gpt-4.1-mini"]["input_tokens"].get<int64_t>(),
            batch.usage().input_tokens());
  // The API key never reaches a log line.
  EXPECT_EQ(stack.WorkerLogs().find(kApiKey), std::string::npos);
}

// 2. Many documents, several shards, 10% failing lines of mixed kinds.
TEST(PipelineE2eTest, FailingLinesAreRetriedInNewShardsAndPermanentOnesFail) {
  Stack stack;
  stack.StartWorker();
  stack.StartWorker();
  auto ids = stack.WritePdfs("mix", 100, "mix");
  // One failing line in each of the ten first shards: the transient kinds fail
  // their first execution only; the permanent kinds fail every time. A
  // one-page document cut at max_completion_tokens (length) cannot be split:
  // it fails at once instead of being sent again as it was.
  stack.SetFaults(
      {{"lines",
        {{{"custom_id", "^mix-00[3]$"}, {"kind", "server_error"}, {"status", 500}, {"attempts", 1}},
         {{"custom_id", "^mix-013$"}, {"kind", "server_error"}, {"status", 503}, {"attempts", 1}},
         {{"custom_id", "^mix-0[23]3$"}, {"kind", "status_0"}, {"attempts", 1}},
         {{"custom_id", "^mix-043$"}, {"kind", "rate_limit"}, {"attempts", 1}},
         {{"custom_id", "^mix-053$"}, {"kind", "malformed"}, {"attempts", 1}},
         {{"custom_id", "^mix-063$"}, {"kind", "length"}, {"attempts", 1}},
         {{"custom_id", "^mix-073$"}, {"kind", "bad_request"}, {"status", 400}},
         {{"custom_id", "^mix-083$"}, {"kind", "refusal"}},
         {{"custom_id", "^mix-093$"}, {"kind", "content_filter"}}}}});
  const std::string batch_id = BatchId(stack.SubmitDirectory("mix"));
  v1::Batch batch = stack.WaitForEnd(batch_id, seconds(240));
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_PARTIALLY_SUCCEEDED) << batch.ShortDebugString();
  EXPECT_EQ(batch.counts().succeeded(), 96);
  EXPECT_EQ(batch.counts().failed(), 4);

  auto docs = ById(stack.Documents(batch_id));
  json stats = stack.EmulatorStats();
  const std::set<std::string> transient = {"mix-003", "mix-013", "mix-023", "mix-033",
                                           "mix-043", "mix-053"};
  for (const auto& id : transient) {
    const v1::Document& d = docs.at(id);
    EXPECT_EQ(d.state(), v1::DOCUMENT_STATE_SUCCEEDED) << id << " " << d.error();
    EXPECT_EQ(d.attempts(), 2) << id;
    // Retried in a shard planned after the first ten.
    EXPECT_GT(d.shard_id(), "s0010") << id;
    EXPECT_EQ(Executions(stats, id), 2) << id;
    ExpectTranscript(stack, id);
  }
  EXPECT_NE(docs.at("mix-073").error().find("HTTP 400"), std::string::npos)
      << docs.at("mix-073").error();
  EXPECT_NE(docs.at("mix-083").error().find("refused"), std::string::npos)
      << docs.at("mix-083").error();
  EXPECT_NE(docs.at("mix-093").error().find("content_filter"), std::string::npos)
      << docs.at("mix-093").error();
  EXPECT_NE(docs.at("mix-063").error().find("alone needs more than max_completion_tokens"),
            std::string::npos)
      << docs.at("mix-063").error();
  for (const auto& id : {"mix-063", "mix-073", "mix-083", "mix-093"}) {
    EXPECT_EQ(docs.at(id).state(), v1::DOCUMENT_STATE_FAILED) << id;
    EXPECT_EQ(Executions(stats, id), 1) << id;  // a permanent failure is not sent again
    EXPECT_TRUE(stack.Transcript(id).empty()) << id;
  }
  for (const auto& [id, d] : docs) {
    EXPECT_TRUE(IsTerminal(d.state())) << id;
    if (!transient.count(id) && d.state() == v1::DOCUMENT_STATE_SUCCEEDED) {
      EXPECT_EQ(Executions(stats, id), 1) << id;
    }
  }
  for (const auto& [shard_name, n] : OpenAiBatchesPerShard(stats)) EXPECT_EQ(n, 1) << shard_name;
  EXPECT_GE(
      std::stoi(stack.Query("SELECT count(*) FROM shards WHERE batch_id = '" + batch_id + "'")),
      11);
}

// 3. An expired shard keeps its partial results; only the rest is sent again.
TEST(PipelineE2eTest, ExpiredShardKeepsPartialResultsAndNobodyPaysTwice) {
  Stack stack;
  stack.StartWorker();
  stack.StartWorker();
  auto ids = stack.WritePdfs("exp", 10, "exp");
  stack.SetFaults({{"batches", {{{"kind", "expire"}, {"count", 1}, {"after_lines", 4}}}}});
  const std::string batch_id = BatchId(stack.SubmitDirectory("exp"));
  v1::Batch batch = stack.WaitForEnd(batch_id);
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_SUCCEEDED) << batch.ShortDebugString();

  EXPECT_EQ(stack.Query("SELECT openai_status FROM shards WHERE batch_id = '" + batch_id +
                        "' AND shard_id = 's0001'"),
            "expired");
  EXPECT_EQ(stack.Query("SELECT count(*) FROM shard_documents WHERE batch_id = '" + batch_id +
                        "' AND shard_id = 's0001' AND outcome = 'SUCCEEDED'"),
            "4");
  EXPECT_EQ(stack.Query("SELECT count(*) FROM shard_documents WHERE batch_id = '" + batch_id +
                        "' AND shard_id = 's0002'"),
            "6");
  json stats = stack.EmulatorStats();
  for (const auto& id : ids) {
    ExpectTranscript(stack, id);
    EXPECT_EQ(Executions(stats, id), 1) << id;
  }
  // Each document's recorded usage is that of its one execution.
  EXPECT_EQ(stats["tokens_billed"]["gpt-4.1-mini"]["input_tokens"].get<int64_t>(),
            batch.usage().input_tokens());
}

// 4. A lost create response never creates a second OpenAI batch for a shard.
TEST(PipelineE2eTest, LostCreateResponseLeavesExactlyOneOpenAiBatchPerShard) {
  Stack stack;
  stack.StartWorker();
  stack.StartWorker();
  stack.WritePdfs("lost", 20, "lost");
  stack.SetFaults({{"http",
                    {{{"match", "^POST /v1/batches$"},
                      {"phase", "after"},
                      {"action", "drop"},
                      {"count", 2}}}}});
  const std::string batch_id = BatchId(stack.SubmitDirectory("lost"));
  v1::Batch batch = stack.WaitForEnd(batch_id);
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_SUCCEEDED) << batch.ShortDebugString();
  json stats = stack.EmulatorStats();
  auto per_shard = OpenAiBatchesPerShard(stats);
  EXPECT_EQ(per_shard.size(), 2u);
  for (const auto& [shard, n] : per_shard) EXPECT_EQ(n, 1) << shard;
  EXPECT_EQ(stats["batches"]["created"].get<int64_t>(), 2);
  EXPECT_NE(stack.WorkerLogs().find("adopted the existing OpenAI batch"), std::string::npos);
}

// 5. More shards than the token budget allows are held back, and all finish.
TEST(PipelineE2eTest, TokenBudgetHoldsShardsBackAndAllFinish) {
  Stack stack({{"--in_progress_ms", "600"}});
  // Every shard alone is over this budget: one shard at OpenAI at a time.
  const std::map<std::string, std::string> flags = {{"--token_budget", "gpt-4.1-mini=100"}};
  stack.StartWorker(flags);
  stack.StartWorker(flags);
  stack.WritePdfs("budget", 40, "bud");
  const std::string batch_id = BatchId(stack.SubmitDirectory("budget"));
  int most_at_openai = 0;
  v1::Batch batch;
  const auto deadline = std::chrono::steady_clock::now() + seconds(180);
  while (std::chrono::steady_clock::now() < deadline) {
    most_at_openai =
        std::max(most_at_openai, std::stoi(stack.Query("SELECT count(*) FROM shards WHERE state = "
                                                       "'SUBMITTED'")));
    batch = stack.GetBatch(batch_id);
    if (batch.state() == v1::BATCH_STATE_SUCCEEDED || batch.state() == v1::BATCH_STATE_FAILED ||
        batch.state() == v1::BATCH_STATE_PARTIALLY_SUCCEEDED) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_SUCCEEDED) << batch.ShortDebugString();
  EXPECT_EQ(batch.counts().succeeded(), 40);
  EXPECT_EQ(most_at_openai, 1);
  EXPECT_NE(stack.WorkerLogs().find("shard held back by the token budget"), std::string::npos);
}

// 5b. token_limit_exceeded and "Cannot find file" are transient: the shard is
// resubmitted later and no document attempt is spent.
TEST(PipelineE2eTest, TokenLimitExceededAndMissingFileAreResubmittedWithoutSpendingAttempts) {
  Stack stack;
  stack.StartWorker();
  stack.StartWorker();
  auto ids = stack.WritePdfs("tle", 30, "tle");
  // s0003 sits in `finalizing` for a while: not done until it completes.
  stack.SetFaults({{"batches",
                    {{{"kind", "token_limit_exceeded"},
                      {"count", 1},
                      {"metadata", {{"batchscribe_shard", "^s0001$"}}}},
                     {{"kind", "cannot_find_file"},
                      {"count", 1},
                      {"metadata", {{"batchscribe_shard", "^s0002$"}}}},
                     {{"kind", "stuck_finalizing"},
                      {"count", 1},
                      {"ms", 1500},
                      {"metadata", {{"batchscribe_shard", "^s0003$"}}}}}}});
  const std::string batch_id = BatchId(stack.SubmitDirectory("tle"));
  v1::Batch batch = stack.WaitForEnd(batch_id);
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_SUCCEEDED) << batch.ShortDebugString();
  for (const auto& d : stack.Documents(batch_id)) {
    EXPECT_EQ(d.attempts(), 1) << d.document_id();
  }
  for (const auto& row : stack.Rows("SELECT shard_id, resubmits, "
                                    "cardinality(abandoned_openai_batch_ids) FROM shards "
                                    "WHERE batch_id = '" +
                                    batch_id + "' AND shard_id < 's0003' ORDER BY shard_id")) {
    EXPECT_EQ(row[1], "1") << row[0];
    EXPECT_EQ(row[2], "1") << row[0];
  }
  EXPECT_EQ(stack.Query("SELECT state FROM shards WHERE batch_id = '" + batch_id +
                        "' AND shard_id = 's0003'"),
            "DONE");
  json stats = stack.EmulatorStats();
  for (const auto& id : ids) EXPECT_EQ(Executions(stats, id), 1) << id;
  EXPECT_EQ(stats["batches"]["by_status"]["failed"].get<int64_t>(), 2);
}

// 6. Submitting the same directory again with skip_existing sends nothing.
TEST(PipelineE2eTest, ResubmittingWithSkipExistingSendsNothingNew) {
  Stack stack;
  stack.StartWorker();
  stack.StartWorker();
  stack.WritePdfs("again", 5, "again");
  v1::Batch first = stack.WaitForEnd(BatchId(stack.SubmitDirectory("again")));
  ASSERT_EQ(first.state(), v1::BATCH_STATE_SUCCEEDED);
  json before = stack.EmulatorStats();

  v1::Batch second = stack.WaitForEnd(BatchId(stack.SubmitDirectory("again", true)));
  EXPECT_EQ(second.state(), v1::BATCH_STATE_SUCCEEDED) << second.ShortDebugString();
  EXPECT_EQ(second.counts().skipped(), 5);
  EXPECT_EQ(second.cost_usd(), 0);
  json after = stack.EmulatorStats();
  EXPECT_EQ(after["files"]["uploaded"], before["files"]["uploaded"]);
  EXPECT_EQ(after["batches"]["created"], before["batches"]["created"]);
  EXPECT_EQ(after["lines"]["executed_total"], before["lines"]["executed_total"]);
}

// 7. Cancel mid-flight: results already paid for are kept, the rest is cancelled.
TEST(PipelineE2eTest, CancelMidFlightKeepsPartialResults) {
  Stack stack({{"--line_ms", "150"}, {"--cancel_ms", "100"}});
  stack.StartWorker();
  stack.StartWorker();
  stack.WritePdfs("cancel", 30, "can");
  const std::string batch_id = BatchId(stack.SubmitDirectory("cancel"));
  // Wait until some lines ran at OpenAI, then cancel.
  const auto deadline = std::chrono::steady_clock::now() + seconds(120);
  while (std::chrono::steady_clock::now() < deadline &&
         stack.EmulatorStats()["lines"]["executed_total"].get<int64_t>() < 3) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  v1::CancelBatchResponse cancelled = stack.Cancel(batch_id);
  EXPECT_TRUE(cancelled.batch().state() == v1::BATCH_STATE_CANCELLING ||
              cancelled.batch().state() == v1::BATCH_STATE_CANCELLED);
  v1::Batch batch = stack.WaitForEnd(batch_id);
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_CANCELLED) << batch.ShortDebugString();
  EXPECT_GE(batch.counts().succeeded(), 3);
  EXPECT_GE(batch.counts().cancelled(), 1);
  EXPECT_EQ(batch.counts().succeeded() + batch.counts().cancelled(), 30);
  for (const auto& d : stack.Documents(batch_id)) {
    EXPECT_TRUE(IsTerminal(d.state())) << d.document_id();
    if (d.state() == v1::DOCUMENT_STATE_SUCCEEDED) {
      ExpectTranscript(stack, d.document_id());
    } else {
      EXPECT_TRUE(stack.Transcript(d.document_id()).empty()) << d.document_id();
    }
  }
  // Every OpenAI batch ends cancelled (or completed before the cancel reached
  // it); one created while the cancel happened is cancelled right after.
  bool all_ended = false;
  json stats;
  const auto until = std::chrono::steady_clock::now() + seconds(60);
  while (!all_ended && std::chrono::steady_clock::now() < until) {
    stats = stack.EmulatorStats();
    all_ended = true;
    for (const auto& b : stats["batches"]["list"]) {
      if (b["status"] != "cancelled" && b["status"] != "completed") all_ended = false;
    }
    if (!all_ended) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(all_ended) << stats["batches"].dump();
}

// 8. Workers killed with SIGKILL in the middle of prepare, submit and retrieve.
TEST(PipelineE2eTest, WorkersKilledMidStepLoseNothingAndPayNothingTwice) {
  Stack stack;
  auto ids = stack.WritePdfs("kill", 20, "kill");
  const std::string batch_id = BatchId(stack.SubmitDirectory("kill"));
  for (const std::string point :
       {"prepare.after_upload", "submit.after_create", "retrieve.after_transcripts"}) {
    int w = stack.StartWorker({}, {{"BATCHSCRIBE_TEST_CRASH_AT", point}});
    int status = stack.worker(w).Wait(120000);
    ASSERT_NE(status, -1) << "the worker did not reach " << point;
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << point << " " << status;
    EXPECT_NE(stack.worker(w).Log().find(point), std::string::npos);
  }
  stack.StartWorker();
  stack.StartWorker();
  v1::Batch batch = stack.WaitForEnd(batch_id);
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_SUCCEEDED) << batch.ShortDebugString();

  json stats = stack.EmulatorStats();
  for (const auto& [shard, n] : OpenAiBatchesPerShard(stats)) EXPECT_EQ(n, 1) << shard;
  auto docs = ById(stack.Documents(batch_id));
  for (const auto& id : ids) {
    const v1::Document& d = docs.at(id);
    EXPECT_EQ(d.state(), v1::DOCUMENT_STATE_SUCCEEDED) << id;
    EXPECT_EQ(Executions(stats, id), 1) << id;
    ExpectTranscript(stack, id);
    // The transcript is the answer OpenAI gave, whoever wrote it.
    EXPECT_EQ(stack.Transcript(id), OutputContent(stack, batch_id, d.shard_id(), id)) << id;
  }
  EXPECT_EQ(stack.Query("SELECT count(*) FROM tasks WHERE batch_id = '" + batch_id +
                        "' AND state IN ('available', 'running')"),
            "0");
  // The batch created by the worker killed after create was found, not made again.
  EXPECT_NE(stack.WorkerLogs().find("adopted the existing OpenAI batch"), std::string::npos);
}

// SIGTERM: a worker stops claiming, hands back what it cannot finish in time,
// exits 0, and another worker completes the batch.
TEST(PipelineE2eTest, SigtermDrainsAndHandsTasksBack) {
  Stack stack;
  stack.WritePdfs("drain", 5, "drain");
  // Uploads hang for a while: the first worker is stuck in prepare when told to stop.
  stack.SetFaults({{"http",
                    {{{"match", "^POST /v1/files$"},
                      {"action", "delay"},
                      {"delay_ms", 20000},
                      {"count", 1}}}}});
  int first = stack.StartWorker({{"--drain_seconds", "1"}});
  const std::string batch_id = BatchId(stack.SubmitDirectory("drain"));
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (std::chrono::steady_clock::now() < deadline &&
         stack.Query("SELECT count(*) FROM tasks WHERE kind = 'prepare' AND state = 'running'") !=
             "1") {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  int status = stack.worker(first).Stop(30000);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // Handed back at once (no attempt used), not left running until its lease expires.
  EXPECT_NE(stack.worker(first).Log().find("task handed back"), std::string::npos);
  EXPECT_EQ(stack.Query("SELECT count(*) FROM tasks WHERE state = 'running'"), "0");
  EXPECT_EQ(stack.Query("SELECT attempt FROM tasks WHERE kind = 'prepare' AND state = 'available'"),
            "0");

  stack.StartWorker();
  v1::Batch batch = stack.WaitForEnd(batch_id);
  EXPECT_EQ(batch.state(), v1::BATCH_STATE_SUCCEEDED) << batch.ShortDebugString();
}

// A batch OpenAI no longer knows (404: the emulator restarted without its
// state) is lost: its documents go into a new shard.
TEST(PipelineE2eTest, ABatchOpenAiForgotIsSentAgain) {
  Stack stack({{"--in_progress_ms", "2000"}});
  stack.StartWorker();
  stack.StartWorker();
  auto ids = stack.WritePdfs("forgot", 5, "forgot");
  const std::string batch_id = BatchId(stack.SubmitDirectory("forgot"));
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (std::chrono::steady_clock::now() < deadline &&
         stack.Query("SELECT count(*) FROM shards WHERE state = 'SUBMITTED' AND "
                     "openai_batch_id IS NOT NULL") != "1") {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Killed, not stopped: a graceful stop keeps serving open keep-alive
  // connections until they time out (5 s), and a worker polling through one
  // could still see the old batch complete (a flake CI met once).
  stack.emulator().Kill();
  stack.emulator().Restart();
  v1::Batch batch = stack.WaitForEnd(batch_id);
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_SUCCEEDED) << batch.ShortDebugString();
  EXPECT_EQ(stack.Query("SELECT state FROM shards WHERE batch_id = '" + batch_id +
                        "' AND shard_id = 's0001'"),
            "FAILED");
  EXPECT_NE(stack
                .Query("SELECT error FROM shards WHERE batch_id = '" + batch_id +
                       "' AND shard_id = 's0001'")
                .find("can no longer be found"),
            std::string::npos);
  for (const auto& d : stack.Documents(batch_id)) {
    EXPECT_EQ(d.shard_id(), "s0002") << d.document_id();
    EXPECT_EQ(d.attempts(), 2) << d.document_id();
    ExpectTranscript(stack, d.document_id());
  }
}

// SYNC mode (the seed's rollback plan): direct chat completions, the same
// transcripts, priced at the standard rate, rate limits survived.
TEST(PipelineE2eTest, SyncModeTranscribesAtTheStandardPrice) {
  Stack stack;
  stack.StartWorker();
  stack.StartWorker();
  auto ids = stack.WritePdfs("sync", 12, "sync");
  // Rate limits beyond the client's own retries: the task pauses and resumes.
  stack.SetFaults({{"http",
                    {{{"match", "^POST /v1/chat/completions$"},
                      {"action", "error"},
                      {"status", 429},
                      {"retry_after_ms", 50},
                      {"count", 4}}}}});
  const std::string batch_id = BatchId(stack.SubmitDirectory("sync", true, v1::MODE_SYNC));
  v1::Batch batch = stack.WaitForEnd(batch_id);
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_SUCCEEDED) << batch.ShortDebugString();
  EXPECT_EQ(batch.mode(), v1::MODE_SYNC);
  for (const auto& id : ids) ExpectTranscript(stack, id);
  for (const auto& d : stack.Documents(batch_id)) {
    EXPECT_EQ(d.attempts(), 1) << d.document_id();  // a rate limit spends no attempt
    EXPECT_TRUE(d.shard_id().empty());
  }
  EXPECT_GT(batch.cost_usd(), 0);
  EXPECT_NEAR(batch.sync_equivalent_cost_usd(), batch.cost_usd(), 1e-12);
  json stats = stack.EmulatorStats();
  EXPECT_EQ(stats["batches"]["created"].get<int64_t>(), 0);
  // One billed completion per document, whatever the rate limits did.
  EXPECT_EQ(stats["tokens_billed"]["gpt-4.1-mini"]["sync"]["requests"].get<int64_t>(), 12);
  EXPECT_EQ(stats["tokens_billed"]["gpt-4.1-mini"]["sync"]["input_tokens"].get<int64_t>(),
            batch.usage().input_tokens());
}

// A document that vanished, stopped being a PDF or cannot fit a shard alone
// fails alone, with a reason; the others go through.
TEST(PipelineE2eTest, UnreadableNonPdfAndOversizeDocumentsFailAlone) {
  Stack stack;
  stack.WritePdfs("bad", 6, "bad");
  testing::WriteMinimalPdf(stack.input_root() / "bad" / "bad-003.pdf", std::string(4000, 'x'));
  const std::string batch_id = BatchId(stack.SubmitDirectory("bad"));
  std::filesystem::remove(stack.input_root() / "bad" / "bad-001.pdf");
  std::ofstream(stack.input_root() / "bad" / "bad-002.pdf") << "this is no longer a PDF";
  // Room for one ordinary document per shard, not for bad-003.
  const std::map<std::string, std::string> flags = {{"--max_shard_bytes", "3500"}};
  stack.StartWorker(flags);
  stack.StartWorker(flags);
  v1::Batch batch = stack.WaitForEnd(batch_id);
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_PARTIALLY_SUCCEEDED) << batch.ShortDebugString();
  auto docs = ById(stack.Documents(batch_id));
  EXPECT_EQ(docs.at("bad-001").state(), v1::DOCUMENT_STATE_FAILED);
  EXPECT_NE(docs.at("bad-001").error().find("not found"), std::string::npos)
      << docs.at("bad-001").error();
  EXPECT_EQ(docs.at("bad-002").state(), v1::DOCUMENT_STATE_FAILED);
  EXPECT_NE(docs.at("bad-002").error().find("PDF"), std::string::npos)
      << docs.at("bad-002").error();
  EXPECT_EQ(docs.at("bad-003").state(), v1::DOCUMENT_STATE_FAILED);
  EXPECT_NE(docs.at("bad-003").error().find("too large"), std::string::npos)
      << docs.at("bad-003").error();
  for (const auto& id : {"bad-000", "bad-004", "bad-005"}) {
    EXPECT_EQ(docs.at(id).state(), v1::DOCUMENT_STATE_SUCCEEDED) << id;
    ExpectTranscript(stack, id);
  }
  json stats = stack.EmulatorStats();
  for (const auto& id : {"bad-001", "bad-002", "bad-003"}) EXPECT_EQ(Executions(stats, id), 0);
}

}  // namespace
}  // namespace batchscribe::e2e
