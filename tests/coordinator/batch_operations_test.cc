// BatchOperations against a real PostgreSQL database: every RPC and its error
// cases, without a gRPC server. Worker-side changes (shards, document outcomes,
// usage) are simulated with SQL.

#include "services/coordinator/batch_operations.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include "libs/db/migrations.h"
#include "libs/storage/atomic_file.h"
#include "libs/storage/layout.h"
#include "services/coordinator/defaults.h"
#include "tests/support/test_env.h"

namespace batchscribe::coordinator {
namespace {
namespace fs = std::filesystem;
using ::batchscribe::testing::TempDir;
using ::batchscribe::testing::TestDatabase;
using ::batchscribe::testing::WriteMinimalPdf;
using ::testing::HasSubstr;

template <typename F>
bool Eventually(F condition, std::chrono::seconds timeout = std::chrono::seconds(30)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

std::string IdOf(const v1::Batch& batch) { return batch.name().substr(std::strlen("batches/")); }

class BatchOperationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto migrated = db::ApplyMigrations(db_.url());
    ASSERT_TRUE(migrated.ok()) << migrated.status();
    inputs_ = dir_.path() / "inputs";
    store_ = dir_.path() / "store";
    fs::create_directories(inputs_);
    fs::create_directories(store_);
    for (int i = 0; i < 30; ++i) {
      char name[32];
      std::snprintf(name, sizeof(name), "doc%02d.pdf", i);
      WriteMinimalPdf(inputs_ / name, name);
    }
    pool_ = std::make_unique<db::ConnectionPool>(db_.url(), db::PoolOptions{.max_connections = 4});
    hub_ = std::make_unique<BatchWatchHub>(*pool_);
    hub_->Start();
    ops_ = MakeOps(100);
  }

  void TearDown() override {
    ops_.reset();
    hub_->Stop();
  }

  std::unique_ptr<BatchOperations> MakeOps(std::size_t max_documents) {
    return std::make_unique<BatchOperations>(
        *pool_, prices_, *storage::InputRoot::Open(inputs_), *hub_,
        BatchOperationsOptions{.storage_root = store_,
                               .max_documents_per_request = max_documents,
                               .watch_poll_interval = std::chrono::milliseconds(200),
                               .watch_min_interval = std::chrono::milliseconds(10)});
  }

  static v1::SubmitDocumentsRequest Docs(int count, int first = 0) {
    v1::SubmitDocumentsRequest request;
    for (int i = first; i < first + count; ++i) {
      char name[32];
      std::snprintf(name, sizeof(name), "doc%02d.pdf", i);
      request.add_documents()->set_path(name);
    }
    return request;
  }

  v1::Batch Submit(const v1::SubmitDocumentsRequest& request) {
    auto response = ops_->SubmitDocuments(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->batch() : v1::Batch();
  }

  pqxx::result Sql(const std::string& sql) {
    pqxx::connection conn(db_.url());
    pqxx::work tx(conn);
    pqxx::result r = tx.exec(sql);
    tx.commit();
    return r;
  }
  int64_t Count(const std::string& sql) { return Sql(sql)[0][0].as<int64_t>(); }

  v1::Batch Get(const std::string& id) {
    v1::GetBatchRequest request;
    request.set_name("batches/" + id);
    auto response = ops_->GetBatch(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->batch() : v1::Batch();
  }

  TestDatabase db_;
  TempDir dir_;
  fs::path inputs_;
  fs::path store_;
  pricing::PriceTable prices_ = pricing::PriceTable::Defaults();
  std::unique_ptr<db::ConnectionPool> pool_;
  std::unique_ptr<BatchWatchHub> hub_;
  std::unique_ptr<BatchOperations> ops_;
};

TEST_F(BatchOperationsTest, SubmitRecordsBatchDocumentsAndPlanTask) {
  v1::SubmitDocumentsRequest request = Docs(3);
  request.set_display_name("invoices");
  (*request.mutable_labels())["team"] = "finance";
  request.set_max_cost_usd(5);
  v1::Batch batch = Submit(request);
  const std::string id = IdOf(batch);
  EXPECT_EQ(id.size(), 20u);
  EXPECT_EQ(batch.state(), v1::BATCH_STATE_PENDING);
  EXPECT_EQ(batch.model(), "gpt-4.1-mini");
  EXPECT_EQ(batch.mode(), v1::MODE_BATCH);
  EXPECT_EQ(batch.display_name(), "invoices");
  EXPECT_EQ(batch.labels().at("team"), "finance");
  EXPECT_EQ(batch.max_completion_tokens(), 32768);  // gpt-4.1-mini's output cap
  EXPECT_EQ(batch.max_cost_usd(), 5);
  EXPECT_EQ(batch.counts().total(), 3);
  EXPECT_EQ(batch.counts().pending(), 3);
  EXPECT_TRUE(batch.has_create_time());
  EXPECT_FALSE(batch.has_end_time());

  auto row = Sql("SELECT prompt, json_schema, skip_existing, state FROM batches WHERE id = '" + id +
                 "'")[0];
  EXPECT_EQ(row[0].as<std::string>(), DefaultPrompt());
  EXPECT_EQ(row[1].as<std::string>(), DefaultJsonSchema());
  EXPECT_TRUE(row[2].as<bool>());
  auto tasks = Sql("SELECT kind, subject, batch_id, state FROM tasks");
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0][0].as<std::string>(), "plan");
  EXPECT_EQ(tasks[0][1].as<std::string>(), id);
  EXPECT_EQ(tasks[0][2].as<std::string>(), id);
  EXPECT_EQ(tasks[0][3].as<std::string>(), "available");
  EXPECT_EQ(Count("SELECT count(*) FROM documents WHERE batch_id = '" + id +
                  "' AND state = 'PENDING' AND size_bytes > 0"),
            3);
}

TEST_F(BatchOperationsTest, SyncModeQueuesTranscribe) {
  v1::SubmitDocumentsRequest request = Docs(2);
  request.set_mode(v1::MODE_SYNC);
  v1::Batch batch = Submit(request);
  EXPECT_EQ(batch.mode(), v1::MODE_SYNC);
  EXPECT_EQ(Sql("SELECT kind FROM tasks")[0][0].as<std::string>(), "transcribe");
}

TEST_F(BatchOperationsTest, InvalidSubmissionWritesNothing) {
  v1::SubmitDocumentsRequest request = Docs(2);
  request.add_documents()->set_path("../escape.pdf");
  auto response = ops_->SubmitDocuments(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Count("SELECT count(*) FROM batches"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM documents"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM tasks"), 0);
}

TEST_F(BatchOperationsTest, ConfiguredDocumentLimitIsResourceExhausted) {
  auto small = MakeOps(2);
  EXPECT_EQ(small->SubmitDocuments(Docs(3)).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(small->SubmitDocuments(Docs(2)).ok());
}

TEST_F(BatchOperationsTest, DirectorySourceSubmits) {
  WriteMinimalPdf(inputs_ / "deep" / "x" / "y.pdf", "y");
  v1::SubmitDocumentsRequest request;
  request.mutable_source()->set_glob("**/*.pdf");
  request.mutable_source()->set_limit(31);
  v1::Batch batch = Submit(request);
  EXPECT_EQ(batch.counts().total(), 31);
  EXPECT_EQ(Count("SELECT count(*) FROM documents WHERE path = 'deep/x/y.pdf' AND "
                  "document_id = 'y'"),
            1);
}

TEST_F(BatchOperationsTest, SkipExistingSkipsTranscribedDocuments) {
  ASSERT_TRUE(
      storage::AtomicWriteFile(storage::TranscriptPath(store_, "gpt-4.1-mini", "doc00"), "{}")
          .ok());
  v1::Batch partial = Submit(Docs(2));
  EXPECT_EQ(partial.state(), v1::BATCH_STATE_PENDING);
  EXPECT_EQ(partial.counts().skipped(), 1);
  EXPECT_EQ(partial.counts().pending(), 1);
  EXPECT_EQ(Sql("SELECT transcript_path FROM documents WHERE document_id = 'doc00'")[0][0]
                .as<std::string>(),
            "transcripts/gpt-4.1-mini/doc00.json");

  // Everything already transcribed: finished at once, nothing queued.
  v1::Batch done = Submit(Docs(1));
  EXPECT_EQ(done.state(), v1::BATCH_STATE_SUCCEEDED);
  EXPECT_TRUE(done.has_end_time());
  EXPECT_EQ(done.counts().skipped(), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM tasks WHERE batch_id = '" + IdOf(done) + "'"), 0);

  v1::SubmitDocumentsRequest again = Docs(1);
  again.set_skip_existing(false);
  EXPECT_EQ(Submit(again).counts().pending(), 1);
}

TEST_F(BatchOperationsTest, RequestIdReplayReturnsTheOriginalBatch) {
  v1::SubmitDocumentsRequest request = Docs(2);
  request.set_request_id("req-1");
  auto first = ops_->SubmitDocuments(request);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->replayed());

  // Same body with the defaults spelled out, and after an input file vanished.
  fs::remove(inputs_ / "doc01.pdf");
  v1::SubmitDocumentsRequest same = request;
  same.set_model("gpt-4.1-mini");
  same.set_skip_existing(true);
  auto second = ops_->SubmitDocuments(same);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->replayed());
  EXPECT_EQ(second->batch().name(), first->batch().name());
  EXPECT_EQ(second->batch().request_id(), "req-1");
  EXPECT_EQ(Count("SELECT count(*) FROM batches"), 1);

  v1::SubmitDocumentsRequest different = Docs(1);
  different.set_request_id("req-1");
  auto third = ops_->SubmitDocuments(different);
  EXPECT_EQ(third.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(third.status().message()), HasSubstr("request_id"));
  EXPECT_THAT(std::string(third.status().message()), HasSubstr(first->batch().name()));
}

TEST_F(BatchOperationsTest, ConcurrentReplaysRecordOneBatch) {
  v1::SubmitDocumentsRequest request = Docs(5);
  request.set_request_id("race");
  constexpr int kClients = 4;
  std::vector<absl::StatusOr<v1::SubmitDocumentsResponse>> results(kClients,
                                                                   absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] { results[i] = ops_->SubmitDocuments(request); });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> names;
  int fresh = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    names.insert(r->batch().name());
    fresh += r->replayed() ? 0 : 1;
  }
  EXPECT_EQ(names.size(), 1u);
  EXPECT_EQ(fresh, 1);
  EXPECT_EQ(Count("SELECT count(*) FROM batches"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM documents"), 5);
}

TEST_F(BatchOperationsTest, LargeSubmissionsAreRecordedInChunks) {
  constexpr int kDocuments = 12001;  // more than one multi-row insert
  fs::path big = inputs_ / "big";
  fs::create_directories(big);
  const std::string pdf = "%PDF-1.4\n%%EOF\n";
  for (int i = 0; i < kDocuments; ++i) {
    std::ofstream(big / ("f" + std::to_string(i) + ".pdf")) << pdf;
  }
  auto ops = MakeOps(kDocuments);
  v1::SubmitDocumentsRequest request;
  request.mutable_source()->set_directory("big");
  auto response = ops->SubmitDocuments(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->batch().counts().total(), kDocuments);
  EXPECT_EQ(Count("SELECT count(DISTINCT document_id) FROM documents"), kDocuments);
}

TEST_F(BatchOperationsTest, GetBatchErrors) {
  v1::GetBatchRequest request;
  request.set_name("batches/0000000000000000dead");
  EXPECT_EQ(ops_->GetBatch(request).status().code(), absl::StatusCode::kNotFound);
  for (const char* bad :
       {"", "batches/", "batches/UPPER", "batch/x", "batches/a/documents/b", "x"}) {
    request.set_name(bad);
    EXPECT_EQ(ops_->GetBatch(request).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST_F(BatchOperationsTest, GetBatchShowsShardsUsageCostAndErrors) {
  const std::string id = IdOf(Submit(Docs(4)));
  Sql("INSERT INTO shards (batch_id, shard_id, state, document_count, input_bytes, "
      "input_file_id, openai_batch_id, openai_status) VALUES ('" +
      id + "', 's0001', 'SUBMITTED', 3, 12345, 'file-in', 'batch_abc', 'in_progress')");
  Sql("UPDATE documents SET state = 'SUCCEEDED', shard_id = 's0001', input_tokens = 1000, "
      "cached_input_tokens = 100, output_tokens = 500, cost_usd = 0.25, sync_cost_usd = 0.5, "
      "usage_time = now() WHERE document_id IN ('doc00', 'doc01')");
  Sql("UPDATE documents SET state = 'FAILED', error = 'refused' WHERE document_id = 'doc02'");
  Sql("UPDATE batches SET state = 'RUNNING', last_errors = ARRAY['newest', 'older'] WHERE id = '" +
      id + "'");
  v1::Batch batch = Get(id);
  EXPECT_EQ(batch.state(), v1::BATCH_STATE_RUNNING);
  EXPECT_EQ(batch.counts().total(), 4);
  EXPECT_EQ(batch.counts().succeeded(), 2);
  EXPECT_EQ(batch.counts().failed(), 1);
  EXPECT_EQ(batch.counts().pending(), 1);
  EXPECT_EQ(batch.usage().input_tokens(), 2000);
  EXPECT_EQ(batch.usage().cached_input_tokens(), 200);
  EXPECT_EQ(batch.usage().output_tokens(), 1000);
  EXPECT_DOUBLE_EQ(batch.cost_usd(), 0.5);
  EXPECT_DOUBLE_EQ(batch.sync_equivalent_cost_usd(), 1.0);
  ASSERT_EQ(batch.last_errors_size(), 2);
  EXPECT_EQ(batch.last_errors(0), "newest");
  ASSERT_EQ(batch.shards_size(), 1);
  EXPECT_EQ(batch.shards(0).shard_id(), "s0001");
  EXPECT_EQ(batch.shards(0).state(), "SUBMITTED");
  EXPECT_EQ(batch.shards(0).openai_batch_id(), "batch_abc");
  EXPECT_EQ(batch.shards(0).openai_status(), "in_progress");
  EXPECT_EQ(batch.shards(0).document_count(), 3);
  EXPECT_EQ(batch.shards(0).input_bytes(), 12345);
  EXPECT_EQ(batch.shards(0).input_file_id(), "file-in");
}

TEST_F(BatchOperationsTest, ListBatchesPagesNewestFirst) {
  std::vector<std::string> submitted;
  for (int i = 0; i < 7; ++i) submitted.push_back(Submit(Docs(1, i)).name());
  std::vector<std::string> listed;
  std::string token;
  int pages = 0;
  do {
    v1::ListBatchesRequest request;
    request.set_page_size(3);
    request.set_page_token(token);
    auto response = ops_->ListBatches(request);
    ASSERT_TRUE(response.ok()) << response.status();
    for (const auto& b : response->batches()) {
      listed.push_back(b.name());
      EXPECT_EQ(b.counts().total(), 1);
      EXPECT_EQ(b.shards_size(), 0);
    }
    token = response->next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  std::vector<std::string> newest_first(submitted.rbegin(), submitted.rend());
  EXPECT_EQ(listed, newest_first);

  v1::ListBatchesRequest all;
  auto everything = ops_->ListBatches(all);
  ASSERT_TRUE(everything.ok());
  EXPECT_EQ(everything->batches_size(), 7);
  EXPECT_TRUE(everything->next_page_token().empty());
}

TEST_F(BatchOperationsTest, ListBatchesErrors) {
  v1::ListBatchesRequest request;
  request.set_page_size(-1);
  EXPECT_EQ(ops_->ListBatches(request).status().code(), absl::StatusCode::kInvalidArgument);
  request.set_page_size(1);
  request.set_page_token("garbage");
  EXPECT_EQ(ops_->ListBatches(request).status().code(), absl::StatusCode::kInvalidArgument);
  // A ListDocuments token is not a ListBatches token.
  const std::string id = IdOf(Submit(Docs(3)));
  v1::ListDocumentsRequest docs;
  docs.set_parent("batches/" + id);
  docs.set_page_size(1);
  std::string doc_token = ops_->ListDocuments(docs)->next_page_token();
  ASSERT_FALSE(doc_token.empty());
  request.set_page_token(doc_token);
  EXPECT_EQ(ops_->ListBatches(request).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BatchOperationsTest, ListDocumentsPagesInIdOrderAndFilters) {
  const std::string id = IdOf(Submit(Docs(25)));
  Sql("UPDATE documents SET state = 'FAILED', error = 'bad scan' WHERE document_id IN "
      "('doc03', 'doc17', 'doc24')");
  std::vector<std::string> ids;
  std::string token;
  int pages = 0;
  do {
    v1::ListDocumentsRequest request;
    request.set_parent("batches/" + id);
    request.set_page_size(10);
    request.set_page_token(token);
    auto response = ops_->ListDocuments(request);
    ASSERT_TRUE(response.ok()) << response.status();
    for (const auto& d : response->documents()) {
      ids.push_back(d.document_id());
      EXPECT_EQ(d.name(), "batches/" + id + "/documents/" + d.document_id());
      EXPECT_EQ(d.path(), d.document_id() + ".pdf");
      EXPECT_GT(d.size_bytes(), 0);
    }
    token = response->next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(ids.size(), 25u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 25u);

  v1::ListDocumentsRequest failed;
  failed.set_parent("batches/" + id);
  failed.add_states(v1::DOCUMENT_STATE_FAILED);
  failed.set_page_size(2);
  auto page1 = ops_->ListDocuments(failed);
  ASSERT_TRUE(page1.ok());
  ASSERT_EQ(page1->documents_size(), 2);
  EXPECT_EQ(page1->documents(0).document_id(), "doc03");
  EXPECT_EQ(page1->documents(0).state(), v1::DOCUMENT_STATE_FAILED);
  EXPECT_EQ(page1->documents(0).error(), "bad scan");
  failed.set_page_token(page1->next_page_token());
  auto page2 = ops_->ListDocuments(failed);
  ASSERT_TRUE(page2.ok()) << page2.status();
  ASSERT_EQ(page2->documents_size(), 1);
  EXPECT_EQ(page2->documents(0).document_id(), "doc24");
  EXPECT_TRUE(page2->next_page_token().empty());

  // Several states at once.
  v1::ListDocumentsRequest both;
  both.set_parent("batches/" + id);
  both.add_states(v1::DOCUMENT_STATE_FAILED);
  both.add_states(v1::DOCUMENT_STATE_PENDING);
  EXPECT_EQ(ops_->ListDocuments(both)->documents_size(), 25);
}

TEST_F(BatchOperationsTest, ListDocumentsErrors) {
  const std::string id = IdOf(Submit(Docs(3)));
  const std::string other = IdOf(Submit(Docs(3, 3)));
  v1::ListDocumentsRequest request;
  request.set_parent("batches/" + id);
  request.set_page_size(1);
  std::string token = ops_->ListDocuments(request)->next_page_token();

  v1::ListDocumentsRequest wrong_parent = request;
  wrong_parent.set_parent("batches/" + other);
  wrong_parent.set_page_token(token);
  EXPECT_EQ(ops_->ListDocuments(wrong_parent).status().code(), absl::StatusCode::kInvalidArgument);

  v1::ListDocumentsRequest wrong_filter = request;
  wrong_filter.set_page_token(token);
  wrong_filter.add_states(v1::DOCUMENT_STATE_FAILED);
  EXPECT_EQ(ops_->ListDocuments(wrong_filter).status().code(), absl::StatusCode::kInvalidArgument);

  v1::ListDocumentsRequest negative = request;
  negative.set_page_size(-5);
  EXPECT_EQ(ops_->ListDocuments(negative).status().code(), absl::StatusCode::kInvalidArgument);

  v1::ListDocumentsRequest bad_state = request;
  bad_state.add_states(v1::DOCUMENT_STATE_UNSPECIFIED);
  EXPECT_EQ(ops_->ListDocuments(bad_state).status().code(), absl::StatusCode::kInvalidArgument);
  bad_state.clear_states();
  bad_state.add_states(static_cast<v1::DocumentState>(42));
  EXPECT_EQ(ops_->ListDocuments(bad_state).status().code(), absl::StatusCode::kInvalidArgument);

  v1::ListDocumentsRequest unknown;
  unknown.set_parent("batches/nope");
  EXPECT_EQ(ops_->ListDocuments(unknown).status().code(), absl::StatusCode::kNotFound);
  unknown.set_parent("nope");
  EXPECT_EQ(ops_->ListDocuments(unknown).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BatchOperationsTest, CancelPendingBatchEndsAtOnce) {
  const std::string id = IdOf(Submit(Docs(3)));
  v1::CancelBatchRequest request;
  request.set_name("batches/" + id);
  auto response = ops_->CancelBatch(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->batch().state(), v1::BATCH_STATE_CANCELLED);
  EXPECT_EQ(response->batch().counts().cancelled(), 3);
  EXPECT_TRUE(response->batch().has_end_time());
  // Twice is fine.
  auto again = ops_->CancelBatch(request);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->batch().state(), v1::BATCH_STATE_CANCELLED);
}

TEST_F(BatchOperationsTest, CancelRunningBatchCancelsShardsAtOpenAi) {
  const std::string id = IdOf(Submit(Docs(6)));
  const std::string q = "'" + id + "'";
  Sql("UPDATE batches SET state = 'RUNNING' WHERE id = " + q);
  // s0001 at OpenAI, s0002 uploaded but not created, s0003 already retrieved.
  Sql("INSERT INTO shards (batch_id, shard_id, state, openai_batch_id) VALUES "
      "(" +
      q + ", 's0001', 'SUBMITTED', 'batch_1'), (" + q +
      ", 's0002', 'UPLOADED', NULL), "
      "(" +
      q + ", 's0003', 'DONE', 'batch_3')");
  Sql("UPDATE documents SET state = 'SUBMITTED', shard_id = 's0001' WHERE document_id IN "
      "('doc00', 'doc01')");
  Sql("UPDATE documents SET state = 'PREPARED', shard_id = 's0002' WHERE document_id IN "
      "('doc02', 'doc03')");
  Sql("UPDATE documents SET state = 'SUCCEEDED', shard_id = 's0003' WHERE document_id = 'doc04'");
  // doc05 stays PENDING.

  v1::CancelBatchRequest request;
  request.set_name("batches/" + id);
  auto response = ops_->CancelBatch(request);
  ASSERT_TRUE(response.ok()) << response.status();
  const v1::Batch& batch = response->batch();
  EXPECT_EQ(batch.state(), v1::BATCH_STATE_CANCELLING);
  EXPECT_FALSE(batch.has_end_time());
  EXPECT_EQ(batch.counts().submitted(), 2);
  EXPECT_EQ(batch.counts().cancelled(), 3);  // doc02, doc03 (PREPARED), doc05 (PENDING)
  EXPECT_EQ(batch.counts().succeeded(), 1);
  auto shard_state = [&](const std::string& shard) {
    return Sql("SELECT state FROM shards WHERE shard_id = '" + shard + "'")[0][0].as<std::string>();
  };
  EXPECT_EQ(shard_state("s0001"), "SUBMITTED");
  EXPECT_EQ(shard_state("s0002"), "CANCELLED");
  EXPECT_EQ(shard_state("s0003"), "DONE");
  auto cancels = Sql("SELECT subject FROM tasks WHERE kind = 'cancel'");
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(cancels[0][0].as<std::string>(), id + "/s0001");

  // Cancelling again changes nothing and queues nothing more.
  auto again = ops_->CancelBatch(request);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->batch().state(), v1::BATCH_STATE_CANCELLING);
  EXPECT_EQ(Count("SELECT count(*) FROM tasks WHERE kind = 'cancel'"), 1);
}

TEST_F(BatchOperationsTest, CancelErrors) {
  const std::string id = IdOf(Submit(Docs(1)));
  Sql("UPDATE batches SET state = 'SUCCEEDED', end_time = now() WHERE id = '" + id + "'");
  v1::CancelBatchRequest request;
  request.set_name("batches/" + id);
  auto finished = ops_->CancelBatch(request);
  EXPECT_EQ(finished.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(finished.status().message()), HasSubstr("SUCCEEDED"));
  for (const char* state : {"FAILED", "PARTIALLY_SUCCEEDED"}) {
    Sql(std::string("UPDATE batches SET state = '") + state + "' WHERE id = '" + id + "'");
    EXPECT_EQ(ops_->CancelBatch(request).status().code(), absl::StatusCode::kFailedPrecondition);
  }
  request.set_name("batches/unknown-batch");
  EXPECT_EQ(ops_->CancelBatch(request).status().code(), absl::StatusCode::kNotFound);
  request.set_name("batches/Bad");
  EXPECT_EQ(ops_->CancelBatch(request).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BatchOperationsTest, RetryRequeuesFailedDocuments) {
  const std::string id = IdOf(Submit(Docs(4)));
  const std::string q = "'" + id + "'";
  Sql("UPDATE tasks SET state = 'succeeded'");
  Sql("UPDATE documents SET state = 'SUCCEEDED' WHERE batch_id = " + q);
  Sql("UPDATE documents SET state = 'FAILED', attempts = 3, error = 'timeout' WHERE "
      "document_id IN ('doc01', 'doc02')");
  Sql("UPDATE batches SET state = 'PARTIALLY_SUCCEEDED', end_time = now() WHERE id = " + q);
  v1::RetryBatchRequest request;
  request.set_name("batches/" + id);
  auto response = ops_->RetryBatch(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->requeued_documents(), 2);
  EXPECT_EQ(response->batch().state(), v1::BATCH_STATE_RUNNING);
  EXPECT_FALSE(response->batch().has_end_time());
  EXPECT_EQ(response->batch().counts().pending(), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM documents WHERE state = 'PENDING' AND attempts = 0 AND "
                  "error IS NULL"),
            2);
  EXPECT_EQ(Count("SELECT count(*) FROM tasks WHERE kind = 'plan' AND state = 'available'"), 1);

  // Running again: not retryable until it ends.
  EXPECT_EQ(ops_->RetryBatch(request).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(BatchOperationsTest, RetryWithNothingFailedChangesNothing) {
  const std::string id = IdOf(Submit(Docs(2)));
  Sql("UPDATE documents SET state = 'SUCCEEDED'");
  Sql("UPDATE tasks SET state = 'succeeded'");
  Sql("UPDATE batches SET state = 'SUCCEEDED', end_time = now() WHERE id = '" + id + "'");
  v1::RetryBatchRequest request;
  request.set_name("batches/" + id);
  auto response = ops_->RetryBatch(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->requeued_documents(), 0);
  EXPECT_EQ(response->batch().state(), v1::BATCH_STATE_SUCCEEDED);
  EXPECT_EQ(Count("SELECT count(*) FROM tasks WHERE state = 'available'"), 0);
}

TEST_F(BatchOperationsTest, RetrySyncBatchQueuesTranscribe) {
  v1::SubmitDocumentsRequest sync = Docs(1);
  sync.set_mode(v1::MODE_SYNC);
  const std::string id = IdOf(Submit(sync));
  Sql("UPDATE tasks SET state = 'succeeded'");
  Sql("UPDATE documents SET state = 'FAILED'");
  Sql("UPDATE batches SET state = 'FAILED' WHERE id = '" + id + "'");
  v1::RetryBatchRequest request;
  request.set_name("batches/" + id);
  ASSERT_EQ(ops_->RetryBatch(request)->requeued_documents(), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM tasks WHERE kind = 'transcribe' AND state = 'available'"),
            1);
}

TEST_F(BatchOperationsTest, RetryErrors) {
  const std::string id = IdOf(Submit(Docs(1)));
  v1::RetryBatchRequest request;
  request.set_name("batches/" + id);
  EXPECT_EQ(ops_->RetryBatch(request).status().code(), absl::StatusCode::kFailedPrecondition);
  Sql("UPDATE documents SET state = 'FAILED'");
  Sql("UPDATE batches SET state = 'CANCELLED' WHERE id = '" + id + "'");
  EXPECT_EQ(ops_->RetryBatch(request).status().code(), absl::StatusCode::kFailedPrecondition);
  request.set_name("batches/none");
  EXPECT_EQ(ops_->RetryBatch(request).status().code(), absl::StatusCode::kNotFound);
  request.set_name("");
  EXPECT_EQ(ops_->RetryBatch(request).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BatchOperationsTest, CostReportGroupsByDayModelAndMode) {
  const std::string a = IdOf(Submit(Docs(3)));
  v1::SubmitDocumentsRequest sync = Docs(2, 3);
  sync.set_mode(v1::MODE_SYNC);
  sync.set_model("gpt-5-nano");
  const std::string b = IdOf(Submit(sync));
  Sql("UPDATE documents SET input_tokens = 100, cached_input_tokens = 10, output_tokens = 50, "
      "cost_usd = 1, sync_cost_usd = 2, usage_time = '2026-01-01 23:30:00+00' "
      "WHERE document_id IN ('doc00', 'doc01')");
  Sql("UPDATE documents SET input_tokens = 7, output_tokens = 3, cost_usd = 0.5, "
      "sync_cost_usd = 1, usage_time = '2026-01-02 00:30:00+00' WHERE document_id = 'doc02'");
  Sql("UPDATE documents SET input_tokens = 1000, output_tokens = 100, cost_usd = 3, "
      "sync_cost_usd = 3, usage_time = '2026-01-02 12:00:00+00' WHERE batch_id = '" +
      b + "'");

  v1::GetCostReportRequest all;
  auto report = ops_->GetCostReport(all);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->rows_size(), 3);
  EXPECT_EQ(report->rows(0).day(), "2026-01-01");
  EXPECT_EQ(report->rows(0).model(), "gpt-4.1-mini");
  EXPECT_EQ(report->rows(0).mode(), v1::MODE_BATCH);
  EXPECT_EQ(report->rows(0).documents(), 2);
  EXPECT_EQ(report->rows(0).usage().input_tokens(), 200);
  EXPECT_EQ(report->rows(0).usage().cached_input_tokens(), 20);
  EXPECT_DOUBLE_EQ(report->rows(0).cost_usd(), 2);
  EXPECT_DOUBLE_EQ(report->rows(0).sync_equivalent_cost_usd(), 4);
  EXPECT_EQ(report->rows(1).day(), "2026-01-02");
  EXPECT_EQ(report->rows(1).model(), "gpt-4.1-mini");
  EXPECT_EQ(report->rows(2).model(), "gpt-5-nano");
  EXPECT_EQ(report->rows(2).mode(), v1::MODE_SYNC);
  EXPECT_EQ(report->rows(2).documents(), 2);
  EXPECT_EQ(report->total().documents(), 5);
  EXPECT_EQ(report->total().usage().input_tokens(), 2207);
  EXPECT_DOUBLE_EQ(report->total().cost_usd(), 8.5);
  EXPECT_DOUBLE_EQ(report->total().sync_equivalent_cost_usd(), 11);
  EXPECT_TRUE(report->total().day().empty());

  v1::GetCostReportRequest day2;
  day2.mutable_start_time()->set_seconds(1767312000);  // 2026-01-02T00:00:00Z
  day2.mutable_end_time()->set_seconds(1767312000 + 86400);
  day2.set_model("gpt-4.1-mini");
  auto filtered = ops_->GetCostReport(day2);
  ASSERT_TRUE(filtered.ok());
  ASSERT_EQ(filtered->rows_size(), 1);
  EXPECT_EQ(filtered->rows(0).documents(), 1);
  EXPECT_EQ(filtered->total().usage().input_tokens(), 7);
  (void)a;
}

TEST_F(BatchOperationsTest, CostReportErrors) {
  v1::GetCostReportRequest backwards;
  backwards.mutable_start_time()->set_seconds(2000);
  backwards.mutable_end_time()->set_seconds(1000);
  EXPECT_EQ(ops_->GetCostReport(backwards).status().code(), absl::StatusCode::kInvalidArgument);
  v1::GetCostReportRequest bad_time;
  bad_time.mutable_start_time()->set_nanos(-1);
  EXPECT_EQ(ops_->GetCostReport(bad_time).status().code(), absl::StatusCode::kInvalidArgument);
  v1::GetCostReportRequest bad_model;
  bad_model.set_model("a/b");
  EXPECT_EQ(ops_->GetCostReport(bad_model).status().code(), absl::StatusCode::kInvalidArgument);
  v1::GetCostReportRequest empty;
  auto report = ops_->GetCostReport(empty);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->rows_size(), 0);
  EXPECT_EQ(report->total().documents(), 0);
}

// Collects WatchBatch updates on a thread.
class WatchCollector {
 public:
  WatchCollector(BatchOperations& ops, const std::string& name) {
    thread_ = std::thread([&ops, this, name] {
      v1::WatchBatchRequest request;
      request.set_name(name);
      absl::Status status = ops.WatchBatch(
          request,
          [this](const v1::WatchBatchResponse& update) {
            std::lock_guard lock(mu_);
            updates_.push_back(update.batch());
            return true;
          },
          [this] { return cancel_.load(); });
      std::lock_guard lock(mu_);
      status_ = status;
      done_ = true;
    });
  }
  ~WatchCollector() {
    cancel_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<v1::Batch> updates() {
    std::lock_guard lock(mu_);
    return updates_;
  }
  bool done() {
    std::lock_guard lock(mu_);
    return done_;
  }
  absl::Status status() {
    std::lock_guard lock(mu_);
    return status_;
  }
  void Cancel() { cancel_ = true; }

 private:
  std::mutex mu_;
  std::vector<v1::Batch> updates_;
  absl::Status status_;
  bool done_ = false;
  std::atomic<bool> cancel_{false};
  std::thread thread_;
};

TEST_F(BatchOperationsTest, WatchStreamsEveryChangeUntilTheBatchEnds) {
  const std::string id = IdOf(Submit(Docs(3)));
  WatchCollector watch(*ops_, "batches/" + id);
  ASSERT_TRUE(Eventually([&] { return watch.updates().size() == 1; }));
  EXPECT_EQ(watch.updates()[0].state(), v1::BATCH_STATE_PENDING);  // the current snapshot

  auto change = [&](const std::string& sql) {
    pqxx::connection conn(db_.url());
    pqxx::work tx(conn);
    tx.exec(sql);
    tx.exec_params("SELECT pg_notify('batchscribe_batches', $1)", id);
    tx.commit();
  };
  change("UPDATE batches SET state = 'RUNNING', update_time = now() WHERE id = '" + id + "'");
  ASSERT_TRUE(Eventually([&] {
    auto u = watch.updates();
    return !u.empty() && u.back().state() == v1::BATCH_STATE_RUNNING;
  }));
  change("UPDATE documents SET state = 'SUCCEEDED' WHERE document_id = 'doc00'");
  ASSERT_TRUE(Eventually([&] {
    auto u = watch.updates();
    return !u.empty() && u.back().counts().succeeded() == 1;
  }));
  EXPECT_FALSE(watch.done());
  change(
      "UPDATE documents SET state = 'SUCCEEDED'; UPDATE batches SET state = 'SUCCEEDED', "
      "end_time = now() WHERE id = '" +
      id + "'");
  ASSERT_TRUE(Eventually([&] { return watch.done(); }));
  EXPECT_TRUE(watch.status().ok()) << watch.status();
  auto updates = watch.updates();
  EXPECT_EQ(updates.back().state(), v1::BATCH_STATE_SUCCEEDED);
  EXPECT_EQ(updates.back().counts().succeeded(), 3);
  EXPECT_GE(updates.size(), 4u);
  // Never two identical snapshots in a row.
  for (std::size_t i = 1; i < updates.size(); ++i) {
    EXPECT_NE(updates[i].SerializeAsString(), updates[i - 1].SerializeAsString());
  }
}

TEST_F(BatchOperationsTest, WatchFallsBackToPollingWithoutNotifications) {
  const std::string id = IdOf(Submit(Docs(1)));
  WatchCollector watch(*ops_, "batches/" + id);
  ASSERT_TRUE(Eventually([&] { return watch.updates().size() == 1; }));
  Sql("UPDATE batches SET state = 'CANCELLED', end_time = now() WHERE id = '" + id + "'");
  ASSERT_TRUE(Eventually([&] { return watch.done(); }));
  EXPECT_EQ(watch.updates().back().state(), v1::BATCH_STATE_CANCELLED);
}

TEST_F(BatchOperationsTest, WatchOfAFinishedBatchSendsOneSnapshot) {
  Sql("SELECT 1");
  ASSERT_TRUE(
      storage::AtomicWriteFile(storage::TranscriptPath(store_, "gpt-4.1-mini", "doc00"), "{}")
          .ok());
  const std::string id = IdOf(Submit(Docs(1)));  // all skipped: SUCCEEDED
  WatchCollector watch(*ops_, "batches/" + id);
  ASSERT_TRUE(Eventually([&] { return watch.done(); }));
  EXPECT_TRUE(watch.status().ok());
  EXPECT_EQ(watch.updates().size(), 1u);
}

TEST_F(BatchOperationsTest, WatchEndsWhenTheClientGoesAwayOrTheServerDrains) {
  const std::string id = IdOf(Submit(Docs(1)));
  {
    WatchCollector watch(*ops_, "batches/" + id);
    ASSERT_TRUE(Eventually([&] { return watch.updates().size() == 1; }));
    watch.Cancel();
    ASSERT_TRUE(Eventually([&] { return watch.done(); }));
    EXPECT_EQ(watch.status().code(), absl::StatusCode::kCancelled);
  }
  EXPECT_TRUE(Eventually([&] { return hub_->subscriber_count() == 0; }));
  WatchCollector draining(*ops_, "batches/" + id);
  ASSERT_TRUE(Eventually([&] { return draining.updates().size() == 1; }));
  ops_->BeginDrain();
  ASSERT_TRUE(Eventually([&] { return draining.done(); }));
  EXPECT_EQ(draining.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(BatchOperationsTest, WatchErrorsComeBeforeAnyUpdate) {
  WatchCollector unknown(*ops_, "batches/not-there");
  ASSERT_TRUE(Eventually([&] { return unknown.done(); }));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(unknown.updates().empty());
  WatchCollector malformed(*ops_, "nope");
  ASSERT_TRUE(Eventually([&] { return malformed.done(); }));
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
}

// --- Documents in parts (issue 13). The worker's plan and retrieve steps are
// simulated with SQL on batches, documents and document_parts.

TEST_F(BatchOperationsTest, SplitPolicyIsStoredAndReturned) {
  const v1::Batch default_policy = Submit(Docs(1));
  EXPECT_EQ(default_policy.split_policy(), v1::SPLIT_POLICY_AUTO);
  v1::SubmitDocumentsRequest never = Docs(1, 1);
  never.set_split_policy(v1::SPLIT_POLICY_NEVER);
  const v1::Batch never_batch = Submit(never);
  EXPECT_EQ(never_batch.split_policy(), v1::SPLIT_POLICY_NEVER);
  v1::SubmitDocumentsRequest allow = Docs(1, 2);
  allow.set_split_policy(v1::SPLIT_POLICY_ALLOW);
  const v1::Batch allow_batch = Submit(allow);

  auto stored = [&](const v1::Batch& b) {
    return Sql("SELECT split_policy FROM batches WHERE id = '" + IdOf(b) + "'")[0][0]
        .as<std::string>();
  };
  EXPECT_EQ(stored(default_policy), "AUTO");
  EXPECT_EQ(stored(never_batch), "NEVER");
  EXPECT_EQ(stored(allow_batch), "ALLOW");
  EXPECT_EQ(Get(IdOf(never_batch)).split_policy(), v1::SPLIT_POLICY_NEVER);
  auto list = ops_->ListBatches(v1::ListBatchesRequest());
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->batches_size(), 3);
  std::set<int> policies;
  for (const auto& b : list->batches()) policies.insert(b.split_policy());
  EXPECT_EQ(policies, (std::set<int>{v1::SPLIT_POLICY_AUTO, v1::SPLIT_POLICY_ALLOW,
                                     v1::SPLIT_POLICY_NEVER}));
}

TEST_F(BatchOperationsTest, ReplayWithTheDefaultPolicyFindsTheBatch) {
  v1::SubmitDocumentsRequest request = Docs(2);
  request.set_request_id("req-policy");
  const v1::Batch first = Submit(request);

  v1::SubmitDocumentsRequest explicit_auto = request;
  explicit_auto.set_split_policy(v1::SPLIT_POLICY_AUTO);
  explicit_auto.set_max_completion_tokens(32768);
  auto again = ops_->SubmitDocuments(explicit_auto);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed());
  EXPECT_EQ(again->batch().name(), first.name());

  v1::SubmitDocumentsRequest never = request;
  never.set_split_policy(v1::SPLIT_POLICY_NEVER);
  EXPECT_EQ(ops_->SubmitDocuments(never).status().code(), absl::StatusCode::kInvalidArgument);

  // A batch recorded while the default max_completion_tokens was 16000 keeps
  // its hash of that time; replaying the same request still finds it.
  Sql("UPDATE batches SET request_hash = '" + *LegacySubmitRequestHash(request) +
      "', max_completion_tokens = 16000 WHERE id = '" + IdOf(first) + "'");
  auto legacy = ops_->SubmitDocuments(request);
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  EXPECT_TRUE(legacy->replayed());
  EXPECT_EQ(legacy->batch().max_completion_tokens(), 16000);
  EXPECT_EQ(Count("SELECT count(*) FROM batches"), 1);
}

TEST_F(BatchOperationsTest, MaxCompletionTokensDefaultsToAndIsCappedByTheModel) {
  v1::SubmitDocumentsRequest request = Docs(1);
  request.set_model("gpt-4o-mini");
  EXPECT_EQ(Submit(request).max_completion_tokens(), 16384);
  request.set_max_completion_tokens(20000);
  auto refused = ops_->SubmitDocuments(request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("max_completion_tokens"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("16384"));
  EXPECT_EQ(Count("SELECT count(*) FROM batches"), 1);
}

TEST_F(BatchOperationsTest, GetBatchShowsPagesAndParts) {
  const std::string id = IdOf(Submit(Docs(3)));
  const std::string q = "'" + id + "'";
  Sql("UPDATE batches SET state = 'RUNNING', page_count = 3002, pages_succeeded = 1234, "
      "part_count = 77, parts_succeeded = 20 WHERE id = " + q);
  Sql("UPDATE documents SET page_count = 3000, part_count = 75 WHERE document_id = 'doc00'");
  Sql("UPDATE documents SET page_count = 1, part_count = 1 WHERE document_id IN ('doc01', "
      "'doc02')");
  const v1::Batch batch = Get(id);
  EXPECT_EQ(batch.pages().pages(), 3002);
  EXPECT_EQ(batch.pages().pages_succeeded(), 1234);
  EXPECT_EQ(batch.pages().parts(), 77);
  EXPECT_EQ(batch.pages().parts_succeeded(), 20);
  EXPECT_EQ(batch.pages().split_documents(), 1);

  // ListBatches (and WatchBatch) carry the batch row's figures, without the
  // count over documents.
  auto list = ops_->ListBatches(v1::ListBatchesRequest());
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->batches_size(), 1);
  EXPECT_EQ(list->batches(0).pages().pages(), 3002);
  EXPECT_EQ(list->batches(0).pages().parts_succeeded(), 20);
  EXPECT_EQ(list->batches(0).pages().split_documents(), 0);
}

TEST_F(BatchOperationsTest, ListDocumentsShowsEachDocumentsParts) {
  const std::string id = IdOf(Submit(Docs(3)));
  const std::string q = "'" + id + "'";
  // doc00: 250 pages in three live parts; 1-100 was cut and replaced by its halves.
  Sql("UPDATE documents SET state = 'SUBMITTED', page_count = 250, part_count = 3, "
      "parts_succeeded = 1 WHERE document_id = 'doc00'");
  Sql("INSERT INTO document_parts (batch_id, document_id, first_page, last_page, state, error) "
      "VALUES (" + q + ", 'doc00', 101, 250, 'SUCCEEDED', NULL), (" + q +
      ", 'doc00', 1, 100, 'SPLIT', 'output truncated'), (" + q +
      ", 'doc00', 51, 100, 'FAILED', 'server error 500'), (" + q +
      ", 'doc00', 1, 50, 'PENDING', NULL)");
  // doc01: one part, sent under the document id.
  Sql("UPDATE documents SET state = 'SUBMITTED', page_count = 4, part_count = 1 "
      "WHERE document_id = 'doc01'");
  Sql("INSERT INTO document_parts (batch_id, document_id, first_page, last_page) VALUES (" + q +
      ", 'doc01', 1, 4)");
  // doc02: not planned yet.

  v1::ListDocumentsRequest request;
  request.set_parent("batches/" + id);
  auto response = ops_->ListDocuments(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->documents_size(), 3);

  const v1::Document& split = response->documents(0);
  EXPECT_EQ(split.page_count(), 250);
  EXPECT_EQ(split.part_count(), 3);
  EXPECT_EQ(split.parts_succeeded(), 1);
  ASSERT_EQ(split.parts_size(), 3) << "the SPLIT part is not shown";
  EXPECT_EQ(split.parts(0).first_page(), 1);
  EXPECT_EQ(split.parts(0).last_page(), 50);
  EXPECT_EQ(split.parts(0).state(), "PENDING");
  EXPECT_EQ(split.parts(0).custom_id(), "doc00~p0001-0050");
  EXPECT_EQ(split.parts(1).first_page(), 51);
  EXPECT_EQ(split.parts(1).state(), "FAILED");
  EXPECT_EQ(split.parts(1).error(), "server error 500");
  EXPECT_EQ(split.parts(1).custom_id(), "doc00~p0051-0100");
  EXPECT_EQ(split.parts(2).custom_id(), "doc00~p0101-0250");
  EXPECT_EQ(split.parts(2).state(), "SUCCEEDED");
  EXPECT_EQ(split.parts(2).error(), "");

  const v1::Document& whole = response->documents(1);
  EXPECT_EQ(whole.page_count(), 4);
  EXPECT_EQ(whole.part_count(), 1);
  ASSERT_EQ(whole.parts_size(), 1);
  EXPECT_EQ(whole.parts(0).custom_id(), "doc01");
  EXPECT_EQ(whole.parts(0).last_page(), 4);

  const v1::Document& unplanned = response->documents(2);
  EXPECT_EQ(unplanned.page_count(), 0);
  EXPECT_EQ(unplanned.part_count(), 0);
  EXPECT_EQ(unplanned.parts_size(), 0);
}

TEST_F(BatchOperationsTest, RetryResetsFailedPartsButKeepsSucceededOnes) {
  const std::string id = IdOf(Submit(Docs(2)));
  const std::string q = "'" + id + "'";
  Sql("UPDATE tasks SET state = 'succeeded'");
  Sql("UPDATE documents SET state = 'FAILED', error = 'a part failed', page_count = 300, "
      "part_count = 3, parts_succeeded = 1 WHERE document_id = 'doc00'");
  Sql("UPDATE documents SET state = 'SUCCEEDED', page_count = 10, part_count = 1, "
      "parts_succeeded = 1 WHERE document_id = 'doc01'");
  Sql("INSERT INTO document_parts (batch_id, document_id, first_page, last_page, state, "
      "attempts, error, answer_path, output_tokens, cost_usd) VALUES "
      "(" + q + ", 'doc00', 1, 100, 'SUCCEEDED', 1, NULL, 'parts/doc00/1.json', 900, 0.25), "
      "(" + q + ", 'doc00', 101, 200, 'FAILED', 3, 'server error 500', NULL, 0, 0), "
      "(" + q + ", 'doc00', 201, 300, 'FAILED', 1, 'refused', NULL, 0, 0), "
      "(" + q + ", 'doc01', 1, 10, 'SUCCEEDED', 1, NULL, 'parts/doc01.json', 100, 0.01)");
  Sql("UPDATE batches SET state = 'PARTIALLY_SUCCEEDED', end_time = now() WHERE id = " + q);

  v1::RetryBatchRequest request;
  request.set_name("batches/" + id);
  auto response = ops_->RetryBatch(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->requeued_documents(), 1);

  auto parts = Sql(
      "SELECT document_id, first_page, state, attempts, coalesce(error, '-'), "
      "coalesce(answer_path, '-'), output_tokens FROM document_parts ORDER BY document_id, "
      "first_page");
  ASSERT_EQ(parts.size(), 4u);
  auto row = [&](int i) {
    std::string out;
    for (const auto& field : parts[i]) out += (out.empty() ? "" : " ") + field.as<std::string>();
    return out;
  };
  EXPECT_EQ(row(0), "doc00 1 SUCCEEDED 1 - parts/doc00/1.json 900") << "not paid twice";
  EXPECT_EQ(row(1), "doc00 101 PENDING 0 - - 0");
  EXPECT_EQ(row(2), "doc00 201 PENDING 0 - - 0");
  EXPECT_EQ(row(3), "doc01 1 SUCCEEDED 1 - parts/doc01.json 100");
  EXPECT_EQ(Count("SELECT parts_succeeded FROM documents WHERE document_id = 'doc00'"), 1);
}

}  // namespace
}  // namespace batchscribe::coordinator
