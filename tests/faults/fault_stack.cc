#include "tests/faults/fault_stack.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <pqxx/pqxx>

#include "tests/faults/invariants.h"

namespace batchscribe::testing {
namespace fs = std::filesystem;

bool SoakMode() {
  const char* soak = std::getenv("BATCHSCRIBE_SOAK");
  return soak != nullptr && std::string(soak) == "1";
}

std::chrono::minutes SoakDuration() {
  const char* minutes = std::getenv("BATCHSCRIBE_SOAK_MINUTES");
  int value = minutes != nullptr ? std::atoi(minutes) : 0;
  return std::chrono::minutes(value > 0 ? value : 10);
}

uint64_t FaultSeed() {
  const char* seed = std::getenv("BATCHSCRIBE_FAULT_SEED");
  if (seed != nullptr && *seed != '\0') return std::strtoull(seed, nullptr, 10);
  return std::random_device()();
}

void Say(const std::string& line) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::cout << "[" << (info != nullptr ? info->name() : "fault") << "] " << line << std::endl;
}

FaultStack::FaultStack(FaultStackOptions options) : options_(std::move(options)) {
  log_dir_ = dir_.path() / "logs";
  input_root_ = dir_.path() / "inputs";
  storage_root_ = dir_.path() / "storage";
  fs::create_directories(log_dir_);
  fs::create_directories(input_root_);
  fs::create_directories(storage_root_);

  postgres_ = std::make_unique<PostgresCluster>(dir_.path() / "pg");
  if (::testing::Test::HasFatalFailure()) return;
  postgres_->CreateDatabase("batchscribe");
  database_url_ = postgres_->Url("batchscribe");

  std::map<std::string, std::string> emulator_flags = {
      {"--state_dir", (dir_.path() / "emulator-state").string()}};
  for (const auto& [k, v] : options_.emulator_flags) emulator_flags[k] = v;
  emulator_ = std::make_unique<EmulatorProcess>(log_dir_, emulator_flags);
  if (::testing::Test::HasFatalFailure()) return;

  for (int i = 0; i < options_.coordinators; ++i) {
    CoordinatorSettings settings;
    settings.database_url = database_url_;
    settings.input_root = input_root_;
    settings.storage_root = storage_root_;
    settings.log_dir = log_dir_;
    settings.name = "coordinator" + std::to_string(i);
    coordinators_.push_back(std::make_unique<CoordinatorProcess>(settings));
    if (::testing::Test::HasFatalFailure()) return;
  }
  for (int i = 0; i < options_.workers; ++i) {
    auto env = options_.worker_env.find(i);
    AddWorker(env == options_.worker_env.end() ? std::map<std::string, std::string>{}
                                               : env->second);
  }
}

FaultStack::~FaultStack() {
  PrintLogsIfFailed();
  // Workers first, so that nothing is left writing while the rest goes away.
  for (auto& w : workers_) w->Kill();
  for (auto& c : coordinators_) c->Kill();
  if (emulator_) emulator_->Kill();
}

int FaultStack::AddWorker(const std::map<std::string, std::string>& env) {
  WorkerSettings settings;
  settings.database_url = database_url_;
  settings.input_root = input_root_;
  settings.storage_root = storage_root_;
  settings.log_dir = log_dir_;
  settings.openai_base_url = emulator_->base_url();
  settings.flags = options_.worker_flags;
  settings.env = env;
  settings.name = "worker" + std::to_string(workers_.size());
  workers_.push_back(std::make_unique<WorkerProcess>(settings));
  return static_cast<int>(workers_.size()) - 1;
}

std::string FaultStack::Submit(const std::vector<std::string>& paths, const std::string& request_id,
                               const std::string& display_name) {
  v1::SubmitDocumentsRequest request;
  request.set_request_id(request_id);
  request.set_display_name(display_name.empty() ? request_id : display_name);
  for (const auto& path : paths) request.add_documents()->set_path(path);
  std::string name;
  std::string last_error;
  std::size_t next = 0;
  bool done = PollUntil(
      [&] {
        CoordinatorProcess& coordinator = *coordinators_[next++ % coordinators_.size()];
        if (!coordinator.running()) return false;
        auto stub = coordinator.Stub();
        auto context = CallContext({}, std::chrono::seconds(60));
        v1::SubmitDocumentsResponse response;
        grpc::Status status = stub->SubmitDocuments(context.get(), request, &response);
        if (status.ok()) {
          name = response.batch().name();
          return true;
        }
        last_error = std::to_string(status.error_code()) + " " + status.error_message();
        // Only outages are retried: anything else is a real rejection.
        return status.error_code() != grpc::StatusCode::UNAVAILABLE &&
               status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED;
      },
      std::chrono::seconds(180), std::chrono::milliseconds(300));
  EXPECT_TRUE(done && !name.empty()) << "submitting " << request_id << ": " << last_error;
  return name;
}

void FaultStack::WaitForBatches(const std::vector<std::string>& names,
                                std::chrono::seconds timeout) {
  std::vector<std::unique_ptr<v1::BatchService::Stub>> owned;
  std::vector<v1::BatchService::Stub*> stubs;
  for (auto& c : coordinators_) {
    owned.push_back(c->Stub());
    stubs.push_back(owned.back().get());
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const std::string& name : names) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto batch = WaitForFinalBatch(stubs, name, std::max(left, std::chrono::milliseconds(1000)));
    if (!batch) {
      std::string states;
      for (const auto& [state, n] : DocumentStates(database_url_)) {
        states += state + "=" + std::to_string(n) + " ";
      }
      ADD_FAILURE() << name << " did not finish within " << timeout.count()
                    << " s; documents: " << states;
      return;
    }
  }
}

void FaultStack::WaitForQuietQueue(std::chrono::seconds timeout) {
  bool quiet = PollUntil(
      [&] {
        try {
          pqxx::connection conn(database_url_);
          pqxx::read_transaction tx(conn);
          return tx.exec("SELECT 1 FROM tasks WHERE state = 'running' LIMIT 1").empty();
        } catch (const std::exception&) {
          return false;
        }
      },
      timeout, std::chrono::milliseconds(200));
  EXPECT_TRUE(quiet) << "tasks still running " << timeout.count() << " s after the batches ended";
}

std::vector<FaultStack::HeldTask> FaultStack::TasksHeldBy(const std::string& owner) {
  std::vector<HeldTask> out;
  try {
    pqxx::connection conn(database_url_);
    pqxx::read_transaction tx(conn);
    for (const auto& row :
         tx.exec_params("SELECT id, attempt, lease_token::text, kind, subject FROM tasks "
                        "WHERE state = 'running' AND lease_owner = $1 ORDER BY id",
                        owner)) {
      out.push_back(HeldTask{row[0].as<int64_t>(), row[1].as<int>(), row[2].as<std::string>(),
                             row[3].as<std::string>(), row[4].as<std::string>()});
    }
  } catch (const std::exception&) {
    // The database is down (a restart is being injected): nothing is known.
  }
  return out;
}

void FaultStack::PrintLogsIfFailed() {
  if (!::testing::Test::HasFailure()) return;
  for (const auto& entry : fs::directory_iterator(log_dir_)) {
    if (entry.path().extension() != ".log") continue;
    std::cout << "----- " << entry.path().filename().string() << " (tail) -----\n"
              << Tail(ReadFileText(entry.path()), 30) << "\n";
  }
}

}  // namespace batchscribe::testing
