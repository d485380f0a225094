#include "services/coordinator/submission.h"

#include <gmock/gmock.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "libs/db/migrations.h"
#include "libs/storage/atomic_file.h"
#include "libs/storage/layout.h"
#include "services/coordinator/defaults.h"
#include "tests/support/test_env.h"

namespace batchscribe::coordinator {
namespace {
namespace fs = std::filesystem;
using ::batchscribe::testing::TempDir;
using ::batchscribe::testing::WriteMinimalPdf;
using ::testing::HasSubstr;

class SubmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    inputs_ = dir_.path() / "inputs";
    store_ = dir_.path() / "store";
    for (const char* name :
         {"a.pdf", "b.pdf", "c.pdf", "sub/d.pdf", "sub/deep/e.pdf", "other/a.pdf"}) {
      WriteMinimalPdf(inputs_ / name, name);
    }
    std::ofstream(inputs_ / "notes.pdf") << "plain text";
    fs::create_directories(store_);
    validator_ = Make(100);
  }

  std::unique_ptr<SubmissionValidator> Make(std::size_t max_documents) {
    return std::make_unique<SubmissionValidator>(*storage::InputRoot::Open(inputs_), store_,
                                                 prices_, max_documents);
  }

  static v1::SubmitDocumentsRequest Docs(std::vector<std::string> paths) {
    v1::SubmitDocumentsRequest request;
    for (const auto& p : paths) request.add_documents()->set_path(p);
    return request;
  }

  absl::StatusCode CodeOf(const v1::SubmitDocumentsRequest& request) {
    return validator_->Validate(request).status().code();
  }

  TempDir dir_;
  fs::path inputs_;
  fs::path store_;
  pricing::PriceTable prices_ = pricing::PriceTable::Defaults();
  std::unique_ptr<SubmissionValidator> validator_;
};

TEST_F(SubmissionTest, FillsDefaults) {
  auto s = validator_->Validate(Docs({"a.pdf", "./sub/d.pdf"}));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->model, "gpt-4.1-mini");
  EXPECT_EQ(s->mode, v1::MODE_BATCH);
  EXPECT_EQ(s->prompt, DefaultPrompt());
  EXPECT_EQ(s->json_schema, DefaultJsonSchema());
  EXPECT_EQ(s->max_completion_tokens, 32768);  // gpt-4.1-mini's output cap
  EXPECT_TRUE(s->skip_existing);
  ASSERT_EQ(s->documents.size(), 2u);
  EXPECT_EQ(s->documents[0].document_id, "a");
  EXPECT_EQ(s->documents[1].document_id, "d");
  EXPECT_EQ(s->documents[1].path, "sub/d.pdf");
  EXPECT_GT(s->documents[0].size_bytes, 0);
  EXPECT_EQ(s->request_hash.size(), 64u);
}

TEST_F(SubmissionTest, DefaultSchemaAndPromptAreTheShippedFiles) {
  std::ifstream schema(testing::SourceDir() / "config" / "transcript.schema.json");
  std::string text((std::istreambuf_iterator<char>(schema)), std::istreambuf_iterator<char>());
  EXPECT_EQ(DefaultJsonSchema(), text);
  EXPECT_FALSE(DefaultPrompt().empty());
}

TEST_F(SubmissionTest, ExactlyOneOfDocumentsAndSource) {
  v1::SubmitDocumentsRequest neither;
  auto status = validator_->Validate(neither).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("documents"));
  v1::SubmitDocumentsRequest both = Docs({"a.pdf"});
  both.mutable_source()->set_glob("*.pdf");
  EXPECT_EQ(CodeOf(both), absl::StatusCode::kInvalidArgument);
}

TEST_F(SubmissionTest, FieldLimitsNameTheField) {
  struct Case {
    std::function<void(v1::SubmitDocumentsRequest&)> mutate;
    std::string field;
  };
  std::vector<Case> cases = {
      {[](auto& r) { r.set_model("gpt-3"); }, "model"},
      {[](auto& r) { r.set_model("../../etc"); }, "model"},
      {[](auto& r) { r.set_prompt(std::string(32 * 1024 + 1, 'p')); }, "prompt"},
      {[](auto& r) { r.set_json_schema(std::string(64 * 1024 + 1, ' ')); }, "json_schema"},
      {[](auto& r) { r.set_json_schema("{not json"); }, "json_schema"},
      {[](auto& r) { r.set_json_schema("[1]"); }, "json_schema"},
      {[](auto& r) { r.set_json_schema(R"({"type":"string"})"); }, "json_schema"},
      {[](auto& r) {
         r.set_json_schema(R"({"type":"object","properties":{"a":{"type":"string"}}})");
       },
       "json_schema"},
      {[](auto& r) { r.set_max_completion_tokens(-1); }, "max_completion_tokens"},
      {[](auto& r) { r.set_max_completion_tokens(128001); }, "max_completion_tokens"},
      {[](auto& r) { r.set_mode(static_cast<v1::Mode>(9)); }, "mode"},
      {[](auto& r) { (*r.mutable_labels())["Bad Key"] = "v"; }, "labels"},
      {[](auto& r) { (*r.mutable_labels())[std::string(64, 'k')] = "v"; }, "labels"},
      {[](auto& r) { (*r.mutable_labels())["k"] = std::string(257, 'v'); }, "labels"},
      {[](auto& r) {
         for (int i = 0; i < 17; ++i) (*r.mutable_labels())["k" + std::to_string(i)] = "v";
       },
       "labels"},
      {[](auto& r) { r.set_max_cost_usd(-1); }, "max_cost_usd"},
      {[](auto& r) { r.set_max_cost_usd(std::nan("")); }, "max_cost_usd"},
      {[](auto& r) { r.set_display_name(std::string(257, 'd')); }, "display_name"},
      {[](auto& r) { r.set_request_id(std::string(129, 'r')); }, "request_id"},
  };
  for (const auto& c : cases) {
    v1::SubmitDocumentsRequest request = Docs({"a.pdf"});
    c.mutate(request);
    auto status = validator_->Validate(request).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_EQ(std::string(status.message()).rfind(c.field + ":", 0), 0u)
        << c.field << " -> " << status.message();
  }
}

TEST_F(SubmissionTest, AcceptsLimitsAtTheirMaximum) {
  v1::SubmitDocumentsRequest request = Docs({"a.pdf"});
  request.set_max_completion_tokens(128000);
  request.set_display_name(std::string(256, 'd'));
  request.set_request_id(std::string(128, 'r'));
  request.set_model("gpt-5-nano");
  request.set_mode(v1::MODE_SYNC);
  request.set_max_cost_usd(12.5);
  for (int i = 0; i < 16; ++i) (*request.mutable_labels())["k-" + std::to_string(i)] = "v";
  auto s = validator_->Validate(request);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->mode, v1::MODE_SYNC);
  EXPECT_EQ(s->labels.size(), 16u);
}

TEST_F(SubmissionTest, TooManyExplicitDocumentsIsResourceExhausted) {
  auto small = Make(2);
  auto status = small->Validate(Docs({"a.pdf", "b.pdf", "c.pdf"})).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(small->Validate(Docs({"a.pdf", "b.pdf"})).ok());
}

TEST_F(SubmissionTest, PathProblemsNameEachDocument) {
  fs::create_symlink("/etc/hostname", inputs_ / "escape.pdf");
  auto status = validator_
                    ->Validate(Docs({"a.pdf", "/etc/passwd", "../x.pdf", "missing.pdf", "notes.pdf",
                                     "sub", "escape.pdf"}))
                    .status();
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  std::string message(status.message());
  EXPECT_THAT(message, HasSubstr("documents: 6 of 7 documents are invalid"));
  EXPECT_THAT(message, HasSubstr("documents[1] \"/etc/passwd\": path is absolute"));
  EXPECT_THAT(message, HasSubstr("documents[2] \"../x.pdf\": path has a '..' component"));
  EXPECT_THAT(message, HasSubstr("documents[3] \"missing.pdf\": does not exist"));
  EXPECT_THAT(message, HasSubstr("documents[4] \"notes.pdf\": not a PDF"));
  EXPECT_THAT(message, HasSubstr("documents[5] \"sub\": not a regular file"));
  EXPECT_THAT(message, HasSubstr("documents[6] \"escape.pdf\": path leads outside"));
  EXPECT_EQ(message.find("documents[0]"), std::string::npos);
}

TEST_F(SubmissionTest, AtMostTwentyDocumentsAreNamed) {
  std::vector<std::string> paths;
  for (int i = 0; i < 25; ++i) paths.push_back("missing" + std::to_string(i) + ".pdf");
  std::string message(validator_->Validate(Docs(paths)).status().message());
  EXPECT_THAT(message, HasSubstr("documents[19]"));
  EXPECT_EQ(message.find("documents[20]"), std::string::npos);
  EXPECT_THAT(message, HasSubstr("and 5 more"));
}

TEST_F(SubmissionTest, DocumentIdsAreValidatedAndUnique) {
  v1::SubmitDocumentsRequest request = Docs({"a.pdf", "other/a.pdf"});
  auto status = validator_->Validate(request).status();
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("document id \"a\" is already used by documents[0]"));

  request.mutable_documents(1)->set_document_id("other-a");
  auto ok = validator_->Validate(request);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->documents[1].document_id, "other-a");

  request.mutable_documents(1)->set_document_id("bad id");
  EXPECT_EQ(CodeOf(request), absl::StatusCode::kInvalidArgument);
  request.mutable_documents(1)->set_document_id(".hidden");
  EXPECT_EQ(CodeOf(request), absl::StatusCode::kInvalidArgument);
}

TEST_F(SubmissionTest, DirectorySourceWithGlobAndLimit) {
  v1::SubmitDocumentsRequest request;
  request.mutable_source()->set_directory("sub");
  request.mutable_source()->set_glob("**/*.pdf");
  auto s = validator_->Validate(request);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->documents.size(), 2u);
  EXPECT_EQ(s->documents[0].path, "sub/d.pdf");
  EXPECT_EQ(s->documents[1].path, "sub/deep/e.pdf");

  v1::SubmitDocumentsRequest top;
  top.mutable_source()->set_limit(2);  // default glob *.pdf, root folder
  auto limited = validator_->Validate(top);
  ASSERT_TRUE(limited.ok()) << limited.status();
  ASSERT_EQ(limited->documents.size(), 2u);
  EXPECT_EQ(limited->documents[0].path, "a.pdf");
  EXPECT_EQ(limited->documents[1].path, "b.pdf");
}

TEST_F(SubmissionTest, DirectorySourceErrors) {
  v1::SubmitDocumentsRequest request;
  request.mutable_source()->set_glob("*.pdf");  // includes notes.pdf, which is not a PDF
  auto status = validator_->Validate(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("\"notes.pdf\": not a PDF"));

  request.mutable_source()->set_glob("*.nothing");
  status = validator_->Validate(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("source.glob"));

  request.mutable_source()->set_directory("../");
  status = validator_->Validate(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("source.directory"));

  request.mutable_source()->set_directory("nope");
  EXPECT_EQ(CodeOf(request), absl::StatusCode::kInvalidArgument);

  request.mutable_source()->set_directory("");
  request.mutable_source()->set_limit(-1);
  EXPECT_EQ(CodeOf(request), absl::StatusCode::kInvalidArgument);

  // Two files with the same stem in different folders collide on the default id.
  request.mutable_source()->set_limit(0);
  request.mutable_source()->set_glob("**/a.pdf");
  status = validator_->Validate(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("already used"));
}

TEST_F(SubmissionTest, DirectorySourceOverTheLimitIsResourceExhausted) {
  auto small = Make(3);
  v1::SubmitDocumentsRequest request;
  request.mutable_source()->set_glob("[abc].pdf");
  EXPECT_TRUE(small->Validate(request).ok());  // exactly the limit
  request.mutable_source()->set_glob("**/[abcde].pdf");
  EXPECT_EQ(small->Validate(request).status().code(), absl::StatusCode::kResourceExhausted);
  request.mutable_source()->set_limit(3);  // the caller narrows it down
  EXPECT_TRUE(small->Validate(request).ok());
}

TEST_F(SubmissionTest, SkipExistingMarksTranscribedDocuments) {
  ASSERT_TRUE(
      storage::AtomicWriteFile(storage::TranscriptPath(store_, "gpt-4.1-mini", "b"), "{}").ok());
  auto s = validator_->Validate(Docs({"a.pdf", "b.pdf"}));
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->documents[0].skipped);
  EXPECT_TRUE(s->documents[1].skipped);
  EXPECT_FALSE(s->AllSkipped());

  v1::SubmitDocumentsRequest other_model = Docs({"b.pdf"});
  other_model.set_model("gpt-4.1");
  EXPECT_FALSE(validator_->Validate(other_model)->documents[0].skipped);

  v1::SubmitDocumentsRequest again = Docs({"b.pdf"});
  again.set_skip_existing(false);
  EXPECT_FALSE(validator_->Validate(again)->documents[0].skipped);
  again.set_skip_existing(true);
  EXPECT_TRUE(validator_->Validate(again)->AllSkipped());
}

TEST(SubmitRequestHash, EqualForEquivalentRequestsOnly) {
  v1::SubmitDocumentsRequest implicit;
  implicit.add_documents()->set_path("a.pdf");
  implicit.set_request_id("one");
  (*implicit.mutable_labels())["x"] = "1";
  (*implicit.mutable_labels())["y"] = "2";

  v1::SubmitDocumentsRequest explicit_defaults;
  explicit_defaults.add_documents()->set_path("./a.pdf");
  explicit_defaults.set_request_id("two");  // not part of the body
  explicit_defaults.set_model("gpt-4.1-mini");
  explicit_defaults.set_mode(v1::MODE_BATCH);
  explicit_defaults.set_max_completion_tokens(32768);
  explicit_defaults.set_skip_existing(true);
  explicit_defaults.set_prompt(std::string(DefaultPrompt()));
  explicit_defaults.set_json_schema(std::string(DefaultJsonSchema()));
  (*explicit_defaults.mutable_labels())["y"] = "2";
  (*explicit_defaults.mutable_labels())["x"] = "1";
  const pricing::PriceTable prices = pricing::PriceTable::Defaults();
  EXPECT_EQ(SubmitRequestHash(implicit, prices), SubmitRequestHash(explicit_defaults, prices));

  v1::SubmitDocumentsRequest different = implicit;
  different.set_skip_existing(false);
  EXPECT_NE(SubmitRequestHash(implicit, prices), SubmitRequestHash(different, prices));
  different = implicit;
  different.add_documents()->set_path("b.pdf");
  EXPECT_NE(SubmitRequestHash(implicit, prices), SubmitRequestHash(different, prices));
}

// The request with every default spelled out, serialised as the hash did
// before split_policy existed (field 13 absent).
std::string HashWithoutSplitPolicy(v1::SubmitDocumentsRequest request) {
  request.clear_request_id();
  request.clear_split_policy();
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&coded);
  }
  return db::Sha256Hex(bytes);
}

TEST(SubmitRequestHash, TheDefaultSplitPolicyLeavesTheHashAsItWas) {
  const pricing::PriceTable prices = pricing::PriceTable::Defaults();
  v1::SubmitDocumentsRequest request;
  request.add_documents()->set_path("a.pdf");
  request.set_model("gpt-4.1-mini");
  request.set_mode(v1::MODE_BATCH);
  request.set_max_completion_tokens(32768);
  request.set_skip_existing(true);
  request.set_prompt(std::string(DefaultPrompt()));
  request.set_json_schema(std::string(DefaultJsonSchema()));
  const std::string before = HashWithoutSplitPolicy(request);

  EXPECT_EQ(SubmitRequestHash(request, prices), before) << "unspecified";
  request.set_split_policy(v1::SPLIT_POLICY_AUTO);
  EXPECT_EQ(SubmitRequestHash(request, prices), before) << "AUTO is the default";
  request.set_split_policy(v1::SPLIT_POLICY_NEVER);
  const std::string never = SubmitRequestHash(request, prices);
  EXPECT_NE(never, before);
  request.set_split_policy(v1::SPLIT_POLICY_ALLOW);
  EXPECT_NE(SubmitRequestHash(request, prices), before);
  EXPECT_NE(SubmitRequestHash(request, prices), never);
}

TEST(SubmitRequestHash, LegacyHashIsTheOneOfTheFixedDefaultOf16000) {
  const pricing::PriceTable prices = pricing::PriceTable::Defaults();
  v1::SubmitDocumentsRequest implicit;
  implicit.add_documents()->set_path("a.pdf");
  v1::SubmitDocumentsRequest old_default = implicit;
  old_default.set_max_completion_tokens(16000);
  ASSERT_TRUE(LegacySubmitRequestHash(implicit).has_value());
  EXPECT_EQ(*LegacySubmitRequestHash(implicit), SubmitRequestHash(old_default, prices));
  EXPECT_NE(*LegacySubmitRequestHash(implicit), SubmitRequestHash(implicit, prices));
  EXPECT_FALSE(LegacySubmitRequestHash(old_default).has_value())
      << "an explicit value hashes as it always did";
}

TEST_F(SubmissionTest, DefaultMaxCompletionTokensIsTheModelsOutputCap) {
  v1::SubmitDocumentsRequest request = Docs({"a.pdf"});
  for (const auto& [model, cap] : std::vector<std::pair<std::string, int>>{
           {"gpt-4.1-mini", 32768}, {"gpt-4o-mini", 16384}, {"gpt-5-nano", 128000}}) {
    request.set_model(model);
    auto s = validator_->Validate(request);
    ASSERT_TRUE(s.ok()) << model << ": " << s.status();
    EXPECT_EQ(s->max_completion_tokens, cap) << model;
    EXPECT_EQ(pricing::DefaultMaxCompletionTokens(prices_, model), cap) << model;
  }
  // A model whose table entry gives no cap: the fallback.
  auto custom = pricing::PriceTable::FromJson(R"({"models":{"my-model":{"input":1,"output":2}}})");
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_EQ(pricing::DefaultMaxCompletionTokens(*custom, "my-model"), pricing::kFallbackMaxOutputTokens);
  SubmissionValidator with_custom(*storage::InputRoot::Open(inputs_), store_, *custom, 100);
  request.set_model("my-model");
  auto s = with_custom.Validate(request);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->max_completion_tokens, 16000);
}

TEST_F(SubmissionTest, MaxCompletionTokensAboveTheModelsCapIsRefused) {
  v1::SubmitDocumentsRequest request = Docs({"a.pdf"});
  request.set_model("gpt-4o-mini");
  request.set_max_completion_tokens(16385);
  auto status = validator_->Validate(request).status();
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  const std::string message(status.message());
  EXPECT_EQ(message.rfind("max_completion_tokens:", 0), 0u) << message;
  EXPECT_THAT(message, HasSubstr("gpt-4o-mini"));
  EXPECT_THAT(message, HasSubstr("16384"));
  request.set_max_completion_tokens(16384);
  auto at_cap = validator_->Validate(request);
  ASSERT_TRUE(at_cap.ok()) << at_cap.status();
  EXPECT_EQ(at_cap->max_completion_tokens, 16384);
}

TEST_F(SubmissionTest, SplitPolicyDefaultsToAutoAndUnknownValuesAreRefused) {
  v1::SubmitDocumentsRequest request = Docs({"a.pdf"});
  EXPECT_EQ(validator_->Validate(request)->split_policy, v1::SPLIT_POLICY_AUTO);
  request.set_split_policy(v1::SPLIT_POLICY_NEVER);
  EXPECT_EQ(validator_->Validate(request)->split_policy, v1::SPLIT_POLICY_NEVER);
  request.set_split_policy(v1::SPLIT_POLICY_ALLOW);
  EXPECT_EQ(validator_->Validate(request)->split_policy, v1::SPLIT_POLICY_ALLOW);
  request.set_split_policy(static_cast<v1::SplitPolicy>(7));
  auto status = validator_->Validate(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(status.message()).rfind("split_policy:", 0), 0u) << status;
}

}  // namespace
}  // namespace batchscribe::coordinator
