// batchscribe-coordinator: the BatchService gRPC API on PostgreSQL.
// Flags (each with an environment fallback) are listed in docs/CONTRACTS.md.

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/common/logging.h"
#include "libs/common/secrets.h"
#include "libs/db/connection_pool.h"
#include "libs/db/migrations.h"
#include "libs/metrics/metrics.h"
#include "libs/pricing/price_table.h"
#include "libs/queue/task_queue.h"
#include "libs/storage/input_root.h"
#include "services/coordinator/auth.h"
#include "services/coordinator/batch_operations.h"
#include "services/coordinator/batch_watch_hub.h"
#include "services/coordinator/grpc_service.h"
#include "services/coordinator/maintenance.h"
#include "services/coordinator/readiness.h"

namespace batchscribe::coordinator {
namespace {

constexpr const char* kServiceName = "batchscribe.v1.BatchService";

struct Flags {
  std::string listen = "0.0.0.0:50051";
  std::string database_url;
  std::string input_root;
  std::string storage_root;
  std::string auth_token_file;
  std::string tls_cert;
  std::string tls_key;
  int64_t max_documents_per_request = 100000;
  int metrics_port = 0;
  bool migrate_only = false;
  std::string health_check;
  std::string log_level = "info";
  int64_t maintenance_interval_ms = 2000;
  int64_t readiness_interval_ms = 1000;
  int64_t shutdown_grace_ms = 10000;
  int db_pool_size = 16;
};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

int Fail(const std::string& message) {
  log::Error(message);
  return 1;
}

/// --health_check HOST:PORT: exits 0 iff grpc.health.v1 answers SERVING.
int RunHealthCheck(const Flags& flags) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (!flags.tls_cert.empty()) {
    // A local probe of our own server: encryption is needed to talk to it, the
    // certificate's identity is not what is being checked.
    grpc::experimental::TlsChannelCredentialsOptions options;
    options.set_verify_server_certs(false);
    options.set_check_call_host(false);
    options.set_certificate_verifier(
        std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
    credentials = grpc::experimental::TlsCredentials(options);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  auto stub =
      grpc::health::v1::Health::NewStub(grpc::CreateChannel(flags.health_check, credentials));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    std::cout << "UNREACHABLE: " << status.error_message() << "\n";
    return 1;
  }
  std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status()) << "\n";
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

/// Applies the embedded migrations, waiting up to a minute for the database
/// (containers often start before PostgreSQL accepts connections).
absl::Status Migrate(const std::string& url) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    auto applied = db::ApplyMigrations(db::WithConnectTimeout(url, 5));
    if (applied.ok()) {
      log::Info("database schema up to date", {{"applied", *applied}});
      return absl::OkStatus();
    }
    if (!absl::IsUnavailable(applied.status()) || std::chrono::steady_clock::now() > deadline) {
      return applied.status();
    }
    log::Warn("database not reachable yet; retrying",
              {{"error", std::string(applied.status().message())}});
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const Flags& flags) {
  if (flags.tls_cert.empty() != flags.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  if (flags.tls_cert.empty()) return grpc::InsecureServerCredentials();
  auto cert = ReadFile(flags.tls_cert);
  if (!cert.ok()) return cert.status();
  auto key = ReadFile(flags.tls_key);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(options);
}

/// Blocks SIGTERM and SIGINT in every thread (call before starting any) so
/// that WaitForShutdownSignal receives them.
void BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForShutdownSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int signal = 0;
  sigwait(&set, &signal);
  return signal;
}

int Run(const Flags& flags) {
  if (flags.database_url.empty()) return Fail("--database_url (DATABASE_URL) is required");
  RegisterDatabaseUrlSecret(flags.database_url);
  if (absl::Status s = Migrate(flags.database_url); !s.ok()) {
    return Fail("cannot migrate the database: " + std::string(s.message()));
  }
  if (flags.migrate_only) return 0;

  if (flags.input_root.empty()) return Fail("--input_root (BATCHSCRIBE_INPUT_ROOT) is required");
  if (flags.storage_root.empty()) {
    return Fail("--storage_root (BATCHSCRIBE_STORAGE_ROOT) is required");
  }
  if (flags.max_documents_per_request < 1) return Fail("--max_documents_per_request must be >= 1");
  auto input_root = storage::InputRoot::Open(flags.input_root);
  if (!input_root.ok()) {
    return Fail("--input_root: " + std::string(input_root.status().message()));
  }
  auto credentials = ServerCredentials(flags);
  if (!credentials.ok()) return Fail(std::string(credentials.status().message()));
  std::unique_ptr<BearerTokenAuthenticator> auth;
  if (!flags.auth_token_file.empty()) {
    auto created = BearerTokenAuthenticator::Create(flags.auth_token_file);
    if (!created.ok()) return Fail(std::string(created.status().message()));
    auth = *std::move(created);
  }

  auto metrics = metrics::Metrics::Start({.port = flags.metrics_port, .service = "coordinator"});
  if (!metrics.ok()) return Fail("--metrics_port: " + std::string(metrics.status().message()));
  metrics::Metrics& m = **metrics;
  m.AddDatabaseStats(flags.database_url);

  db::ConnectionPool pool(flags.database_url, {.max_connections = flags.db_pool_size});
  const pricing::PriceTable prices = pricing::PriceTable::Defaults();
  BatchWatchHub hub(pool);
  hub.Start();
  BatchOperations operations(
      pool, prices, *input_root, hub,
      {.storage_root = flags.storage_root,
       .max_documents_per_request = static_cast<std::size_t>(flags.max_documents_per_request)});
  BatchServiceImpl service(
      operations, auth.get(),
      [&m](std::string_view method, grpc::StatusCode code, std::chrono::duration<double>) {
        m.GrpcRequest(method, absl::StatusCodeToString(static_cast<absl::StatusCode>(code)));
      });

  // Reflection must describe grpc.health.v1 too: referencing its descriptor
  // links the generated file into the binary's descriptor pool.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(flags.listen, *credentials, &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) return Fail("cannot listen on " + flags.listen);
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  auto set_serving = [health](bool serving) {
    health->SetServingStatus(serving);
    health->SetServingStatus(kServiceName, serving);
  };
  set_serving(false);  // until the first database probe
  DatabaseReadiness readiness(pool, std::chrono::milliseconds(flags.readiness_interval_ms),
                              set_serving);
  readiness.Start();
  queue::SystemClock clock;
  MaintenanceLoop maintenance(pool, clock, std::chrono::milliseconds(flags.maintenance_interval_ms),
                              [&m](int rescued) { m.LeasesRescued(rescued); });
  maintenance.Start();
  log::Info("listening", {{"address", flags.listen},
                          {"port", port},
                          {"tls", !flags.tls_cert.empty()},
                          {"auth", auth != nullptr},
                          {"database", RedactDatabaseUrl(flags.database_url)}});

  std::thread shutdown([&] {
    int signal = WaitForShutdownSignal();
    log::Info("shutting down", {{"signal", signal}});
    readiness.Stop();
    health->Shutdown();  // NOT_SERVING for every service from now on
    operations.BeginDrain();
    server->Shutdown(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(flags.shutdown_grace_ms));
    log::Debug("server shut down");
  });
  server->Wait();
  shutdown.join();
  log::Debug("server stopped");
  maintenance.Stop();
  hub.Stop();
  log::Info("stopped");
  return 0;
}

}  // namespace
}  // namespace batchscribe::coordinator

int main(int argc, char** argv) {
  batchscribe::coordinator::Flags flags;
  CLI::App app{"batchscribe-coordinator: the BatchService gRPC API on PostgreSQL"};
  app.add_option("--listen", flags.listen, "HOST:PORT to serve gRPC on")
      ->envname("BATCHSCRIBE_LISTEN")
      ->capture_default_str();
  app.add_option("--database_url", flags.database_url, "PostgreSQL URL")->envname("DATABASE_URL");
  app.add_option("--input_root", flags.input_root, "folder the submitted PDF paths are relative to")
      ->envname("BATCHSCRIBE_INPUT_ROOT");
  app.add_option("--storage_root", flags.storage_root, "folder of transcripts and shard files")
      ->envname("BATCHSCRIBE_STORAGE_ROOT");
  app.add_option("--auth_token_file", flags.auth_token_file,
                 "file of accepted bearer tokens, one per line (default: no auth)")
      ->envname("BATCHSCRIBE_AUTH_TOKEN_FILE");
  app.add_option("--tls_cert", flags.tls_cert, "PEM certificate chain (enables TLS)")
      ->envname("BATCHSCRIBE_TLS_CERT");
  app.add_option("--tls_key", flags.tls_key, "PEM private key of --tls_cert")
      ->envname("BATCHSCRIBE_TLS_KEY");
  app.add_option("--max_documents_per_request", flags.max_documents_per_request,
                 "most documents one SubmitDocuments may hold")
      ->envname("BATCHSCRIBE_MAX_DOCUMENTS_PER_REQUEST")
      ->capture_default_str();
  app.add_option("--metrics_port", flags.metrics_port, "Prometheus /metrics port (0 = off)")
      ->envname("BATCHSCRIBE_METRICS_PORT")
      ->capture_default_str();
  app.add_flag("--migrate_only", flags.migrate_only, "apply database migrations and exit");
  app.add_option("--health_check", flags.health_check,
                 "HOST:PORT: query grpc.health.v1 there and exit 0 when SERVING (probes)");
  app.add_option("--log_level", flags.log_level, "debug, info, warn or error")
      ->envname("BATCHSCRIBE_LOG_LEVEL")
      ->capture_default_str();
  app.add_option("--maintenance_interval_ms", flags.maintenance_interval_ms,
                 "how often expired task leases are rescued")
      ->envname("BATCHSCRIBE_MAINTENANCE_INTERVAL_MS")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  batchscribe::log::Init("coordinator", flags.log_level);
  if (!flags.health_check.empty()) return batchscribe::coordinator::RunHealthCheck(flags);
  // Before any thread exists (gRPC starts some as soon as it is used), so that
  // every thread inherits the mask and only the shutdown thread sees the signals.
  batchscribe::coordinator::BlockShutdownSignals();
  return batchscribe::coordinator::Run(flags);
}
