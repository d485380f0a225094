#include "tests/coordinator/coordinator_process.h"

#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/support/test_env.h"

namespace batchscribe::testing {

CoordinatorProcess::CoordinatorProcess(CoordinatorOptions options)
    : options_(std::move(options)), port_(FreePort()) {
  if (!options_.credentials) options_.credentials = grpc::InsecureChannelCredentials();
  std::vector<std::string> argv = {(BinDir() / "batchscribe-coordinator").string()};
  std::map<std::string, std::string> env = options_.env;
  std::map<std::string, std::string> settings = {
      {"--listen", address()},
      {"--database_url", options_.database_url},
      {"--input_root", options_.input_root.string()},
      {"--storage_root", options_.storage_root.string()},
  };
  std::map<std::string, std::string> env_names = {
      {"--listen", "BATCHSCRIBE_LISTEN"},
      {"--database_url", "DATABASE_URL"},
      {"--input_root", "BATCHSCRIBE_INPUT_ROOT"},
      {"--storage_root", "BATCHSCRIBE_STORAGE_ROOT"},
  };
  for (const auto& [flag, value] : settings) {
    if (options_.settings_in_environment) {
      env[env_names[flag]] = value;
    } else {
      argv.push_back(flag);
      argv.push_back(value);
    }
  }
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  process_ = std::make_unique<Subprocess>(
      argv, options_.log_dir / ("coordinator-" + std::to_string(port_) + ".log"), env);
}

std::string CoordinatorProcess::address() const { return "127.0.0.1:" + std::to_string(port_); }

std::shared_ptr<grpc::Channel> CoordinatorProcess::Channel() const {
  return grpc::CreateChannel(address(), options_.credentials);
}

std::string CoordinatorProcess::HealthStatus() {
  auto stub = grpc::health::v1::Health::NewStub(Channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return "UNAVAILABLE: " + status.error_message();
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

bool CoordinatorProcess::WaitServing(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_->running()) return false;
    if (HealthStatus() == "SERVING") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace batchscribe::testing
