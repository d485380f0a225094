// scripts/run-local.sh as a user runs it: on the bundled samples, with a private
// run folder and ports (so that it collides neither with a developer's stack nor
// with parallel tests), and the binaries of this build.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/test_env.h"

namespace batchscribe::testing {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct ScriptRun {
  int exit_code = -1;
  std::string output;
};

class RunLocalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Ctrl-C is SIGINT: it must reach the script with its default disposition
    // even if whoever started this test ignores it.
    signal(SIGINT, SIG_DFL);
    run_dir_ = dir_.path() / "run";
    env_ = {{"BATCHSCRIBE_RUN_DIR", run_dir_.string()},
            {"BATCHSCRIBE_BIN_DIR", BinDir().string()},
            {"BATCHSCRIBE_RUNLOCAL_GRPC_PORT", std::to_string(FreePort())},
            {"BATCHSCRIBE_RUNLOCAL_EMULATOR_PORT", std::to_string(FreePort())},
            {"BATCHSCRIBE_RUNLOCAL_PG_PORT", std::to_string(FreePort())},
            {"BATCHSCRIBE_RUNLOCAL_METRICS_PORT", "0"},
            {"BATCHSCRIBE_SERVER", ""},
            {"OPENAI_API_KEY", ""},  // the emulator, never the real API
            {"OPENAI_BASE_URL", ""}};
  }

  void TearDown() override {
    // Whatever happened, leave nothing running.
    RunScript({"stop"});
  }

  ScriptRun RunScript(const std::vector<std::string>& args,
                      const std::map<std::string, std::string>& extra_env = {}) {
    const fs::path log = dir_.path() / ("run-local." + std::to_string(++runs_) + ".log");
    std::vector<std::string> argv = {(SourceDir() / "scripts/run-local.sh").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto env = env_;
    for (const auto& [k, v] : extra_env) env[k] = v;
    Subprocess script(argv, log, env);
    const int status = script.Wait(600'000);
    ScriptRun run;
    run.exit_code = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.output = ReadFile(log);
    return run;
  }

  /// Pids of everything run-local started: its pid files and the postmaster.
  std::vector<pid_t> StartedPids() {
    std::vector<pid_t> pids;
    if (fs::exists(run_dir_ / "pids")) {
      for (const auto& entry : fs::directory_iterator(run_dir_ / "pids")) {
        if (entry.path().extension() == ".pid") pids.push_back(std::stoi(ReadFile(entry.path())));
      }
    }
    const fs::path postmaster = run_dir_ / "pg/data/postmaster.pid";
    if (fs::exists(postmaster)) pids.push_back(std::stoi(ReadFile(postmaster)));
    return pids;
  }

  static bool Alive(pid_t pid) { return kill(pid, 0) == 0; }

  /// Polls until none of `pids` runs; returns those still alive after 60 s.
  static std::vector<pid_t> Survivors(const std::vector<pid_t>& pids) {
    std::vector<pid_t> alive;
    for (int i = 0; i < 600; ++i) {
      alive.clear();
      for (pid_t pid : pids) {
        if (Alive(pid)) alive.push_back(pid);
      }
      if (alive.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return alive;
  }

  size_t TranscriptCount() {
    const fs::path dir = run_dir_ / "data/transcripts/gpt-4.1-mini";
    if (!fs::exists(dir)) return 0;
    size_t n = 0;
    for (const auto& entry : fs::directory_iterator(dir)) n += entry.path().extension() == ".json";
    return n;
  }

  TempDir dir_;
  fs::path run_dir_;
  std::map<std::string, std::string> env_;
  int runs_ = 0;
};

TEST_F(RunLocalTest, TranscribesTheSamplesResumesAndStopsEverything) {
  const ScriptRun first = RunScript({});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("started postgres"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("started emulator"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("started worker-2"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("ended SUCCEEDED: 7 succeeded, 0 failed"), std::string::npos)
      << first.output;
  EXPECT_NE(
      first.output.find("Transcripts:  " + (run_dir_ / "data/transcripts/gpt-4.1-mini/").string()),
      std::string::npos)
      << first.output;
  EXPECT_NE(first.output.find("synchronous calls would have cost"), std::string::npos)
      << "the cost summary\n"
      << first.output;
  EXPECT_NE(first.output.find("buf curl"), std::string::npos) << first.output;
  EXPECT_EQ(TranscriptCount(), 7u);

  // The stack stays up: the printed CLI line works against it.
  const auto pids = StartedPids();
  ASSERT_EQ(pids.size(), 5u) << "coordinator, two workers, emulator, postgres";
  for (pid_t pid : pids) EXPECT_TRUE(Alive(pid)) << pid;
  const ScriptRun status = RunScript({"status"});
  ASSERT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("worker-1     running"), std::string::npos) << status.output;

  // Running again uses the running stack and skips what is transcribed.
  const ScriptRun second = RunScript({});
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("coordinator already running"), std::string::npos) << second.output;
  EXPECT_NE(second.output.find("7 already transcribed (skipped)"), std::string::npos)
      << second.output;
  EXPECT_EQ(TranscriptCount(), 7u);

  const ScriptRun stop = RunScript({"stop"});
  ASSERT_EQ(stop.exit_code, 0) << stop.output;
  EXPECT_TRUE(Survivors(pids).empty()) << stop.output;
  EXPECT_TRUE(StartedPids().empty()) << "pid files removed";
  const ScriptRun stopped = RunScript({"status"});
  EXPECT_EQ(stopped.output.find("running"), std::string::npos) << stopped.output;
}

TEST_F(RunLocalTest, CtrlCStopsTheStackAndARerunResumesTheBatch) {
  // Emulated batches stay in_progress for 30 s: the interrupt comes first, and
  // the rerun finds the batch unfinished.
  const std::map<std::string, std::string> slow = {
      {"BATCHSCRIBE_RUNLOCAL_EMULATOR_FLAGS", "--in_progress_ms 30000"}};
  const fs::path log = dir_.path() / "interrupted.log";
  std::vector<pid_t> pids;
  {
    auto env = env_;
    for (const auto& [k, v] : slow) env[k] = v;
    Subprocess script({(SourceDir() / "scripts/run-local.sh").string()}, log, env);
    // Interrupt while watch shows the batch running.
    bool running = false;
    for (int i = 0; i < 1200 && !running; ++i) {
      running = ReadFile(log).find(" RUNNING ") != std::string::npos;
      if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(running) << ReadFile(log);
    pids = StartedPids();
    ASSERT_EQ(pids.size(), 5u) << ReadFile(log);
    kill(-script.pid(), SIGINT);  // the terminal's Ctrl-C reaches the whole process group
    const int status = script.Wait(120'000);
    ASSERT_TRUE(WIFEXITED(status)) << ReadFile(log);
    EXPECT_EQ(WEXITSTATUS(status), 130) << ReadFile(log);
  }
  EXPECT_NE(ReadFile(log).find("interrupted: stopping the stack"), std::string::npos);
  EXPECT_TRUE(Survivors(pids).empty()) << ReadFile(log);
  EXPECT_TRUE(StartedPids().empty());

  const ScriptRun rerun = RunScript({}, slow);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_NE(rerun.output.find("resuming unfinished batch"), std::string::npos) << rerun.output;
  EXPECT_EQ(rerun.output.find("submitting"), std::string::npos) << "no second batch\n"
                                                                << rerun.output;
  EXPECT_NE(rerun.output.find("ended SUCCEEDED: 7 succeeded"), std::string::npos) << rerun.output;
  EXPECT_EQ(TranscriptCount(), 7u);
}

// A fresh clone in a home of mode 700 (root's /root): the postgres user, which
// the cluster runs as when we are root, cannot enter the checkout. The script
// must put the cluster where that user can reach it, say where, and still work.
TEST_F(RunLocalTest, WorksFromACheckoutUnderAPrivateHome) {
  const fs::path home = dir_.path() / "home";
  const fs::path checkout = home / "batchscribe";
  fs::create_directories(checkout);
  fs::permissions(home, fs::perms::owner_all, fs::perm_options::replace);
  // What run-local.sh reads of a checkout when given prebuilt binaries.
  for (const char* part : {"scripts", "examples"}) {
    fs::copy(SourceDir() / part, checkout / part, fs::copy_options::recursive);
  }
  auto env = env_;
  env.erase("BATCHSCRIBE_RUN_DIR");  // the default: <checkout>/.run
  const fs::path script = checkout / "scripts/run-local.sh";
  auto run = [&](const std::vector<std::string>& args, const std::string& name) {
    std::vector<std::string> argv = {script.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    const fs::path log = dir_.path() / (name + ".log");
    Subprocess process(argv, log, env);
    const int status = process.Wait(600'000);
    return ScriptRun{status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadFile(log)};
  };

  const ScriptRun first = run({}, "private-home");
  // The cluster's folder, as the script reports it.
  std::smatch m;
  const bool reported = std::regex_search(
      first.output, m, std::regex(R"(started postgres \(port \d+, data ([^)]+)\))"));
  fs::path pg_dir = reported ? fs::path(m[1].str()) : fs::path();
  if (!pg_dir.empty() && pg_dir.is_relative()) pg_dir = checkout / pg_dir;
  const ScriptRun stop = run({"stop"}, "private-home-stop");
  const ScriptRun status = run({"status"}, "private-home-status");

  EXPECT_EQ(first.exit_code, 0) << first.output;
  EXPECT_EQ(first.output.find("Permission denied"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("ended SUCCEEDED: 7 succeeded, 0 failed"), std::string::npos)
      << first.output;
  EXPECT_TRUE(fs::exists(checkout / ".run/data/transcripts/gpt-4.1-mini")) << first.output;
  ASSERT_TRUE(reported) << first.output;
  if (geteuid() == 0) {
    // The postgres user cannot enter <checkout>/.run: the cluster moved out,
    // to a folder named after the run folder's path, closed to everyone else.
    EXPECT_EQ(pg_dir.parent_path(), fs::path("/var/tmp")) << first.output;
    EXPECT_TRUE(pg_dir.filename().string().starts_with("batchscribe-pg-")) << pg_dir;
    EXPECT_EQ(fs::status(pg_dir).permissions() & fs::perms::all, fs::perms::owner_all) << pg_dir;
    EXPECT_NE(status.output.find("postgres     stopped (data " + pg_dir.string() + ")"),
              std::string::npos)
        << status.output;
  }
  EXPECT_EQ(stop.exit_code, 0) << stop.output;
  EXPECT_NE(stop.output.find("stopped postgres"), std::string::npos) << stop.output;
  EXPECT_FALSE(fs::exists(pg_dir / "data/postmaster.pid")) << stop.output;
  if (geteuid() == 0 && pg_dir.parent_path() == "/var/tmp") fs::remove_all(pg_dir);
}

}  // namespace
}  // namespace batchscribe::testing
