#include "libs/db/connection_pool.h"

#include <gtest/gtest.h>

#include <thread>

#include "libs/db/transaction.h"
#include "tests/support/test_env.h"

namespace batchscribe::db {
namespace {
using ::batchscribe::testing::FreePort;
using ::batchscribe::testing::TestDatabase;

TEST(WithConnectTimeout, AddsTheParameterOnce) {
  EXPECT_EQ(WithConnectTimeout("postgresql://u@h/db", 5), "postgresql://u@h/db?connect_timeout=5");
  EXPECT_EQ(WithConnectTimeout("postgresql://u@h/db?sslmode=disable", 5),
            "postgresql://u@h/db?sslmode=disable&connect_timeout=5");
  EXPECT_EQ(WithConnectTimeout("host=h dbname=d", 3), "host=h dbname=d connect_timeout=3");
  EXPECT_EQ(WithConnectTimeout("postgresql://h/d?connect_timeout=9", 5),
            "postgresql://h/d?connect_timeout=9");
  EXPECT_EQ(WithConnectTimeout("postgresql://h/d", 0), "postgresql://h/d");
}

TEST(ConnectionPool, ReusesIdleConnections) {
  TestDatabase db;
  ConnectionPool pool(db.url(), {.max_connections = 2});
  int first_pid = 0;
  {
    auto lease = pool.Acquire();
    ASSERT_TRUE(lease.ok()) << lease.status();
    first_pid = lease->conn().backendpid();
  }
  auto again = pool.Acquire();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->conn().backendpid(), first_pid);
}

TEST(ConnectionPool, WaitsThenTimesOutWhenExhausted) {
  TestDatabase db;
  ConnectionPool pool(db.url(),
                      {.max_connections = 1, .acquire_timeout = std::chrono::milliseconds(200)});
  auto held = pool.Acquire();
  ASSERT_TRUE(held.ok());
  auto second = pool.Acquire();
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);

  // A waiter gets the connection as soon as it is released.
  ConnectionPool patient(db.url(), {.max_connections = 1});
  auto first = patient.Acquire();
  ASSERT_TRUE(first.ok());
  absl::Status waiter_status = absl::UnknownError("waiter did not run");
  std::thread waiter([&] { waiter_status = patient.Acquire().status(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  { auto drop = std::move(*first); }
  waiter.join();
  EXPECT_TRUE(waiter_status.ok()) << waiter_status;
}

TEST(ConnectionPool, UnreachableDatabaseIsUnavailable) {
  ConnectionPool pool("postgresql://postgres@127.0.0.1:" + std::to_string(FreePort()) + "/x");
  auto lease = pool.Acquire();
  EXPECT_EQ(lease.status().code(), absl::StatusCode::kUnavailable);
  // The failed attempt does not use up a slot.
  auto again = pool.Acquire();
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable);
}

TEST(ConnectionPool, BrokenConnectionIsReplaced) {
  TestDatabase db;
  ConnectionPool pool(db.url(), {.max_connections = 1});
  int victim = 0;
  {
    auto lease = pool.Acquire();
    ASSERT_TRUE(lease.ok());
    victim = lease->conn().backendpid();
  }
  pqxx::connection killer(db.url());
  pqxx::nontransaction(killer).exec_params("SELECT pg_terminate_backend($1)", victim);
  // The transaction helper notices the dead connection and retries on a new one.
  int seen_pid = 0;
  absl::Status status = RunInTransaction(pool, [&](pqxx::work& tx) {
    seen_pid = tx.exec("SELECT pg_backend_pid()")[0][0].as<int>();
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_NE(seen_pid, victim);
}

}  // namespace
}  // namespace batchscribe::db
