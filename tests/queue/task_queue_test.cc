// Invariants of the task queue, against the real PostgreSQL of scripts/test.sh:
// a task is held by at most one live lease, a zombie cannot write, attempts
// never exceed the maximum, snoozes cost no attempt.
#include "libs/queue/task_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/test_env.h"

namespace batchscribe::queue {
namespace {

using namespace std::chrono_literals;
using batchscribe::testing::SourceDir;
using batchscribe::testing::TestDatabase;

class FakeClock : public Clock {
 public:
  TimePoint Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void Advance(std::chrono::milliseconds d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  // Ahead of the database clock, which stamps run_at of tasks enqueued without one.
  TimePoint now_ = std::chrono::system_clock::now() + std::chrono::minutes(1);
};

class TaskQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conn_ = std::make_unique<pqxx::connection>(db_.url());
    std::ifstream in(SourceDir() / "libs/db/migrations/0001_initial.sql");
    std::stringstream sql;
    sql << in.rdbuf();
    pqxx::work tx(*conn_);
    tx.exec(sql.str());
    tx.exec(
        "INSERT INTO batches (id, request_hash, state, model, mode, prompt, json_schema, "
        "max_completion_tokens, skip_existing) VALUES ('b1', 'h', 'RUNNING', 'gpt-4.1-mini', "
        "'BATCH', 'p', '{}', 100, true)");
    tx.commit();
  }

  void Add(const std::string& kind, const std::string& subject, int max_attempts = 25) {
    pqxx::work tx(*conn_);
    Enqueue(
        tx,
        NewTask{.kind = kind, .subject = subject, .batch_id = "b1", .max_attempts = max_attempts});
    tx.commit();
  }

  std::string StateOf(int64_t id) {
    pqxx::work tx(*conn_);
    return tx.exec_params1("SELECT state FROM tasks WHERE id = $1", id)[0].as<std::string>();
  }

  int Count(const std::string& where) {
    pqxx::work tx(*conn_);
    return tx.exec1("SELECT count(*) FROM tasks WHERE " + where)[0].as<int>();
  }

  TestDatabase db_;
  std::unique_ptr<pqxx::connection> conn_;
  FakeClock clock_;
};

TEST_F(TaskQueueTest, EnqueueKeepsOneLiveTaskPerSubjectAndKind) {
  Add("plan", "b1");
  Add("plan", "b1");
  Add("prepare", "b1/s0001");
  EXPECT_EQ(Count("kind = 'plan'"), 1);
  EXPECT_EQ(Count("true"), 2);
}

TEST_F(TaskQueueTest, ClaimFiltersByKindAndRunAt) {
  Add("plan", "b1");
  {
    pqxx::work tx(*conn_);
    Enqueue(
        tx,
        NewTask{
            .kind = "poll", .subject = "b1/s0001", .batch_id = "b1", .run_at = clock_.Now() + 10s});
    tx.commit();
  }
  TaskQueue q(*conn_, clock_, {.lease = 30s, .owner = "w1"});
  EXPECT_TRUE(q.Claim({"prepare"}, 5).empty());
  EXPECT_TRUE(q.Claim({"poll"}, 5).empty()) << "not due yet";
  auto plan = q.Claim({}, 5);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].kind, "plan");
  EXPECT_EQ(plan[0].attempt, 1);
  clock_.Advance(11s);
  EXPECT_EQ(q.Claim({"poll"}, 5).size(), 1u);
}

TEST_F(TaskQueueTest, ConcurrentClaimersNeverShareATask) {
  for (int i = 0; i < 200; ++i) Add("prepare", "b1/s" + std::to_string(i));
  std::mutex mu;
  std::multiset<int64_t> claimed;
  std::vector<std::thread> threads;
  for (int w = 0; w < 6; ++w) {
    threads.emplace_back([&, w] {
      pqxx::connection conn(db_.url());
      SystemClock clock;
      TaskQueue q(conn, clock, {.lease = 60s, .owner = "w" + std::to_string(w)});
      while (true) {
        auto tasks = q.Claim({"prepare"}, 3);
        if (tasks.empty()) break;
        for (auto& t : tasks) {
          {
            std::lock_guard lock(mu);
            claimed.insert(t.id);
          }
          ASSERT_TRUE(q.Complete(t).ok());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(claimed.size(), 200u);
  for (auto id : claimed) EXPECT_EQ(claimed.count(id), 1u) << "task " << id << " claimed twice";
  EXPECT_EQ(Count("state = 'succeeded'"), 200);
}

TEST_F(TaskQueueTest, ZombieCannotWriteAfterRescueAndRegrant) {
  Add("submit", "b1/s0001");
  TaskQueue zombie_q(*conn_, clock_, {.lease = 30s, .owner = "zombie"});
  auto held = zombie_q.Claim({}, 1);
  ASSERT_EQ(held.size(), 1u);

  clock_.Advance(31s);
  EXPECT_EQ(RescueExpiredLeases(*conn_, clock_.Now()), 1);
  pqxx::connection other_conn(db_.url());
  TaskQueue live_q(other_conn, clock_, {.lease = 30s, .owner = "live"});
  auto regranted = live_q.Claim({}, 1);
  ASSERT_EQ(regranted.size(), 1u);
  EXPECT_EQ(regranted[0].id, held[0].id);
  EXPECT_EQ(regranted[0].attempt, 2);

  EXPECT_FALSE(zombie_q.Heartbeat(held[0]));
  bool ran = false;
  auto complete = zombie_q.Complete(held[0], [&](pqxx::work& tx) {
    ran = true;
    tx.exec("UPDATE batches SET display_name = 'zombie wrote this'");
  });
  EXPECT_EQ(complete.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(ran);
  EXPECT_EQ(zombie_q.Fail(held[0], {.error = "x"}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(zombie_q.Snooze(held[0], 1s).code(), absl::StatusCode::kFailedPrecondition);
  {
    pqxx::work tx(*conn_);
    EXPECT_EQ(tx.exec1("SELECT display_name FROM batches")[0].as<std::string>(), "");
  }
  EXPECT_EQ(StateOf(held[0].id), "running");
  EXPECT_TRUE(live_q.Heartbeat(regranted[0]));
  EXPECT_TRUE(live_q.Complete(regranted[0]).ok());
  EXPECT_EQ(StateOf(held[0].id), "succeeded");
}

TEST_F(TaskQueueTest, AttemptsNeverExceedTheMaximum) {
  Add("retrieve", "b1/s0001", /*max_attempts=*/3);
  TaskQueue q(*conn_, clock_, {.lease = 30s, .owner = "w"});
  int claims = 0;
  bool final = false;
  for (int i = 0; i < 10 && !final; ++i) {
    auto tasks = q.Claim({}, 1);
    if (tasks.empty()) {
      clock_.Advance(2h);
      continue;
    }
    ++claims;
    EXPECT_LE(tasks[0].attempt, 3);
    auto r = q.Fail(tasks[0], {.error = "boom"});
    ASSERT_TRUE(r.ok());
    final = *r;
  }
  EXPECT_TRUE(final);
  EXPECT_EQ(claims, 3);
  EXPECT_EQ(Count("state = 'failed' AND attempt = 3 AND last_error = 'boom'"), 1);
}

TEST_F(TaskQueueTest, RescueAfterTheLastAttemptFailsTheTask) {
  Add("retrieve", "b1/s0001", /*max_attempts=*/1);
  TaskQueue q(*conn_, clock_, {.lease = 30s, .owner = "w"});
  auto t = q.Claim({}, 1);
  ASSERT_EQ(t.size(), 1u);
  clock_.Advance(1min);
  EXPECT_EQ(RescueExpiredLeases(*conn_, clock_.Now()), 1);
  EXPECT_EQ(StateOf(t[0].id), "failed");
  EXPECT_TRUE(q.Claim({}, 1).empty());
}

TEST_F(TaskQueueTest, FailBacksOffOrHonoursRetryAfter) {
  Add("submit", "b1/s0001");
  TaskQueue q(*conn_, clock_, {.lease = 30s, .owner = "w"});
  auto t = q.Claim({}, 1);
  ASSERT_TRUE(q.Fail(t[0], {.error = "429", .retry_after = 90s}).ok());
  clock_.Advance(80s);
  EXPECT_TRUE(q.Claim({}, 1).empty());
  clock_.Advance(11s);
  t = q.Claim({}, 1);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].attempt, 2);
  ASSERT_TRUE(q.Fail(t[0], {.error = "503"}).ok());  // backoff 2^4 = 16 s +-10%
  clock_.Advance(14s);
  EXPECT_TRUE(q.Claim({}, 1).empty());
  clock_.Advance(4s);
  EXPECT_EQ(q.Claim({}, 1).size(), 1u);
}

TEST_F(TaskQueueTest, PermanentFailureEndsAtOnceAndRunsItsWork) {
  Add("submit", "b1/s0001");
  TaskQueue q(*conn_, clock_, {.lease = 30s, .owner = "w"});
  auto t = q.Claim({}, 1);
  bool saw_final = false;
  auto r = q.Fail(t[0], {.error = "400 bad request", .permanent = true},
                  [&](pqxx::work&, bool final) { saw_final = final; });
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  EXPECT_TRUE(saw_final);
  EXPECT_EQ(StateOf(t[0].id), "failed");
}

TEST_F(TaskQueueTest, SnoozeCostsNoAttempt) {
  Add("poll", "b1/s0001", /*max_attempts=*/2);
  TaskQueue q(*conn_, clock_, {.lease = 30s, .owner = "w"});
  for (int i = 0; i < 5; ++i) {
    auto t = q.Claim({}, 1);
    ASSERT_EQ(t.size(), 1u) << "snooze " << i;
    EXPECT_EQ(t[0].attempt, 1);
    ASSERT_TRUE(q.Snooze(t[0], 5s).ok());
    clock_.Advance(6s);
  }
}

TEST_F(TaskQueueTest, CompleteHandsOffInTheSameTransaction) {
  Add("prepare", "b1/s0001");
  TaskQueue q(*conn_, clock_, {.lease = 30s, .owner = "w"});
  auto t = q.Claim({}, 1);
  ASSERT_TRUE(q.Complete(t[0], [](pqxx::work& tx) {
                 Enqueue(tx, NewTask{.kind = "submit", .subject = "b1/s0001", .batch_id = "b1"});
               }).ok());
  EXPECT_EQ(Count("kind = 'submit' AND state = 'available'"), 1);
  EXPECT_EQ(StateOf(t[0].id), "succeeded");
}

TEST_F(TaskQueueTest, EnqueueWhileRunningRunsOnceMoreAfterwards) {
  Add("plan", "b1");
  TaskQueue q(*conn_, clock_, {.lease = 30s, .owner = "w"});
  auto t = q.Claim({}, 1);
  Add("plan", "b1");  // e.g. a retrieve sent documents back to PENDING meanwhile
  EXPECT_EQ(Count("kind = 'plan'"), 1);
  ASSERT_TRUE(q.Complete(t[0]).ok());
  EXPECT_EQ(Count("kind = 'plan' AND state = 'available'"), 1);
  auto again = q.Claim({}, 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_NE(again[0].id, t[0].id);
  ASSERT_TRUE(q.Complete(again[0]).ok());
  EXPECT_EQ(Count("kind = 'plan' AND state = 'available'"), 0);
}

TEST_F(TaskQueueTest, AFinalFailureRunsOnceMoreIfAskedButASnoozeDoesNot) {
  Add("plan", "b1", /*max_attempts=*/1);
  TaskQueue q(*conn_, clock_, {.lease = 30s, .owner = "w"});
  auto t = q.Claim({}, 1);
  ASSERT_EQ(t.size(), 1u);
  Add("plan", "b1");
  auto final = q.Fail(t[0], {.error = "boom"});
  ASSERT_TRUE(final.ok());
  EXPECT_TRUE(*final);
  EXPECT_EQ(StateOf(t[0].id), "failed");
  EXPECT_EQ(Count("kind = 'plan' AND state = 'available'"), 1);  // the fresh copy

  Add("poll", "b1/s0001");
  auto p = q.Claim({"poll"}, 1);
  ASSERT_EQ(p.size(), 1u);
  Add("poll", "b1/s0001");  // asks for a rerun...
  ASSERT_TRUE(q.Snooze(p[0], 1s).ok());
  // ...which the snoozed task itself is: no second copy.
  EXPECT_EQ(Count("kind = 'poll'"), 1);
  EXPECT_EQ(Count("kind = 'poll' AND NOT rerun AND state = 'available'"), 1);
}

TEST_F(TaskQueueTest, EnqueueBesideAnAvailableTaskAddsNothing) {
  Add("plan", "b1");
  Add("plan", "b1");
  EXPECT_EQ(Count("kind = 'plan'"), 1);
  EXPECT_EQ(Count("rerun"), 0);
}

TEST_F(TaskQueueTest, WakeupSeesEnqueueNotifications) {
  pqxx::connection listen_conn(db_.url());
  TaskWakeup wakeup(listen_conn);
  EXPECT_FALSE(wakeup.Wait(50ms));
  Add("plan", "b1");
  EXPECT_TRUE(wakeup.Wait(10s));
}

TEST(BackoffTest, GrowsAsAttemptToTheFourthCappedAtAnHour) {
  EXPECT_EQ(Backoff(1, 0.5), 1s);
  EXPECT_EQ(Backoff(2, 0.5), 16s);
  EXPECT_EQ(Backoff(3, 0.5), 81s);
  EXPECT_EQ(Backoff(20, 0.5), 3600s);
  EXPECT_EQ(Backoff(2, 0.0), std::chrono::milliseconds(14400));
  EXPECT_EQ(Backoff(2, 1.0), std::chrono::milliseconds(17600));
}

}  // namespace
}  // namespace batchscribe::queue
