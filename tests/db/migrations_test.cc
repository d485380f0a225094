#include "libs/db/migrations.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/support/test_env.h"

namespace batchscribe::db {
namespace {
using ::batchscribe::testing::TestDatabase;

int CountRows(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  return pqxx::nontransaction(conn).exec(sql)[0][0].as<int>();
}

TEST(EmbeddedMigrations, AreSortedAndStartWithTheInitialSchema) {
  const auto& migrations = EmbeddedMigrations();
  ASSERT_FALSE(migrations.empty());
  EXPECT_EQ(migrations.front().version, "0001_initial");
  for (std::size_t i = 1; i < migrations.size(); ++i) {
    EXPECT_LT(migrations[i - 1].version, migrations[i].version);
  }
  EXPECT_NE(migrations.front().sql.find("CREATE TABLE batches"), std::string_view::npos);
}

TEST(ApplyMigrations, CreatesTheSchemaOnceAndIsIdempotent) {
  TestDatabase db;
  auto first = ApplyMigrations(db.url());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, static_cast<int>(EmbeddedMigrations().size()));
  auto second = ApplyMigrations(db.url());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, 0);
  for (const char* table : {"batches", "documents", "shards", "shard_documents", "tasks"}) {
    EXPECT_EQ(CountRows(db.url(), std::string("SELECT count(*) FROM information_schema.tables "
                                              "WHERE table_name = '") +
                                      table + "'"),
              1)
        << table;
  }
  EXPECT_EQ(CountRows(db.url(), "SELECT count(*) FROM schema_migrations"),
            static_cast<int>(EmbeddedMigrations().size()));
}

// A database of version 4 with a shard at OpenAI upgrades to 5: the shard
// keeps its row and starts with no errors in a row.
TEST(ApplyMigrations, Version5UpgradesAShardInFlight) {
  TestDatabase db;
  std::vector<Migration> before;
  for (const Migration& m : EmbeddedMigrations()) {
    if (m.version < "0005") before.push_back(m);
  }
  ASSERT_EQ(before.size(), 4u);
  {
    pqxx::connection conn(db.url());
    ASSERT_TRUE(ApplyMigrations(conn, before).ok());
    pqxx::work tx(conn);
    tx.exec(
        "INSERT INTO batches (id, request_hash, state, model, mode, prompt, json_schema, "
        "  max_completion_tokens, skip_existing) "
        "VALUES ('b', 'h', 'RUNNING', 'gpt-4.1-mini', 'BATCH', 'p', '{}', 100, true)");
    tx.exec(
        "INSERT INTO shards (batch_id, shard_id, state, openai_batch_id) "
        "VALUES ('b', 's0001', 'SUBMITTED', 'batch_abc')");
    tx.commit();
  }
  auto upgraded = ApplyMigrations(db.url());
  ASSERT_TRUE(upgraded.ok()) << upgraded.status();
  EXPECT_EQ(*upgraded, 1);
  EXPECT_EQ(CountRows(db.url(),
                      "SELECT count(*) FROM shards WHERE shard_id = 's0001' AND state = 'SUBMITTED' "
                      "AND openai_batch_id = 'batch_abc' AND consecutive_errors = 0"),
            1);
}

TEST(ApplyMigrations, ConcurrentStartsOnAnEmptyDatabaseDoNotRace) {
  TestDatabase db;
  constexpr int kStarters = 6;
  std::vector<absl::StatusOr<int>> results(kStarters, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kStarters; ++i) {
    threads.emplace_back([&, i] { results[i] = ApplyMigrations(db.url()); });
  }
  for (auto& t : threads) t.join();
  int applied = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    applied += *r;
  }
  EXPECT_EQ(applied, static_cast<int>(EmbeddedMigrations().size()));
  EXPECT_EQ(CountRows(db.url(), "SELECT count(*) FROM schema_migrations"),
            static_cast<int>(EmbeddedMigrations().size()));
}

TEST(ApplyMigrations, AFailingMigrationIsRolledBackAndNotRecorded) {
  TestDatabase db;
  pqxx::connection conn(db.url());
  std::vector<Migration> migrations = {
      {"0001_a", "CREATE TABLE a (x int);"},
      {"0002_b", "CREATE TABLE b (x int); SELECT * FROM does_not_exist;"},
  };
  auto result = ApplyMigrations(conn, migrations);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(CountRows(db.url(), "SELECT count(*) FROM schema_migrations"), 1);
  EXPECT_EQ(
      CountRows(db.url(), "SELECT count(*) FROM information_schema.tables WHERE table_name = 'b'"),
      0);
  // The lock was released and the connection is still usable.
  migrations[1].sql = "CREATE TABLE b (x int);";
  auto retry = ApplyMigrations(conn, migrations);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(*retry, 1);
}

TEST(ApplyMigrations, AChangedMigrationIsNotRerun) {
  TestDatabase db;
  pqxx::connection conn(db.url());
  ASSERT_TRUE(ApplyMigrations(conn, {{"0001_a", "CREATE TABLE a (x int);"}}).ok());
  auto again = ApplyMigrations(conn, {{"0001_a", "CREATE TABLE a (x int, y int);"}});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 0);
}

TEST(Sha256Hex, KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace batchscribe::db
