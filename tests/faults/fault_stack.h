#pragma once
// One fault-suite stack: a PostgreSQL cluster of its own, the emulator (with a
// --state_dir, so it can be killed and restarted), coordinators and workers,
// all sharing one input root and one storage root; plus the submission and
// waiting helpers the scenarios share. Scenarios print what they inject and
// what they check through Say().

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tests/faults/stack.h"
#include "tests/support/test_env.h"

namespace batchscribe::testing {

/// BATCHSCRIBE_SOAK=1: longer runs, more documents (README.md, "Running the reliability
/// suites").
bool SoakMode();
/// BATCHSCRIBE_SOAK_MINUTES (default 10): how long the soak injects faults.
std::chrono::minutes SoakDuration();
/// BATCHSCRIBE_FAULT_SEED, else a random seed (printed, to replay a run).
uint64_t FaultSeed();

/// Prints one line of the scenario's report ("injected: ...", "checked: ...").
void Say(const std::string& line);

struct FaultStackOptions {
  int coordinators = 2;
  int workers = 3;
  /// Emulator flags (added to the fast timings of EmulatorProcess).
  std::map<std::string, std::string> emulator_flags;
  /// Worker flags (added to the fast defaults of WorkerProcess).
  std::map<std::string, std::string> worker_flags;
  /// Extra environment per worker index (e.g. crash points).
  std::map<int, std::map<std::string, std::string>> worker_env;
};

class FaultStack {
 public:
  explicit FaultStack(FaultStackOptions options);
  ~FaultStack();

  const std::string& database_url() const { return database_url_; }
  const std::filesystem::path& input_root() const { return input_root_; }
  const std::filesystem::path& storage_root() const { return storage_root_; }
  const std::filesystem::path& log_dir() const { return log_dir_; }
  PostgresCluster& postgres() { return *postgres_; }
  EmulatorProcess& emulator() { return *emulator_; }
  CoordinatorProcess& coordinator(int i) { return *coordinators_[i]; }
  WorkerProcess& worker(int i) { return *workers_[i]; }
  int worker_count() const { return static_cast<int>(workers_.size()); }
  /// Adds a worker (settings as the others, plus `env`); returns its index.
  int AddWorker(const std::map<std::string, std::string>& env = {});

  /// Submits `paths` (ids default to the file stems) as one batch through any
  /// coordinator that answers, retrying with the same request_id through
  /// outages; returns the batch name.
  std::string Submit(const std::vector<std::string>& paths, const std::string& request_id,
                     const std::string& display_name = "");
  /// Waits until every batch of `names` is final (fails the test otherwise).
  void WaitForBatches(const std::vector<std::string>& names, std::chrono::seconds timeout);
  /// Waits until no task is running (the last outcomes are recorded).
  void WaitForQuietQueue(std::chrono::seconds timeout);

  /// Tasks currently running under `owner`: (id, attempt, lease_token).
  struct HeldTask {
    int64_t id = 0;
    int attempt = 0;
    std::string lease_token;
    std::string kind;
    std::string subject;
  };
  std::vector<HeldTask> TasksHeldBy(const std::string& owner);

  /// On failure, prints the tail of every log.
  void PrintLogsIfFailed();

 private:
  FaultStackOptions options_;
  TempDir dir_;
  std::filesystem::path log_dir_;
  std::filesystem::path input_root_;
  std::filesystem::path storage_root_;
  std::unique_ptr<PostgresCluster> postgres_;
  std::string database_url_;
  std::unique_ptr<EmulatorProcess> emulator_;
  std::vector<std::unique_ptr<CoordinatorProcess>> coordinators_;
  std::vector<std::unique_ptr<WorkerProcess>> workers_;
};

}  // namespace batchscribe::testing
