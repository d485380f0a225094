// Fuzz target: the coordinator's validation of SubmitDocuments and of the
// other request fields it parses (resource names, page tokens, page sizes),
// called without a server. The first input byte picks the case:
//   0     a structured request built from the input (paths assembled from
//         fragments such as "..", "/", symlinks out of the root, a directory,
//         an empty file; ids, models, schemas, numbers, labels, selectors);
//   1     the input parsed as the protobuf wire format of the request;
//   2     the input as a page token, raw and as base64url of a JSON text;
//   3     the input as a resource name and a JSON schema.
//
// Invariants: nothing crashes and no exception escapes; a rejection is
// INVALID_ARGUMENT or RESOURCE_EXHAUSTED with a message; an accepted request
// holds 1..max documents with valid unique ids and paths confined to the input
// root, a known model and in-range numbers; its hash is deterministic; and a
// schema the coordinator accepts is one the worker can use (its validator and
// its request-line builder take it).

#include <absl/strings/escaping.h>
#include <google/protobuf/stubs/logging.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "fuzz/fuzz_input.h"
#include "libs/pricing/price_table.h"
#include "libs/jsonl/request_line.h"
#include "libs/jsonl/schema_validator.h"
#include "libs/storage/document_id.h"
#include "libs/storage/input_root.h"
#include "services/coordinator/defaults.h"
#include "services/coordinator/page_token.h"
#include "services/coordinator/resource_names.h"
#include "services/coordinator/response_schema.h"
#include "services/coordinator/submission.h"

namespace {

namespace fs = std::filesystem;
namespace coord = batchscribe::coordinator;
namespace v1 = batchscribe::v1;
using batchscribe::fuzz::FuzzInput;

constexpr std::size_t kMaxDocuments = 40;

void WriteFile(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

// A scratch input root with every kind of entry, made once per process.
struct Scratch {
  fs::path root;
  fs::path inputs;
  fs::path storage;
  batchscribe::pricing::PriceTable prices = batchscribe::pricing::PriceTable::Defaults();
  std::unique_ptr<coord::SubmissionValidator> validator;
};

Scratch& TheScratch() {
  static Scratch* scratch = [] {
    // Requests with invalid UTF-8 make protobuf log on every serialisation
    // (the hash); gRPC would refuse them before the coordinator sees them.
    google::protobuf::SetLogHandler(nullptr);
    auto* s = new Scratch();
    s->root = fs::temp_directory_path() / ("batchscribe-fuzz-submit-" + std::to_string(getpid()));
    s->inputs = s->root / "inputs";
    s->storage = s->root / "storage";
    const std::string pdf = "%PDF-1.4\n%fuzz\n";
    for (const char* p : {"ok.pdf", "a/b.pdf", "a/c.PDF", "a/deep/d.pdf", "x y.pdf", ".hidden.pdf",
                          "same/ok.pdf", "caf\xc3\xa9.pdf"}) {
      WriteFile(s->inputs / p, pdf);
    }
    WriteFile(s->inputs / "empty.pdf", "");
    WriteFile(s->inputs / "notpdf.pdf", "plain text\n");
    WriteFile(s->root / "outside.pdf", pdf);
    fs::create_directories(s->inputs / "dir.pdf");
    std::error_code ec;
    fs::create_symlink(s->root / "outside.pdf", s->inputs / "out.pdf", ec);
    fs::create_symlink("ok.pdf", s->inputs / "in.pdf", ec);
    fs::create_symlink(s->root, s->inputs / "up", ec);
    fs::create_symlink("loop", s->inputs / "loop", ec);
    // A transcript that exists, for skip_existing.
    WriteFile(s->storage / "transcripts/gpt-4.1-mini/ok.json", "{}");
    auto root = batchscribe::storage::InputRoot::Open(s->inputs);
    FUZZ_CHECK(root.ok(), root.status().ToString());
    s->validator =
        std::make_unique<coord::SubmissionValidator>(*root, s->storage, s->prices, kMaxDocuments);
    return s;
  }();
  return *scratch;
}

std::string Path(FuzzInput& in) {
  static const std::vector<std::string> fragments = {
      "ok.pdf", "a",       "b.pdf",  "a/b.pdf", "..",          ".",          "",       "/",
      "up",     "out.pdf", "in.pdf", "dir.pdf", "empty.pdf",   "notpdf.pdf", "loop",   "deep",
      "same",   "x y.pdf", "*",      "**",      "/etc/passwd", "\\",         "%2e%2e", "ok.pdf\n"};
  std::string path;
  const int parts = static_cast<int>(in.Int(1, 4));
  for (int i = 0; i < parts; ++i) {
    if (i > 0) path += in.Bool() ? "/" : "//";
    path += in.Int(0, 7) == 0 ? in.String(12) : in.Pick(fragments);
  }
  return path;
}

std::string Schema(FuzzInput& in) {
  static const std::vector<std::string> schemas = {
      "",
      std::string(coord::DefaultJsonSchema()),
      R"({"type":"object","properties":{},"required":[],"additionalProperties":false})",
      R"({"type":"object","properties":{"a":{"$ref":"#/$defs/n"}},"required":["a"],)"
      R"("additionalProperties":false,"$defs":{"n":{"type":"object","properties":{"n":)"
      R"({"anyOf":[{"$ref":"#/$defs/n"},{"type":"null"}]}},"required":["n"],)"
      R"("additionalProperties":false}}})",
      R"({"type":"object","properties":{"a":{"$ref":"#"}},"required":["a"],)"
      R"("additionalProperties":false})",
      R"({"type":"object","properties":{"s":{"type":"string","pattern":"(a+)+$"}},)"
      R"("required":["s"],"additionalProperties":false})",
      R"({"type":["object","null"],"properties":{},"required":[],"additionalProperties":false})",
  };
  switch (in.Int(0, 2)) {
    case 0:
      return in.Pick(schemas);
    case 1:
      return in.String(600);
    default: {
      // A known schema with a few bytes overwritten.
      std::string s = in.Pick(schemas);
      for (int i = 0, n = static_cast<int>(in.Int(0, 4)); i < n && !s.empty(); ++i) {
        s[static_cast<size_t>(in.Int(0, static_cast<int64_t>(s.size()) - 1))] =
            static_cast<char>(in.Byte());
      }
      return s;
    }
  }
}

v1::SubmitDocumentsRequest StructuredRequest(FuzzInput& in) {
  static const std::vector<std::string> models = {
      "",           "gpt-4.1-mini", "gpt-4.1", "gpt-4o-mini",
      "gpt-5-mini", "gpt-5-nano",   "gpt-99",  "GPT-4.1"};
  static const std::vector<std::string> globs = {"",  "*.pdf", "**/*.pdf",    "**",    "*",
                                                 "[", "a/*",   "**/**/*.pdf", "*.PDF", "../*"};
  v1::SubmitDocumentsRequest request;
  if (in.Bool()) request.set_request_id(in.String(140));
  if (in.Int(0, 3) == 0) {
    auto* source = request.mutable_source();
    source->set_directory(in.Bool() ? "" : Path(in));
    source->set_glob(in.Bool() ? in.Pick(globs) : in.String(20));
    source->set_limit(static_cast<int32_t>(in.Int(-2, 60)));
  }
  const int documents = static_cast<int>(in.Int(0, kMaxDocuments + 2));
  for (int i = 0; i < documents; ++i) {
    auto* doc = request.add_documents();
    doc->set_path(Path(in));
    switch (in.Int(0, 3)) {
      case 0:
        doc->set_document_id(in.String(70));
        break;
      case 1:
        doc->set_document_id("id" + std::to_string(in.Int(0, 5)));
        break;
      default:
        break;
    }
  }
  request.set_model(in.Bool() ? in.Pick(models) : in.String(30));
  if (in.Bool()) request.set_prompt(in.Int(0, 20) == 0 ? std::string(33000, 'p') : in.String(100));
  request.set_json_schema(Schema(in));
  request.set_max_completion_tokens(static_cast<int32_t>(in.Int(-3, 130000)));
  request.set_mode(static_cast<v1::Mode>(in.Int(-1, 3)));
  if (in.Bool()) request.set_skip_existing(in.Bool());
  for (int i = 0, n = static_cast<int>(in.Int(0, 18)); i < n; ++i) {
    (*request.mutable_labels())[in.String(70)] = in.String(300);
  }
  if (in.Bool()) request.set_max_cost_usd(in.Double());
  if (in.Bool()) request.set_display_name(in.String(300));
  return request;
}

bool Confined(const std::string& path) {
  if (path.empty() || path.front() == '/') return false;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

void CheckRejection(const absl::Status& status, const std::string& where) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument ||
                 status.code() == absl::StatusCode::kResourceExhausted,
             where + " failed with " + status.ToString());
  FUZZ_CHECK(!status.message().empty(), where + ": an error without a message");
}

void Validate(const v1::SubmitDocumentsRequest& request) {
  Scratch& s = TheScratch();
  static const auto* prices =
      new batchscribe::pricing::PriceTable(batchscribe::pricing::PriceTable::Defaults());
  const std::string hash = coord::SubmitRequestHash(request, *prices);
  FUZZ_CHECK(hash == coord::SubmitRequestHash(v1::SubmitDocumentsRequest(request), *prices),
             "the request hash is not deterministic");
  (void)coord::NormalizeSubmitRequest(request, *prices);

  absl::Status fields = s.validator->CheckFields(request);
  auto submission = s.validator->Validate(request);
  if (!fields.ok()) {
    CheckRejection(fields, "CheckFields");
    FUZZ_CHECK(!submission.ok(), "Validate accepted what CheckFields rejected");
  }
  if (!submission.ok()) {
    CheckRejection(submission.status(), "Validate");
    return;
  }
  FUZZ_CHECK(fields.ok(), "Validate accepted what CheckFields rejected");
  const coord::Submission& sub = *submission;
  FUZZ_CHECK(sub.request_hash == hash, "the stored hash is not the request's");
  FUZZ_CHECK(!sub.documents.empty() && sub.documents.size() <= kMaxDocuments,
             std::to_string(sub.documents.size()) + " documents accepted");
  std::set<std::string> ids;
  for (const auto& doc : sub.documents) {
    FUZZ_CHECK(batchscribe::storage::ValidateDocumentId(doc.document_id).ok(),
               "accepted document id \"" + doc.document_id + "\"");
    FUZZ_CHECK(ids.insert(doc.document_id).second, "duplicate id " + doc.document_id);
    FUZZ_CHECK(Confined(doc.path), "accepted path \"" + doc.path + "\"");
    auto info = batchscribe::storage::InputRoot::Open(s.inputs)->Check(doc.path);
    FUZZ_CHECK(info.ok(), "accepted path \"" + doc.path +
                              "\" fails the worker's check: " + info.status().ToString());
    FUZZ_CHECK(doc.size_bytes >= 5,
               "accepted a file of " + std::to_string(doc.size_bytes) + " bytes");
  }
  FUZZ_CHECK(s.prices.IsKnownModel(sub.model), "accepted model \"" + sub.model + "\"");
  FUZZ_CHECK(sub.max_completion_tokens >= 1 &&
                 sub.max_completion_tokens <= coord::kMaxCompletionTokensLimit,
             "max_completion_tokens " + std::to_string(sub.max_completion_tokens));
  FUZZ_CHECK(sub.mode == v1::MODE_BATCH || sub.mode == v1::MODE_SYNC, "mode");
  FUZZ_CHECK(sub.max_cost_usd >= 0 && std::isfinite(sub.max_cost_usd), "max_cost_usd");
  FUZZ_CHECK(sub.prompt.size() <= coord::kMaxPromptBytes, "prompt size");
  FUZZ_CHECK(sub.labels.size() <= coord::kMaxLabels, "labels");

  // What the worker does with an accepted batch must work.
  auto validator = batchscribe::jsonl::SchemaValidator::Create(sub.json_schema);
  FUZZ_CHECK(validator.ok(), "an accepted schema the worker cannot load: " +
                                 validator.status().ToString() + "\n" + sub.json_schema);
  validator->Validate(R"({"title":null,"language":null,"pages":[]})").IgnoreError();
  auto builder = batchscribe::jsonl::RequestLineBuilder::Create(
      {sub.model, sub.prompt, sub.json_schema, "transcript", sub.max_completion_tokens});
  FUZZ_CHECK(builder.ok(), "an accepted request the worker cannot build lines for: " +
                               builder.status().ToString());
}

void PageToken(const std::string& bytes) {
  const coord::PageToken batches{"batches", "", "", 0, ""};
  const coord::PageToken documents{"documents", "batches/abc", "FAILED", 0, ""};
  for (const std::string& text : {bytes, absl::WebSafeBase64Escape(bytes)}) {
    for (const auto& expected : {batches, documents}) {
      auto token = coord::DecodePageToken(text, expected);
      if (!token.ok()) {
        FUZZ_CHECK(token.status().code() == absl::StatusCode::kInvalidArgument,
                   token.status().ToString());
        continue;
      }
      FUZZ_CHECK(token->collection == expected.collection && token->parent == expected.parent &&
                     token->filter == expected.filter,
                 "a token for another list was accepted");
      // What the server hands out again decodes to the same position.
      auto again = coord::DecodePageToken(coord::EncodePageToken(*token), expected);
      FUZZ_CHECK(again.ok() && again->after_id == token->after_id &&
                     again->after_time_micros == token->after_time_micros,
                 "a re-encoded token does not round-trip");
    }
  }
}

void NameAndSchema(const std::string& bytes) {
  auto id = coord::ParseBatchName(bytes, "name");
  if (id.ok()) {
    FUZZ_CHECK(coord::IsValidBatchId(*id) && coord::BatchName(*id) == bytes,
               "accepted name \"" + bytes + "\"");
  } else {
    FUZZ_CHECK(id.status().code() == absl::StatusCode::kInvalidArgument, id.status().ToString());
  }
  absl::Status schema = coord::ValidateResponseSchema(bytes);
  if (schema.ok()) {
    auto validator = batchscribe::jsonl::SchemaValidator::Create(bytes);
    FUZZ_CHECK(validator.ok(),
               "an accepted schema the worker cannot load: " + validator.status().ToString());
  } else {
    FUZZ_CHECK(schema.code() == absl::StatusCode::kInvalidArgument, schema.ToString());
  }
  (void)batchscribe::storage::NormalizeRelativePath(bytes);
  (void)batchscribe::storage::DefaultDocumentId(bytes);
  FUZZ_CHECK(
      batchscribe::storage::ValidateDocumentId(batchscribe::storage::DefaultDocumentId(bytes)).ok(),
      "DefaultDocumentId made an invalid id from \"" + bytes + "\"");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  switch (in.Byte() % 4) {
    case 0:
      Validate(StructuredRequest(in));
      break;
    case 1: {
      v1::SubmitDocumentsRequest request;
      const std::string bytes = in.Rest();
      if (request.ParseFromString(bytes)) Validate(request);
      break;
    }
    case 2:
      PageToken(in.Rest());
      break;
    default:
      NameAndSchema(in.Rest());
      break;
  }
  return 0;
}
