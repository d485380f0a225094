// TLS on the gRPC port (--tls_cert/--tls_key) with a throwaway CA made by
// openssl: clients that trust the CA get through (with a token, since auth is
// on too), plaintext clients and clients trusting another CA do not; the CLI
// works with --tls_ca and --token_file / BATCHSCRIBE_TOKEN and fails with the
// documented exit codes otherwise; the container probe (--health_check)
// speaks TLS.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/faults/stack.h"
#include "tests/security/security_support.h"
#include "tests/support/test_env.h"

namespace batchscribe::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    db_ = new TestDatabase();
    certs_ = new TestCertificates(MakeTestCertificates(dir_->path() / "pki"));
    if (HasFatalFailure()) return;
    token_ = new std::string("tok-tls-" + RandomHex(24));
    WriteFileText(dir_->path() / "tokens", *token_ + "\n");
    WriteFileText(dir_->path() / "client-token", *token_ + "\n");
    fs::create_directories(dir_->path() / "storage");
    WriteMinimalPdf(dir_->path() / "inputs/ok.pdf", "ok over tls");
    CoordinatorSettings settings{db_->url(), dir_->path() / "inputs", dir_->path() / "storage",
                                 dir_->path()};
    settings.extra_args = {"--auth_token_file", (dir_->path() / "tokens").string(),
                           "--tls_cert",        certs_->server_cert.string(),
                           "--tls_key",         certs_->server_key.string()};
    settings.credentials.channel = TrustingCredentials(certs_->ca_cert);
    coordinator_ = new CoordinatorProcess(settings);
  }
  static void TearDownTestSuite() {
    delete coordinator_;
    delete token_;
    delete certs_;
    delete db_;
    delete dir_;
  }

  grpc::Status ListBatches(std::shared_ptr<grpc::ChannelCredentials> credentials,
                           const std::string& token) {
    auto stub =
        v1::BatchService::NewStub(grpc::CreateChannel(coordinator_->address(), credentials));
    v1::ListBatchesRequest request;
    v1::ListBatchesResponse response;
    auto context = CallContext({nullptr, token}, std::chrono::seconds(20));
    return stub->ListBatches(context.get(), request, &response);
  }

  static TempDir* dir_;
  static TestDatabase* db_;
  static TestCertificates* certs_;
  static std::string* token_;
  static CoordinatorProcess* coordinator_;
};

TempDir* TlsTest::dir_ = nullptr;
TestDatabase* TlsTest::db_ = nullptr;
TestCertificates* TlsTest::certs_ = nullptr;
std::string* TlsTest::token_ = nullptr;
CoordinatorProcess* TlsTest::coordinator_ = nullptr;

TEST_F(TlsTest, ClientsTrustingTheCaGetThrough) {
  ASSERT_NE(coordinator_, nullptr);
  grpc::Status status = ListBatches(TrustingCredentials(certs_->ca_cert), *token_);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(coordinator_->HealthStatus(), "SERVING");
  // TLS does not replace the token.
  EXPECT_EQ(ListBatches(TrustingCredentials(certs_->ca_cert), "").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(TlsTest, PlaintextAndUntrustedClientsAreRefused) {
  ASSERT_NE(coordinator_, nullptr);
  grpc::Status plaintext = ListBatches(grpc::InsecureChannelCredentials(), *token_);
  EXPECT_EQ(plaintext.error_code(), grpc::StatusCode::UNAVAILABLE) << plaintext.error_message();
  grpc::Status untrusted = ListBatches(TrustingCredentials(certs_->other_ca_cert), *token_);
  EXPECT_EQ(untrusted.error_code(), grpc::StatusCode::UNAVAILABLE) << untrusted.error_message();
  // The refused handshakes did not hurt the server.
  EXPECT_TRUE(ListBatches(TrustingCredentials(certs_->ca_cert), *token_).ok());
}

TEST_F(TlsTest, TheCliWorksWithTheCaAndAToken) {
  ASSERT_NE(coordinator_, nullptr);
  const std::string server = coordinator_->address();
  const std::string ca = certs_->ca_cert.string();
  const std::string token_file = (dir_->path() / "client-token").string();

  CliRun list = RunCli({"--server", server, "--tls_ca", ca, "--token_file", token_file, "list"});
  EXPECT_EQ(list.exit_code, 0) << list.output;

  CliRun submit = RunCli({"--server", server, "--tls_ca", ca, "--token_file", token_file,
                          "--output", "json", "submit", "ok.pdf"});
  ASSERT_EQ(submit.exit_code, 0) << submit.output;
  auto name_at = submit.output.find("batches/");
  ASSERT_NE(name_at, std::string::npos) << submit.output;
  const std::string name = submit.output.substr(name_at, 8 + 20);

  CliRun status = RunCli({"--server", server, "--tls_ca", ca, "status", name},
                         {{"BATCHSCRIBE_TOKEN", *token_}});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_THAT(status.output, HasSubstr(name.substr(8)));

  // Documented exit codes: 4 unreachable (no TLS, or an untrusted CA), 5 auth.
  CliRun plaintext =
      RunCli({"--server", server, "--timeout", "10", "--token_file", token_file, "list"});
  EXPECT_EQ(plaintext.exit_code, 4) << plaintext.output;
  CliRun untrusted = RunCli({"--server", server, "--timeout", "10", "--tls_ca",
                             certs_->other_ca_cert.string(), "--token_file", token_file, "list"});
  EXPECT_EQ(untrusted.exit_code, 4) << untrusted.output;
  CliRun no_token = RunCli({"--server", server, "--tls_ca", ca, "list"});
  EXPECT_EQ(no_token.exit_code, 5) << no_token.output;
  CliRun wrong_token =
      RunCli({"--server", server, "--tls_ca", ca, "list"}, {{"BATCHSCRIBE_TOKEN", "nope"}});
  EXPECT_EQ(wrong_token.exit_code, 5) << wrong_token.output;

  for (const CliRun* run : {&list, &submit, &status, &plaintext, &untrusted, &no_token}) {
    EXPECT_THAT(run->output, Not(HasSubstr(*token_))) << "the CLI printed the token";
  }
  EXPECT_THAT(coordinator_->Log(), Not(HasSubstr(*token_)));
}

TEST_F(TlsTest, TheHealthProbeSpeaksTls) {
  ASSERT_NE(coordinator_, nullptr);
  std::string output;
  int rc =
      RunShell("'" + (BinDir() / "batchscribe-coordinator").string() + "' --health_check " +
                   coordinator_->address() + " --tls_cert '" + certs_->server_cert.string() + "'",
               &output);
  EXPECT_EQ(rc, 0) << output;
  EXPECT_THAT(output, HasSubstr("SERVING"));
}

TEST(TlsStartupTest, ACertificateWithoutItsKeyStopsTheCoordinator) {
  TempDir dir;
  TestDatabase db;
  TestCertificates certs = MakeTestCertificates(dir.path() / "pki");
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  fs::create_directories(dir.path() / "inputs");
  Subprocess coordinator({(BinDir() / "batchscribe-coordinator").string(), "--listen",
                          "127.0.0.1:" + std::to_string(FreePort()), "--database_url", db.url(),
                          "--input_root", (dir.path() / "inputs").string(), "--storage_root",
                          dir.path().string(), "--tls_cert", certs.server_cert.string()},
                         dir.path() / "coordinator.log");
  const int status = coordinator.Wait(120000);
  ASSERT_NE(status, -1) << "the coordinator served without its TLS key";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  EXPECT_THAT(coordinator.Log(), HasSubstr("--tls_key"));
}

}  // namespace
}  // namespace batchscribe::testing
