// Every CLI command against a running stack of real processes: a fresh
// PostgreSQL database, the coordinator, the OpenAI emulator and a worker. The
// CLI runs as a child process, so exit codes and output are what a user or a
// script sees.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/test_env.h"

namespace batchscribe::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

extern "C" char** environ;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;

  json Json() const { return json::parse(out); }
  /// One JSON object per non-empty line.
  std::vector<json> JsonLines() const {
    std::vector<json> lines;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) lines.push_back(json::parse(line));
    }
    return lines;
  }
};

std::ostream& operator<<(std::ostream& os, const CliResult& r) {
  return os << "exit " << r.exit_code << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err;
}

/// How the stack under test is set up.
struct StackOptions {
  /// Emulator fault rules (JSON), or empty.
  std::string faults;
  /// Time an emulated batch stays in_progress.
  int in_progress_ms = 300;
  /// Token required by the coordinator, or empty for none.
  std::string auth_token;
  /// Start the emulator and a worker (not needed for request errors).
  bool with_workers = true;
  /// Serve TLS with a self-signed certificate for 127.0.0.1 (see Stack::tls_ca()).
  bool tls = false;
};

/// PostgreSQL database, emulator, coordinator and worker, each a real process,
/// stopped in the destructor.
class Stack {
 public:
  explicit Stack(const StackOptions& options = {}) {
    root_ = dir_.path() / "root";
    inputs_ = root_ / "inputs";
    fs::create_directories(inputs_ / "samples");
    for (const auto& entry : fs::directory_iterator(SourceDir() / "examples")) {
      if (entry.path().extension() == ".pdf") {
        fs::copy_file(entry.path(), inputs_ / "samples" / entry.path().filename());
      }
    }
    grpc_port_ = FreePort();
    std::vector<std::string> coordinator = {(BinDir() / "batchscribe-coordinator").string(),
                                            "--listen=127.0.0.1:" + std::to_string(grpc_port_),
                                            "--database_url=" + db_.url(),
                                            "--input_root=" + inputs_.string(),
                                            "--storage_root=" + root_.string(),
                                            "--maintenance_interval_ms=500"};
    if (options.tls) {
      tls_ca_ = dir_.path() / "cert.pem";
      const std::string openssl =
          "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost"
          " -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " +
          (dir_.path() / "key.pem").string() + " -out " + tls_ca_.string() + " 2>/dev/null";
      EXPECT_EQ(std::system(openssl.c_str()), 0) << openssl;
      coordinator.push_back("--tls_cert=" + tls_ca_.string());
      coordinator.push_back("--tls_key=" + (dir_.path() / "key.pem").string());
      health_flags_.push_back("--tls_cert=" + tls_ca_.string());
    }
    if (!options.auth_token.empty()) {
      const fs::path token_file = dir_.path() / "tokens";
      std::ofstream(token_file) << options.auth_token << "\n";
      coordinator.push_back("--auth_token_file=" + token_file.string());
    }
    processes_.push_back(
        std::make_unique<Subprocess>(coordinator, dir_.path() / "coordinator.log"));
    EXPECT_TRUE(WaitHealthy()) << ReadFile(dir_.path() / "coordinator.log");

    if (!options.with_workers) return;
    const int emulator_port = FreePort();
    std::vector<std::string> emulator = {
        (BinDir() / "openai-emulator").string(),
        "--listen=127.0.0.1:" + std::to_string(emulator_port),
        "--validate_ms=100",
        "--in_progress_ms=" + std::to_string(options.in_progress_ms),
        "--finalize_ms=100",
        "--cancel_ms=100"};
    if (!options.faults.empty()) emulator.push_back("--faults=" + options.faults);
    processes_.push_back(std::make_unique<Subprocess>(emulator, dir_.path() / "emulator.log"));
    EXPECT_TRUE(WaitForTcp(emulator_port, 30000)) << ReadFile(dir_.path() / "emulator.log");
    processes_.push_back(std::make_unique<Subprocess>(
        std::vector<std::string>{
            (BinDir() / "batchscribe-worker").string(), "--database_url=" + db_.url(),
            "--input_root=" + inputs_.string(), "--storage_root=" + root_.string(),
            "--openai_base_url=http://127.0.0.1:" + std::to_string(emulator_port) + "/v1",
            "--concurrency=4", "--poll_interval_ms=200", "--batch_poll_min_ms=200",
            "--batch_poll_max_ms=1000", "--sweep_interval_ms=1000"},
        dir_.path() / "worker.log",
        std::map<std::string, std::string>{{"OPENAI_API_KEY", "sk-test"}}));
  }

  ~Stack() {
    // Workers first, then the coordinator (reverse start order).
    while (!processes_.empty()) processes_.pop_back();
  }

  /// Runs the CLI with --server pointing at this stack (unless `args` sets it).
  CliResult Cli(std::vector<std::string> args, std::map<std::string, std::string> env = {},
                int timeout_seconds = 240) {
    std::vector<std::string> argv = {(BinDir() / "batchscribe").string()};
    bool has_server = false;
    for (const auto& a : args) has_server = has_server || a.rfind("--server", 0) == 0;
    if (!has_server && env.count("BATCHSCRIBE_SERVER") == 0)
      argv.push_back("--server=127.0.0.1:" + std::to_string(grpc_port_));
    argv.insert(argv.end(), args.begin(), args.end());
    return Run(argv, env, timeout_seconds);
  }

  /// Copies sample PDFs into inputs/<folder>, renamed to `names` (without .pdf).
  void AddDocuments(const std::string& folder, const std::vector<std::string>& names) {
    fs::create_directories(inputs_ / folder);
    const fs::path sample = SourceDir() / "examples/datasheet-centraflow-x200.pdf";
    for (const auto& name : names) fs::copy_file(sample, inputs_ / folder / (name + ".pdf"));
  }

  const fs::path& root() const { return root_; }
  /// The certificate the coordinator serves, to trust as a CA.
  const fs::path& tls_ca() const { return tls_ca_; }
  const fs::path& inputs() const { return inputs_; }
  int grpc_port() const { return grpc_port_; }
  std::string Logs() {
    std::string out;
    for (const char* name : {"coordinator.log", "worker.log", "emulator.log"}) {
      const std::string text = ReadFile(dir_.path() / name);
      out += std::string("--- ") + name + " (tail)\n" +
             text.substr(text.size() > 3000 ? text.size() - 3000 : 0);
    }
    return out;
  }

 private:
  bool WaitHealthy() {
    for (int i = 0; i < 300; ++i) {
      std::vector<std::string> argv = {(BinDir() / "batchscribe-coordinator").string(),
                                       "--health_check=127.0.0.1:" + std::to_string(grpc_port_)};
      argv.insert(argv.end(), health_flags_.begin(), health_flags_.end());
      const CliResult r = Run(argv, {}, 30);
      if (r.exit_code == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  CliResult Run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                int timeout_seconds) {
    static int counter = 0;
    const fs::path out_path = dir_.path() / ("cli." + std::to_string(++counter) + ".out");
    const fs::path err_path = dir_.path() / ("cli." + std::to_string(counter) + ".err");
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry(*e);
      const std::string key = entry.substr(0, entry.find('='));
      // The CLI must see only what the test gives it.
      if (key.rfind("BATCHSCRIBE_", 0) == 0 && key.rfind("BATCHSCRIBE_TEST_", 0) != 0) continue;
      if (env.count(key) == 0) env_strings.push_back(entry);
    }
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    const pid_t pid = fork();
    if (pid == 0) {
      const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out, 1);
      dup2(err, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      std::vector<char*> envp;
      for (auto& e : env_strings) envp.push_back(e.data());
      envp.push_back(nullptr);
      execve(args[0], args.data(), envp.data());
      _exit(127);
    }
    CliResult result;
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ADD_FAILURE() << "timed out after " << timeout_seconds << " s: " << argv[0];
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = ReadFile(out_path);
    result.err = ReadFile(err_path);
    return result;
  }

  TestDatabase db_;
  TempDir dir_;
  fs::path root_;
  fs::path inputs_;
  fs::path tls_ca_;
  std::vector<std::string> health_flags_;
  int grpc_port_ = 0;
  std::vector<std::unique_ptr<Subprocess>> processes_;
};

std::string BatchIdOf(const json& response) {
  const std::string name = response["batch"]["name"];
  return name.substr(std::string("batches/").size());
}

TEST(CliEndToEndTest, SubmitWatchStatusDocumentsListCostsAndResubmit) {
  Stack stack;

  // A dry run reads the local files and sends nothing.
  CliResult dry = stack.Cli({"submit", "--dry-run", "--input_root=" + stack.inputs().string(),
                             "--dir=samples", "-o", "json"});
  ASSERT_EQ(dry.exit_code, 0) << dry;
  EXPECT_EQ(dry.Json()["plannedDocuments"], 7);
  EXPECT_GT(dry.Json()["estimatedBatchCostUsd"].get<double>(), 0);
  CliResult none = stack.Cli({"list", "-o", "json"});
  ASSERT_EQ(none.exit_code, 0) << none;
  EXPECT_EQ(none.Json()["batches"].size(), 0u) << "a dry run submits nothing";

  // Submit and follow to the end; stdout is a file, so watch prints plain lines.
  CliResult submit = stack.Cli({"submit", "--dir=samples", "--label=team=ops",
                                "--display_name=samples", "--request_id=e2e-1", "--watch"});
  ASSERT_EQ(submit.exit_code, 0) << submit << stack.Logs();
  EXPECT_NE(submit.out.find("Submitted batches/"), std::string::npos) << submit;
  EXPECT_NE(submit.out.find("done 7/7 (100%)"), std::string::npos) << submit;
  EXPECT_NE(submit.out.find("ended SUCCEEDED: 7 succeeded, 0 failed, 0 skipped"), std::string::npos)
      << submit;
  EXPECT_EQ(submit.out.find('\033'), std::string::npos) << "no terminal escapes in a file";

  // The same request_id again replays the batch.
  CliResult replay = stack.Cli({"submit", "--dir=samples", "--label=team=ops",
                                "--display_name=samples", "--request_id=e2e-1", "-o", "json"});
  ASSERT_EQ(replay.exit_code, 0) << replay;
  EXPECT_EQ(replay.Json()["replayed"], true);
  const std::string id = BatchIdOf(replay.Json());

  CliResult status = stack.Cli({"status", id, "-o", "json"});
  ASSERT_EQ(status.exit_code, 0) << status;
  const json batch = status.Json()["batch"];
  EXPECT_EQ(batch["state"], "BATCH_STATE_SUCCEEDED");
  EXPECT_EQ(batch["counts"]["succeeded"], 7);
  EXPECT_EQ(batch["labels"]["team"], "ops");
  EXPECT_GT(batch["costUsd"].get<double>(), 0);
  EXPECT_NEAR(batch["syncEquivalentCostUsd"].get<double>(), 2 * batch["costUsd"].get<double>(),
              1e-9);
  ASSERT_GE(batch["shards"].size(), 1u);

  CliResult status_text = stack.Cli({"status", "batches/" + id});
  ASSERT_EQ(status_text.exit_code, 0) << status_text;
  EXPECT_NE(status_text.out.find("state:      SUCCEEDED"), std::string::npos) << status_text;
  EXPECT_NE(status_text.out.find("s0001"), std::string::npos) << status_text;
  EXPECT_NE(status_text.out.find("team=ops"), std::string::npos) << status_text;

  // A finished batch: watch prints its one snapshot and exits at once.
  CliResult watch = stack.Cli({"watch", id, "-o", "json"});
  ASSERT_EQ(watch.exit_code, 0) << watch;
  ASSERT_EQ(watch.JsonLines().size(), 1u) << watch;
  EXPECT_EQ(watch.JsonLines()[0]["batch"]["state"], "BATCH_STATE_SUCCEEDED");

  CliResult documents = stack.Cli({"documents", id, "-o", "json"});
  ASSERT_EQ(documents.exit_code, 0) << documents;
  ASSERT_EQ(documents.Json()["documents"].size(), 7u) << documents;
  for (const auto& d : documents.Json()["documents"]) {
    EXPECT_EQ(d["state"], "DOCUMENT_STATE_SUCCEEDED");
    const std::string transcript = d["transcriptPath"];
    EXPECT_TRUE(fs::exists(stack.root() / transcript)) << transcript;
  }
  CliResult paged = stack.Cli({"documents", id, "--page_size=3", "--all", "-o", "json"});
  ASSERT_EQ(paged.exit_code, 0) << paged;
  EXPECT_EQ(paged.Json()["documents"], documents.Json()["documents"]);
  CliResult first_page = stack.Cli({"documents", id, "--page_size=3"});
  ASSERT_EQ(first_page.exit_code, 0) << first_page;
  EXPECT_NE(first_page.out.find("--page_token"), std::string::npos) << first_page;
  CliResult failed = stack.Cli({"documents", id, "--state=failed", "-o", "json"});
  ASSERT_EQ(failed.exit_code, 0) << failed;
  EXPECT_EQ(failed.Json()["documents"].size(), 0u);
  CliResult documents_text = stack.Cli({"documents", id});
  ASSERT_EQ(documents_text.exit_code, 0) << documents_text;
  EXPECT_NE(
      documents_text.out.find("transcripts/gpt-4.1-mini/invoice-northwind-INV-2024-0117.json"),
      std::string::npos)
      << documents_text;
  EXPECT_NE(documents_text.out.find("SUCCEEDED"), std::string::npos) << documents_text;

  // A finished batch cannot be cancelled: FAILED_PRECONDITION is a bad request.
  CliResult cancel = stack.Cli({"cancel", id});
  EXPECT_EQ(cancel.exit_code, 3) << cancel;
  EXPECT_NE(cancel.err.find("FAILED_PRECONDITION"), std::string::npos) << cancel;

  // Submitting the same folder again: every transcript exists, all SKIPPED.
  CliResult again = stack.Cli({"submit", "--dir=samples", "--watch"});
  ASSERT_EQ(again.exit_code, 0) << again;
  EXPECT_NE(again.out.find("7 skipped"), std::string::npos) << again;

  CliResult list = stack.Cli({"list", "-o", "json"});
  ASSERT_EQ(list.exit_code, 0) << list;
  ASSERT_EQ(list.Json()["batches"].size(), 2u);
  EXPECT_EQ(list.Json()["batches"][1]["name"], "batches/" + id) << "newest first";
  CliResult list_text = stack.Cli({"list"});
  ASSERT_EQ(list_text.exit_code, 0) << list_text;
  EXPECT_NE(list_text.out.find(id + "  SUCCEEDED"), std::string::npos) << list_text;

  CliResult costs = stack.Cli({"costs", "-o", "json"});
  ASSERT_EQ(costs.exit_code, 0) << costs;
  const json total = costs.Json()["total"];
  EXPECT_EQ(total["documents"], "7") << "int64 is a string in proto3 JSON";
  EXPECT_NEAR(total["costUsd"].get<double>(), batch["costUsd"].get<double>(), 1e-9);
  ASSERT_EQ(costs.Json()["rows"].size(), 1u);
  EXPECT_EQ(costs.Json()["rows"][0]["mode"], "MODE_BATCH");
  CliResult costs_text = stack.Cli({"costs", "--days=1", "--model=gpt-4.1-mini"});
  ASSERT_EQ(costs_text.exit_code, 0) << costs_text;
  EXPECT_NE(costs_text.out.find("TOTAL"), std::string::npos) << costs_text;
  EXPECT_NE(costs_text.out.find("saved"), std::string::npos) << costs_text;
  CliResult costs_before = stack.Cli({"costs", "--until=2000-01-01", "-o", "json"});
  ASSERT_EQ(costs_before.exit_code, 0) << costs_before;
  EXPECT_EQ(costs_before.Json()["rows"].size(), 0u);
}

TEST(CliEndToEndTest, WatchStreamsEverySnapshotAsJsonUntilTheEnd) {
  Stack stack({.in_progress_ms = 1500});
  CliResult submit = stack.Cli({"submit", "--dir=samples", "-o", "json"});
  ASSERT_EQ(submit.exit_code, 0) << submit;
  CliResult watch = stack.Cli({"watch", BatchIdOf(submit.Json()), "-o", "json"});
  ASSERT_EQ(watch.exit_code, 0) << watch << stack.Logs();
  const auto lines = watch.JsonLines();
  ASSERT_GE(lines.size(), 2u) << "a first snapshot, then at least the end\n" << watch;
  int previous_done = -1;
  for (const auto& line : lines) {
    const json& c = line["batch"]["counts"];
    const int done = c["succeeded"].get<int>() + c["failed"].get<int>() + c["skipped"].get<int>() +
                     c["cancelled"].get<int>();
    EXPECT_GE(done, previous_done) << "progress never goes back";
    previous_done = done;
  }
  EXPECT_NE(lines.front()["batch"]["state"], "BATCH_STATE_SUCCEEDED");
  EXPECT_EQ(lines.back()["batch"]["state"], "BATCH_STATE_SUCCEEDED");
  EXPECT_EQ(lines.back()["batch"]["counts"]["succeeded"], 7);
}

TEST(CliEndToEndTest, FailedAndPartialBatchesExitWithTheirCodesAndRetryRequeues) {
  // Documents whose id starts with "fail-" get a 400 on their first attempt only.
  Stack stack(
      {.faults = R"({"lines":[{"custom_id":"^fail-","kind":"bad_request","attempts":1}]})"});
  stack.AddDocuments("bad", {"fail-bad-1", "fail-bad-2"});
  stack.AddDocuments("mixed", {"ok-mixed-1", "fail-mixed-1"});

  CliResult bad = stack.Cli({"submit", "--dir=bad", "--watch"});
  EXPECT_EQ(bad.exit_code, 10) << bad << stack.Logs();
  EXPECT_NE(bad.out.find("ended FAILED"), std::string::npos) << bad;
  EXPECT_NE(bad.out.find("--state failed"), std::string::npos) << "hints at the failures";
  CliResult list = stack.Cli({"list", "-o", "json"});
  ASSERT_EQ(list.exit_code, 0) << list;
  const std::string bad_id = BatchIdOf({{"batch", list.Json()["batches"][0]}});

  CliResult status = stack.Cli({"status", bad_id});
  EXPECT_EQ(status.exit_code, 10) << status;
  EXPECT_NE(status.out.find("FAILED"), std::string::npos) << status;
  CliResult failed = stack.Cli({"documents", bad_id, "--state=failed", "-o", "json"});
  ASSERT_EQ(failed.exit_code, 0) << failed;
  ASSERT_EQ(failed.Json()["documents"].size(), 2u) << failed;
  EXPECT_FALSE(failed.Json()["documents"][0]["error"].get<std::string>().empty()) << failed;
  CliResult failed_text = stack.Cli({"documents", bad_id, "--state=FAILED"});
  ASSERT_EQ(failed_text.exit_code, 0) << failed_text;
  EXPECT_NE(failed_text.out.find("error: "), std::string::npos) << failed_text;

  CliResult mixed = stack.Cli({"submit", "--dir=mixed", "--watch"});
  EXPECT_EQ(mixed.exit_code, 11) << mixed << stack.Logs();
  EXPECT_NE(mixed.out.find("ended PARTIALLY_SUCCEEDED: 1 succeeded, 1 failed"), std::string::npos)
      << mixed;

  // The second attempt passes: retry re-queues both and the batch succeeds.
  CliResult retry = stack.Cli({"retry", bad_id, "--watch"});
  EXPECT_EQ(retry.exit_code, 0) << retry << stack.Logs();
  EXPECT_NE(retry.out.find("Re-queued 2 failed documents"), std::string::npos) << retry;
  EXPECT_NE(retry.out.find("ended SUCCEEDED: 2 succeeded"), std::string::npos) << retry;
  CliResult again = stack.Cli({"retry", bad_id, "-o", "json"});
  EXPECT_TRUE(again.exit_code == 0 || again.exit_code == 3) << again;
}

TEST(CliEndToEndTest, CancelEndsTheBatchCancelled) {
  // Batches stay in_progress for a minute, so the cancel always comes first.
  Stack stack({.in_progress_ms = 60000});
  CliResult submit = stack.Cli({"submit", "--dir=samples", "-o", "json"});
  ASSERT_EQ(submit.exit_code, 0) << submit;
  const std::string id = BatchIdOf(submit.Json());
  CliResult cancel = stack.Cli({"cancel", id});
  ASSERT_EQ(cancel.exit_code, 0) << cancel;
  EXPECT_TRUE(cancel.out.find("is CANCELLING") != std::string::npos ||
              cancel.out.find("is CANCELLED") != std::string::npos)
      << cancel;
  CliResult watch = stack.Cli({"watch", id});
  EXPECT_EQ(watch.exit_code, 12) << watch << stack.Logs();
  EXPECT_NE(watch.out.find("ended CANCELLED"), std::string::npos) << watch;
  CliResult status = stack.Cli({"status", id, "-o", "json"});
  EXPECT_EQ(status.exit_code, 12) << status;
  EXPECT_EQ(status.Json()["batch"]["state"], "BATCH_STATE_CANCELLED");
  CliResult again = stack.Cli({"cancel", id, "-o", "json"});
  EXPECT_EQ(again.exit_code, 0) << "cancelling a cancelled batch is a no-op\n" << again;
}

TEST(CliEndToEndTest, SyncModeTranscribesThroughChatCompletions) {
  Stack stack;
  CliResult submit = stack.Cli(
      {"submit", "--dir=samples", "--mode=sync", "--model=gpt-5-nano", "-n", "3", "--watch"});
  ASSERT_EQ(submit.exit_code, 0) << submit << stack.Logs();
  EXPECT_NE(submit.out.find("gpt-5-nano, SYNC"), std::string::npos) << submit;
  EXPECT_NE(submit.out.find("ended SUCCEEDED: 3 succeeded"), std::string::npos) << submit;
  CliResult costs = stack.Cli({"costs", "-o", "json"});
  ASSERT_EQ(costs.exit_code, 0) << costs;
  ASSERT_EQ(costs.Json()["rows"].size(), 1u) << costs;
  const json row = costs.Json()["rows"][0];
  EXPECT_EQ(row["mode"], "MODE_SYNC");
  EXPECT_EQ(row["model"], "gpt-5-nano");
  EXPECT_GT(row["costUsd"].get<double>(), 0);
  EXPECT_NEAR(row["costUsd"].get<double>(), row["syncEquivalentCostUsd"].get<double>(), 1e-12)
      << "synchronous calls cost the standard price";
}

TEST(CliEndToEndTest, ExitCodesForBadRequestsUnreachableServerAndAuth) {
  Stack stack({.auth_token = "s3cret-token-for-tests", .with_workers = false});
  const std::map<std::string, std::string> token = {
      {"BATCHSCRIBE_TOKEN", "s3cret-token-for-tests"}};

  CliResult anonymous = stack.Cli({"list"});
  EXPECT_EQ(anonymous.exit_code, 5) << anonymous;
  EXPECT_NE(anonymous.err.find("UNAUTHENTICATED"), std::string::npos) << anonymous;
  CliResult wrong = stack.Cli({"list", "--token=wrong-token"});
  EXPECT_EQ(wrong.exit_code, 5) << wrong;
  EXPECT_EQ(stack.Cli({"list"}, token).exit_code, 0);
  TempDir dir;
  std::ofstream(dir.path() / "token") << "s3cret-token-for-tests\n";
  CliResult from_file = stack.Cli({"list", "--token_file=" + (dir.path() / "token").string()});
  EXPECT_EQ(from_file.exit_code, 0) << from_file;

  CliResult unknown = stack.Cli({"status", "0123456789abcdef0123"}, token);
  EXPECT_EQ(unknown.exit_code, 3) << unknown;
  EXPECT_NE(unknown.err.find("NOT_FOUND"), std::string::npos) << unknown;
  CliResult malformed = stack.Cli({"status", "Not_A_Batch!"}, token);
  EXPECT_EQ(malformed.exit_code, 3) << malformed;
  CliResult missing = stack.Cli({"submit", "samples/no-such-file.pdf"}, token);
  EXPECT_EQ(missing.exit_code, 3) << missing;
  EXPECT_NE(missing.err.find("INVALID_ARGUMENT"), std::string::npos) << missing;
  CliResult escape = stack.Cli({"submit", "../outside.pdf"}, token);
  EXPECT_EQ(escape.exit_code, 3) << escape;
  CliResult documents = stack.Cli({"documents", "0123456789abcdef0123", "-o", "json"}, token);
  EXPECT_EQ(documents.exit_code, 3) << documents;

  CliResult usage = stack.Cli({"status"}, token);
  EXPECT_EQ(usage.exit_code, 2) << usage;
  CliResult bad_state = stack.Cli({"documents", "x", "--state=done"}, token);
  EXPECT_EQ(bad_state.exit_code, 2) << bad_state;
  CliResult both = stack.Cli({"submit", "a.pdf", "--dir=samples"}, token);
  EXPECT_EQ(both.exit_code, 2) << both;

  CliResult unreachable =
      stack.Cli({"list", "--server=127.0.0.1:" + std::to_string(FreePort())}, token);
  EXPECT_EQ(unreachable.exit_code, 4) << unreachable;
  EXPECT_NE(unreachable.err.find("UNAVAILABLE"), std::string::npos) << unreachable;
  // The server from the environment.
  CliResult env_server = stack.Cli(
      {"costs"}, {{"BATCHSCRIBE_SERVER", "127.0.0.1:" + std::to_string(stack.grpc_port())},
                  {"BATCHSCRIBE_TOKEN", "s3cret-token-for-tests"}});
  EXPECT_EQ(env_server.exit_code, 0) << env_server;
}

TEST(CliEndToEndTest, TlsTrustsTheGivenCa) {
  Stack stack({.with_workers = false, .tls = true});
  CliResult trusted = stack.Cli({"list", "--tls_ca=" + stack.tls_ca().string()});
  EXPECT_EQ(trusted.exit_code, 0) << trusted;
  CliResult from_env =
      stack.Cli({"costs", "-o", "json"}, {{"BATCHSCRIBE_TLS_CA", stack.tls_ca().string()}});
  EXPECT_EQ(from_env.exit_code, 0) << from_env;
  CliResult plaintext = stack.Cli({"list"});
  EXPECT_EQ(plaintext.exit_code, 4) << "a plaintext client cannot talk to a TLS server\n"
                                    << plaintext;
  CliResult untrusted = stack.Cli({"list", "--tls"});
  EXPECT_EQ(untrusted.exit_code, 4) << "the system roots do not know a self-signed certificate\n"
                                    << untrusted;
}

}  // namespace
}  // namespace batchscribe::testing
