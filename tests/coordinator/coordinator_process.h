#pragma once
// The real batchscribe-coordinator binary as a child process, for end-to-end
// tests (here and in tests/clients): started on a free port against a test
// database, stopped (SIGTERM) in the destructor.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace batchscribe::testing {

struct CoordinatorOptions {
  std::string database_url;
  std::filesystem::path input_root;
  std::filesystem::path storage_root;
  /// Folder for the log file.
  std::filesystem::path log_dir;
  /// More flags (e.g. --auth_token_file).
  std::vector<std::string> extra_args;
  /// More environment variables.
  std::map<std::string, std::string> env;
  /// Pass the settings through environment variables instead of flags.
  bool settings_in_environment = false;
  /// Credentials the readiness wait uses (default: plaintext).
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

class CoordinatorProcess {
 public:
  explicit CoordinatorProcess(CoordinatorOptions options);

  int port() const { return port_; }
  /// "127.0.0.1:<port>"
  std::string address() const;
  Subprocess& process() { return *process_; }

  /// Polls grpc.health.v1 until it answers SERVING (true) or `timeout` passes.
  bool WaitServing(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  /// The health status ("SERVING", "NOT_SERVING", or "UNAVAILABLE: ..." when unreachable).
  std::string HealthStatus();
  /// A channel to the coordinator with the options' credentials.
  std::shared_ptr<grpc::Channel> Channel() const;

 private:
  CoordinatorOptions options_;
  int port_;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace batchscribe::testing
