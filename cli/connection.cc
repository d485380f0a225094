#include "cli/connection.h"

#include <fstream>
#include <sstream>

#include "libs/common/secrets.h"

namespace batchscribe::cli {

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(std::string("cannot read ") + what + " " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ApiClient>> ApiClient::Connect(const ConnectionOptions& options) {
  std::unique_ptr<ApiClient> client(new ApiClient());
  client->timeout_ = options.timeout;
  if (!options.token.empty()) {
    client->token_ = options.token;
  } else if (!options.token_file.empty()) {
    // ReadSecret also registers the token for log redaction.
    auto token = ReadSecret(options.token_file, "BATCHSCRIBE_TOKEN");
    if (!token.ok()) return token.status();
    if (token->empty()) {
      return absl::InvalidArgumentError("token file " + options.token_file + " is empty");
    }
    client->token_ = *std::move(token);
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (!options.tls_ca.empty() || options.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca.empty()) {
      auto pem = ReadFile(options.tls_ca, "TLS CA file");
      if (!pem.ok()) return pem.status();
      ssl.pem_root_certs = *std::move(pem);
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  // Transcripts are small, but a batch with thousands of shards is not.
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  client->channel_ = grpc::CreateCustomChannel(options.server, credentials, args);
  client->stub_ = batchscribe::v1::BatchService::NewStub(client->channel_);
  return client;
}

void ApiClient::AddAuth(grpc::ClientContext& context) const {
  // Plain metadata rather than call credentials: gRPC drops call credentials on
  // insecure channels, and a local coordinator may run plaintext with a token.
  if (!token_.empty()) context.AddMetadata("authorization", "Bearer " + token_);
}

std::unique_ptr<grpc::ClientContext> ApiClient::UnaryContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  AddAuth(*context);
  context->set_deadline(std::chrono::system_clock::now() + timeout_);
  return context;
}

std::unique_ptr<grpc::ClientContext> ApiClient::StreamContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  AddAuth(*context);
  return context;
}

}  // namespace batchscribe::cli
