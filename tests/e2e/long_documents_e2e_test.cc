// Documents in parts (issue 13), end to end with real processes: PostgreSQL,
// the coordinator, workers and the openai-emulator (which enforces OpenAI's
// per-request page and size limits). Generated PDFs of 1, 150, 600 and 3,000
// pages with words unique to each page are split into parts, sent once each,
// and stitched into one transcript per document holding every page in order
// with that page's own words.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <thread>

#include "tests/e2e/stack.h"
#include "tests/support/pdf_writer.h"

namespace batchscribe::e2e {
namespace {

using nlohmann::json;
using std::chrono::seconds;

void WriteLongPdf(Stack& stack, const std::string& dir, const std::string& id, int pages,
                  int words_per_page) {
  std::vector<std::string> texts;
  texts.reserve(pages);
  for (int p = 1; p <= pages; ++p) texts.push_back(testing::PageWords(p, words_per_page));
  std::filesystem::create_directories(stack.input_root() / dir);
  testing::WriteTextPdf(stack.input_root() / dir / (id + ".pdf"), texts);
}

int64_t MaxExecutions(const json& stats) {
  int64_t most = 0;
  for (const auto& [id, n] : stats["lines"]["executed"].items()) {
    most = std::max<int64_t>(most, n.get<int64_t>());
  }
  return most;
}

int64_t Executions(const json& stats, const std::string& custom_id) {
  const json& executed = stats["lines"]["executed"];
  return executed.contains(custom_id) ? executed[custom_id].get<int64_t>() : 0;
}

// Every page 1..pages is present once, in order, with that page's own words.
void ExpectStitched(Stack& stack, const std::string& id, int pages, int words_per_page) {
  const std::string text = stack.Transcript(id);
  ASSERT_FALSE(text.empty()) << "no transcript for " << id;
  json t = json::parse(text);
  ASSERT_TRUE(t["pages"].is_array()) << text.substr(0, 500);
  ASSERT_EQ(static_cast<int>(t["pages"].size()), pages) << id;
  for (int p = 1; p <= pages; ++p) {
    const json& page = t["pages"][p - 1];
    ASSERT_EQ(page["page"].get<int>(), p) << id;
    // The first word of the page's own text (PageWords is unique per page).
    const std::string words = testing::PageWords(p, words_per_page);
    const std::string first = words.substr(0, words.find(' '));
    ASSERT_NE(page["text"].get<std::string>().find(first), std::string::npos)
        << id << " page " << p << ": " << page["text"];
  }
}

TEST(LongDocuments, SplitSentOnceAndStitchedInOrder) {
  Stack stack;
  stack.StartWorker();
  stack.StartWorker();
  const std::map<std::string, int> docs = {
      {"one", 1}, {"manual-150", 150}, {"report-600", 600}, {"archive-3000", 3000}};
  for (const auto& [id, pages] : docs) WriteLongPdf(stack, "long", id, pages, 6);
  const std::string batch_id = BatchId(stack.SubmitDirectory("long"));
  v1::Batch batch = stack.WaitForEnd(batch_id, seconds(480));
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_SUCCEEDED) << batch.ShortDebugString() << "\n"
                                                      << stack.WorkerLogs().substr(0, 4000);
  for (const auto& [id, pages] : docs) ExpectStitched(stack, id, pages, 6);

  // Parts cover each document in order, each within OpenAI's 100 pages per
  // request, and each request line ran exactly once; a one-part document
  // keeps its id as custom_id.
  json stats = stack.EmulatorStats();
  EXPECT_EQ(MaxExecutions(stats), 1) << stats["lines"].dump();
  EXPECT_EQ(Executions(stats, "one"), 1);
  int64_t parts = 0;
  for (const auto& [id, pages] : docs) {
    auto rows = stack.Rows(
        "SELECT first_page, last_page, state, (SELECT part_count FROM documents d "
        "  WHERE d.document_id = p.document_id) FROM document_parts p WHERE document_id = '" +
        id + "' ORDER BY first_page");
    int next = 1;
    for (const auto& row : rows) {
      const int first = std::stoi(row[0]), last = std::stoi(row[1]);
      EXPECT_EQ(first, next) << id;
      EXPECT_LE(last - first + 1, 100) << id;
      EXPECT_EQ(row[2], "SUCCEEDED") << id;
      char range[32];
      std::snprintf(range, sizeof(range), "~p%04d-%04d", first, last);
      const std::string custom_id = rows.size() == 1 ? id : id + range;
      EXPECT_EQ(Executions(stats, custom_id), 1) << custom_id;
      next = last + 1;
      ++parts;
    }
    EXPECT_EQ(next - 1, pages) << id;
    EXPECT_EQ(std::stoi(rows.at(0)[3]), static_cast<int>(rows.size())) << id;
  }
  EXPECT_EQ(batch.pages().pages(), 3751);
  EXPECT_EQ(batch.pages().pages_succeeded(), 3751);
  EXPECT_GE(parts, 39);  // at least 1 + 2 + 6 + 30 at 100 pages per request
  EXPECT_EQ(batch.pages().parts(), parts);
  EXPECT_EQ(batch.pages().parts_succeeded(), parts);

  // The cost is the sum of the parts, at half the synchronous price.
  const double parts_cost = std::stod(
      stack.Query("SELECT sum(cost_usd) FROM document_parts WHERE batch_id = '" + batch_id + "'"));
  EXPECT_NEAR(batch.cost_usd(), parts_cost, 1e-9);
  EXPECT_NEAR(batch.sync_equivalent_cost_usd(), 2 * batch.cost_usd(), 1e-9);
}

TEST(LongDocuments, LengthSplitsThePartInsteadOfSendingItAgain) {
  Stack stack;
  stack.StartWorker();
  WriteLongPdf(stack, "cut", "cut", 6, 6);
  WriteLongPdf(stack, "cut", "single", 1, 6);
  // The whole 6-page document is cut once; the 1-page one every time.
  stack.SetFaults({{"lines",
                    {{{"custom_id", "^cut$"}, {"kind", "length"}, {"attempts", 1}},
                     {{"custom_id", "^single$"}, {"kind", "length"}}}}});
  const std::string batch_id = BatchId(stack.SubmitDirectory("cut"));
  v1::Batch batch = stack.WaitForEnd(batch_id, seconds(240));
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_PARTIALLY_SUCCEEDED) << batch.ShortDebugString();
  json stats = stack.EmulatorStats();
  EXPECT_EQ(Executions(stats, "cut"), 1);
  EXPECT_EQ(Executions(stats, "cut~p0001-0003"), 1);
  EXPECT_EQ(Executions(stats, "cut~p0004-0006"), 1);
  EXPECT_EQ(Executions(stats, "single"), 1) << "a cut one-page request was sent again";
  ExpectStitched(stack, "cut", 6, 6);
  for (const auto& d : stack.Documents(batch_id)) {
    if (d.document_id() == "cut") {
      EXPECT_EQ(d.state(), v1::DOCUMENT_STATE_SUCCEEDED);
      EXPECT_EQ(d.attempts(), 1) << "the split spent no attempt, the halves one";
      EXPECT_EQ(d.part_count(), 2);
    } else {
      EXPECT_EQ(d.state(), v1::DOCUMENT_STATE_FAILED);
      EXPECT_NE(d.error().find("page 1 alone needs more than max_completion_tokens"),
                std::string::npos)
          << d.error();
    }
  }
}

TEST(LongDocuments, ATransientPartFailureResendsOnlyThatPart) {
  Stack stack;
  stack.StartWorker();
  WriteLongPdf(stack, "retry", "retry", 250, 6);
  stack.SetFaults({{"lines",
                    {{{"custom_id", "^retry~p0001-"},
                      {"kind", "server_error"},
                      {"status", 500},
                      {"attempts", 1}}}}});
  const std::string batch_id = BatchId(stack.SubmitDirectory("retry"));
  v1::Batch batch = stack.WaitForEnd(batch_id, seconds(240));
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_SUCCEEDED) << batch.ShortDebugString();
  json stats = stack.EmulatorStats();
  // Only the part that failed was sent again.
  int64_t parts = 0;
  for (const auto& row : stack.Rows("SELECT first_page, last_page FROM document_parts "
                                    "WHERE document_id = 'retry' ORDER BY first_page")) {
    char id[48];
    std::snprintf(id, sizeof(id), "retry~p%04d-%04d", std::stoi(row[0]), std::stoi(row[1]));
    EXPECT_EQ(Executions(stats, id), row[0] == "1" ? 2 : 1) << id;
    ++parts;
  }
  EXPECT_GE(parts, 3);
  ExpectStitched(stack, "retry", 250, 6);
  EXPECT_EQ(stack.Documents(batch_id).at(0).attempts(), 2);
}

// A schema without a per-page array: with the default split_policy (AUTO) a
// document that needs parts fails before anything is sent, with a reason that
// names ALLOW; with ALLOW its transcript is the parts' answers with their
// page ranges. A document that fits one request is unaffected.
TEST(LongDocuments, ACustomSchemaWithoutPagesSplitsOnlyWhenAllowed) {
  Stack stack;
  stack.StartWorker();
  const std::string schema = R"({"type":"object","additionalProperties":false,
      "required":["summary","topics"],
      "properties":{"summary":{"type":"string"},
                    "topics":{"type":"array","items":{"type":"string"}}}})";
  WriteLongPdf(stack, "auto", "auto-long", 160, 6);
  WriteLongPdf(stack, "auto", "auto-short", 3, 6);
  WriteLongPdf(stack, "allow", "allow-long", 160, 6);
  auto custom = [&](v1::SplitPolicy policy) {
    return [&schema, policy](v1::SubmitDocumentsRequest& r) {
      r.set_json_schema(schema);
      r.set_split_policy(policy);
    };
  };
  const std::string auto_id =
      BatchId(stack.SubmitDirectory("auto", true, v1::MODE_BATCH, custom(v1::SPLIT_POLICY_AUTO)));
  const std::string allow_id =
      BatchId(stack.SubmitDirectory("allow", true, v1::MODE_BATCH, custom(v1::SPLIT_POLICY_ALLOW)));

  v1::Batch auto_batch = stack.WaitForEnd(auto_id, seconds(240));
  ASSERT_EQ(auto_batch.state(), v1::BATCH_STATE_PARTIALLY_SUCCEEDED)
      << auto_batch.ShortDebugString();
  for (const auto& d : stack.Documents(auto_id)) {
    if (d.document_id() == "auto-short") {
      EXPECT_EQ(d.state(), v1::DOCUMENT_STATE_SUCCEEDED);
      json t = json::parse(stack.Transcript("auto-short"));
      EXPECT_TRUE(t["summary"].is_string()) << t.dump();
      EXPECT_FALSE(t.contains("parts")) << "a one-part document keeps the model's own answer";
    } else {
      EXPECT_EQ(d.state(), v1::DOCUMENT_STATE_FAILED);
      EXPECT_NE(d.error().find("split_policy ALLOW"), std::string::npos) << d.error();
      EXPECT_EQ(d.cost_usd(), 0.0) << "refused before anything was sent";
    }
  }

  v1::Batch allow_batch = stack.WaitForEnd(allow_id, seconds(240));
  ASSERT_EQ(allow_batch.state(), v1::BATCH_STATE_SUCCEEDED) << allow_batch.ShortDebugString();
  json t = json::parse(stack.Transcript("allow-long"));
  ASSERT_TRUE(t["parts"].is_array()) << t.dump().substr(0, 500);
  // The parts as planned (at most 100 pages, and an answer within the output
  // budget), in page order, each with its own answer.
  const auto rows = stack.Rows(
      "SELECT first_page, last_page FROM document_parts WHERE document_id = 'allow-long' "
      "ORDER BY first_page");
  ASSERT_GE(rows.size(), 2u);
  ASSERT_EQ(t["parts"].size(), rows.size()) << t.dump().substr(0, 500);
  json stats = stack.EmulatorStats();
  int next = 1;
  for (size_t i = 0; i < rows.size(); ++i) {
    const json& part = t["parts"][i];
    EXPECT_EQ(part["first_page"], next);
    EXPECT_EQ(part["first_page"], std::stoi(rows[i][0]));
    EXPECT_EQ(part["last_page"], std::stoi(rows[i][1]));
    EXPECT_TRUE(part["answer"]["summary"].is_string()) << part.dump();
    EXPECT_TRUE(part["answer"]["topics"].is_array()) << part.dump();
    char id[48];
    std::snprintf(id, sizeof(id), "allow-long~p%04d-%04d", std::stoi(rows[i][0]),
                  std::stoi(rows[i][1]));
    EXPECT_EQ(Executions(stats, id), 1) << id;
    next = part["last_page"].get<int>() + 1;
  }
  EXPECT_EQ(next, 161);
  EXPECT_EQ(Executions(stats, "auto-long"), 0);
  EXPECT_EQ(MaxExecutions(stats), 1);
}

// kill -9 of a worker with some of a document's parts written into the shard
// file, and of another with one stitched transcript written (not yet synced or
// recorded): healthy workers finish; every document SUCCEEDED once, stitched
// in order, every part sent once, one OpenAI batch per shard.
TEST(LongDocuments, AWorkerKilledWhileWritingPartsOrStitchingLosesAndDuplicatesNothing) {
  Stack stack;
  const std::map<std::string, int> docs = {{"k-one", 1}, {"k-120", 120}, {"k-250", 250}};
  for (const auto& [id, pages] : docs) WriteLongPdf(stack, "kill", id, pages, 6);
  const std::string batch_id = BatchId(stack.SubmitDirectory("kill"));
  for (const char* point : {"prepare.between_parts", "retrieve.stitching"}) {
    const int i = stack.StartWorker({}, {{"BATCHSCRIBE_TEST_CRASH_AT", point}});
    const int status = stack.worker(i).Wait(180000);
    ASSERT_NE(status, -1) << "the worker never reached " << point << "\n" << stack.WorkerLogs();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << point << ": status " << status << "\n"
        << stack.WorkerLogs();
  }
  stack.StartWorker();
  stack.StartWorker();
  v1::Batch batch = stack.WaitForEnd(batch_id, seconds(300));
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_SUCCEEDED) << batch.ShortDebugString() << "\n"
                                                      << stack.WorkerLogs().substr(0, 4000);
  for (const auto& [id, pages] : docs) ExpectStitched(stack, id, pages, 6);
  for (const auto& d : stack.Documents(batch_id)) {
    EXPECT_EQ(d.state(), v1::DOCUMENT_STATE_SUCCEEDED) << d.document_id();
    EXPECT_EQ(d.attempts(), 1) << d.document_id() << ": a crash spends no attempt";
  }
  json stats = stack.EmulatorStats();
  EXPECT_EQ(MaxExecutions(stats), 1) << stats["lines"].dump();
  const int64_t live_parts =
      std::stoll(stack.Query("SELECT count(*) FROM document_parts WHERE batch_id = '" + batch_id +
                             "' AND state = 'SUCCEEDED'"));
  EXPECT_EQ(stats["lines"]["executed_total"].get<int64_t>(), live_parts);
  EXPECT_EQ(batch.pages().parts_succeeded(), live_parts);
  EXPECT_EQ(batch.pages().pages_succeeded(), 371);
  for (const auto& [shard, n] : OpenAiBatchesPerShard(stats)) {
    EXPECT_EQ(n, 1) << "shard " << shard << " had " << n << " OpenAI batches";
  }
  EXPECT_EQ(std::stoll(stack.Query("SELECT count(*) FROM document_parts WHERE batch_id = '" +
                                   batch_id + "' AND state <> 'SUCCEEDED'")),
            0);
}

// A database made by the previous version (schema 0003, documents sent whole
// with their id as custom_id) with a batch in flight: the new worker applies
// migration 0004 and finishes the batch; each in-flight document becomes one
// whole-document part, and nothing is sent again.
TEST(LongDocuments, ADatabaseOfThePreviousVersionUpgradesWithABatchInFlight) {
  // OpenAI batches stay in_progress long enough to stop the worker meanwhile.
  Stack stack({{"--in_progress_ms", "4000"}});
  const int first = stack.StartWorker();
  for (const std::string id : {"up-1", "up-2", "up-3"}) WriteLongPdf(stack, "up", id, 3, 6);
  const std::string batch_id = BatchId(stack.SubmitDirectory("up"));
  const auto deadline = std::chrono::steady_clock::now() + seconds(120);
  while (stack.Query("SELECT count(*) FROM documents WHERE batch_id = '" + batch_id +
                     "' AND state = 'SUBMITTED'") != "3") {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << stack.WorkerLogs();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // The old version stops (coordinator and workers)...
  stack.worker(first).Kill();
  stack.worker(first).Wait(10000);
  stack.StopCoordinator();

  // Back to schema 0003, as the previous version left it: the same rows
  // without what 0004 added (a down-migration that exists only here).
  {
    pqxx::connection conn(stack.database_url());
    pqxx::work tx(conn);
    tx.exec(
        "DROP TABLE document_parts; "
        "ALTER TABLE batches DROP COLUMN split_policy, DROP COLUMN page_count, "
        "  DROP COLUMN pages_succeeded, DROP COLUMN part_count, DROP COLUMN parts_succeeded; "
        "ALTER TABLE documents DROP COLUMN page_count, DROP COLUMN part_count, "
        "  DROP COLUMN parts_succeeded; "
        "DELETE FROM schema_migrations WHERE version = '0004_document_parts'");
    tx.commit();
  }
  ASSERT_EQ(stack.Query("SELECT count(*) FROM information_schema.tables "
                        "WHERE table_name = 'document_parts'"),
            "0");

  // ... and the new one starts: the coordinator and the worker apply 0004.
  stack.StartCoordinator();
  stack.StartWorker();
  v1::Batch batch = stack.WaitForEnd(batch_id, seconds(180));
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_SUCCEEDED) << batch.ShortDebugString() << "\n"
                                                      << stack.WorkerLogs().substr(0, 4000);
  EXPECT_EQ(stack.Query("SELECT count(*) FROM schema_migrations "
                        "WHERE version = '0004_document_parts'"),
            "1");
  EXPECT_EQ(stack.Query("SELECT split_policy FROM batches WHERE id = '" + batch_id + "'"), "AUTO");
  for (const std::string id : {"up-1", "up-2", "up-3"}) {
    ExpectStitched(stack, id, 3, 6);
    EXPECT_EQ(stack.Query("SELECT part_count || '/' || parts_succeeded FROM documents "
                          "WHERE document_id = '" +
                          id + "'"),
              "1/1")
        << id;
    EXPECT_EQ(stack.Query("SELECT first_page || '-' || last_page || ' ' || state "
                          "FROM document_parts WHERE document_id = '" +
                          id + "'"),
              "1-0 SUCCEEDED")
        << id << ": an upgraded row keeps last_page 0 (sent whole, pages never counted)";
  }
  json stats = stack.EmulatorStats();
  EXPECT_EQ(MaxExecutions(stats), 1) << stats["lines"].dump();
  EXPECT_EQ(stats["lines"]["executed_total"], 3);
}

}  // namespace
}  // namespace batchscribe::e2e
