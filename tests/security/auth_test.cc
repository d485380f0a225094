// Bearer-token authentication of the coordinator (--auth_token_file): every
// BatchService RPC refuses a call without a listed token, with a wrong one or
// another scheme; health and reflection answer without one; the token file is
// re-read when it changes (rotation by rename or in-place rewrite); a refused
// call writes nothing and its answer does not echo the token.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <functional>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/faults/stack.h"
#include "tests/security/security_support.h"
#include "tests/support/test_env.h"

namespace batchscribe::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// One call of each BatchService RPC, with `authorization` as the header value
// ("" = no header).
struct Rpc {
  std::string name;
  std::function<grpc::Status(v1::BatchService::Stub&, const std::string& authorization)> call;
};

std::unique_ptr<grpc::ClientContext> Context(const std::string& authorization) {
  auto context = CallContext();
  if (!authorization.empty()) context->AddMetadata("authorization", authorization);
  return context;
}

std::vector<Rpc> EveryRpc() {
  return {
      {"SubmitDocuments",
       [](v1::BatchService::Stub& stub, const std::string& auth) {
         v1::SubmitDocumentsRequest request;
         request.add_documents()->set_path("ok.pdf");
         v1::SubmitDocumentsResponse response;
         return stub.SubmitDocuments(Context(auth).get(), request, &response);
       }},
      {"GetBatch",
       [](v1::BatchService::Stub& stub, const std::string& auth) {
         v1::GetBatchRequest request;
         request.set_name("batches/unknown");
         v1::GetBatchResponse response;
         return stub.GetBatch(Context(auth).get(), request, &response);
       }},
      {"CancelBatch",
       [](v1::BatchService::Stub& stub, const std::string& auth) {
         v1::CancelBatchRequest request;
         request.set_name("batches/unknown");
         v1::CancelBatchResponse response;
         return stub.CancelBatch(Context(auth).get(), request, &response);
       }},
      {"ListBatches",
       [](v1::BatchService::Stub& stub, const std::string& auth) {
         v1::ListBatchesRequest request;
         v1::ListBatchesResponse response;
         return stub.ListBatches(Context(auth).get(), request, &response);
       }},
      {"ListDocuments",
       [](v1::BatchService::Stub& stub, const std::string& auth) {
         v1::ListDocumentsRequest request;
         request.set_parent("batches/unknown");
         v1::ListDocumentsResponse response;
         return stub.ListDocuments(Context(auth).get(), request, &response);
       }},
      {"WatchBatch",
       [](v1::BatchService::Stub& stub, const std::string& auth) {
         v1::WatchBatchRequest request;
         request.set_name("batches/unknown");
         auto context = Context(auth);
         auto reader = stub.WatchBatch(context.get(), request);
         v1::WatchBatchResponse update;
         while (reader->Read(&update)) {
         }
         return reader->Finish();
       }},
      {"RetryBatch",
       [](v1::BatchService::Stub& stub, const std::string& auth) {
         v1::RetryBatchRequest request;
         request.set_name("batches/unknown");
         v1::RetryBatchResponse response;
         return stub.RetryBatch(Context(auth).get(), request, &response);
       }},
      {"GetCostReport",
       [](v1::BatchService::Stub& stub, const std::string& auth) {
         v1::GetCostReportRequest request;
         v1::GetCostReportResponse response;
         return stub.GetCostReport(Context(auth).get(), request, &response);
       }},
  };
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    alpha_ = "tok-alpha-" + RandomHex(24);
    beta_ = "tok-beta-" + RandomHex(24);
    token_file_ = dir_.path() / "tokens";
    WriteFileText(token_file_, "# accepted tokens\n\n  " + alpha_ + "  \n" + beta_ + "\n");
    fs::create_directories(dir_.path() / "inputs");
    fs::create_directories(dir_.path() / "storage");
    WriteMinimalPdf(dir_.path() / "inputs/ok.pdf", "ok");
    CoordinatorSettings settings{db_.url(), dir_.path() / "inputs", dir_.path() / "storage",
                                 dir_.path()};
    settings.extra_args = {"--auth_token_file", token_file_.string()};
    coordinator_ = std::make_unique<CoordinatorProcess>(settings);
    ASSERT_FALSE(HasFatalFailure());
    stub_ = coordinator_->Stub();
  }

  // True when `authorization` gets past authentication on ListBatches.
  bool Accepted(const std::string& authorization) {
    v1::ListBatchesRequest request;
    v1::ListBatchesResponse response;
    return stub_->ListBatches(Context(authorization).get(), request, &response).error_code() !=
           grpc::StatusCode::UNAUTHENTICATED;
  }

  TempDir dir_;
  TestDatabase db_;
  fs::path token_file_;
  std::string alpha_;
  std::string beta_;
  std::unique_ptr<CoordinatorProcess> coordinator_;
  std::unique_ptr<v1::BatchService::Stub> stub_;
};

TEST_F(AuthTest, EveryRpcRefusesMissingWrongAndMalformedTokens) {
  const std::vector<std::string> refused = {
      "",                            // no header
      "Bearer",                      // no token
      "Bearer ",                     // empty token
      "Bearer wrong-token",          // not listed
      "Bearer " + alpha_ + "x",      // a listed token plus one character
      "Bearer " + alpha_.substr(1),  // minus one character
      "Basic " + alpha_,             // another scheme
      alpha_,                        // no scheme
      "Bearer # accepted tokens",    // a comment line of the file
  };
  const auto before = SnapshotTables(db_.url());
  for (const Rpc& rpc : EveryRpc()) {
    for (const std::string& authorization : refused) {
      grpc::Status status = rpc.call(*stub_, authorization);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
          << rpc.name << " with authorization '" << authorization
          << "': " << status.error_message();
      EXPECT_THAT(status.error_message(), HasSubstr("Bearer"));
      EXPECT_THAT(status.error_message(), Not(HasSubstr(alpha_)));
    }
  }
  EXPECT_EQ(SnapshotTables(db_.url()), before) << "a refused call wrote to the database";
  EXPECT_THAT(coordinator_->Log(), Not(HasSubstr(alpha_))) << "a token reached the log";
}

TEST_F(AuthTest, EveryRpcAcceptsEachListedToken) {
  for (const Rpc& rpc : EveryRpc()) {
    for (const std::string& authorization :
         {"Bearer " + alpha_, "bearer " + beta_, "BEARER " + alpha_ + "  "}) {
      grpc::Status status = rpc.call(*stub_, authorization);
      EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
          << rpc.name << ": " << status.error_message();
    }
  }
  EXPECT_THAT(coordinator_->Log(), Not(HasSubstr(alpha_)));
  EXPECT_THAT(coordinator_->Log(), Not(HasSubstr(beta_)));
}

TEST_F(AuthTest, HealthAndReflectionNeedNoToken) {
  auto health = grpc::health::v1::Health::NewStub(coordinator_->Channel());
  for (const std::string service : {"", "batchscribe.v1.BatchService"}) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    auto context = CallContext();
    grpc::Status status = health->Check(context.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }

  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(coordinator_->Channel());
  auto context = CallContext();
  auto stream = reflection->ServerReflectionInfo(context.get());
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> services;
  for (const auto& s : response.list_services_response().service()) services.push_back(s.name());
  EXPECT_THAT(services, ::testing::Contains("batchscribe.v1.BatchService"));
  EXPECT_THAT(services, ::testing::Contains("grpc.health.v1.Health"));
  while (stream->Read(&response)) {
  }
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(AuthTest, TokenFileChangesAreReloaded) {
  ASSERT_TRUE(Accepted("Bearer " + alpha_));
  // Rotation by rename (how secret mounts and editors replace files).
  const std::string gamma = "tok-gamma-" + RandomHex(24);
  WriteFileText(dir_.path() / "tokens.new", gamma + "\n");
  fs::rename(dir_.path() / "tokens.new", token_file_);
  EXPECT_TRUE(PollUntil([&] { return Accepted("Bearer " + gamma); }, std::chrono::seconds(30)))
      << "the new token was never accepted";
  EXPECT_FALSE(Accepted("Bearer " + alpha_)) << "a removed token is still accepted";
  EXPECT_FALSE(Accepted("Bearer " + beta_));

  // In-place rewrite.
  const std::string delta = "tok-delta-" + RandomHex(30);
  WriteFileText(token_file_, delta + "\n");
  EXPECT_TRUE(PollUntil([&] { return Accepted("Bearer " + delta); }, std::chrono::seconds(30)));
  EXPECT_FALSE(Accepted("Bearer " + gamma));

  // A file that vanished keeps the last tokens (no lock-out by a bad deploy)...
  fs::remove(token_file_);
  EXPECT_TRUE(Accepted("Bearer " + delta));
  // ...and a file listing no token refuses everyone.
  WriteFileText(token_file_, "# nobody\n");
  EXPECT_TRUE(PollUntil([&] { return !Accepted("Bearer " + delta); }, std::chrono::seconds(30)));
  EXPECT_TRUE(coordinator_->running());
  for (const auto& token : {alpha_, beta_, gamma, delta}) {
    EXPECT_THAT(coordinator_->Log(), Not(HasSubstr(token))) << "a token reached the log";
  }
}

TEST(AuthStartupTest, AnUnreadableTokenFileStopsTheCoordinator) {
  TempDir dir;
  TestDatabase db;
  fs::create_directories(dir.path() / "inputs");
  Subprocess coordinator(
      {(BinDir() / "batchscribe-coordinator").string(), "--listen",
       "127.0.0.1:" + std::to_string(FreePort()), "--database_url", db.url(), "--input_root",
       (dir.path() / "inputs").string(), "--storage_root", dir.path().string(), "--auth_token_file",
       (dir.path() / "missing-tokens").string()},
      dir.path() / "coordinator.log");
  const int status = coordinator.Wait(120000);
  ASSERT_NE(status, -1) << "the coordinator started without its token file";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  EXPECT_THAT(coordinator.Log(), HasSubstr("auth token file"));
}

}  // namespace
}  // namespace batchscribe::testing
