#include "libs/db/transaction.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/support/test_env.h"

namespace batchscribe::db {
namespace {
using ::batchscribe::testing::TestDatabase;

class TransactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pqxx::connection conn(db_.url());
    pqxx::work tx(conn);
    tx.exec(
        "CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL); INSERT INTO counter "
        "VALUES (1, 0)");
    tx.commit();
  }
  int Count() {
    pqxx::connection conn(db_.url());
    return pqxx::nontransaction(conn).exec("SELECT n FROM counter WHERE id = 1")[0][0].as<int>();
  }
  TestDatabase db_;
};

TEST_F(TransactionTest, CommitsOnOk) {
  ConnectionPool pool(db_.url());
  ASSERT_TRUE(RunInTransaction(pool, [](pqxx::work& tx) {
                tx.exec("UPDATE counter SET n = n + 1");
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(Count(), 1);
}

TEST_F(TransactionTest, RollsBackAndReturnsTheBodyStatus) {
  ConnectionPool pool(db_.url());
  int runs = 0;
  absl::Status status = RunInTransaction(pool, [&](pqxx::work& tx) {
    ++runs;
    tx.exec("UPDATE counter SET n = n + 1");
    return absl::FailedPreconditionError("changed my mind");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(Count(), 0);
}

TEST_F(TransactionTest, RetriesSerializationFailuresAndDeadlocks) {
  ConnectionPool pool(db_.url());
  int runs = 0;
  absl::Status status = RunInTransaction(pool, [&](pqxx::work& tx) {
    ++runs;
    tx.exec("UPDATE counter SET n = n + 1");
    if (runs == 1) tx.exec("DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40001'; END $$");
    if (runs == 2) tx.exec("DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40P01'; END $$");
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(Count(), 1);  // only the successful run's update
}

TEST_F(TransactionTest, GivesUpAfterMaxAttempts) {
  ConnectionPool pool(db_.url());
  int runs = 0;
  absl::Status status =
      RunInTransaction(pool,
                       [&](pqxx::work& tx) {
                         ++runs;
                         tx.exec("DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40001'; END $$");
                         return absl::OkStatus();
                       },
                       {.max_attempts = 3, .retry_delay = std::chrono::milliseconds(1)});
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(runs, 3);
}

TEST_F(TransactionTest, UniqueViolationIsNotRetried) {
  ConnectionPool pool(db_.url());
  int runs = 0;
  absl::Status status = RunInTransaction(pool, [&](pqxx::work& tx) {
    ++runs;
    tx.exec("INSERT INTO counter VALUES (1, 5)");
    return absl::OkStatus();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(runs, 1);
}

TEST_F(TransactionTest, RealSerializableConflictsAllCommitEventually) {
  ConnectionPool pool(db_.url(), {.max_connections = 4});
  constexpr int kThreads = 4;
  constexpr int kIncrements = 10;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        absl::Status status = RunInTransaction(
            pool,
            [](pqxx::work& tx) {
              int n = tx.exec("SELECT n FROM counter WHERE id = 1")[0][0].as<int>();
              tx.exec_params("UPDATE counter SET n = $1 WHERE id = 1", n + 1);
              return absl::OkStatus();
            },
            {.isolation = Isolation::kSerializable, .max_attempts = 100});
        if (!status.ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  // Lost updates are impossible under SERIALIZABLE with retries.
  EXPECT_EQ(Count(), kThreads * kIncrements);
}

TEST_F(TransactionTest, RunWithConnectionMapsExceptions) {
  ConnectionPool pool(db_.url());
  absl::Status status = RunWithConnection(pool, [](pqxx::connection& conn) {
    pqxx::nontransaction(conn).exec("SELECT * FROM missing_table");
    return absl::OkStatus();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace batchscribe::db
