#pragma once
// The CLI's gRPC connection to the coordinator: channel (plaintext or TLS),
// bearer token and per-call deadline.

#include <absl/status/statusor.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "batchscribe/v1/batch_service.grpc.pb.h"

namespace batchscribe::cli {

/// How to reach the coordinator; filled from flags and their environment fallbacks.
struct ConnectionOptions {
  /// HOST:PORT of the coordinator.
  std::string server = "127.0.0.1:50051";
  /// Bearer token; wins over token_file.
  std::string token;
  /// File holding the bearer token (trailing whitespace trimmed).
  std::string token_file;
  /// PEM file of the CA that signed the server's certificate; implies TLS.
  std::string tls_ca;
  /// TLS with the system's root certificates.
  bool tls = false;
  /// Deadline of each unary call.
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
};

/// A connected BatchService client.
class ApiClient {
 public:
  /// Reads the token and CA files and builds the channel (which connects lazily).
  static absl::StatusOr<std::unique_ptr<ApiClient>> Connect(const ConnectionOptions& options);

  /// A context for one unary call: bearer token and deadline.
  std::unique_ptr<grpc::ClientContext> UnaryContext() const;
  /// A context for a long-lived stream: bearer token, no deadline.
  std::unique_ptr<grpc::ClientContext> StreamContext() const;

  batchscribe::v1::BatchService::Stub& stub() { return *stub_; }

 private:
  ApiClient() = default;
  void AddAuth(grpc::ClientContext& context) const;

  std::string token_;
  std::chrono::milliseconds timeout_{};
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<batchscribe::v1::BatchService::Stub> stub_;
};

}  // namespace batchscribe::cli
