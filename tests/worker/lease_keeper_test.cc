// The LeaseKeeper against PostgreSQL: it keeps a running task's lease alive
// and flags it lost as soon as someone else holds the task.

#include "services/worker/lease_keeper.h"

#include <gtest/gtest.h>

#include <thread>

#include "libs/db/migrations.h"
#include "tests/support/test_env.h"

namespace batchscribe::worker {
namespace {

using std::chrono::milliseconds;

class LeaseKeeperTest : public ::testing::Test {
 protected:
  LeaseKeeperTest() : conn_(db_.url()), pool_(db_.url()) {
    auto applied = db::ApplyMigrations(conn_, db::EmbeddedMigrations());
    EXPECT_TRUE(applied.ok()) << applied.status();
    pqxx::work tx(conn_);
    tx.exec(
        "INSERT INTO batches (id, request_hash, state, model, mode, prompt, json_schema, "
        "max_completion_tokens, skip_existing) VALUES ('b', 'h', 'RUNNING', 'gpt-4.1-mini', "
        "'BATCH', 'p', '{}', 100, true)");
    queue::NewTask task{"poll", "b/s0001", "b"};
    queue::Enqueue(tx, task);
    tx.commit();
  }

  queue::Task ClaimOne() {
    queue::TaskQueue queue(conn_, clock_, options_);
    auto tasks = queue.Claim({}, 1);
    EXPECT_EQ(tasks.size(), 1u);
    return tasks.empty() ? queue::Task{} : tasks[0];
  }

  bool WaitFor(const std::function<bool()>& condition) {
    for (int i = 0; i < 300; ++i) {
      if (condition()) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }

  testing::TestDatabase db_;
  pqxx::connection conn_;
  db::ConnectionPool pool_;
  queue::SystemClock clock_;
  queue::QueueOptions options_{std::chrono::seconds(1), "test", 1.0};
};

TEST_F(LeaseKeeperTest, ExtendsTheLeaseOfARunningTask) {
  queue::Task task = ClaimOne();
  LeaseKeeper keeper(pool_, clock_, options_);
  auto lost = std::make_shared<std::atomic<bool>>(false);
  keeper.Add(task, lost);
  keeper.Start();
  auto first = task.lease_expires_at;
  EXPECT_TRUE(WaitFor([&] {
    pqxx::read_transaction tx(conn_);
    auto r = tx.exec_params(
        "SELECT lease_expires_at > to_timestamp($2::double precision) FROM tasks WHERE id = $1",
        task.id, std::chrono::duration<double>(first.time_since_epoch()).count() + 0.2);
    return r[0][0].as<bool>();
  }));
  EXPECT_FALSE(lost->load());
  keeper.Stop();
}

TEST_F(LeaseKeeperTest, FlagsALeaseTakenBySomeoneElse) {
  queue::Task task = ClaimOne();
  LeaseKeeper keeper(pool_, clock_, options_);
  auto lost = std::make_shared<std::atomic<bool>>(false);
  keeper.Add(task, lost);
  keeper.Start();
  {
    // What a rescue followed by another worker's claim does to the row.
    pqxx::work tx(conn_);
    tx.exec_params("UPDATE tasks SET lease_token = gen_random_uuid() WHERE id = $1", task.id);
    tx.commit();
  }
  EXPECT_TRUE(WaitFor([&] { return lost->load(); }));
  keeper.Stop();
}

}  // namespace
}  // namespace batchscribe::worker
