#pragma once
// The real batchscribe stack as child processes, for the fault, bad-input and
// security suites: a PostgreSQL cluster of the test's own (so that restarting
// it hurts no other test), the openai-emulator, coordinators and workers, each
// on a free port with its log in a file, plus the helpers those suites share
// (gRPC stubs and contexts, emulator control, database snapshots, logs).
//
// Every wait polls for a condition with a generous deadline; nothing assumes
// how fast the machine is.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "batchscribe/v1/batch_service.grpc.pb.h"
#include "tests/support/subprocess.h"

namespace batchscribe::testing {

namespace v1 = ::batchscribe::v1;

/// Polls `condition` every `interval` until it holds (true) or `timeout` passed (false).
bool PollUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
               std::chrono::milliseconds interval = std::chrono::milliseconds(100));

/// Runs `command` with /bin/sh; returns its exit status and, in `output`, what it
/// wrote to stdout and stderr.
int RunShell(const std::string& command, std::string* output = nullptr);

/// The whole content of a file ("" when it cannot be read).
std::string ReadFileText(const std::filesystem::path& path);
void WriteFileText(const std::filesystem::path& path, const std::string& text);

/// The JSON objects of a JSON-lines log (other lines are skipped).
std::vector<nlohmann::json> JsonLogLines(const std::string& log);

/// The last `lines` lines of `text`, for failure messages.
std::string Tail(const std::string& text, std::size_t lines = 40);

/// A PostgreSQL 15 cluster owned by one test, started with scripts/lib/pg.sh
/// in `dir`, on a free port that survives restarts. Stopped in the destructor.
class PostgresCluster {
 public:
  explicit PostgresCluster(std::filesystem::path dir);
  ~PostgresCluster();
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;

  int port() const { return port_; }
  /// postgresql://USER[:PASSWORD]@127.0.0.1:PORT/DATABASE
  std::string Url(const std::string& database = "postgres", const std::string& user = "postgres",
                  const std::string& password = "") const;
  void CreateDatabase(const std::string& name);
  /// Immediate shutdown (like a crash: no checkpoint, connections cut).
  void Stop();
  void Start();
  /// Stop then Start on the same port.
  void Restart();

 private:
  std::filesystem::path dir_;
  int port_;
  bool running_ = false;
};

/// build/bin/openai-emulator on a free port (kept across restarts).
class EmulatorProcess {
 public:
  /// `flags` are added to the fast test timings below and override them.
  EmulatorProcess(std::filesystem::path log_dir, std::map<std::string, std::string> flags = {});
  ~EmulatorProcess();

  void Start();
  /// SIGKILL: nothing saved beyond what the emulator already persisted.
  void Kill();
  /// Kill, then Start with the same flags and port.
  void Restart();
  bool running();
  int port() const { return port_; }
  /// http://127.0.0.1:PORT/v1
  std::string base_url() const;
  Subprocess& process() { return *process_; }
  std::string Log() const;

  /// GET /_emulator/stats.
  nlohmann::json Stats() const;
  /// GET /_emulator/faults (the rules with their `matched` and `fired` counters).
  nlohmann::json Faults() const;
  /// POST /_emulator/faults; fails the test when the emulator rejects them.
  void SetFaults(const nlohmann::json& faults) const;

 private:
  std::filesystem::path log_dir_;
  std::map<std::string, std::string> flags_;
  int port_;
  int starts_ = 0;
  std::unique_ptr<Subprocess> process_;
};

/// How to reach a coordinator.
struct ClientCredentials {
  /// Plaintext when null.
  std::shared_ptr<grpc::ChannelCredentials> channel;
  /// Bearer token sent as `authorization: Bearer <token>` ("" = none).
  std::string token;
};

/// A grpc::ClientContext with a deadline and the token of `credentials`.
std::unique_ptr<grpc::ClientContext> CallContext(
    const ClientCredentials& credentials = {},
    std::chrono::milliseconds deadline = std::chrono::seconds(60));

struct CoordinatorSettings {
  std::string database_url;
  std::filesystem::path input_root;
  std::filesystem::path storage_root;
  std::filesystem::path log_dir;
  /// More flags, e.g. {"--auth_token_file", path}.
  std::vector<std::string> extra_args;
  /// How the readiness wait reaches it (TLS, token: health needs no token).
  ClientCredentials credentials;
  /// Name of the log file.
  std::string name = "coordinator";
};

/// build/bin/batchscribe-coordinator on a free port (kept across restarts).
class CoordinatorProcess {
 public:
  explicit CoordinatorProcess(CoordinatorSettings settings);
  ~CoordinatorProcess();

  /// Starts it and waits until grpc.health.v1 says SERVING (fails the test otherwise).
  void Start();
  void Kill();
  /// SIGTERM and wait.
  void Stop();
  bool running();
  int port() const { return port_; }
  /// 127.0.0.1:PORT
  std::string address() const;
  Subprocess& process() { return *process_; }
  std::string Log() const;

  /// "SERVING", "NOT_SERVING" or "UNREACHABLE: <message>".
  std::string HealthStatus() const;
  std::shared_ptr<grpc::Channel> Channel() const;
  std::unique_ptr<v1::BatchService::Stub> Stub() const;
  const ClientCredentials& credentials() const { return settings_.credentials; }

 private:
  CoordinatorSettings settings_;
  int port_;
  int starts_ = 0;
  std::unique_ptr<Subprocess> process_;
};

struct WorkerSettings {
  std::string database_url;
  std::filesystem::path input_root;
  std::filesystem::path storage_root;
  std::filesystem::path log_dir;
  std::string openai_base_url;
  /// Written to a file passed as --openai_api_key_file ("" = none).
  std::string openai_api_key;
  /// Flags added to (and overriding) the fast test defaults below.
  std::map<std::string, std::string> flags;
  std::map<std::string, std::string> env;
  std::string name = "worker";
};

/// build/bin/batchscribe-worker with short leases and polling intervals.
class WorkerProcess {
 public:
  explicit WorkerProcess(WorkerSettings settings);
  ~WorkerProcess();

  void Start();
  void Kill();
  void Stop();
  bool running();
  pid_t pid() const;
  /// The lease owner this process claims tasks as ("<hostname>:<pid>").
  std::string owner() const;
  Subprocess& process() { return *process_; }
  /// The logs of every run of this worker, oldest first.
  std::string Log() const;
  int starts() const { return starts_; }

 private:
  WorkerSettings settings_;
  int starts_ = 0;
  std::unique_ptr<Subprocess> process_;
};

/// Row count and checksum of every table of the database, for "nothing
/// changed" assertions.
std::map<std::string, std::string> SnapshotTables(const std::string& database_url);

/// Waits (polling GetBatch on any of `stubs`, riding out outages) until the
/// batch reaches a final state; returns it, or nullopt on timeout.
std::optional<v1::Batch> WaitForFinalBatch(const std::vector<v1::BatchService::Stub*>& stubs,
                                           const std::string& name,
                                           std::chrono::milliseconds timeout,
                                           const ClientCredentials& credentials = {});

bool IsFinalBatchState(v1::BatchState state);

/// Writes `count` small one-page PDFs under `input_root/folder`, named
/// `<prefix><NNNN>.pdf`, each saying "batchscribe test document <id>", and
/// returns their paths relative to the input root.
std::vector<std::string> WritePdfCorpus(const std::filesystem::path& input_root,
                                        const std::string& folder, const std::string& prefix,
                                        int count);

/// The text each corpus PDF carries, for transcript checks.
std::string CorpusMarker(const std::string& document_id);

}  // namespace batchscribe::testing
