#include "libs/db/status.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "tests/support/test_env.h"

namespace batchscribe::db {
namespace {
using ::batchscribe::testing::TestDatabase;

// Runs `sql` and returns the status its exception maps to.
absl::Status StatusOf(pqxx::connection& conn, const std::string& sql) {
  try {
    pqxx::work tx(conn);
    tx.exec(sql);
    tx.commit();
    return absl::OkStatus();
  } catch (...) {
    return StatusFromCurrentException();
  }
}

std::string Raise(const char* sqlstate) {
  return std::string("DO $$ BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = '") + sqlstate +
         "'; END $$";
}

TEST(StatusFromException, MapsServerErrors) {
  TestDatabase db;
  pqxx::connection conn(db.url());
  EXPECT_EQ(StatusOf(conn, Raise("40001")).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(StatusOf(conn, Raise("40P01")).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(StatusOf(conn, Raise("23505")).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(StatusOf(conn, Raise("23503")).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(StatusOf(conn, Raise("57014")).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(StatusOf(conn, Raise("22P02")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusOf(conn, "SELECT * FROM no_such_table").code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(IsRetryableTransactionError(StatusOf(conn, Raise("40001"))));
  EXPECT_FALSE(IsRetryableTransactionError(StatusOf(conn, Raise("23505"))));
}

TEST(StatusFromException, RealUniqueViolationIsAlreadyExists) {
  TestDatabase db;
  pqxx::connection conn(db.url());
  ASSERT_TRUE(StatusOf(conn, "CREATE TABLE t (k int PRIMARY KEY); INSERT INTO t VALUES (1)").ok());
  absl::Status status = StatusOf(conn, "INSERT INTO t VALUES (1)");
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists) << status;
}

TEST(StatusFromException, KilledConnectionIsUnavailable) {
  TestDatabase db;
  pqxx::connection conn(db.url());
  pqxx::connection killer(db.url());
  int pid = conn.backendpid();
  pqxx::nontransaction(killer).exec_params("SELECT pg_terminate_backend($1)", pid);
  absl::Status status = StatusOf(conn, "SELECT 1");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST(StatusFromException, ClientErrorsAreInternal) {
  EXPECT_EQ(StatusFromException(std::runtime_error("x")).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(StatusFromException(pqxx::broken_connection("gone")).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromException(pqxx::in_doubt_error("?")).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace batchscribe::db
