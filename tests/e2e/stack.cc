#include "tests/e2e/stack.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

namespace batchscribe::e2e {
namespace fs = std::filesystem;

std::vector<std::string> WorkerArgs(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> flags = {
      {"--concurrency", "3"},           {"--lease_seconds", "4"},
      {"--poll_interval_ms", "200"},    {"--batch_poll_min_ms", "100"},
      {"--batch_poll_max_ms", "400"},   {"--max_shard_requests", "10"},
      {"--resubmit_backoff_ms", "300"}, {"--budget_wait_ms", "200"},
      {"--sweep_interval_ms", "1000"},  {"--task_backoff_scale", "0.02"},
      {"--drain_seconds", "5"},         {"--log_level", "info"},
  };
  for (const auto& [k, v] : extra) flags[k] = v;
  std::vector<std::string> args;
  for (const auto& [k, v] : flags) {
    args.push_back(k);
    args.push_back(v);
  }
  return args;
}

Stack::Stack(std::initializer_list<std::pair<const std::string, std::string>> emulator_flags)
    : input_root_(dir_.path() / "inputs"), storage_root_(dir_.path() / "storage") {
  fs::create_directories(input_root_);
  fs::create_directories(storage_root_);
  emulator_ = std::make_unique<emulator::testing::EmulatorProcess>(emulator_flags);
  StartCoordinator();
}

void Stack::StopCoordinator() {
  stub_.reset();
  coordinator_.reset();
}

void Stack::StartCoordinator() {
  testing::CoordinatorOptions options;
  options.database_url = db_.url();
  options.input_root = input_root_;
  options.storage_root = storage_root_;
  options.log_dir = dir_.path();
  options.extra_args = {"--maintenance_interval_ms", "500"};
  coordinator_ = std::make_unique<testing::CoordinatorProcess>(options);
  EXPECT_TRUE(coordinator_->WaitServing()) << coordinator_->process().Log();
  stub_ = v1::BatchService::NewStub(coordinator_->Channel());
}

Stack::~Stack() {
  // Workers first (SIGTERM: they drain and hand back), then the rest.
  for (auto& w : workers_) {
    if (w->running()) w->Stop(15000);
  }
  if (::testing::Test::HasFailure()) {
    std::string logs = WorkerLogs();
    if (logs.size() > 60000) logs = "...\n" + logs.substr(logs.size() - 60000);
    std::fprintf(stderr, "---- worker logs ----\n%s\n", logs.c_str());
  }
  workers_.clear();
  coordinator_.reset();
  emulator_.reset();
}

std::vector<std::string> Stack::WritePdfs(const std::string& dir, int count,
                                          const std::string& prefix) {
  std::vector<std::string> ids;
  fs::create_directories(input_root_ / dir);
  for (int i = 0; i < count; ++i) {
    char name[128];
    std::snprintf(name, sizeof(name), "%s-%03d", prefix.c_str(), i);
    testing::WriteMinimalPdf(input_root_ / dir / (std::string(name) + ".pdf"),
                             "This is document " + std::string(name) + " speaking.");
    ids.push_back(name);
  }
  return ids;
}

int Stack::StartWorker(const std::map<std::string, std::string>& flags,
                       const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv = {(testing::BinDir() / "batchscribe-worker").string(),
                                   "--database_url",
                                   db_.url(),
                                   "--input_root",
                                   input_root_.string(),
                                   "--storage_root",
                                   storage_root_.string(),
                                   "--openai_base_url",
                                   emulator_->base_url() + "/v1"};
  for (auto& a : WorkerArgs(flags)) argv.push_back(a);
  std::map<std::string, std::string> environment = env;
  environment.emplace("OPENAI_API_KEY", "sk-e2e-secret-key-0123456789");
  const int index = static_cast<int>(workers_.size());
  workers_.push_back(std::make_unique<testing::Subprocess>(
      argv, dir_.path() / ("worker." + std::to_string(index) + ".log"), environment));
  return index;
}

std::string Stack::WorkerLogs() const {
  std::string out;
  for (size_t i = 0; i < workers_.size(); ++i) {
    out += "== worker " + std::to_string(i) + " ==\n" + workers_[i]->Log();
  }
  return out;
}

v1::Batch Stack::SubmitDirectory(const std::string& dir, bool skip_existing, v1::Mode mode,
                                 const std::function<void(v1::SubmitDocumentsRequest&)>& tweak) {
  v1::SubmitDocumentsRequest request;
  request.set_request_id("e2e-" + std::to_string(getpid()) + "-" + dir + "-" +
                         std::to_string(submissions_++));
  request.mutable_source()->set_directory(dir);
  request.mutable_source()->set_glob("*.pdf");
  request.set_model("gpt-4.1-mini");
  request.set_mode(mode);
  request.set_skip_existing(skip_existing);
  request.set_max_completion_tokens(4000);
  if (tweak) tweak(request);
  v1::SubmitDocumentsResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  grpc::Status status = stub_->SubmitDocuments(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.batch();
}

v1::Batch Stack::GetBatch(const std::string& batch_id) {
  v1::GetBatchRequest request;
  request.set_name("batches/" + batch_id);
  v1::GetBatchResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::Status status = stub_->GetBatch(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.batch();
}

v1::CancelBatchResponse Stack::Cancel(const std::string& batch_id) {
  v1::CancelBatchRequest request;
  request.set_name("batches/" + batch_id);
  v1::CancelBatchResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::Status status = stub_->CancelBatch(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

v1::Batch Stack::WaitForEnd(const std::string& batch_id, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  v1::Batch batch;
  while (std::chrono::steady_clock::now() < deadline) {
    batch = GetBatch(batch_id);
    switch (batch.state()) {
      case v1::BATCH_STATE_SUCCEEDED:
      case v1::BATCH_STATE_PARTIALLY_SUCCEEDED:
      case v1::BATCH_STATE_FAILED:
      case v1::BATCH_STATE_CANCELLED:
        return batch;
      default:
        break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ADD_FAILURE() << "batch " << batch_id << " did not end; last state "
                << v1::BatchState_Name(batch.state()) << " " << batch.ShortDebugString();
  return batch;
}

std::vector<v1::Document> Stack::Documents(const std::string& batch_id) {
  std::vector<v1::Document> out;
  std::string token;
  do {
    v1::ListDocumentsRequest request;
    request.set_parent("batches/" + batch_id);
    request.set_page_size(1000);
    request.set_page_token(token);
    v1::ListDocumentsResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Status status = stub_->ListDocuments(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (!status.ok()) break;
    for (const auto& d : response.documents()) out.push_back(d);
    token = response.next_page_token();
  } while (!token.empty());
  return out;
}

json Stack::EmulatorStats() {
  auto client = emulator_->Client();
  auto res = client->Get("/_emulator/stats");
  EXPECT_TRUE(res && res->status == 200);
  return res ? json::parse(res->body) : json();
}

void Stack::SetFaults(const json& faults) {
  auto client = emulator_->Client();
  auto res = client->Post("/_emulator/faults", faults.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
}

std::string Stack::Query(const std::string& sql) {
  pqxx::connection conn(db_.url());
  pqxx::read_transaction tx(conn);
  auto r = tx.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

std::vector<std::vector<std::string>> Stack::Rows(const std::string& sql) {
  pqxx::connection conn(db_.url());
  pqxx::read_transaction tx(conn);
  std::vector<std::vector<std::string>> rows;
  for (const auto& row : tx.exec(sql)) {
    std::vector<std::string> cols;
    for (const auto& field : row) cols.push_back(field.is_null() ? "" : field.as<std::string>());
    rows.push_back(std::move(cols));
  }
  return rows;
}

std::string Stack::Transcript(const std::string& document_id, const std::string& model) const {
  std::ifstream in(storage_root_ / "transcripts" / model / (document_id + ".json"));
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string BatchId(const v1::Batch& batch) {
  const std::string& name = batch.name();
  auto slash = name.find('/');
  return slash == std::string::npos ? name : name.substr(slash + 1);
}

std::map<std::string, int> OpenAiBatchesPerShard(const json& stats) {
  std::map<std::string, int> out;
  for (const auto& b : stats["batches"]["list"]) {
    const json& m = b["metadata"];
    if (!m.is_object() || !m.contains("batchscribe_shard")) continue;
    ++out[m["batchscribe_batch"].get<std::string>() + "/" +
          m["batchscribe_shard"].get<std::string>()];
  }
  return out;
}

}  // namespace batchscribe::e2e
