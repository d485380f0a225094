#pragma once
// The whole batchscribe stack as real processes for end-to-end tests: a fresh
// database in the throwaway PostgreSQL cluster, the openai-emulator, the
// coordinator and any number of batchscribe-worker processes, with fast
// timings. Tests submit over gRPC with the generated stubs and look at
// transcripts, database rows and the emulator's /_emulator/stats.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "batchscribe/v1/batch_service.grpc.pb.h"
#include "tests/coordinator/coordinator_process.h"
#include "tests/emulator/harness.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_env.h"

namespace batchscribe::e2e {

namespace v1 = ::batchscribe::v1;
using nlohmann::json;

/// Flags every test worker gets (fast polls, short leases, small shards);
/// `extra` entries override them.
std::vector<std::string> WorkerArgs(const std::map<std::string, std::string>& extra = {});

class Stack {
 public:
  /// Starts the emulator with `emulator_flags` (added to the harness's fast
  /// defaults), the coordinator, and no worker yet.
  explicit Stack(
      std::initializer_list<std::pair<const std::string, std::string>> emulator_flags = {});
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  const std::filesystem::path& input_root() const { return input_root_; }
  const std::filesystem::path& storage_root() const { return storage_root_; }
  const std::string& database_url() const { return db_.url(); }

  /// Writes `count` one-page PDFs "<prefix>-NNN.pdf" under inputs/<dir>;
  /// returns their document ids ("<prefix>-NNN").
  std::vector<std::string> WritePdfs(const std::string& dir, int count, const std::string& prefix);

  /// Starts a worker with WorkerArgs(flags) and extra environment; returns its index.
  int StartWorker(const std::map<std::string, std::string>& flags = {},
                  const std::map<std::string, std::string>& env = {});
  testing::Subprocess& worker(int index) { return *workers_.at(index); }
  /// Stops the coordinator (SIGTERM); StartCoordinator starts a new one on the
  /// same database, as an upgrade does.
  void StopCoordinator();
  void StartCoordinator();
  /// Every worker's log, for failure messages and log assertions.
  std::string WorkerLogs() const;

  /// SubmitDocuments for every PDF of inputs/<dir> (BATCH mode unless given);
  /// `tweak` may change the request before it is sent.
  v1::Batch SubmitDirectory(
      const std::string& dir, bool skip_existing = true, v1::Mode mode = v1::MODE_BATCH,
      const std::function<void(v1::SubmitDocumentsRequest&)>& tweak = {});
  v1::Batch GetBatch(const std::string& batch_id);
  v1::CancelBatchResponse Cancel(const std::string& batch_id);
  /// Polls GetBatch until the batch reaches a final state (or `timeout`).
  v1::Batch WaitForEnd(const std::string& batch_id,
                       std::chrono::seconds timeout = std::chrono::seconds(180));
  std::vector<v1::Document> Documents(const std::string& batch_id);

  /// GET /_emulator/stats.
  json EmulatorStats();
  /// POST /_emulator/faults.
  void SetFaults(const json& faults);
  emulator::testing::EmulatorProcess& emulator() { return *emulator_; }

  /// One value of a query on the test database ("" for NULL or no row).
  std::string Query(const std::string& sql);
  /// Every row of a query, each as text columns.
  std::vector<std::vector<std::string>> Rows(const std::string& sql);

  /// The transcript of `document_id` for gpt-4.1-mini, or "" when absent.
  std::string Transcript(const std::string& document_id,
                         const std::string& model = "gpt-4.1-mini") const;

 private:
  testing::TestDatabase db_;
  testing::TempDir dir_;
  std::filesystem::path input_root_;
  std::filesystem::path storage_root_;
  std::unique_ptr<emulator::testing::EmulatorProcess> emulator_;
  std::unique_ptr<testing::CoordinatorProcess> coordinator_;
  std::unique_ptr<v1::BatchService::Stub> stub_;
  std::vector<std::unique_ptr<testing::Subprocess>> workers_;
  int submissions_ = 0;
};

/// Reads "batches/<id>" names back to ids.
std::string BatchId(const v1::Batch& batch);

/// Number of OpenAI batches the emulator created per (batch, shard) metadata pair.
std::map<std::string, int> OpenAiBatchesPerShard(const json& stats);

}  // namespace batchscribe::e2e
