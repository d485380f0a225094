// libs/pipeline against PostgreSQL: the batch-ending rules, releasing the
// documents of a shard, giving a shard up, and the sweep that repairs work
// stranded by tasks that failed for good.

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "libs/db/migrations.h"
#include "libs/pipeline/batch_progress.h"
#include "libs/pipeline/stranded_sweep.h"
#include "tests/support/test_env.h"

namespace batchscribe::pipeline {
namespace {

class PipelineDbTest : public ::testing::Test {
 protected:
  PipelineDbTest() : conn_(db_.url()) {
    auto applied = db::ApplyMigrations(conn_, db::EmbeddedMigrations());
    EXPECT_TRUE(applied.ok()) << applied.status();
  }

  void Exec(const std::string& sql) {
    pqxx::work tx(conn_);
    tx.exec(sql);
    tx.commit();
  }

  std::string Value(const std::string& sql) {
    pqxx::work tx(conn_);
    auto r = tx.exec(sql);
    return r.empty() || r[0][0].is_null() ? "" : r[0][0].as<std::string>();
  }

  void AddBatch(const std::string& id, const std::string& state = "RUNNING",
                const std::string& mode = "BATCH") {
    Exec(
        "INSERT INTO batches (id, request_hash, state, model, mode, prompt, json_schema, "
        "max_completion_tokens, skip_existing) VALUES ('" +
        id + "', 'h', '" + state + "', 'gpt-4.1-mini', '" + mode + "', 'p', '{}', 100, true)");
  }

  void AddDocument(const std::string& batch, const std::string& doc, const std::string& state,
                   const std::string& shard = "", int attempts = 0) {
    Exec(
        "INSERT INTO documents (batch_id, document_id, path, size_bytes, state, attempts, "
        "shard_id) VALUES ('" +
        batch + "', '" + doc + "', '" + doc + ".pdf', 10, '" + state + "', " +
        std::to_string(attempts) + ", " + (shard.empty() ? "NULL" : "'" + shard + "'") + ")");
    if (!shard.empty()) {
      Exec("INSERT INTO shard_documents (batch_id, shard_id, document_id, line_bytes) VALUES ('" +
           batch + "', '" + shard + "', '" + doc + "', 100) ON CONFLICT DO NOTHING");
    }
  }

  void AddShard(const std::string& batch, const std::string& shard, const std::string& state,
                const std::string& openai_id = "") {
    Exec("INSERT INTO shards (batch_id, shard_id, state, openai_batch_id) VALUES ('" + batch +
         "', '" + shard + "', '" + state + "', " +
         (openai_id.empty() ? "NULL" : "'" + openai_id + "'") + ")");
  }

  std::string DocState(const std::string& batch, const std::string& doc) {
    return Value("SELECT state FROM documents WHERE batch_id = '" + batch +
                 "' AND document_id = '" + doc + "'");
  }

  int LiveTasks(const std::string& kind, const std::string& subject) {
    return std::stoi(Value("SELECT count(*) FROM tasks WHERE kind = '" + kind +
                           "' AND subject = '" + subject +
                           "' AND state IN ('available', 'running')"));
  }

  std::optional<std::string> Finish(const std::string& batch) {
    pqxx::work tx(conn_);
    auto state = FinishBatchIfSettled(tx, batch);
    tx.commit();
    return state;
  }

  batchscribe::testing::TestDatabase db_;
  pqxx::connection conn_;
};

TEST_F(PipelineDbTest, ABatchEndsOnlyWhenNothingIsInFlight) {
  AddBatch("b1");
  AddDocument("b1", "a", "SUCCEEDED");
  AddDocument("b1", "b", "SUBMITTED");
  EXPECT_FALSE(Finish("b1").has_value());
  Exec("UPDATE documents SET state = 'SKIPPED' WHERE document_id = 'b'");
  EXPECT_EQ(Finish("b1"), "SUCCEEDED");
  EXPECT_EQ(Value("SELECT state FROM batches WHERE id = 'b1'"), "SUCCEEDED");
  EXPECT_FALSE(Value("SELECT end_time FROM batches WHERE id = 'b1'").empty());
  // An ended batch stays ended.
  EXPECT_FALSE(Finish("b1").has_value());
}

TEST_F(PipelineDbTest, FinalStateFollowsTheDocuments) {
  AddBatch("p");
  AddDocument("p", "a", "SUCCEEDED");
  AddDocument("p", "b", "FAILED");
  EXPECT_EQ(Finish("p"), "PARTIALLY_SUCCEEDED");
  AddBatch("f");
  AddDocument("f", "a", "FAILED");
  AddDocument("f", "b", "FAILED");
  EXPECT_EQ(Finish("f"), "FAILED");
  AddBatch("c", "CANCELLING");
  AddDocument("c", "a", "SUCCEEDED");
  AddDocument("c", "b", "CANCELLED");
  EXPECT_EQ(Finish("c"), "CANCELLED");
}

TEST_F(PipelineDbTest, ReleasedDocumentsRetryUntilTheirAttemptsAreSpent) {
  AddBatch("b");
  AddShard("b", "s0001", "SUBMITTED", "batch_x");
  AddDocument("b", "fresh", "SUBMITTED", "s0001", 0);
  AddDocument("b", "last", "SUBMITTED", "s0001", 2);
  AddDocument("b", "done", "SUCCEEDED", "s0001", 1);
  ReleaseCounts counts;
  {
    pqxx::work tx(conn_);
    counts = ReleaseShardDocuments(tx, "b", "s0001", "the batch expired", true);
    tx.commit();
  }
  EXPECT_EQ(counts.pending, 1);
  EXPECT_EQ(counts.failed, 1);
  EXPECT_EQ(DocState("b", "fresh"), "PENDING");
  EXPECT_EQ(DocState("b", "last"), "FAILED");
  EXPECT_EQ(DocState("b", "done"), "SUCCEEDED");
  EXPECT_EQ(Value("SELECT error FROM documents WHERE document_id = 'last'"),
            "the batch expired (after 3 attempts)");
  EXPECT_EQ(Value("SELECT outcome FROM shard_documents WHERE document_id = 'fresh'"), "RETRYABLE");
  EXPECT_EQ(LiveTasks("plan", "b"), 1);
}

TEST_F(PipelineDbTest, ReleasedDocumentsOfACancellingBatchAreCancelled) {
  AddBatch("b", "CANCELLING");
  AddShard("b", "s0001", "SUBMITTED", "batch_x");
  AddDocument("b", "a", "SUBMITTED", "s0001");
  pqxx::work tx(conn_);
  ReleaseCounts counts = ReleaseShardDocuments(tx, "b", "s0001", "x", true);
  tx.commit();
  EXPECT_EQ(counts.cancelled, 1);
  EXPECT_EQ(DocState("b", "a"), "CANCELLED");
  EXPECT_EQ(LiveTasks("plan", "b"), 0);
}

TEST_F(PipelineDbTest, AnAbandonedShardAtOpenAiIsCancelledThere) {
  AddBatch("b");
  AddShard("b", "s0001", "SUBMITTED", "batch_x");
  AddDocument("b", "a", "SUBMITTED", "s0001");
  {
    pqxx::work tx(conn_);
    AbandonShard(tx, "b", "s0001", "poll failed: boom");
    tx.commit();
  }
  EXPECT_EQ(Value("SELECT state FROM shards WHERE shard_id = 's0001'"), "FAILED");
  EXPECT_EQ(LiveTasks("cancel", "b/s0001"), 1);
  EXPECT_EQ(DocState("b", "a"), "PENDING");
  EXPECT_NE(Value("SELECT last_errors[1] FROM batches WHERE id = 'b'").find("boom"),
            std::string::npos);
}

TEST_F(PipelineDbTest, CancellingAShardNotAtOpenAiEndsItsDocumentsAndTheBatch) {
  AddBatch("b", "CANCELLING");
  AddShard("b", "s0001", "UPLOADED");
  AddDocument("b", "a", "PREPARED", "s0001", 1);
  AddDocument("b", "done", "SUCCEEDED", "s0001", 1);
  {
    pqxx::work tx(conn_);
    CancelShard(tx, "b", "s0001");
    tx.commit();
  }
  EXPECT_EQ(Value("SELECT state FROM shards WHERE shard_id = 's0001'"), "CANCELLED");
  EXPECT_EQ(DocState("b", "a"), "CANCELLED");
  EXPECT_EQ(Value("SELECT attempts FROM documents WHERE document_id = 'a'"), "1");
  EXPECT_EQ(Value("SELECT state FROM batches WHERE id = 'b'"), "CANCELLED");
}

TEST_F(PipelineDbTest, SweepReleasesDocumentsOfShardsWithoutALiveTask) {
  AddBatch("b");
  AddShard("b", "s0001", "SUBMITTED", "batch_1");
  AddDocument("b", "stranded", "SUBMITTED", "s0001");
  AddShard("b", "s0002", "SUBMITTED", "batch_2");
  AddDocument("b", "polled", "SUBMITTED", "s0002");
  Exec(
      "INSERT INTO tasks (kind, subject, batch_id, state, attempt, max_attempts, last_error, "
      "finish_time) VALUES ('poll', 'b/s0001', 'b', 'failed', 25, 25, 'lease expired', now())");
  Exec("INSERT INTO tasks (kind, subject, batch_id) VALUES ('poll', 'b/s0002', 'b')");
  SweepReport report = SweepStrandedWork(conn_);
  EXPECT_TRUE(report.ran);
  EXPECT_EQ(report.shards_abandoned, 1);
  EXPECT_EQ(DocState("b", "stranded"), "PENDING");
  EXPECT_EQ(DocState("b", "polled"), "SUBMITTED");
  EXPECT_NE(
      Value("SELECT error FROM documents WHERE document_id = 'stranded'").find("lease expired"),
      std::string::npos);
  EXPECT_EQ(LiveTasks("plan", "b"), 1);
  EXPECT_EQ(LiveTasks("cancel", "b/s0001"), 1);
  // Nothing left to repair.
  SweepReport again = SweepStrandedWork(conn_);
  EXPECT_EQ(again.shards_abandoned, 0);
}

TEST_F(PipelineDbTest, SweepPlansOrFailsPendingDocumentsWithoutAPlanTask) {
  AddBatch("lost");
  AddDocument("lost", "a", "PENDING");
  AddBatch("broken");
  AddDocument("broken", "a", "PENDING");
  Exec("UPDATE documents SET update_time = now() - interval '1 minute' WHERE batch_id = 'broken'");
  Exec(
      "INSERT INTO tasks (kind, subject, batch_id, state, last_error, finish_time) VALUES "
      "('plan', 'broken', 'broken', 'failed', 'database exploded', now())");
  SweepReport report = SweepStrandedWork(conn_);
  EXPECT_EQ(report.plans_enqueued, 1);
  EXPECT_EQ(report.documents_failed, 1);
  EXPECT_EQ(LiveTasks("plan", "lost"), 1);
  EXPECT_EQ(DocState("broken", "a"), "FAILED");
  EXPECT_EQ(Value("SELECT state FROM batches WHERE id = 'broken'"), "FAILED");
}

TEST_F(PipelineDbTest, SweepEndsSettledBatches) {
  AddBatch("b");
  AddDocument("b", "a", "SUCCEEDED");
  AddBatch("c", "CANCELLING");
  AddDocument("c", "a", "PENDING");
  SweepReport report = SweepStrandedWork(conn_);
  EXPECT_EQ(report.batches_finished, 2);
  EXPECT_EQ(Value("SELECT state FROM batches WHERE id = 'b'"), "SUCCEEDED");
  EXPECT_EQ(DocState("c", "a"), "CANCELLED");
  EXPECT_EQ(Value("SELECT state FROM batches WHERE id = 'c'"), "CANCELLED");
}

TEST_F(PipelineDbTest, OnlyOneSweepRunsAtATime) {
  AddBatch("b");
  AddDocument("b", "a", "SUCCEEDED");
  pqxx::connection other(db_.url());
  pqxx::work holder(other);
  holder.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kSweepLockKey) + ")");
  SweepReport blocked = SweepStrandedWork(conn_);
  EXPECT_FALSE(blocked.ran);
  EXPECT_EQ(Value("SELECT state FROM batches WHERE id = 'b'"), "RUNNING");
  holder.abort();
  EXPECT_TRUE(SweepStrandedWork(conn_).ran);
}

TEST_F(PipelineDbTest, AnEndingBatchHasItsDocumentCountsCompacted) {
  AddBatch("b");
  AddShard("b", "s0001", "SUBMITTED", "batch_x");
  for (const char* doc : {"a", "b", "c", "d", "e"}) AddDocument("b", doc, "SUBMITTED", "s0001");
  Exec("UPDATE documents SET state = 'SUCCEEDED' WHERE document_id IN ('a', 'b')");
  Exec("UPDATE documents SET state = 'FAILED' WHERE document_id IN ('c', 'd', 'e')");
  EXPECT_EQ(Value("SELECT count(*) FROM document_counts WHERE batch_id = 'b'"), "9");
  EXPECT_EQ(Finish("b"), "PARTIALLY_SUCCEEDED");
  // SUBMITTED folded away (it is empty), one row each for SUCCEEDED and FAILED.
  EXPECT_EQ(Value("SELECT string_agg(state || '=' || documents, ',' ORDER BY state) "
                  "FROM document_counts WHERE batch_id = 'b'"),
            "FAILED=3,SUCCEEDED=2");
}

TEST_F(PipelineDbTest, SweepCompactsTheDocumentCountsOfCrowdedBatches) {
  // One delta row per statement: more than kCompactCountsAboveRows for
  // "busy" (live) and "old" (ended two days ago), a few for "quiet".
  const std::string rows = std::to_string(kCompactCountsAboveRows + 6);
  AddBatch("busy");
  AddBatch("quiet");
  AddBatch("old", "SUCCEEDED");
  Exec("UPDATE batches SET end_time = now() - interval '2 days' WHERE id = 'old'");
  Exec(
      "INSERT INTO tasks (kind, subject, batch_id) VALUES ('plan', 'busy', 'busy'), "
      "('plan', 'quiet', 'quiet')");
  AddDocument("busy", "p", "PENDING");
  Exec("DO $$ BEGIN FOR i IN 1.." + rows +
       " LOOP "
       "INSERT INTO documents (batch_id, document_id, path, size_bytes, state, output_tokens) "
       "VALUES ('busy', 'x' || i, 'x.pdf', 1, 'SUCCEEDED', i), "
       "('old', 'x' || i, 'x.pdf', 1, 'SUCCEEDED', i); END LOOP; END $$");
  for (const char* doc : {"a", "b", "c"}) AddDocument("quiet", doc, "PENDING");
  SweepReport report = SweepStrandedWork(conn_);
  EXPECT_EQ(report.counts_compacted, 1);
  EXPECT_EQ(Value("SELECT string_agg(state || '=' || documents || '/' || output_tokens, ',' "
                  "ORDER BY state) FROM document_counts WHERE batch_id = 'busy'"),
            "PENDING=1/0,SUCCEEDED=" + rows + "/" +
                std::to_string((kCompactCountsAboveRows + 6) * (kCompactCountsAboveRows + 7) / 2));
  EXPECT_EQ(Value("SELECT count(*) FROM document_counts WHERE batch_id = 'quiet'"), "3");
  // Ended long ago: not looked at (it was compacted when it ended).
  EXPECT_EQ(Value("SELECT count(*) FROM document_counts WHERE batch_id = 'old'"), rows);
}

}  // namespace
}  // namespace batchscribe::pipeline
