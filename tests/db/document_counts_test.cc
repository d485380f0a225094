// document_counts (migration 0003): the per-batch, per-state totals that the
// triggers on documents keep must equal GROUP BY batch_id, state over
// documents — exactly: counts and tokens as integers, costs as exact decimal
// sums of the float8 values — after every kind of write, after compaction,
// with compactions and writers running at once, and after the migration seeds
// a database that already has documents.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <pqxx/pqxx>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "libs/db/migrations.h"
#include "tests/support/test_env.h"

namespace batchscribe::db {
namespace {

using namespace std::chrono_literals;

// Groups of document_counts whose sums differ from the documents, one line
// each ("" when none). Both sides are read from one snapshot; costs compare
// as the exact decimal sums of the float8 values (shortest round-trip text).
constexpr const char* kDiffSql = R"sql(
  WITH truth AS (
    SELECT batch_id, state, count(*)::bigint AS n, sum(input_tokens)::bigint AS i,
           sum(cached_input_tokens)::bigint AS ci, sum(output_tokens)::bigint AS o,
           sum(cost_usd::text::numeric) AS c, sum(sync_cost_usd::text::numeric) AS s
      FROM documents GROUP BY 1, 2),
  kept AS (
    SELECT batch_id, state, sum(documents)::bigint AS n, sum(input_tokens)::bigint AS i,
           sum(cached_input_tokens)::bigint AS ci, sum(output_tokens)::bigint AS o,
           sum(cost_usd) AS c, sum(sync_cost_usd) AS s
      FROM document_counts GROUP BY 1, 2
    HAVING sum(documents) <> 0 OR sum(input_tokens) <> 0 OR sum(cached_input_tokens) <> 0
        OR sum(output_tokens) <> 0 OR sum(cost_usd) <> 0 OR sum(sync_cost_usd) <> 0)
  SELECT coalesce(t.batch_id, k.batch_id) || '/' || coalesce(t.state, k.state) ||
         ': documents ' || row(t.n, t.i, t.ci, t.o, t.c, t.s)::text ||
         ' document_counts ' || row(k.n, k.i, k.ci, k.o, k.c, k.s)::text
    FROM truth t FULL JOIN kept k ON k.batch_id = t.batch_id AND k.state = t.state
   WHERE (t.n, t.i, t.ci, t.o, t.c, t.s) IS DISTINCT FROM (k.n, k.i, k.ci, k.o, k.c, k.s)
   ORDER BY 1)sql";

std::string Diff(pqxx::connection& conn) {
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
  tx.exec("SET LOCAL extra_float_digits = 1");
  std::string out;
  for (const auto& row : tx.exec(kDiffSql)) out += row[0].as<std::string>() + "\n";
  return out;
}

class DocumentCountsTest : public ::testing::Test {
 protected:
  DocumentCountsTest() : conn_(db_.url()) {}

  void Migrate() {
    auto applied = ApplyMigrations(conn_, EmbeddedMigrations());
    ASSERT_TRUE(applied.ok()) << applied.status();
  }

  void Exec(const std::string& sql) {
    pqxx::work tx(conn_);
    tx.exec(sql);
    tx.commit();
  }

  int64_t Int(const std::string& sql) {
    pqxx::work tx(conn_);
    return tx.exec(sql)[0][0].as<int64_t>();
  }

  void AddBatch(const std::string& id) {
    Exec(
        "INSERT INTO batches (id, request_hash, state, model, mode, prompt, json_schema, "
        "max_completion_tokens, skip_existing) VALUES ('" +
        id + "', 'h', 'RUNNING', 'gpt-4.1-mini', 'BATCH', 'p', '{}', 100, true)");
  }

  // `n` documents d00001... in one statement, in mixed states, with tokens and
  // costs that are not round binary fractions.
  void AddDocuments(const std::string& batch, int n) {
    Exec(
        "INSERT INTO documents (batch_id, document_id, path, size_bytes, state, input_tokens, "
        "cached_input_tokens, output_tokens, cost_usd, sync_cost_usd) "
        "SELECT '" +
        batch +
        "', 'd' || lpad(g::text, 5, '0'), 'p/' || g || '.pdf', 1000 + g, "
        "(ARRAY['PENDING', 'PENDING', 'PENDING', 'SKIPPED', 'SUCCEEDED'])[1 + g % 5], "
        "CASE WHEN g % 5 = 4 THEN 1000 + g ELSE 0 END, CASE WHEN g % 5 = 4 THEN g % 7 ELSE 0 END, "
        "CASE WHEN g % 5 = 4 THEN 500 + g ELSE 0 END, "
        "CASE WHEN g % 5 = 4 THEN g * 0.000123 + 1.0 / 3 ELSE 0 END, "
        "CASE WHEN g % 5 = 4 THEN g * 0.000246 + 2.0 / 3 ELSE 0 END "
        "FROM generate_series(1, " +
        std::to_string(n) + ") g");
  }

  int64_t Rows(const std::string& batch) {
    return Int("SELECT count(*) FROM document_counts WHERE batch_id = '" + batch + "'");
  }
  int64_t States(const std::string& batch) {
    return Int("SELECT count(DISTINCT state) FROM documents WHERE batch_id = '" + batch + "'");
  }
  int Compact(pqxx::connection& conn, const std::string& batch) {
    pqxx::work tx(conn);
    int removed = tx.exec_params("SELECT compact_document_counts($1)", batch)[0][0].as<int>();
    tx.commit();
    return removed;
  }

  batchscribe::testing::TestDatabase db_;
  pqxx::connection conn_;
};

TEST_F(DocumentCountsTest, ABulkInsertAddsOneRowPerState) {
  Migrate();
  AddBatch("a");
  AddBatch("b");
  AddDocuments("a", 10000);
  AddDocuments("b", 7);
  EXPECT_EQ(Diff(conn_), "");
  EXPECT_EQ(Rows("a"), 3);  // PENDING, SKIPPED, SUCCEEDED
  EXPECT_EQ(Int("SELECT sum(documents) FROM document_counts WHERE batch_id = 'a'"), 10000);
}

TEST_F(DocumentCountsTest, UpdatesThatMoveDocumentsBetweenStates) {
  Migrate();
  AddBatch("a");
  AddDocuments("a", 2000);
  Exec(
      "UPDATE documents SET state = 'PREPARED', shard_id = 's0001' "
      "WHERE batch_id = 'a' AND state = 'PENDING' AND document_id < 'd01000'");
  EXPECT_EQ(Diff(conn_), "");
  Exec("UPDATE documents SET state = 'SUBMITTED' WHERE shard_id = 's0001'");
  EXPECT_EQ(Diff(conn_), "");
  // Outcomes as the retrieve step writes them: state, tokens and cost at once.
  Exec(
      "UPDATE documents SET state = CASE WHEN size_bytes % 3 = 0 THEN 'FAILED' ELSE 'SUCCEEDED' "
      "END, attempts = attempts + 1, input_tokens = input_tokens + size_bytes, "
      "output_tokens = output_tokens + 7, cost_usd = cost_usd + size_bytes * 1e-7, "
      "sync_cost_usd = sync_cost_usd + size_bytes * 2e-7, usage_time = now() "
      "WHERE shard_id = 's0001'");
  EXPECT_EQ(Diff(conn_), "");
  // Back to PENDING with their tokens (a retry), then everything CANCELLED.
  Exec("UPDATE documents SET state = 'PENDING' WHERE batch_id = 'a' AND state = 'FAILED'");
  EXPECT_EQ(Diff(conn_), "");
  Exec("UPDATE documents SET state = 'CANCELLED' WHERE batch_id = 'a' AND state = 'PENDING'");
  EXPECT_EQ(Diff(conn_), "");
}

TEST_F(DocumentCountsTest, UpdatesOfTokensOrCostsOnly) {
  Migrate();
  AddBatch("a");
  AddDocuments("a", 500);
  int64_t before = Rows("a");
  Exec("UPDATE documents SET output_tokens = output_tokens + 3 WHERE state = 'SUCCEEDED'");
  Exec("UPDATE documents SET cost_usd = cost_usd * 1.1 WHERE state = 'SUCCEEDED'");
  Exec(
      "UPDATE documents SET sync_cost_usd = 0.1 + 0.2, cached_input_tokens = 1 WHERE "
      "document_id = 'd00003'");
  EXPECT_EQ(Diff(conn_), "");
  // One delta row per statement: no document changed state.
  EXPECT_EQ(Rows("a"), before + 3);
  EXPECT_EQ(
      Int("SELECT sum(documents) FROM document_counts WHERE batch_id = 'a' AND state = 'PENDING'"),
      300);
}

TEST_F(DocumentCountsTest, UpdatesThatChangeNothingCountedAddNoRows) {
  Migrate();
  AddBatch("a");
  AddDocuments("a", 500);
  int64_t before = Rows("a");
  Exec("UPDATE documents SET update_time = now(), error = 'x', attempts = attempts + 1");
  Exec("UPDATE documents SET state = state, cost_usd = cost_usd WHERE batch_id = 'a'");
  Exec("UPDATE documents SET state = 'FAILED' WHERE batch_id = 'nope'");
  // A swap inside one statement: one PENDING becomes SKIPPED and one SKIPPED
  // becomes PENDING, with no tokens or costs: the deltas cancel out.
  Exec(
      "UPDATE documents SET state = CASE state WHEN 'PENDING' THEN 'SKIPPED' ELSE 'PENDING' END "
      "WHERE document_id IN ('d00001', 'd00003')");
  EXPECT_EQ(Rows("a"), before);
  EXPECT_EQ(Diff(conn_), "");
}

TEST_F(DocumentCountsTest, DeletesTruncatesAndDeletedBatches) {
  Migrate();
  AddBatch("a");
  AddBatch("b");
  AddBatch("c");
  AddDocuments("a", 300);
  AddDocuments("b", 300);
  AddDocuments("c", 300);
  Exec("DELETE FROM documents WHERE batch_id = 'a' AND document_id < 'd00100'");
  EXPECT_EQ(Diff(conn_), "");
  // ON DELETE CASCADE: the batch's rows go with it, other batches keep theirs.
  Exec("DELETE FROM batches WHERE id IN ('a', 'b')");
  EXPECT_EQ(Rows("a"), 0);
  EXPECT_EQ(Rows("b"), 0);
  EXPECT_EQ(Rows("c"), States("c"));
  EXPECT_EQ(Diff(conn_), "");
  Exec("TRUNCATE batches CASCADE");
  EXPECT_EQ(Int("SELECT count(*) FROM document_counts"), 0);
  AddBatch("d");
  AddDocuments("d", 10);
  Exec("TRUNCATE documents CASCADE");  // document_parts references documents
  EXPECT_EQ(Int("SELECT count(*) FROM document_counts"), 0);
  EXPECT_EQ(Diff(conn_), "");
}

TEST_F(DocumentCountsTest, CompactionFoldsRowsAndDropsEmptyStates) {
  Migrate();
  AddBatch("a");
  AddBatch("b");
  AddDocuments("a", 1000);
  AddDocuments("b", 100);
  for (int i = 0; i < 10; ++i) {
    std::string from = "d" + std::string(4 - std::to_string(i).size(), '0') + std::to_string(i);
    Exec(
        "UPDATE documents SET state = 'PREPARED' WHERE batch_id = 'a' AND state = 'PENDING' "
        "AND document_id LIKE '" +
        from + "%'");
    Exec(
        "UPDATE documents SET state = 'SUCCEEDED', output_tokens = output_tokens + 11, "
        "cost_usd = cost_usd + 0.000017 WHERE batch_id = 'a' AND state = 'PREPARED'");
  }
  int64_t rows = Rows("a");
  int64_t b_rows = Rows("b");
  ASSERT_GT(rows, 30);
  EXPECT_EQ(Diff(conn_), "");
  // PREPARED is empty again: its +n/-n rows fold to nothing.
  int removed = Compact(conn_, "a");
  EXPECT_EQ(Rows("a"), States("a"));
  EXPECT_EQ(removed, rows - States("a"));
  EXPECT_EQ(Int("SELECT count(*) FROM document_counts WHERE batch_id = 'a' AND state = 'PREPARED'"),
            0);
  EXPECT_EQ(Rows("b"), b_rows);
  EXPECT_EQ(Diff(conn_), "");
  // Again: nothing to fold.
  EXPECT_EQ(Compact(conn_, "a"), 0);
  EXPECT_EQ(Compact(conn_, "no-such-batch"), 0);
  EXPECT_EQ(Diff(conn_), "");
}

TEST_F(DocumentCountsTest, CompactionLeavesUncommittedDeltasAlone) {
  Migrate();
  AddBatch("a");
  AddDocuments("a", 1000);
  Exec("UPDATE documents SET state = 'PREPARED' WHERE state = 'PENDING' AND size_bytes < 1500");
  pqxx::connection writer(db_.url());
  {
    // The writer's delta rows are not committed while the compaction runs.
    pqxx::work w(writer);
    w.exec("UPDATE documents SET state = 'SUBMITTED' WHERE state = 'PREPARED'");
    EXPECT_GE(Compact(conn_, "a"), 1);
    w.commit();
  }
  EXPECT_EQ(Diff(conn_), "");
  {
    pqxx::work w(writer);
    w.exec("UPDATE documents SET state = 'SUCCEEDED', cost_usd = 0.5 WHERE state = 'SUBMITTED'");
    Compact(conn_, "a");
    w.abort();
  }
  EXPECT_EQ(Diff(conn_), "");
  // A compaction inside the writer's transaction folds its own rows as well.
  {
    pqxx::work w(writer);
    w.exec("UPDATE documents SET state = 'FAILED' WHERE state = 'SUBMITTED'");
    EXPECT_GE(w.exec("SELECT compact_document_counts('a')")[0][0].as<int>(), 1);
    EXPECT_EQ(Diff(conn_), "");  // others still see the state before
    w.commit();
  }
  EXPECT_EQ(Diff(conn_), "");
  EXPECT_EQ(Rows("a"), States("a"));
}

TEST_F(DocumentCountsTest, ASecondCompactionOfTheSameBatchSkips) {
  Migrate();
  AddBatch("a");
  AddBatch("b");
  AddDocuments("a", 100);
  AddDocuments("b", 100);
  Exec("UPDATE documents SET state = 'FAILED' WHERE state = 'PENDING'");
  pqxx::connection other(db_.url());
  {
    pqxx::work first(conn_);
    EXPECT_GE(first.exec("SELECT compact_document_counts('a')")[0][0].as<int>(), 0);
    EXPECT_EQ(Compact(other, "a"), -1);  // does not wait for the first one
    EXPECT_GE(Compact(other, "b"), 0);   // other batches are not blocked
    first.commit();
  }
  EXPECT_GE(Compact(other, "a"), 0);
  EXPECT_EQ(Diff(conn_), "");
}

TEST_F(DocumentCountsTest, DeletingABatchWaitsForItsCompaction) {
  Migrate();
  AddBatch("a");
  AddDocuments("a", 100);
  Exec("UPDATE documents SET state = 'FAILED' WHERE state = 'PENDING'");
  pqxx::connection other(db_.url());
  pqxx::work compaction(conn_);
  compaction.exec("SELECT compact_document_counts('a')");
  std::atomic<bool> deleted{false};
  std::string error;
  std::thread deleter([&] {
    try {
      pqxx::work tx(other);
      tx.exec("DELETE FROM batches WHERE id = 'a'");
      tx.commit();
      deleted = true;
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(deleted.load());  // waits on the compaction's advisory lock
  compaction.commit();
  deleter.join();
  EXPECT_EQ(error, "");
  EXPECT_TRUE(deleted.load());
  EXPECT_EQ(Rows("a"), 0);  // including the rows the compaction wrote
}

// Writers move documents around and add usage (each on its own documents, so
// that they do not deadlock on document rows), some compacting inside their own
// transaction like FinishBatchIfSettled; two more connections compact in a
// loop; a checker compares both sides in one snapshot all along.
TEST_F(DocumentCountsTest, ConcurrentCompactionsAndWritersKeepTheTotalsExact) {
  Migrate();
  AddBatch("a");
  AddBatch("b");
  AddDocuments("a", 4000);
  AddDocuments("b", 4000);
  constexpr int kWriters = 3;
  constexpr int kRounds = 60;
  std::atomic<int> writers_left{kWriters};
  std::atomic<int> compactions{0};
  std::atomic<int> skipped{0};
  std::atomic<int> checks{0};
  std::vector<std::string> failures(kWriters + 3);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      try {
        pqxx::connection conn(db_.url());
        std::mt19937 rng(w);
        const char* states[] = {"PENDING", "PREPARED", "SUBMITTED", "SUCCEEDED", "FAILED"};
        for (int round = 0; round < kRounds; ++round) {
          pqxx::work tx(conn);
          std::string batch = rng() % 2 ? "a" : "b";
          std::string where = "batch_id = '" + batch + "' AND size_bytes % " +
                              std::to_string(kWriters) + " = " + std::to_string(w) +
                              " AND size_bytes % 17 = " + std::to_string(rng() % 17);
          tx.exec("UPDATE documents SET state = '" + std::string(states[rng() % 5]) +
                  "', input_tokens = input_tokens + " + std::to_string(rng() % 1000) +
                  ", cost_usd = cost_usd + " + std::to_string(rng() % 1000) + " * 1.3e-6 WHERE " +
                  where);
          tx.exec("UPDATE documents SET update_time = now() WHERE " + where);
          if (round % 10 == 0) tx.exec("SELECT compact_document_counts('" + batch + "')");
          if (rng() % 4 == 0) {
            tx.abort();
          } else {
            tx.commit();
          }
        }
      } catch (const std::exception& e) {
        failures[w] = e.what();
      }
      --writers_left;
    });
  }
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&, c] {
      try {
        pqxx::connection conn(db_.url());
        while (writers_left > 0) {
          for (const char* batch : {"a", "b"}) {
            if (Compact(conn, batch) >= 0) {
              ++compactions;
            } else {
              ++skipped;
            }
          }
        }
      } catch (const std::exception& e) {
        failures[kWriters + c] = e.what();
      }
    });
  }
  threads.emplace_back([&] {
    try {
      pqxx::connection conn(db_.url());
      while (writers_left > 0) {
        std::string diff = Diff(conn);
        if (!diff.empty()) {
          failures[kWriters + 2] = diff;
          break;
        }
        ++checks;
      }
    } catch (const std::exception& e) {
      failures[kWriters + 2] = e.what();
    }
  });
  for (auto& t : threads) t.join();
  for (const auto& f : failures) EXPECT_EQ(f, "");
  EXPECT_GT(compactions.load(), 0);
  EXPECT_GT(checks.load(), 0);
  EXPECT_EQ(Diff(conn_), "");
  Compact(conn_, "a");
  Compact(conn_, "b");
  EXPECT_EQ(Rows("a"), States("a"));
  EXPECT_EQ(Rows("b"), States("b"));
  EXPECT_EQ(Diff(conn_), "");
  std::cout << "compactions " << compactions << ", skipped " << skipped << ", checks " << checks
            << "\n";
}

TEST_F(DocumentCountsTest, TheMigrationSeedsExistingDocumentsOnce) {
  std::vector<Migration> before;
  for (const Migration& m : EmbeddedMigrations()) {
    if (m.version < "0003_document_counts") before.push_back(m);
  }
  ASSERT_TRUE(ApplyMigrations(conn_, before).ok());
  AddBatch("old");
  AddBatch("empty");
  AddDocuments("old", 3000);
  Exec("UPDATE documents SET state = 'FAILED', cost_usd = cost_usd + 0.1 WHERE size_bytes < 1200");
  // As a session that prints floats with 15 digits only would have it.
  Exec("SET extra_float_digits = -3");
  Migrate();
  EXPECT_EQ(Rows("old"), States("old"));
  EXPECT_EQ(Rows("empty"), 0);
  EXPECT_EQ(Diff(conn_), "");
  // Later writes are counted once on top of the seed, still with the session's
  // extra_float_digits = -3 (the trigger sets its own).
  AddDocuments("empty", 50);
  Exec(
      "UPDATE documents SET state = 'SUCCEEDED', cost_usd = cost_usd + 1e-9 / 3 "
      "WHERE batch_id = 'old' AND state = 'FAILED'");
  EXPECT_EQ(Diff(conn_), "");
}

}  // namespace
}  // namespace batchscribe::db
