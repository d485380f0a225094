// The real batchscribe-coordinator binary, end to end over gRPC: flags and
// environment fallbacks, auth, TLS, health and readiness, migrations at start,
// lease rescue, graceful shutdown.

#include "tests/coordinator/coordinator_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <pqxx/pqxx>
#include <thread>

#include "batchscribe/v1/batch_service.grpc.pb.h"
#include "libs/db/migrations.h"
#include "tests/support/test_env.h"

namespace batchscribe::testing {
namespace {
namespace fs = std::filesystem;
namespace v1 = ::batchscribe::v1;

template <typename F>
bool Eventually(F condition, std::chrono::seconds timeout = std::chrono::seconds(60)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

int ExitCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

class CoordinatorProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    inputs_ = dir_.path() / "inputs";
    store_ = dir_.path() / "store";
    fs::create_directories(store_);
    WriteMinimalPdf(inputs_ / "a.pdf", "alpha");
    WriteMinimalPdf(inputs_ / "b.pdf", "beta");
  }

  CoordinatorOptions Options() {
    return CoordinatorOptions{.database_url = db_.url(),
                              .input_root = inputs_,
                              .storage_root = store_,
                              .log_dir = dir_.path()};
  }

  /// Runs the binary with `args` to completion; returns its exit code.
  int RunToExit(std::vector<std::string> args, const std::string& log_name) {
    args.insert(args.begin(), (BinDir() / "batchscribe-coordinator").string());
    Subprocess process(args, dir_.path() / log_name);
    int status = process.Wait(120000);
    return ExitCode(status);
  }

  static grpc::Status Submit(v1::BatchService::Stub& stub, v1::SubmitDocumentsResponse* response,
                             const std::string& token = "") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    v1::SubmitDocumentsRequest request;
    request.add_documents()->set_path("a.pdf");
    request.add_documents()->set_path("b.pdf");
    return stub.SubmitDocuments(&context, request, response);
  }

  TestDatabase db_;
  TempDir dir_;
  fs::path inputs_;
  fs::path store_;
};

TEST_F(CoordinatorProcessTest, ServesTheApiAndStopsCleanlyOnSigterm) {
  CoordinatorProcess coordinator(Options());
  ASSERT_TRUE(coordinator.WaitServing()) << coordinator.process().Log();
  auto stub = v1::BatchService::NewStub(coordinator.Channel());

  v1::SubmitDocumentsResponse submitted;
  grpc::Status status = Submit(*stub, &submitted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(submitted.batch().counts().total(), 2);

  grpc::ClientContext get_context;
  v1::GetBatchRequest get;
  get.set_name(submitted.batch().name());
  v1::GetBatchResponse got;
  ASSERT_TRUE(stub->GetBatch(&get_context, get, &got).ok());
  EXPECT_EQ(got.batch().name(), submitted.batch().name());

  grpc::ClientContext list_context;
  v1::ListBatchesResponse listed;
  ASSERT_TRUE(stub->ListBatches(&list_context, v1::ListBatchesRequest(), &listed).ok());
  EXPECT_EQ(listed.batches_size(), 1);

  grpc::ClientContext cancel_context;
  v1::CancelBatchRequest cancel;
  cancel.set_name(submitted.batch().name());
  v1::CancelBatchResponse cancelled;
  ASSERT_TRUE(stub->CancelBatch(&cancel_context, cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.batch().state(), v1::BATCH_STATE_CANCELLED);

  // Error codes cross the wire intact (never UNKNOWN).
  grpc::ClientContext bad_context;
  get.set_name("not-a-name");
  grpc::Status bad = stub->GetBatch(&bad_context, get, &got);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("name"), std::string::npos);

  EXPECT_EQ(ExitCode(coordinator.process().Stop(30000)), 0) << coordinator.process().Log();
  std::string log = coordinator.process().Log();
  EXPECT_NE(log.find("\"msg\":\"shutting down\""), std::string::npos);
  EXPECT_NE(log.find("\"method\":\"SubmitDocuments\""), std::string::npos);
}

TEST_F(CoordinatorProcessTest, ReadsSettingsFromTheEnvironment) {
  CoordinatorOptions options = Options();
  options.settings_in_environment = true;
  CoordinatorProcess coordinator(options);
  ASSERT_TRUE(coordinator.WaitServing()) << coordinator.process().Log();
}

TEST_F(CoordinatorProcessTest, RefusesToStartWithoutItsSettings) {
  EXPECT_EQ(
      RunToExit({"--input_root", inputs_.string(), "--storage_root", store_.string()}, "no-db.log"),
      1);
  EXPECT_EQ(RunToExit({"--database_url", db_.url(), "--input_root",
                       (dir_.path() / "missing").string(), "--storage_root", store_.string()},
                      "no-inputs.log"),
            1);
  EXPECT_EQ(RunToExit({"--database_url", db_.url(), "--input_root", inputs_.string(),
                       "--storage_root", store_.string(), "--tls_cert", "/nonexistent.pem"},
                      "half-tls.log"),
            1);
}

TEST_F(CoordinatorProcessTest, TwoMigrateOnlyRunsOnAnEmptyDatabaseDoNotRace) {
  std::vector<std::string> args = {(BinDir() / "batchscribe-coordinator").string(),
                                   "--migrate_only", "--database_url", db_.url()};
  Subprocess first(args, dir_.path() / "migrate-1.log");
  Subprocess second(args, dir_.path() / "migrate-2.log");
  EXPECT_EQ(ExitCode(first.Wait(120000)), 0) << first.Log();
  EXPECT_EQ(ExitCode(second.Wait(120000)), 0) << second.Log();
  pqxx::connection conn(db_.url());
  auto rows = pqxx::nontransaction(conn).exec("SELECT count(*) FROM schema_migrations");
  EXPECT_EQ(rows[0][0].as<std::size_t>(), db::EmbeddedMigrations().size());
}

TEST_F(CoordinatorProcessTest, HealthCheckFlagExitsZeroOnlyWhenServing) {
  CoordinatorProcess coordinator(Options());
  ASSERT_TRUE(coordinator.WaitServing()) << coordinator.process().Log();
  EXPECT_EQ(RunToExit({"--health_check", coordinator.address()}, "probe.log"), 0);
  EXPECT_EQ(
      RunToExit({"--health_check", "127.0.0.1:" + std::to_string(FreePort())}, "probe-nothing.log"),
      1);
}

TEST_F(CoordinatorProcessTest, BearerTokensGuardTheApiButNotHealth) {
  fs::path tokens = dir_.path() / "tokens";
  std::ofstream(tokens) << "first-secret-token\nsecond-secret-token\n";
  CoordinatorOptions options = Options();
  options.extra_args = {"--auth_token_file", tokens.string()};
  CoordinatorProcess coordinator(options);
  ASSERT_TRUE(coordinator.WaitServing()) << coordinator.process().Log();  // health: no token
  auto stub = v1::BatchService::NewStub(coordinator.Channel());
  v1::SubmitDocumentsResponse response;
  EXPECT_EQ(Submit(*stub, &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Submit(*stub, &response, "wrong-token").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status ok = Submit(*stub, &response, "second-secret-token");
  ASSERT_TRUE(ok.ok()) << ok.error_message();

  // Every RPC is guarded, streaming included.
  grpc::ClientContext watch_context;
  v1::WatchBatchRequest watch;
  watch.set_name(response.batch().name());
  auto reader = stub->WatchBatch(&watch_context, watch);
  v1::WatchBatchResponse update;
  EXPECT_FALSE(reader->Read(&update));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // Tokens never reach the log.
  std::string log = coordinator.process().Log();
  EXPECT_EQ(log.find("second-secret-token"), std::string::npos);
  EXPECT_EQ(log.find("wrong-token"), std::string::npos);
  EXPECT_NE(log.find("UNAUTHENTICATED"), std::string::npos);
}

TEST_F(CoordinatorProcessTest, ServesTlsWithTheGivenCertificate) {
  const fs::path d = dir_.path();
  std::string script =
      "set -e; cd '" + d.string() +
      "'; "
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
      "-subj /CN=batchscribe-test-ca 2>/dev/null; "
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
      "-subj /CN=localhost 2>/dev/null; "
      "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext.cnf; "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
      "-out server.pem -days 2 -extfile ext.cnf 2>/dev/null";
  ASSERT_EQ(std::system(("bash -c \"" + script + "\"").c_str()), 0);

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(d / "ca.pem");
  CoordinatorOptions options = Options();
  options.extra_args = {"--tls_cert", (d / "server.pem").string(), "--tls_key",
                        (d / "server.key").string()};
  options.credentials = grpc::SslCredentials(ssl);
  CoordinatorProcess coordinator(options);
  ASSERT_TRUE(coordinator.WaitServing()) << coordinator.process().Log();

  auto stub = v1::BatchService::NewStub(coordinator.Channel());
  v1::SubmitDocumentsResponse response;
  grpc::Status status = Submit(*stub, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();

  // Plaintext clients cannot talk to it.
  auto plain = v1::BatchService::NewStub(
      grpc::CreateChannel(coordinator.address(), grpc::InsecureChannelCredentials()));
  EXPECT_FALSE(Submit(*plain, &response).ok());

  // The container probe speaks TLS when --tls_cert is set.
  EXPECT_EQ(RunToExit({"--health_check", coordinator.address(), "--tls_cert",
                       (d / "server.pem").string()},
                      "tls-probe.log"),
            0);
}

TEST_F(CoordinatorProcessTest, ReadinessFollowsTheDatabase) {
  CoordinatorProcess coordinator(Options());
  ASSERT_TRUE(coordinator.WaitServing()) << coordinator.process().Log();
  pqxx::connection admin(AdminDatabaseUrl());
  auto admin_exec = [&](const std::string& sql) { pqxx::nontransaction(admin).exec(sql); };
  const std::string name = admin.quote_name(db_.name());
  // The database goes away for the coordinator: no new connections, old ones killed.
  admin_exec("ALTER DATABASE " + name + " ALLOW_CONNECTIONS false");
  admin_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = " +
             admin.quote(db_.name()));
  EXPECT_TRUE(Eventually([&] { return coordinator.HealthStatus() == "NOT_SERVING"; }))
      << coordinator.HealthStatus();
  auto stub = v1::BatchService::NewStub(coordinator.Channel());
  v1::SubmitDocumentsResponse response;
  EXPECT_EQ(Submit(*stub, &response).error_code(), grpc::StatusCode::UNAVAILABLE);

  admin_exec("ALTER DATABASE " + name + " ALLOW_CONNECTIONS true");
  EXPECT_TRUE(Eventually([&] { return coordinator.HealthStatus() == "SERVING"; }));
  // And requests work again: broken pool connections were replaced.
  grpc::Status status = Submit(*stub, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(CoordinatorProcessTest, ShutdownEndsOpenWatchStreams) {
  CoordinatorProcess coordinator(Options());
  ASSERT_TRUE(coordinator.WaitServing()) << coordinator.process().Log();
  auto stub = v1::BatchService::NewStub(coordinator.Channel());
  v1::SubmitDocumentsResponse response;
  ASSERT_TRUE(Submit(*stub, &response).ok());

  grpc::ClientContext context;
  v1::WatchBatchRequest watch;
  watch.set_name(response.batch().name());
  auto reader = stub->WatchBatch(&context, watch);
  v1::WatchBatchResponse update;
  ASSERT_TRUE(reader->Read(&update));
  EXPECT_EQ(update.batch().state(), v1::BATCH_STATE_PENDING);

  coordinator.process().Signal(SIGTERM);
  while (reader->Read(&update)) {
  }
  grpc::Status ended = reader->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE) << ended.error_message();
  EXPECT_EQ(ExitCode(coordinator.process().Wait(60000)), 0) << coordinator.process().Log();
}

TEST_F(CoordinatorProcessTest, MaintenanceRescuesExpiredLeases) {
  CoordinatorOptions options = Options();
  options.extra_args = {"--maintenance_interval_ms", "100"};
  CoordinatorProcess coordinator(options);
  ASSERT_TRUE(coordinator.WaitServing()) << coordinator.process().Log();
  auto stub = v1::BatchService::NewStub(coordinator.Channel());
  v1::SubmitDocumentsResponse response;
  ASSERT_TRUE(Submit(*stub, &response).ok());

  pqxx::connection conn(db_.url());
  // A worker claimed the plan task and died: its lease ran out a minute ago.
  pqxx::nontransaction(conn).exec(
      "UPDATE tasks SET state = 'running', attempt = 1, lease_token = gen_random_uuid(), "
      "lease_owner = 'dead-worker', lease_expires_at = now() - interval '1 minute'");
  EXPECT_TRUE(Eventually([&] {
    return pqxx::nontransaction(conn)
               .exec(
                   "SELECT count(*) FROM tasks WHERE state = 'available' AND lease_token IS "
                   "NULL")[0][0]
               .as<int>() == 1;
  })) << coordinator.process().Log();
}

}  // namespace
}  // namespace batchscribe::testing
