#include "libs/db/listener.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

#include "tests/support/test_env.h"

namespace batchscribe::db {
namespace {
using ::batchscribe::testing::TestDatabase;

// Polls `condition` for up to 30 s (a loaded CI machine can be slow).
template <typename F>
bool Eventually(F condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

class Recorder {
 public:
  void Add(const std::string& payload) {
    std::lock_guard lock(mu_);
    payloads_.push_back(payload);
  }
  void Gap() {
    std::lock_guard lock(mu_);
    ++gaps_;
  }
  bool Has(const std::string& payload) {
    std::lock_guard lock(mu_);
    return std::find(payloads_.begin(), payloads_.end(), payload) != payloads_.end();
  }
  int gaps() {
    std::lock_guard lock(mu_);
    return gaps_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> payloads_;
  int gaps_ = 0;
};

void Notify(const std::string& url, const std::string& payload) {
  pqxx::connection conn(url);
  pqxx::nontransaction(conn).exec_params("SELECT pg_notify('test_channel', $1)", payload);
}

TEST(NotificationListener, DeliversPayloadsAndSurvivesAKilledConnection) {
  TestDatabase db;
  ConnectionPool pool(db.url());
  Recorder recorder;
  NotificationListener listener(
      pool, "test_channel", [&](const std::string& p) { recorder.Add(p); },
      [&] { recorder.Gap(); });
  listener.Start();
  ASSERT_TRUE(Eventually([&] { return listener.connected(); }));
  EXPECT_EQ(recorder.gaps(), 1);

  Notify(db.url(), "one");
  EXPECT_TRUE(Eventually([&] { return recorder.Has("one"); }));

  // Kill the listener's session: it reconnects, reports a gap and keeps listening.
  pqxx::connection admin(db.url());
  pqxx::nontransaction(admin).exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'");
  ASSERT_TRUE(Eventually([&] { return recorder.gaps() >= 2 && listener.connected(); }));
  // Notifications sent right after reconnecting may race the LISTEN; send until one lands.
  ASSERT_TRUE(Eventually([&] {
    Notify(db.url(), "two");
    return recorder.Has("two");
  }));
  listener.Stop();
  EXPECT_FALSE(listener.connected());
}

}  // namespace
}  // namespace batchscribe::db
