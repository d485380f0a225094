// grpcurl-style access with no .proto files: buf curl discovers the API through
// server reflection, which (like grpc.health.v1) needs no token even when the
// API does.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/clients/command.h"
#include "tests/coordinator/coordinator_process.h"
#include "tests/support/test_env.h"

namespace batchscribe::testing {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

class BufCurlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    inputs_ = dir_.path() / "inputs";
    fs::create_directories(dir_.path() / "store");
    WriteMinimalPdf(inputs_ / "report.pdf", "report");
    std::ofstream(dir_.path() / "tokens") << "buf-curl-token\n";
    coordinator_ = std::make_unique<CoordinatorProcess>(
        CoordinatorOptions{.database_url = db_.url(),
                           .input_root = inputs_,
                           .storage_root = dir_.path() / "store",
                           .log_dir = dir_.path(),
                           .extra_args = {"--auth_token_file", (dir_.path() / "tokens").string()}});
    ASSERT_TRUE(coordinator_->WaitServing()) << coordinator_->process().Log();
  }

  CommandResult Curl(std::vector<std::string> args) {
    std::vector<std::string> argv = {BufBinary().string(), "curl", "--protocol", "grpc",
                                     "--http2-prior-knowledge"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, dir_.path());
  }
  std::string Url(const std::string& method) {
    return "http://" + coordinator_->address() + "/" + method;
  }

  TestDatabase db_;
  TempDir dir_;
  fs::path inputs_;
  std::unique_ptr<CoordinatorProcess> coordinator_;
};

TEST_F(BufCurlTest, ReflectionListsTheApiAndHealthWithoutAToken) {
  CommandResult listed = Curl({"--list-methods", "http://" + coordinator_->address()});
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  for (const char* method :
       {"batchscribe.v1.BatchService/SubmitDocuments", "batchscribe.v1.BatchService/GetBatch",
        "batchscribe.v1.BatchService/CancelBatch", "batchscribe.v1.BatchService/ListBatches",
        "batchscribe.v1.BatchService/ListDocuments", "batchscribe.v1.BatchService/WatchBatch",
        "batchscribe.v1.BatchService/RetryBatch", "batchscribe.v1.BatchService/GetCostReport",
        "grpc.health.v1.Health/Check"}) {
    EXPECT_THAT(listed.output, HasSubstr(method));
  }
  CommandResult health = Curl({Url("grpc.health.v1.Health/Check")});
  ASSERT_EQ(health.exit_code, 0) << health.output;
  EXPECT_THAT(health.output, HasSubstr("\"SERVING\""));
}

TEST_F(BufCurlTest, CallsTheApiWithABearerToken) {
  const std::string auth = "Authorization: Bearer buf-curl-token";
  CommandResult refused = Curl({"-d", R"({"documents":[{"path":"report.pdf"}]})",
                                Url("batchscribe.v1.BatchService/SubmitDocuments")});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.output, HasSubstr("unauthenticated"));

  CommandResult submitted =
      Curl({"-H", auth, "-d", R"({"documents":[{"path":"report.pdf"}],"model":"gpt-5-nano"})",
            Url("batchscribe.v1.BatchService/SubmitDocuments")});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  nlohmann::json response = nlohmann::json::parse(submitted.output);
  std::string name = response["batch"]["name"];
  EXPECT_EQ(name.rfind("batches/", 0), 0u);
  EXPECT_EQ(response["batch"]["model"], "gpt-5-nano");

  CommandResult got = Curl({"-H", auth, "-d", nlohmann::json({{"name", name}}).dump(),
                            Url("batchscribe.v1.BatchService/GetBatch")});
  ASSERT_EQ(got.exit_code, 0) << got.output;
  EXPECT_THAT(got.output, HasSubstr("BATCH_STATE_PENDING"));

  CommandResult docs = Curl({"-H", auth, "-d", nlohmann::json({{"parent", name}}).dump(),
                             Url("batchscribe.v1.BatchService/ListDocuments")});
  ASSERT_EQ(docs.exit_code, 0) << docs.output;
  EXPECT_THAT(docs.output, HasSubstr("\"documentId\": \"report\""));

  CommandResult cancelled = Curl({"-H", auth, "-d", nlohmann::json({{"name", name}}).dump(),
                                  Url("batchscribe.v1.BatchService/CancelBatch")});
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.output;
  EXPECT_THAT(cancelled.output, HasSubstr("BATCH_STATE_CANCELLED"));

  CommandResult invalid = Curl({"-H", auth, "-d", R"({"documents":[{"path":"../x.pdf"}]})",
                                Url("batchscribe.v1.BatchService/SubmitDocuments")});
  EXPECT_NE(invalid.exit_code, 0);
  EXPECT_THAT(invalid.output, HasSubstr("invalid_argument"));
  EXPECT_THAT(invalid.output, HasSubstr("documents[0]"));
}

}  // namespace
}  // namespace batchscribe::testing
