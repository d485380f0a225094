// The bad-input suite: every kind of bad request, sent over gRPC with the
// generated stubs to the real coordinator binary. Each one must get the
// documented status code and a message naming the problem (the field, the
// offending document), must leave the database exactly as it was (row counts
// and a checksum of every table), and the server must keep serving.
//
// Documented codes (proto/batchscribe/v1/batch_service.proto, DESIGN §3):
// INVALID_ARGUMENT for bad input, NOT_FOUND for an unknown batch,
// FAILED_PRECONDITION for an illegal transition, RESOURCE_EXHAUSTED over a
// configured limit (documents per request, gRPC's message size).

#include <absl/strings/escaping.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "tests/faults/stack.h"
#include "tests/support/test_env.h"

namespace batchscribe::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using ::testing::HasSubstr;

// The input root every test uses: good PDFs and every kind of bad entry.
void WriteInputRoot(const fs::path& root, const fs::path& outside) {
  WriteMinimalPdf(root / "ok.pdf", "ok");
  WriteMinimalPdf(root / "ok2.pdf", "ok 2");
  WriteMinimalPdf(root / "a/same.pdf", "same a");
  WriteMinimalPdf(root / "b/same.pdf", "same b");
  for (int i = 0; i < 4; ++i)
    WriteMinimalPdf(root / "four" / ("f" + std::to_string(i) + ".pdf"), "f");
  WriteFileText(root / "empty.pdf", "");
  WriteFileText(root / "notpdf.pdf", "hello, I am a text file\n");
  WriteFileText(root / "html.pdf", "<html><body>%PDF-1.4</body></html>\n");
  fs::create_directories(root / "folder");
  fs::create_directories(root / "dir.pdf");
  WriteMinimalPdf(outside / "secret.pdf", "outside the root");
  fs::create_symlink(outside / "secret.pdf", root / "escape.pdf");
  fs::create_symlink("/etc/passwd", root / "passwd.pdf");
  fs::create_directories(root / "sub");
  fs::create_symlink("../../outside/secret.pdf", root / "sub/up.pdf");
  fs::create_symlink(outside, root / "outdir");
  fs::create_symlink("ok.pdf", root / "inside-link.pdf");
  // A file name that is not UTF-8 (Latin-1 "café.pdf"), reachable by a selector.
  WriteMinimalPdf(root / "latin1" / "caf\xe9.pdf", "latin-1 name");
}

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    db_ = new TestDatabase();
    input_root_ = dir_->path() / "inputs";
    fs::create_directories(input_root_);
    fs::create_directories(dir_->path() / "outside");
    fs::create_directories(dir_->path() / "storage");
    fs::create_directories(dir_->path() / "logs");
    WriteInputRoot(input_root_, dir_->path() / "outside");
    CoordinatorSettings settings;
    settings.database_url = db_->url();
    settings.input_root = input_root_;
    settings.storage_root = dir_->path() / "storage";
    settings.log_dir = dir_->path() / "logs";
    coordinator_ = new CoordinatorProcess(settings);
    // A second one with a small --max_documents_per_request, for selectors.
    settings.name = "limited";
    settings.extra_args = {"--max_documents_per_request", "3"};
    limited_ = new CoordinatorProcess(settings);
  }
  static void TearDownTestSuite() {
    delete limited_;
    delete coordinator_;
    delete db_;
    delete dir_;
  }

  void SetUp() override {
    ASSERT_TRUE(coordinator_->running()) << Tail(coordinator_->Log());
    stub_ = coordinator_->Stub();
  }

  void TearDown() override {
    if (HasFailure()) std::cout << "coordinator log tail:\n" << Tail(coordinator_->Log(), 20);
  }

  // The server answers health and a real call after whatever came before.
  void ExpectServing(CoordinatorProcess& coordinator) {
    EXPECT_TRUE(coordinator.running()) << "the coordinator died:\n" << Tail(coordinator.Log());
    EXPECT_EQ(coordinator.HealthStatus(), "SERVING");
    v1::ListBatchesRequest request;
    v1::ListBatchesResponse response;
    auto context = CallContext();
    grpc::Status status = coordinator.Stub()->ListBatches(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }

  // Runs `call`, which must fail with `code` and a message containing each of
  // `mentions`, leave every table unchanged and the server serving.
  void ExpectRejected(const std::string& what, const std::function<grpc::Status()>& call,
                      grpc::StatusCode code, const std::vector<std::string>& mentions,
                      CoordinatorProcess* coordinator = nullptr) {
    SCOPED_TRACE(what);
    const auto before = SnapshotTables(db_->url());
    grpc::Status status = call();
    EXPECT_EQ(status.error_code(), code) << "message: " << status.error_message();
    for (const auto& m : mentions) EXPECT_THAT(status.error_message(), HasSubstr(m));
    EXPECT_EQ(SnapshotTables(db_->url()), before) << "the database changed";
    ExpectServing(coordinator != nullptr ? *coordinator : *coordinator_);
  }

  grpc::Status Submit(const v1::SubmitDocumentsRequest& request,
                      v1::SubmitDocumentsResponse* response = nullptr,
                      CoordinatorProcess* coordinator = nullptr) {
    v1::SubmitDocumentsResponse ignored;
    auto context = CallContext();
    auto stub = coordinator != nullptr ? coordinator->Stub() : coordinator_->Stub();
    return stub->SubmitDocuments(context.get(), request, response ? response : &ignored);
  }

  static v1::SubmitDocumentsRequest Documents(const std::vector<std::string>& paths) {
    v1::SubmitDocumentsRequest request;
    for (const auto& p : paths) request.add_documents()->set_path(p);
    return request;
  }

  void ExpectSubmitRejected(const std::string& what, const v1::SubmitDocumentsRequest& request,
                            grpc::StatusCode code, const std::vector<std::string>& mentions,
                            CoordinatorProcess* coordinator = nullptr) {
    ExpectRejected(
        what, [&] { return Submit(request, nullptr, coordinator); }, code, mentions, coordinator);
  }

  // A batch recorded for tests that need one (no worker runs here, so it
  // stays PENDING until cancelled).
  std::string SubmitGood(const std::string& request_id = "") {
    auto request = Documents({"ok.pdf", "ok2.pdf", "inside-link.pdf"});
    request.set_request_id(request_id);
    v1::SubmitDocumentsResponse response;
    grpc::Status status = Submit(request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.batch().name();
  }

  static TempDir* dir_;
  static TestDatabase* db_;
  static fs::path input_root_;
  static CoordinatorProcess* coordinator_;
  static CoordinatorProcess* limited_;
  std::unique_ptr<v1::BatchService::Stub> stub_;
};

TempDir* BadInputTest::dir_ = nullptr;
TestDatabase* BadInputTest::db_ = nullptr;
fs::path BadInputTest::input_root_;
CoordinatorProcess* BadInputTest::coordinator_ = nullptr;
CoordinatorProcess* BadInputTest::limited_ = nullptr;

constexpr auto kInvalid = grpc::StatusCode::INVALID_ARGUMENT;

TEST_F(BadInputTest, AbsolutePaths) {
  ExpectSubmitRejected("absolute path outside", Documents({"/etc/passwd"}), kInvalid,
                       {"documents[0]", "/etc/passwd", "absolute"});
  ExpectSubmitRejected("absolute path inside the root",
                       Documents({(input_root_ / "ok.pdf").string()}), kInvalid,
                       {"documents[0]", "absolute"});
}

TEST_F(BadInputTest, DotDotComponents) {
  ExpectSubmitRejected("..", Documents({"../outside/secret.pdf"}), kInvalid,
                       {"documents[0]", "../outside/secret.pdf", "'..'"});
  ExpectSubmitRejected(".. in the middle", Documents({"ok.pdf", "sub/../../outside/secret.pdf"}),
                       kInvalid, {"documents[1]", "'..'"});
  ExpectSubmitRejected(".. that stays inside", Documents({"folder/../ok.pdf"}), kInvalid,
                       {"documents[0]", "'..'"});
  v1::SubmitDocumentsRequest selector;
  selector.mutable_source()->set_directory("../outside");
  ExpectSubmitRejected("selector directory with ..", selector, kInvalid,
                       {"source.directory", "'..'"});
}

TEST_F(BadInputTest, SymlinksOutOfTheRoot) {
  ExpectSubmitRejected("file symlink to a file outside", Documents({"escape.pdf"}), kInvalid,
                       {"documents[0]", "escape.pdf", "outside the input root"});
  ExpectSubmitRejected("file symlink to /etc/passwd", Documents({"passwd.pdf"}), kInvalid,
                       {"documents[0]", "outside the input root"});
  ExpectSubmitRejected("relative symlink climbing out", Documents({"sub/up.pdf"}), kInvalid,
                       {"documents[0]", "outside the input root"});
  ExpectSubmitRejected("through a directory symlink", Documents({"outdir/secret.pdf"}), kInvalid,
                       {"documents[0]", "outside the input root"});
  v1::SubmitDocumentsRequest selector;
  selector.mutable_source()->set_directory("outdir");
  ExpectSubmitRejected("selector on a directory symlink", selector, kInvalid,
                       {"source.directory", "outside the input root"});
}

TEST_F(BadInputTest, MissingFilesDirectoriesEmptyFilesAndNonPdfs) {
  ExpectSubmitRejected("missing", Documents({"nope.pdf"}), kInvalid,
                       {"documents[0]", "nope.pdf", "does not exist"});
  ExpectSubmitRejected("missing folder", Documents({"no/such/dir/x.pdf"}), kInvalid,
                       {"documents[0]", "does not exist"});
  ExpectSubmitRejected("directory", Documents({"folder"}), kInvalid,
                       {"documents[0]", "folder", "not a regular file"});
  ExpectSubmitRejected("directory named .pdf", Documents({"dir.pdf"}), kInvalid,
                       {"documents[0]", "not a regular file"});
  ExpectSubmitRejected("the root itself", Documents({"."}), kInvalid, {"documents[0]", "empty"});
  ExpectSubmitRejected("empty file", Documents({"empty.pdf"}), kInvalid,
                       {"documents[0]", "empty.pdf", "not a PDF"});
  ExpectSubmitRejected("text file", Documents({"notpdf.pdf"}), kInvalid,
                       {"documents[0]", "notpdf.pdf", "not a PDF"});
  ExpectSubmitRejected("html with a PDF marker inside", Documents({"html.pdf"}), kInvalid,
                       {"documents[0]", "not a PDF"});
  v1::SubmitDocumentsRequest missing_dir;
  missing_dir.mutable_source()->set_directory("no-such-folder");
  ExpectSubmitRejected("selector on a missing directory", missing_dir, kInvalid,
                       {"source.directory", "no-such-folder"});
  v1::SubmitDocumentsRequest no_match;
  no_match.mutable_source()->set_directory("four");
  no_match.mutable_source()->set_glob("*.tiff");
  ExpectSubmitRejected("selector matching nothing", no_match, kInvalid, {"source.glob", "*.tiff"});
}

// A path the database cannot store as text (not UTF-8) is bad input, not an
// internal error.
TEST_F(BadInputTest, FileNamesThatAreNotUtf8) {
  v1::SubmitDocumentsRequest selector;
  selector.mutable_source()->set_directory("latin1");
  ExpectSubmitRejected("a selector matching a Latin-1 file name", selector, kInvalid,
                       {"source", "UTF-8"});
}

TEST_F(BadInputTest, OneBadDocumentRejectsTheWholeRequest) {
  ExpectSubmitRejected("one bad among good", Documents({"ok.pdf", "notpdf.pdf", "ok2.pdf"}),
                       kInvalid, {"1 of 3", "documents[1]", "notpdf.pdf"});
  std::vector<std::string> many = {"ok.pdf"};
  for (int i = 0; i < 25; ++i) many.push_back("missing-" + std::to_string(i) + ".pdf");
  ExpectSubmitRejected("25 bad documents", Documents(many), kInvalid,
                       {"25 of 26", "documents[1]", "missing-0.pdf", "and 5 more"});
}

TEST_F(BadInputTest, DuplicateAndMalformedDocumentIds) {
  auto explicit_ids = Documents({"ok.pdf", "ok2.pdf"});
  explicit_ids.mutable_documents(0)->set_document_id("same");
  explicit_ids.mutable_documents(1)->set_document_id("same");
  ExpectSubmitRejected("explicit duplicate ids", explicit_ids, kInvalid,
                       {"documents[1]", "\"same\"", "already used by documents[0]"});
  ExpectSubmitRejected("default ids from equal stems", Documents({"a/same.pdf", "b/same.pdf"}),
                       kInvalid, {"documents[1]", "\"same\"", "already used"});
  ExpectSubmitRejected("the same file twice", Documents({"ok.pdf", "ok.pdf"}), kInvalid,
                       {"documents[1]", "already used"});
  for (const std::string& id :
       {std::string(".hidden"), std::string("a/b"), std::string("sp ace"), std::string(65, 'x'),
        std::string("caf\xc3\xa9"), std::string("nul\0id", 6)}) {
    auto request = Documents({"ok.pdf"});
    request.mutable_documents(0)->set_document_id(id);
    ExpectSubmitRejected("document id " + id, request, kInvalid, {"documents[0]"});
  }
}

TEST_F(BadInputTest, ZeroDocumentsAndBothSelectors) {
  ExpectSubmitRejected("no documents", v1::SubmitDocumentsRequest(), kInvalid,
                       {"documents", "no documents"});
  auto both = Documents({"ok.pdf"});
  both.mutable_source()->set_directory("four");
  ExpectSubmitRejected("documents and source", both, kInvalid, {"documents", "not both"});
}

TEST_F(BadInputTest, MoreDocumentsThanTheServerAccepts) {
  std::vector<std::string> paths(100001, "ok.pdf");
  ExpectSubmitRejected("100,001 explicit documents", Documents(paths),
                       grpc::StatusCode::RESOURCE_EXHAUSTED,
                       {"documents", "100001", "100000", "--max_documents_per_request"});
  v1::SubmitDocumentsRequest selector;
  selector.mutable_source()->set_directory("four");
  ExpectSubmitRejected("a selector matching 4 files, limit 3", selector,
                       grpc::StatusCode::RESOURCE_EXHAUSTED, {"source", "3"}, limited_);
  ExpectSubmitRejected("4 explicit documents, limit 3",
                       Documents({"four/f0.pdf", "four/f1.pdf", "four/f2.pdf", "four/f3.pdf"}),
                       grpc::StatusCode::RESOURCE_EXHAUSTED, {"documents", "4", "3"}, limited_);
}

TEST_F(BadInputTest, OversizeMessagesAndFields) {
  auto huge = Documents({"ok.pdf"});
  huge.set_prompt(std::string(5 * 1024 * 1024, 'p'));
  ExpectSubmitRejected("a 5 MiB message (gRPC's 4 MiB limit)", huge,
                       grpc::StatusCode::RESOURCE_EXHAUSTED, {"larger than max"});
  auto prompt = Documents({"ok.pdf"});
  prompt.set_prompt(std::string(33 * 1024, 'p'));
  ExpectSubmitRejected("a 33 KiB prompt", prompt, kInvalid, {"prompt", "32768"});
  auto schema = Documents({"ok.pdf"});
  schema.set_json_schema("{\"type\":\"object\",\"description\":\"" + std::string(70 * 1024, 'd') +
                         "\"}");
  ExpectSubmitRejected("a 70 KiB schema", schema, kInvalid, {"json_schema", "65536"});
  auto request_id = Documents({"ok.pdf"});
  request_id.set_request_id(std::string(129, 'r'));
  ExpectSubmitRejected("a 129 character request_id", request_id, kInvalid, {"request_id", "128"});
  auto display = Documents({"ok.pdf"});
  display.set_display_name(std::string(257, 'n'));
  ExpectSubmitRejected("a 257 character display name", display, kInvalid, {"display_name"});
  auto labels = Documents({"ok.pdf"});
  for (int i = 0; i < 17; ++i) (*labels.mutable_labels())["k" + std::to_string(i)] = "v";
  ExpectSubmitRejected("17 labels", labels, kInvalid, {"labels", "16"});
  auto label_key = Documents({"ok.pdf"});
  (*label_key.mutable_labels())["Bad Key"] = "v";
  ExpectSubmitRejected("a label key with capitals", label_key, kInvalid, {"labels", "Bad Key"});
  auto label_value = Documents({"ok.pdf"});
  (*label_value.mutable_labels())["k"] = std::string(257, 'v');
  ExpectSubmitRejected("a 257 character label value", label_value, kInvalid, {"labels", "\"k\""});
}

TEST_F(BadInputTest, OutOfRangeNumbersAndEnums) {
  for (int tokens : {-1, 128001}) {
    auto request = Documents({"ok.pdf"});
    request.set_max_completion_tokens(tokens);
    ExpectSubmitRejected("max_completion_tokens " + std::to_string(tokens), request, kInvalid,
                         {"max_completion_tokens"});
  }
  auto mode = Documents({"ok.pdf"});
  mode.set_mode(static_cast<v1::Mode>(42));
  ExpectSubmitRejected("mode 42", mode, kInvalid, {"mode"});
  for (double cost : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    auto request = Documents({"ok.pdf"});
    request.set_max_cost_usd(cost);
    ExpectSubmitRejected("max_cost_usd " + std::to_string(cost), request, kInvalid,
                         {"max_cost_usd"});
  }
  v1::SubmitDocumentsRequest limit;
  limit.mutable_source()->set_directory("four");
  limit.mutable_source()->set_limit(-1);
  ExpectSubmitRejected("source.limit -1", limit, kInvalid, {"source.limit"});
}

TEST_F(BadInputTest, InvalidJsonSchemas) {
  const std::vector<std::pair<std::string, std::string>> schemas = {
      {"not JSON", "{not json"},
      {"an array", "[]"},
      {"a string schema", R"({"type":"string"})"},
      {"additionalProperties missing",
       R"({"type":"object","properties":{"a":{"type":"string"}},"required":["a"]})"},
      {"a property not required",
       R"({"type":"object","properties":{"a":{"type":"string"}},"required":[],)"
       R"("additionalProperties":false})"},
      {"an unknown type", R"({"type":"object","properties":{"a":{"type":"text"}},"required":["a"],)"
                          R"("additionalProperties":false})"},
      {"a nested object without additionalProperties",
       R"({"type":"object","properties":{"a":{"type":"object","properties":{}}},)"
       R"("required":["a"],"additionalProperties":false})"},
  };
  for (const auto& [what, schema] : schemas) {
    auto request = Documents({"ok.pdf"});
    request.set_json_schema(schema);
    ExpectSubmitRejected("schema: " + what, request, kInvalid, {"json_schema"});
  }
}

TEST_F(BadInputTest, UnknownModels) {
  for (const std::string model : {"gpt-99", "GPT-4.1-MINI", "../../etc/passwd", "gpt-4.1-mini "}) {
    auto request = Documents({"ok.pdf"});
    request.set_model(model);
    ExpectSubmitRejected("model " + model, request, kInvalid, {"model", "unknown model"});
  }
}

TEST_F(BadInputTest, MalformedBatchNames) {
  const std::vector<std::string> names = {"",
                                          "batches/",
                                          "batches/UPPER",
                                          "batches/../etc",
                                          "batches/a/b",
                                          "projects/p/batches/x",
                                          "batches/" + std::string(64, 'a'),
                                          "batches/white space",
                                          std::string("batches/nul\0x", 13)};
  for (const std::string& name : names) {
    ExpectRejected("GetBatch " + name,
                   [&] {
                     v1::GetBatchRequest request;
                     request.set_name(name);
                     v1::GetBatchResponse response;
                     auto context = CallContext();
                     return stub_->GetBatch(context.get(), request, &response);
                   },
                   kInvalid, {"name"});
    ExpectRejected("CancelBatch " + name,
                   [&] {
                     v1::CancelBatchRequest request;
                     request.set_name(name);
                     v1::CancelBatchResponse response;
                     auto context = CallContext();
                     return stub_->CancelBatch(context.get(), request, &response);
                   },
                   kInvalid, {"name"});
    ExpectRejected("RetryBatch " + name,
                   [&] {
                     v1::RetryBatchRequest request;
                     request.set_name(name);
                     v1::RetryBatchResponse response;
                     auto context = CallContext();
                     return stub_->RetryBatch(context.get(), request, &response);
                   },
                   kInvalid, {"name"});
    ExpectRejected("ListDocuments " + name,
                   [&] {
                     v1::ListDocumentsRequest request;
                     request.set_parent(name);
                     v1::ListDocumentsResponse response;
                     auto context = CallContext();
                     return stub_->ListDocuments(context.get(), request, &response);
                   },
                   kInvalid, {"parent"});
    ExpectRejected("WatchBatch " + name,
                   [&] {
                     v1::WatchBatchRequest request;
                     request.set_name(name);
                     auto context = CallContext();
                     auto reader = stub_->WatchBatch(context.get(), request);
                     v1::WatchBatchResponse update;
                     while (reader->Read(&update)) {
                     }
                     return reader->Finish();
                   },
                   kInvalid, {"name"});
  }
  ExpectRejected("GetBatch of an unknown batch",
                 [&] {
                   v1::GetBatchRequest request;
                   request.set_name("batches/00000000000000000000");
                   v1::GetBatchResponse response;
                   auto context = CallContext();
                   return stub_->GetBatch(context.get(), request, &response);
                 },
                 grpc::StatusCode::NOT_FOUND, {"batches/00000000000000000000", "not found"});
  ExpectRejected("CancelBatch of an unknown batch",
                 [&] {
                   v1::CancelBatchRequest request;
                   request.set_name("batches/does-not-exist");
                   v1::CancelBatchResponse response;
                   auto context = CallContext();
                   return stub_->CancelBatch(context.get(), request, &response);
                 },
                 grpc::StatusCode::NOT_FOUND, {"batches/does-not-exist"});
}

TEST_F(BadInputTest, MalformedPageTokensSizesAndFilters) {
  const std::string batch = SubmitGood();
  // A real documents token, to replay against other lists.
  v1::ListDocumentsRequest first;
  first.set_parent(batch);
  first.set_page_size(1);
  v1::ListDocumentsResponse first_page;
  {
    auto context = CallContext();
    ASSERT_TRUE(stub_->ListDocuments(context.get(), first, &first_page).ok());
    ASSERT_FALSE(first_page.next_page_token().empty());
  }
  const std::string documents_token = first_page.next_page_token();

  auto list_batches = [&](const std::string& token, int size) {
    return [&, token, size] {
      v1::ListBatchesRequest request;
      request.set_page_token(token);
      request.set_page_size(size);
      v1::ListBatchesResponse response;
      auto context = CallContext();
      return stub_->ListBatches(context.get(), request, &response);
    };
  };
  for (const std::string& token :
       {std::string("garbage"), std::string("!!!!"), std::string("eyJ4IjoxfQ"),
        std::string(5000, 'A'), documents_token, documents_token + "x"}) {
    ExpectRejected("ListBatches page_token " + token.substr(0, 40), list_batches(token, 0),
                   kInvalid, {"page_token"});
  }
  // Well-formed base64url of JSON whose fields have the wrong types.
  for (const std::string& json : {std::string(R"({"v":"1"})"), std::string(R"({"v":1,"c":5})"),
                                  std::string(R"({"v":1,"c":"batches","p":"","f":"","t":"x",)"
                                              R"("i":"a"})"),
                                  std::string(R"([1,2,3])")}) {
    ExpectRejected("ListBatches page_token of " + json,
                   list_batches(absl::WebSafeBase64Escape(json), 0), kInvalid, {"page_token"});
  }
  ExpectRejected("ListBatches page_size -1", list_batches("", -1), kInvalid, {"page_size"});

  auto list_documents = [&](const std::string& parent, const std::string& token,
                            std::vector<int> states, int size) {
    return [&, parent, token, states, size] {
      v1::ListDocumentsRequest request;
      request.set_parent(parent);
      request.set_page_token(token);
      request.set_page_size(size);
      for (int s : states) request.add_states(static_cast<v1::DocumentState>(s));
      v1::ListDocumentsResponse response;
      auto context = CallContext();
      return stub_->ListDocuments(context.get(), request, &response);
    };
  };
  const std::string other = SubmitGood();
  ExpectRejected("a documents token for another batch",
                 list_documents(other, documents_token, {}, 1), kInvalid, {"page_token"});
  ExpectRejected("a documents token with another filter",
                 list_documents(batch, documents_token, {v1::DOCUMENT_STATE_PENDING}, 1), kInvalid,
                 {"page_token"});
  ExpectRejected("ListDocuments page_size -5", list_documents(batch, "", {}, -5), kInvalid,
                 {"page_size"});
  ExpectRejected("an unknown document state", list_documents(batch, "", {99}, 0), kInvalid,
                 {"states", "99"});
  ExpectRejected("DOCUMENT_STATE_UNSPECIFIED as a filter", list_documents(batch, "", {0}, 0),
                 kInvalid, {"states"});
  ExpectRejected("a cost report ending before it starts",
                 [&] {
                   v1::GetCostReportRequest request;
                   request.mutable_start_time()->set_seconds(2000000000);
                   request.mutable_end_time()->set_seconds(1000000000);
                   v1::GetCostReportResponse response;
                   auto context = CallContext();
                   return stub_->GetCostReport(context.get(), request, &response);
                 },
                 kInvalid, {"end_time"});
  ExpectRejected("a cost report with an invalid timestamp",
                 [&] {
                   v1::GetCostReportRequest request;
                   request.mutable_start_time()->set_nanos(-5);
                   v1::GetCostReportResponse response;
                   auto context = CallContext();
                   return stub_->GetCostReport(context.get(), request, &response);
                 },
                 kInvalid, {"start_time"});
}

TEST_F(BadInputTest, RequestIdReuseWithAnotherBody) {
  const std::string request_id = "reuse-" + std::to_string(::getpid());
  const std::string batch = SubmitGood(request_id);
  ASSERT_FALSE(batch.empty());

  auto other = Documents({"ok.pdf"});
  other.set_request_id(request_id);
  ExpectSubmitRejected("same request_id, other documents", other, kInvalid,
                       {"request_id", batch, "different request"});
  auto other_model = Documents({"ok.pdf", "ok2.pdf", "inside-link.pdf"});
  other_model.set_request_id(request_id);
  other_model.set_model("gpt-4.1");
  ExpectSubmitRejected("same request_id, other model", other_model, kInvalid,
                       {"request_id", batch});

  // The same body again is a replay: the original batch, nothing written.
  auto same = Documents({"ok.pdf", "ok2.pdf", "inside-link.pdf"});
  same.set_request_id(request_id);
  const auto before = SnapshotTables(db_->url());
  v1::SubmitDocumentsResponse replay;
  grpc::Status status = Submit(same, &replay);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(replay.replayed());
  EXPECT_EQ(replay.batch().name(), batch);
  EXPECT_EQ(SnapshotTables(db_->url()), before);
}

TEST_F(BadInputTest, CancelledBatchRetriedAndOtherIllegalTransitions) {
  const std::string batch = SubmitGood();
  auto retry = [&] {
    v1::RetryBatchRequest request;
    request.set_name(batch);
    v1::RetryBatchResponse response;
    auto context = CallContext();
    return stub_->RetryBatch(context.get(), request, &response);
  };
  ExpectRejected("retrying a PENDING batch", retry, grpc::StatusCode::FAILED_PRECONDITION,
                 {batch, "PENDING"});

  v1::CancelBatchRequest cancel;
  cancel.set_name(batch);
  v1::CancelBatchResponse cancelled;
  {
    auto context = CallContext();
    grpc::Status status = stub_->CancelBatch(context.get(), cancel, &cancelled);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(cancelled.batch().state(), v1::BATCH_STATE_CANCELLED);
  }
  ExpectRejected("retrying a CANCELLED batch", retry, grpc::StatusCode::FAILED_PRECONDITION,
                 {batch, "cancelled"});

  // Cancelling again is a documented no-op: OK, and nothing written.
  const auto before = SnapshotTables(db_->url());
  auto context = CallContext();
  grpc::Status again = stub_->CancelBatch(context.get(), cancel, &cancelled);
  EXPECT_TRUE(again.ok()) << again.error_message();
  EXPECT_EQ(SnapshotTables(db_->url()), before);
}

// A PDF too large for any shard is not judged at submit: the shard cap is the
// workers' setting (--max_shard_bytes), so SubmitDocuments accepts it and the
// plan step fails that document alone, saying why, while the rest go on.
TEST(BadInputPlanTest, PdfTooLargeForAnyShardFailsAloneAtPlan) {
  TempDir dir;
  TestDatabase db;
  const fs::path input_root = dir.path() / "inputs";
  const fs::path storage_root = dir.path() / "storage";
  const fs::path logs = dir.path() / "logs";
  fs::create_directories(storage_root);
  fs::create_directories(logs);
  WriteMinimalPdf(input_root / "small.pdf", "small");
  // A valid PDF padded with a comment to ~40 KB: its line alone passes the cap.
  std::string big = ReadFileText(input_root / "small.pdf");
  big.insert(big.find('\n') + 1, "%" + std::string(40000, 'x') + "\n");
  WriteFileText(input_root / "big.pdf", big);

  EmulatorProcess emulator(logs);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  CoordinatorSettings settings{db.url(), input_root, storage_root, logs};
  CoordinatorProcess coordinator(settings);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  WorkerSettings worker_settings;
  worker_settings.database_url = db.url();
  worker_settings.input_root = input_root;
  worker_settings.storage_root = storage_root;
  worker_settings.log_dir = logs;
  worker_settings.openai_base_url = emulator.base_url();
  worker_settings.flags = {{"--max_shard_bytes", "20000"}};
  WorkerProcess worker(worker_settings);

  v1::SubmitDocumentsRequest request;
  request.add_documents()->set_path("big.pdf");
  request.add_documents()->set_path("small.pdf");
  v1::SubmitDocumentsResponse response;
  auto context = CallContext();
  auto stub = coordinator.Stub();
  grpc::Status status = stub->SubmitDocuments(context.get(), request, &response);
  ASSERT_TRUE(status.ok()) << "a large PDF is accepted at submit: " << status.error_message();

  auto batch = WaitForFinalBatch({stub.get()}, response.batch().name(), std::chrono::seconds(180));
  ASSERT_TRUE(batch.has_value()) << Tail(worker.Log());
  EXPECT_EQ(batch->state(), v1::BATCH_STATE_PARTIALLY_SUCCEEDED);
  v1::ListDocumentsRequest list;
  list.set_parent(response.batch().name());
  v1::ListDocumentsResponse documents;
  auto list_context = CallContext();
  ASSERT_TRUE(stub->ListDocuments(list_context.get(), list, &documents).ok());
  ASSERT_EQ(documents.documents_size(), 2);
  for (const auto& d : documents.documents()) {
    if (d.document_id() == "big") {
      EXPECT_EQ(d.state(), v1::DOCUMENT_STATE_FAILED);
      EXPECT_THAT(d.error(), HasSubstr("too large for a batch"));
      EXPECT_THAT(d.error(), HasSubstr("20000"));
      EXPECT_TRUE(d.shard_id().empty()) << "it never went into a shard";
    } else {
      EXPECT_EQ(d.state(), v1::DOCUMENT_STATE_SUCCEEDED) << d.error();
    }
  }
  std::string errors;
  for (const auto& e : batch->last_errors()) errors += e + "\n";
  EXPECT_THAT(errors, HasSubstr("big")) << "the batch's last errors name the document";
}

}  // namespace
}  // namespace batchscribe::testing
