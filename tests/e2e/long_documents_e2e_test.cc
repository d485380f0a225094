// Documents in parts (issue 13), end to end with real processes: PostgreSQL,
// the coordinator, workers and the openai-emulator (which enforces OpenAI's
// per-request page and size limits). Generated PDFs of 1, 150, 600 and 3,000
// pages with words unique to each page are split into parts, sent once each,
// and stitched into one transcript per document holding every page in order
// with that page's own words.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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
  ASSERT_EQ(batch.state(), v1::BATCH_STATE_SUCCEEDED)
      << batch.ShortDebugString() << "\n" << stack.WorkerLogs().substr(0, 4000);
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
  const double parts_cost = std::stod(stack.Query(
      "SELECT sum(cost_usd) FROM document_parts WHERE batch_id = '" + batch_id + "'"));
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

}  // namespace
}  // namespace batchscribe::e2e
