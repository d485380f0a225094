// The worker never reads outside the input root, whatever the database says:
// document rows are tampered with after a valid submit (a path changed to
// `..`, an absolute path, /etc/passwd; a checked file swapped for a symlink
// out of the root), before the plan step and after it (when prepare reads the
// PDFs). The tampered documents fail with a clear reason, the others succeed,
// and not a byte of the file outside the root reaches OpenAI or the storage
// root. A tampered document id must not make the worker write outside the
// storage root either.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "tests/faults/stack.h"
#include "tests/security/security_support.h"
#include "tests/support/test_env.h"

namespace batchscribe::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

class InputRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    input_root_ = dir_.path() / "inputs";
    storage_root_ = dir_.path() / "storage";
    outside_ = dir_.path() / "outside";
    logs_ = dir_.path() / "logs";
    fs::create_directories(storage_root_);
    fs::create_directories(logs_);
    marker_ = "OUTSIDE-SECRET-" + RandomHex(16);
    WriteMinimalPdf(outside_ / "secret.pdf", marker_);
    for (const char* id : {"a", "b", "c", "d", "e", "ok"}) {
      WriteMinimalPdf(input_root_ / (std::string(id) + ".pdf"), CorpusMarker(id));
    }
    emulator_ = std::make_unique<EmulatorProcess>(logs_);
    ASSERT_FALSE(HasFatalFailure());
    coordinator_ = std::make_unique<CoordinatorProcess>(
        CoordinatorSettings{db_.url(), input_root_, storage_root_, logs_});
    ASSERT_FALSE(HasFatalFailure());
    stub_ = coordinator_->Stub();
  }

  std::unique_ptr<WorkerProcess> StartWorker(const std::string& name,
                                             std::map<std::string, std::string> flags = {}) {
    WorkerSettings settings;
    settings.database_url = db_.url();
    settings.input_root = input_root_;
    settings.storage_root = storage_root_;
    settings.log_dir = logs_;
    settings.openai_base_url = emulator_->base_url();
    settings.flags = std::move(flags);
    settings.name = name;
    return std::make_unique<WorkerProcess>(settings);
  }

  std::string Submit(const std::vector<std::string>& ids) {
    v1::SubmitDocumentsRequest request;
    for (const auto& id : ids) request.add_documents()->set_path(id + ".pdf");
    v1::SubmitDocumentsResponse response;
    auto context = CallContext();
    grpc::Status status = stub_->SubmitDocuments(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    batch_id_ = response.batch().name().substr(8);
    return response.batch().name();
  }

  void Sql(const std::string& statement) {
    pqxx::connection conn(db_.url());
    pqxx::work tx(conn);
    tx.exec(statement);
    tx.commit();
  }

  // Rewrites the stored paths of a..d and swaps e.pdf for a symlink out of
  // the root (its stored path is untouched and was checked at submit).
  void Tamper() {
    const std::string where = " WHERE batch_id = '" + batch_id_ + "' AND document_id = ";
    Sql("UPDATE documents SET path = '../outside/secret.pdf'" + where + "'a'");
    Sql("UPDATE documents SET path = '" + (outside_ / "secret.pdf").string() + "'" + where + "'b'");
    Sql("UPDATE documents SET path = 'a/../../outside/secret.pdf'" + where + "'c'");
    Sql("UPDATE documents SET path = '/etc/passwd'" + where + "'d'");
    fs::remove(input_root_ / "e.pdf");
    fs::create_symlink(outside_ / "secret.pdf", input_root_ / "e.pdf");
  }

  v1::Batch WaitFinal(const std::string& name, WorkerProcess& worker) {
    auto batch = WaitForFinalBatch({stub_.get()}, name, std::chrono::seconds(180));
    EXPECT_TRUE(batch.has_value()) << Tail(worker.Log());
    return batch.value_or(v1::Batch());
  }

  std::map<std::string, v1::Document> Documents(const std::string& name) {
    v1::ListDocumentsRequest request;
    request.set_parent(name);
    v1::ListDocumentsResponse response;
    auto context = CallContext();
    EXPECT_TRUE(stub_->ListDocuments(context.get(), request, &response).ok());
    std::map<std::string, v1::Document> out;
    for (const auto& d : response.documents()) out[d.document_id()] = d;
    return out;
  }

  // The outcome every tamper test expects: a..e FAILED saying why, ok
  // SUCCEEDED, and the outside file's content nowhere.
  void ExpectConfined(const std::string& name, const std::string& reason) {
    auto docs = Documents(name);
    ASSERT_EQ(docs.size(), 6u);
    for (const char* id : {"a", "b", "c", "d", "e"}) {
      EXPECT_EQ(docs[id].state(), v1::DOCUMENT_STATE_FAILED) << id << ": " << docs[id].error();
      EXPECT_THAT(docs[id].error(), HasSubstr(reason)) << id;
    }
    EXPECT_THAT(docs["a"].error(), HasSubstr("'..'"));
    EXPECT_THAT(docs["b"].error(), HasSubstr("absolute"));
    EXPECT_THAT(docs["c"].error(), HasSubstr("'..'"));
    EXPECT_THAT(docs["d"].error(), HasSubstr("absolute"));
    EXPECT_THAT(docs["e"].error(), HasSubstr("outside the input root"));
    EXPECT_EQ(docs["ok"].state(), v1::DOCUMENT_STATE_SUCCEEDED) << docs["ok"].error();

    // Only the untampered document reached OpenAI.
    json executed = emulator_->Stats()["lines"]["executed"];
    std::vector<std::string> sent;
    for (const auto& [id, n] : executed.items()) sent.push_back(id);
    EXPECT_EQ(sent, std::vector<std::string>{"ok"});
    // Not a byte of the outside file anywhere the stack wrote.
    const std::string secret_pdf = ReadFileText(outside_ / "secret.pdf");
    const std::string encoded = Base64(secret_pdf);
    const std::string passwd = ReadFileText("/etc/passwd");
    for (const fs::path& file : FilesUnder(storage_root_)) {
      const std::string text = ReadFileText(file);
      EXPECT_EQ(text.find(marker_), std::string::npos) << file;
      EXPECT_EQ(text.find(encoded), std::string::npos) << file;
      if (!passwd.empty()) {
        EXPECT_EQ(text.find(Base64(passwd)), std::string::npos) << file;
      }
    }
  }

  TempDir dir_;
  TestDatabase db_;
  fs::path input_root_;
  fs::path storage_root_;
  fs::path outside_;
  fs::path logs_;
  std::string marker_;
  std::string batch_id_;
  std::unique_ptr<EmulatorProcess> emulator_;
  std::unique_ptr<CoordinatorProcess> coordinator_;
  std::unique_ptr<v1::BatchService::Stub> stub_;
};

TEST_F(InputRootTest, RowsTamperedBeforeThePlanStep) {
  const std::string name = Submit({"a", "b", "c", "d", "e", "ok"});
  Tamper();
  auto worker = StartWorker("worker");
  v1::Batch batch = WaitFinal(name, *worker);
  EXPECT_EQ(batch.state(), v1::BATCH_STATE_PARTIALLY_SUCCEEDED);
  ExpectConfined(name, "input file rejected");
}

TEST_F(InputRootTest, RowsTamperedAfterThePlanStep) {
  const std::string name = Submit({"a", "b", "c", "d", "e", "ok"});
  // Only planning: the documents go into a shard and wait there (PREPARED).
  auto planner = StartWorker("planner", {{"--kinds", "plan"}});
  ASSERT_TRUE(PollUntil(
      [&] {
        auto docs = Documents(name);
        if (docs.size() != 6) return false;
        for (const auto& [id, d] : docs) {
          if (d.state() != v1::DOCUMENT_STATE_PREPARED) return false;
        }
        return true;
      },
      std::chrono::seconds(120)))
      << Tail(planner->Log());
  planner->Kill();
  Tamper();
  auto worker = StartWorker("worker");
  v1::Batch batch = WaitFinal(name, *worker);
  EXPECT_EQ(batch.state(), v1::BATCH_STATE_PARTIALLY_SUCCEEDED);
  ExpectConfined(name, "cannot be read any more");
}

TEST_F(InputRootTest, ATamperedDocumentIdDoesNotWriteOutsideTheStorageRoot) {
  const std::string name = Submit({"a", "ok"});
  const std::string escape = "../../../escaped-" + RandomHex(8);
  Sql("UPDATE documents SET document_id = '" + escape + "' WHERE batch_id = '" + batch_id_ +
      "' AND document_id = 'a'");
  auto worker = StartWorker("worker");
  v1::Batch batch = WaitFinal(name, *worker);
  auto docs = Documents(name);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs["ok"].state(), v1::DOCUMENT_STATE_SUCCEEDED) << docs["ok"].error();
  EXPECT_EQ(docs[escape].state(), v1::DOCUMENT_STATE_FAILED)
      << "a document id that is not a single safe file name must fail: " << docs[escape].error();
  EXPECT_FALSE(docs[escape].error().empty());
  // Nothing was written next to the storage root (or above it).
  for (const fs::path& file : FilesUnder(dir_.path())) {
    EXPECT_EQ(file.filename().string().find("escaped-"), std::string::npos)
        << "written outside the storage root: " << file;
  }
  EXPECT_FALSE(
      fs::exists(storage_root_.parent_path() / (fs::path(escape).filename().string() + ".json")));
}

}  // namespace
}  // namespace batchscribe::testing
