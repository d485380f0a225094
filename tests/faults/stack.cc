#include "tests/faults/stack.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/support/test_env.h"

namespace batchscribe::testing {
namespace fs = std::filesystem;
using nlohmann::json;

bool PollUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
               std::chrono::milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

int RunShell(const std::string& command, std::string* output) {
  std::string full = command + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::string text;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) text.append(buffer, n);
  int status = ::pclose(pipe);
  if (output != nullptr) *output = std::move(text);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ReadFileText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteFileText(const fs::path& path, const std::string& text) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::vector<json> JsonLogLines(const std::string& log) {
  std::vector<json> out;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.front() != '{') continue;
    json parsed = json::parse(line, nullptr, false);
    if (!parsed.is_discarded() && parsed.is_object()) out.push_back(std::move(parsed));
  }
  return out;
}

std::string Tail(const std::string& text, std::size_t lines) {
  std::size_t pos = text.size();
  for (std::size_t seen = 0; pos > 0 && seen <= lines;) {
    --pos;
    if (text[pos] == '\n') ++seen;
  }
  return text.substr(pos);
}

namespace {

std::string Quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string PgScript(const fs::path& dir, const std::string& call) {
  return "bash -c " + Quoted("set -e; source " + (SourceDir() / "scripts/lib/pg.sh").string() +
                             "; " + call + " " + dir.string());
}

// Starts `argv` logging to `log`, appending a banner so that restarts are
// visible in the file. The banner names the binary only: flags may hold
// secrets (a database URL with a password), and the secrets test greps logs.
std::unique_ptr<Subprocess> Launch(const std::vector<std::string>& argv, const fs::path& log,
                                   const std::map<std::string, std::string>& env = {}) {
  std::ofstream(log, std::ios::app)
      << "=== start: " << fs::path(argv[0]).filename().string() << "\n";
  return std::make_unique<Subprocess>(argv, log, env);
}

}  // namespace

// ---- PostgresCluster ---------------------------------------------------------

PostgresCluster::PostgresCluster(fs::path dir) : dir_(std::move(dir)), port_(FreePort()) {
  Start();
}

PostgresCluster::~PostgresCluster() {
  if (running_) Stop();
}

std::string PostgresCluster::Url(const std::string& database, const std::string& user,
                                 const std::string& password) const {
  return "postgresql://" + user + (password.empty() ? "" : ":" + password) +
         "@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

void PostgresCluster::CreateDatabase(const std::string& name) {
  pqxx::connection admin(Url());
  pqxx::nontransaction tx(admin);
  tx.exec("CREATE DATABASE " + tx.quote_name(name));
}

void PostgresCluster::Start() {
  std::string output;
  int rc = RunShell(PgScript(dir_, "PG_PORT=" + std::to_string(port_) + " pg_start"), &output);
  ASSERT_EQ(rc, 0) << "pg_start " << dir_ << " failed:\n" << output;
  running_ = true;
}

void PostgresCluster::Stop() {
  std::string output;
  RunShell(PgScript(dir_, "pg_stop"), &output);
  running_ = false;
}

void PostgresCluster::Restart() {
  Stop();
  Start();
}

// ---- EmulatorProcess ---------------------------------------------------------

EmulatorProcess::EmulatorProcess(fs::path log_dir, std::map<std::string, std::string> flags)
    : log_dir_(std::move(log_dir)), port_(FreePort()) {
  flags_ = {{"--validate_ms", "50"}, {"--in_progress_ms", "200"}, {"--finalize_ms", "50"},
            {"--cancel_ms", "50"},   {"--log_level", "info"},     {"--exec_threads", "2"},
            {"--http_threads", "16"}};
  for (auto& [k, v] : flags) flags_[k] = v;
  Start();
}

EmulatorProcess::~EmulatorProcess() {
  if (process_) process_->Kill();
}

void EmulatorProcess::Start() {
  std::vector<std::string> argv = {(BinDir() / "openai-emulator").string(), "--listen",
                                   "127.0.0.1:" + std::to_string(port_)};
  for (const auto& [k, v] : flags_) {
    argv.push_back(k);
    argv.push_back(v);
  }
  ++starts_;
  process_ = Launch(argv, log_dir_ / "emulator.log");
  bool up = PollUntil(
      [&] {
        if (!process_->running()) return true;
        httplib::Client client("127.0.0.1", port_);
        client.set_connection_timeout(1);
        auto res = client.Get("/_emulator/health");
        return res && res->status == 200;
      },
      std::chrono::seconds(60));
  ASSERT_TRUE(up && process_->running()) << "the emulator did not start:\n" << Tail(Log());
}

void EmulatorProcess::Kill() {
  if (process_) process_->Kill();
}

void EmulatorProcess::Restart() {
  Kill();
  Start();
}

bool EmulatorProcess::running() { return process_ && process_->running(); }

std::string EmulatorProcess::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/v1";
}

std::string EmulatorProcess::Log() const { return ReadFileText(log_dir_ / "emulator.log"); }

json EmulatorProcess::Stats() const {
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(30);
  for (int attempt = 0; attempt < 50; ++attempt) {
    auto res = client.Get("/_emulator/stats");
    if (res && res->status == 200) return json::parse(res->body);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ADD_FAILURE() << "GET /_emulator/stats failed";
  return json::object();
}

json EmulatorProcess::Faults() const {
  httplib::Client client("127.0.0.1", port_);
  auto res = client.Get("/_emulator/faults");
  if (!res || res->status != 200) {
    ADD_FAILURE() << "GET /_emulator/faults failed";
    return json::object();
  }
  return json::parse(res->body);
}

void EmulatorProcess::SetFaults(const json& faults) const {
  httplib::Client client("127.0.0.1", port_);
  auto res = client.Post("/_emulator/faults", faults.dump(), "application/json");
  ASSERT_TRUE(res) << "POST /_emulator/faults: no answer";
  ASSERT_EQ(res->status, 200) << res->body;
}

// ---- CoordinatorProcess ------------------------------------------------------

std::unique_ptr<grpc::ClientContext> CallContext(const ClientCredentials& credentials,
                                                 std::chrono::milliseconds deadline) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + deadline);
  if (!credentials.token.empty()) {
    context->AddMetadata("authorization", "Bearer " + credentials.token);
  }
  return context;
}

CoordinatorProcess::CoordinatorProcess(CoordinatorSettings settings)
    : settings_(std::move(settings)), port_(FreePort()) {
  Start();
}

CoordinatorProcess::~CoordinatorProcess() {
  if (process_) process_->Kill();
}

void CoordinatorProcess::Start() {
  std::vector<std::string> argv = {(BinDir() / "batchscribe-coordinator").string(),
                                   "--listen",
                                   "127.0.0.1:" + std::to_string(port_),
                                   "--database_url",
                                   settings_.database_url,
                                   "--input_root",
                                   settings_.input_root.string(),
                                   "--storage_root",
                                   settings_.storage_root.string(),
                                   "--maintenance_interval_ms",
                                   "500"};
  argv.insert(argv.end(), settings_.extra_args.begin(), settings_.extra_args.end());
  ++starts_;
  process_ = Launch(argv, settings_.log_dir / (settings_.name + ".log"));
  bool serving = PollUntil([&] { return !process_->running() || HealthStatus() == "SERVING"; },
                           std::chrono::seconds(90), std::chrono::milliseconds(200));
  ASSERT_TRUE(serving && process_->running())
      << settings_.name << " did not become SERVING (" << HealthStatus() << "):\n"
      << Tail(Log());
}

void CoordinatorProcess::Kill() {
  if (process_) process_->Kill();
}

void CoordinatorProcess::Stop() {
  if (process_) process_->Stop();
}

bool CoordinatorProcess::running() { return process_ && process_->running(); }

std::string CoordinatorProcess::address() const { return "127.0.0.1:" + std::to_string(port_); }

std::string CoordinatorProcess::Log() const {
  return ReadFileText(settings_.log_dir / (settings_.name + ".log"));
}

std::shared_ptr<grpc::Channel> CoordinatorProcess::Channel() const {
  auto creds = settings_.credentials.channel ? settings_.credentials.channel
                                             : grpc::InsecureChannelCredentials();
  return grpc::CreateChannel(address(), creds);
}

std::unique_ptr<v1::BatchService::Stub> CoordinatorProcess::Stub() const {
  return v1::BatchService::NewStub(Channel());
}

std::string CoordinatorProcess::HealthStatus() const {
  auto stub = grpc::health::v1::Health::NewStub(Channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return "UNREACHABLE: " + status.error_message();
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

// ---- WorkerProcess -----------------------------------------------------------

WorkerProcess::WorkerProcess(WorkerSettings settings) : settings_(std::move(settings)) { Start(); }

WorkerProcess::~WorkerProcess() {
  if (process_) process_->Kill();
}

void WorkerProcess::Start() {
  std::map<std::string, std::string> flags = {
      {"--database_url", settings_.database_url},
      {"--input_root", settings_.input_root.string()},
      {"--storage_root", settings_.storage_root.string()},
      {"--openai_base_url", settings_.openai_base_url},
      {"--concurrency", "2"},
      {"--lease_seconds", "3"},
      {"--poll_interval_ms", "200"},
      {"--batch_poll_min_ms", "100"},
      {"--batch_poll_max_ms", "400"},
      {"--sweep_interval_ms", "1000"},
      {"--task_backoff_scale", "0.01"},
      {"--resubmit_backoff_ms", "100"},
      {"--budget_wait_ms", "200"},
      {"--drain_seconds", "5"},
      {"--openai_max_retries", "2"},
      {"--log_level", "info"},
  };
  if (!settings_.openai_api_key.empty()) {
    fs::path key_file = settings_.log_dir / (settings_.name + ".openai_key");
    WriteFileText(key_file, settings_.openai_api_key + "\n");
    flags["--openai_api_key_file"] = key_file.string();
  }
  for (const auto& [k, v] : settings_.flags) flags[k] = v;
  std::vector<std::string> argv = {(BinDir() / "batchscribe-worker").string()};
  for (const auto& [k, v] : flags) {
    argv.push_back(k);
    argv.push_back(v);
  }
  ++starts_;
  process_ = Launch(argv, settings_.log_dir / (settings_.name + ".log"), settings_.env);
}

void WorkerProcess::Kill() {
  if (process_) process_->Kill();
}

void WorkerProcess::Stop() {
  if (process_) process_->Stop();
}

bool WorkerProcess::running() { return process_ && process_->running(); }

pid_t WorkerProcess::pid() const { return process_ ? process_->pid() : -1; }

std::string WorkerProcess::owner() const {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "worker");
  return std::string(host) + ":" + std::to_string(pid());
}

std::string WorkerProcess::Log() const {
  return ReadFileText(settings_.log_dir / (settings_.name + ".log"));
}

// ---- Shared helpers ----------------------------------------------------------

std::map<std::string, std::string> SnapshotTables(const std::string& database_url) {
  std::map<std::string, std::string> out;
  pqxx::connection conn(database_url);
  pqxx::read_transaction tx(conn);
  auto tables = tx.exec(
      "SELECT table_name FROM information_schema.tables "
      "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name");
  for (const auto& row : tables) {
    const std::string table = row[0].as<std::string>();
    auto r = tx.exec(
        "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY "
        "t::text)), '') FROM " +
        tx.quote_name(table) + " t");
    out[table] = r[0][0].as<std::string>() + " rows, md5 " + r[0][1].as<std::string>();
  }
  return out;
}

bool IsFinalBatchState(v1::BatchState state) {
  return state == v1::BATCH_STATE_SUCCEEDED || state == v1::BATCH_STATE_PARTIALLY_SUCCEEDED ||
         state == v1::BATCH_STATE_FAILED || state == v1::BATCH_STATE_CANCELLED;
}

std::optional<v1::Batch> WaitForFinalBatch(const std::vector<v1::BatchService::Stub*>& stubs,
                                           const std::string& name,
                                           std::chrono::milliseconds timeout,
                                           const ClientCredentials& credentials) {
  std::optional<v1::Batch> result;
  std::size_t next = 0;
  PollUntil(
      [&] {
        v1::GetBatchRequest request;
        request.set_name(name);
        v1::GetBatchResponse response;
        auto context = CallContext(credentials, std::chrono::seconds(10));
        grpc::Status status =
            stubs[next++ % stubs.size()]->GetBatch(context.get(), request, &response);
        if (status.ok() && IsFinalBatchState(response.batch().state())) {
          result = response.batch();
          return true;
        }
        return false;
      },
      timeout, std::chrono::milliseconds(250));
  return result;
}

std::string CorpusMarker(const std::string& document_id) {
  return "batchscribe test document " + document_id;
}

std::vector<std::string> WritePdfCorpus(const fs::path& input_root, const std::string& folder,
                                        const std::string& prefix, int count) {
  std::vector<std::string> paths;
  for (int i = 0; i < count; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "%04d", i);
    const std::string id = prefix + name;
    const std::string relative = (folder.empty() ? "" : folder + "/") + id + ".pdf";
    WriteMinimalPdf(input_root / relative, CorpusMarker(id));
    paths.push_back(relative);
  }
  return paths;
}

}  // namespace batchscribe::testing
