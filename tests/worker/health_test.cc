// The worker's health endpoint: liveness follows the claim loops' heartbeat
// (a frozen loop turns it red), readiness the database connection.

#include "services/worker/health.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "tests/support/subprocess.h"
#include "tests/support/test_env.h"

namespace batchscribe::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using worker::LoopHealth;

TEST(LoopHealthTest, ASlotSilentLongerThanTheThresholdIsStalled) {
  auto now = std::chrono::steady_clock::time_point(seconds(1000));
  LoopHealth health(2, seconds(10), [&] { return now; });
  EXPECT_TRUE(health.Liveness().ok);

  now += seconds(8);
  health.Beat(0);
  health.SetTask(1, 42);  // a claim is progress too
  now += seconds(8);      // 16 s since start, 8 since the beats
  EXPECT_TRUE(health.Liveness().ok) << health.Liveness().details;

  now += seconds(5);  // slot 0 and slot 1 silent 13 s
  health.Beat(0);
  const auto report = health.Liveness();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.details["status"], "stalled");
  EXPECT_EQ(report.details["slots"][0]["state"], "ok");
  EXPECT_EQ(report.details["slots"][1]["state"], "stalled");
  EXPECT_EQ(report.details["slots"][1]["task_id"], 42) << "names the task it is stuck in";

  health.Ended(1);  // a drained slot is not stuck
  EXPECT_TRUE(health.Liveness().ok) << health.Liveness().details;
}

struct Answer {
  int status = 0;  // 0: no answer
  nlohmann::json body;
};

Answer Get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(seconds(2));
  client.set_read_timeout(seconds(10));
  auto res = client.Get(path);
  if (!res) return {};
  return {res->status, nlohmann::json::parse(res->body, nullptr, false)};
}

// Polls until `done` holds (at most a minute); returns the last answer.
Answer WaitFor(int port, const std::string& path, const std::function<bool(const Answer&)>& done) {
  Answer answer;
  for (int i = 0; i < 600; ++i) {
    answer = Get(port, path);
    if (done(answer)) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  return answer;
}

class WorkerHealthProcessTest : public ::testing::Test {
 protected:
  std::unique_ptr<Subprocess> StartWorker(const std::string& database_url,
                                          std::map<std::string, std::string> env = {}) {
    fs::create_directories(dir_.path() / "root/inputs");
    env["OPENAI_API_KEY"] = "sk-test-health-0000";
    env["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1";  // never called: the queue is empty
    return std::make_unique<Subprocess>(
        std::vector<std::string>{(BinDir() / "batchscribe-worker").string(),
                                 "--database_url=" + database_url,
                                 "--storage_root=" + (dir_.path() / "root").string(),
                                 "--input_root=" + (dir_.path() / "root/inputs").string(),
                                 "--concurrency=2", "--poll_interval_ms=200",
                                 "--health_port=" + std::to_string(port_),
                                 "--liveness_timeout_seconds=2", "--drain_seconds=5"},
        dir_.path() / "worker.log", env);
  }

  int HealthCheck() {
    Subprocess check({(BinDir() / "batchscribe-worker").string(),
                      "--health_check=127.0.0.1:" + std::to_string(port_)},
                     dir_.path() / "health_check.log");
    const int status = check.Wait(30'000);
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  TempDir dir_;
  int port_ = FreePort();
};

TEST_F(WorkerHealthProcessTest, AFrozenClaimLoopTurnsLivenessRedAndThawingTurnsItGreen) {
  TestDatabase db;
  const fs::path freeze = dir_.path() / "freeze";
  auto worker = StartWorker(db.url(), {{"BATCHSCRIBE_TEST_FREEZE_FILE", freeze.string()}});

  const Answer ready = WaitFor(port_, "/readyz", [](const Answer& a) { return a.status == 200; });
  ASSERT_EQ(ready.status, 200) << ready.body << worker->Log();
  EXPECT_EQ(ready.body["database"], "ok");
  EXPECT_EQ(ready.body["worker"], "claiming");
  const Answer live = Get(port_, "/livez");
  ASSERT_EQ(live.status, 200) << live.body;
  EXPECT_EQ(live.body["slots"].size(), 2u);
  EXPECT_EQ(HealthCheck(), 0) << "--health_check on a healthy worker";

  std::ofstream(freeze) << "frozen\n";
  const Answer stalled =
      WaitFor(port_, "/livez", [](const Answer& a) { return a.status == 503; });
  ASSERT_EQ(stalled.status, 503) << stalled.body << worker->Log();
  EXPECT_EQ(stalled.body["status"], "stalled");
  // Whichever claim loop saw the freeze file first turned red (either slot).
  int stalled_slots = 0;
  for (const auto& slot : stalled.body["slots"]) stalled_slots += slot["state"] == "stalled";
  EXPECT_GE(stalled_slots, 1) << stalled.body;
  EXPECT_EQ(Get(port_, "/readyz").status, 200) << "the database still answers";
  EXPECT_EQ(Get(port_, "/healthz").status, 503);
  EXPECT_EQ(HealthCheck(), 1) << "--health_check on a stalled worker";

  fs::remove(freeze);
  const Answer thawed = WaitFor(port_, "/livez", [](const Answer& a) { return a.status == 200; });
  EXPECT_EQ(thawed.status, 200) << thawed.body;

  const int status = worker->Stop(30'000);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << worker->Log();

  // Every line the worker wrote follows the one log schema.
  std::istringstream lines(worker->Log());
  int count = 0;
  for (std::string line; std::getline(lines, line);) {
    const auto json = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(json.is_object()) << line;
    for (const char* key : {"ts", "level", "service", "msg"}) {
      EXPECT_TRUE(json.contains(key)) << key << " missing: " << line;
    }
    EXPECT_EQ(json["service"], "worker") << line;
    EXPECT_LE(line.size(), 16u * 1024) << line.substr(0, 200);
    ++count;
  }
  EXPECT_GT(count, 0);
}

TEST_F(WorkerHealthProcessTest, NotReadyWhileTheDatabaseIsUnreachableButLive) {
  // Nothing listens there: the worker waits for the database (migrations).
  const int closed = FreePort();
  auto worker = StartWorker("postgresql://postgres@127.0.0.1:" + std::to_string(closed) + "/none");
  const Answer ready = WaitFor(port_, "/readyz", [](const Answer& a) { return a.status != 0; });
  EXPECT_EQ(ready.status, 503) << ready.body << worker->Log();
  EXPECT_EQ(ready.body["database"], "unavailable") << ready.body;
  EXPECT_EQ(Get(port_, "/livez").status, 200) << "waiting for the database is not stuck";
  EXPECT_EQ(HealthCheck(), 1);
  const int status = worker->Stop(30'000);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "SIGTERM ends the wait for the database\n"
      << worker->Log();
}

}  // namespace
}  // namespace batchscribe::testing
