// No secret leaks: an end-to-end job runs with an auth token (coordinator),
// a database URL with a password (a PostgreSQL role made for the test), and
// an OpenAI API key (worker -> emulator --api_key), at debug log level and
// through some error paths; then everything the stack wrote is searched for
// each secret: every file under the test folder (logs, storage root, shard
// files, transcripts, the emulator's state), the database dump (pg_dump),
// /metrics of the coordinator and the worker, every gRPC response and error
// message, and what the CLI printed.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <pqxx/pqxx>

#include "tests/faults/stack.h"
#include "tests/security/security_support.h"
#include "tests/support/test_env.h"

namespace batchscribe::testing {
namespace {

namespace fs = std::filesystem;

// A login role with a password in the shared test cluster, dropped at the end
// (declare it before the databases it owns).
class PasswordRole {
 public:
  PasswordRole(std::string name, const std::string& password) : name_(std::move(name)) {
    pqxx::connection admin(AdminDatabaseUrl());
    pqxx::nontransaction tx(admin);
    tx.exec("CREATE ROLE " + tx.quote_name(name_) + " LOGIN PASSWORD " + tx.quote(password));
  }
  ~PasswordRole() {
    try {
      pqxx::connection admin(AdminDatabaseUrl());
      pqxx::nontransaction tx(admin);
      tx.exec("DROP ROLE IF EXISTS " + tx.quote_name(name_));
    } catch (const std::exception& e) {
      std::cerr << "dropping role " << name_ << ": " << e.what() << "\n";
    }
  }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// `url` (postgresql://postgres@host:port/db) with another user and password.
std::string WithCredentials(const std::string& url, const std::string& user,
                            const std::string& password) {
  const auto scheme = url.find("://") + 3;
  const auto at = url.find('@', scheme);
  return url.substr(0, scheme) + user + ":" + password + url.substr(at);
}

std::string Fetch(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  auto res = client.Get(path);
  return res && res->status == 200 ? res->body : "";
}

TEST(SecretsTest, NoSecretReachesAnythingTheStackWrites) {
  const std::string token = "tok-" + RandomHex(32);
  const std::string password = "pw" + RandomHex(24);
  const std::string api_key = "sk-proj-" + RandomHex(40);
  const std::map<std::string, std::string> secrets = {
      {"the auth token", token}, {"the database password", password}, {"the OpenAI key", api_key}};

  PasswordRole role("batchscribe_" + RandomHex(8), password);
  TempDir dir;
  TestDatabase db;
  {
    pqxx::connection admin(AdminDatabaseUrl());
    pqxx::nontransaction tx(admin);
    tx.exec("ALTER DATABASE " + tx.quote_name(db.name()) + " OWNER TO " +
            tx.quote_name(role.name()));
  }
  const std::string database_url = WithCredentials(db.url(), role.name(), password);
  const fs::path logs = dir.path() / "logs";
  const fs::path secret_files = dir.path() / "secret-inputs";
  const fs::path input_root = dir.path() / "inputs";
  const fs::path storage_root = dir.path() / "storage";
  fs::create_directories(logs);
  fs::create_directories(storage_root);
  WriteFileText(secret_files / "tokens", token + "\n");
  WriteFileText(secret_files / "client-token", token + "\n");
  const auto paths = WritePdfCorpus(input_root, "docs", "s-", 6);

  EmulatorProcess emulator(logs, {{"--api_key", api_key},
                                  {"--state_dir", (dir.path() / "emulator-state").string()},
                                  {"--log_level", "debug"}});
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  const int coordinator_metrics = FreePort();
  CoordinatorSettings settings{database_url, input_root, storage_root, logs};
  settings.extra_args = {"--auth_token_file", (secret_files / "tokens").string(),
                         "--metrics_port",    std::to_string(coordinator_metrics),
                         "--log_level",       "debug"};
  CoordinatorProcess coordinator(settings);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  const int worker_metrics = FreePort();
  WorkerSettings worker_settings;
  worker_settings.database_url = database_url;
  worker_settings.input_root = input_root;
  worker_settings.storage_root = storage_root;
  worker_settings.log_dir = logs;
  worker_settings.openai_base_url = emulator.base_url();
  worker_settings.openai_api_key = api_key;
  worker_settings.flags = {{"--metrics_port", std::to_string(worker_metrics)},
                           {"--log_level", "debug"}};
  WorkerProcess worker(worker_settings);

  // Everything the clients see.
  std::string responses;
  const ClientCredentials with_token{nullptr, token};
  auto stub = coordinator.Stub();
  auto record = [&](const grpc::Status& status, const google::protobuf::Message& message) {
    responses += status.error_message() + "\n" + message.DebugString() + "\n";
  };
  v1::SubmitDocumentsRequest submit;
  for (const auto& p : paths) submit.add_documents()->set_path(p);
  submit.set_request_id("secrets-" + RandomHex(6));
  v1::SubmitDocumentsResponse submitted;
  {
    auto context = CallContext(with_token);
    grpc::Status status = stub->SubmitDocuments(context.get(), submit, &submitted);
    ASSERT_TRUE(status.ok()) << status.error_message();
    record(status, submitted);
  }
  const std::string name = submitted.batch().name();
  {
    v1::WatchBatchRequest request;
    request.set_name(name);
    auto context = CallContext(with_token, std::chrono::seconds(300));
    auto reader = stub->WatchBatch(context.get(), request);
    v1::WatchBatchResponse update;
    while (reader->Read(&update)) record(grpc::Status::OK, update);
    record(reader->Finish(), update);
    ASSERT_EQ(update.batch().state(), v1::BATCH_STATE_SUCCEEDED)
        << "the job must succeed, proving the key and the password were used:\n"
        << update.DebugString() << Tail(worker.Log());
  }
  {
    v1::ListDocumentsRequest request;
    request.set_parent(name);
    v1::ListDocumentsResponse response;
    auto context = CallContext(with_token);
    record(stub->ListDocuments(context.get(), request, &response), response);
    v1::ListBatchesResponse batches;
    auto list_context = CallContext(with_token);
    record(stub->ListBatches(list_context.get(), v1::ListBatchesRequest(), &batches), batches);
    v1::GetCostReportResponse costs;
    auto cost_context = CallContext(with_token);
    record(stub->GetCostReport(cost_context.get(), v1::GetCostReportRequest(), &costs), costs);
  }
  // Error paths: a wrong token that contains the right one, bad input, unknown batch.
  {
    v1::ListBatchesResponse response;
    auto context = CallContext({nullptr, token + "x"});
    record(stub->ListBatches(context.get(), v1::ListBatchesRequest(), &response), response);
    v1::SubmitDocumentsRequest bad;
    bad.add_documents()->set_path("../" + token + ".pdf");
    v1::SubmitDocumentsResponse rejected;
    auto bad_context = CallContext(with_token);
    grpc::Status status = stub->SubmitDocuments(bad_context.get(), bad, &rejected);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    v1::GetBatchRequest unknown;
    unknown.set_name("batches/unknown");
    v1::GetBatchResponse none;
    auto unknown_context = CallContext(with_token);
    record(stub->GetBatch(unknown_context.get(), unknown, &none), none);
  }
  // A coordinator that cannot open its database logs the failure (and would
  // retry for a minute: it is stopped once it has said so).
  {
    Subprocess failing(
        {(BinDir() / "batchscribe-coordinator").string(), "--migrate_only", "--database_url",
         WithCredentials(db.url(), role.name(), password) + "_missing"},
        logs / "failing-coordinator.log");
    EXPECT_TRUE(PollUntil(
        [&] { return !failing.running() || failing.Log().find("database") != std::string::npos; },
        std::chrono::seconds(60)));
    failing.Kill();
  }
  // The CLI, with the token from a file.
  CliRun cli_status =
      RunCli({"--server", coordinator.address(), "--token_file",
              (secret_files / "client-token").string(), "--output", "json", "status", name});
  EXPECT_EQ(cli_status.exit_code, 0) << cli_status.output;
  CliRun cli_documents = RunCli({"--server", coordinator.address(), "--token_file",
                                 (secret_files / "client-token").string(), "documents", name});
  EXPECT_EQ(cli_documents.exit_code, 0) << cli_documents.output;

  const std::string worker_metrics_text = Fetch(worker_metrics, "/metrics");
  EXPECT_FALSE(worker_metrics_text.empty()) << "the worker serves no /metrics";
  const std::string coordinator_metrics_text = Fetch(coordinator_metrics, "/metrics");

  std::string dump;
  const std::string dump_command = "pg_dump --no-owner '" + db.url() + "'";
  ASSERT_EQ(RunShell(dump_command, &dump), 0) << dump;
  EXPECT_THAT(dump, ::testing::HasSubstr("CREATE TABLE public.documents"));

  // Stop the processes so that their last lines are written too.
  worker.Stop();
  coordinator.Stop();
  emulator.Kill();

  std::map<std::string, std::string> artifacts = {
      {"gRPC responses and errors", responses},
      {"CLI output", cli_status.output + cli_documents.output},
      {"worker /metrics", worker_metrics_text},
      {"coordinator /metrics", coordinator_metrics_text},
      {"pg_dump of the database", dump},
  };
  // The files the secrets were handed in through are the only ones allowed to hold them.
  const fs::path worker_key_file = logs / "worker.openai_key";
  int files = 0;
  for (const fs::path& file : FilesUnder(dir.path(), {worker_key_file})) {
    if (file.string().rfind(secret_files.string(), 0) == 0) continue;
    artifacts["file " + fs::relative(file, dir.path()).string()] = ReadFileText(file);
    ++files;
  }
  for (const auto& [what, secret] : secrets) {
    for (const auto& [where, text] : artifacts) {
      EXPECT_EQ(text.find(secret), std::string::npos) << what << " leaked into " << where;
    }
  }
  std::cout << "searched " << files << " files, " << dump.size() << " bytes of pg_dump, "
            << responses.size() << " bytes of gRPC responses, "
            << worker_metrics_text.size() + coordinator_metrics_text.size()
            << " bytes of /metrics and the CLI's output for " << secrets.size() << " secrets"
            << (coordinator_metrics_text.empty() ? " (the coordinator served no /metrics)" : "")
            << "\n";
}

}  // namespace
}  // namespace batchscribe::testing
