#include "services/coordinator/submission.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <thread>
#include <unordered_map>

#include "libs/db/migrations.h"
#include "libs/storage/document_id.h"
#include "libs/storage/layout.h"
#include "services/coordinator/defaults.h"
#include "services/coordinator/response_schema.h"

namespace batchscribe::coordinator {
namespace {

bool IsValidUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t extra = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c < 0x80) {
      extra = 0;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      if (c == 0xE0) lo = 0xA0;  // no overlong forms
      if (c == 0xED) hi = 0x9F;  // no UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
      return false;
    }
    if (s.size() - i <= extra) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

// For messages about names that are not UTF-8: bytes >= 0x80 as \xNN.
std::string EscapeNonAscii(std::string_view s) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out += ch;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

absl::Status Invalid(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(field + ": " + what);
}

std::size_t Utf8Length(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xc0) != 0x80;
  return n;
}

bool IsLabelKey(const std::string& key) {
  if (key.empty() || key.size() > kMaxLabelKeyLength) return false;
  for (char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

std::string Quote(const std::string& text) { return "\"" + text + "\""; }

// Collects per-document problems and reports the first kMaxReportedDocuments.
class ProblemList {
 public:
  void Add(std::string where, std::string what) {
    ++count_;
    if (items_.size() < kMaxReportedDocuments) items_.push_back(where + ": " + what);
  }
  bool empty() const { return count_ == 0; }
  absl::Status ToStatus(const std::string& field, std::size_t total) const {
    std::string message = field + ": " + std::to_string(count_) + " of " + std::to_string(total) +
                          " documents are invalid: ";
    for (std::size_t i = 0; i < items_.size(); ++i) {
      if (i > 0) message += "; ";
      message += items_[i];
    }
    if (count_ > items_.size()) {
      message += "; and " + std::to_string(count_ - items_.size()) + " more";
    }
    return absl::InvalidArgumentError(message);
  }

 private:
  std::size_t count_ = 0;
  std::vector<std::string> items_;
};

}  // namespace

bool Submission::AllSkipped() const {
  for (const auto& d : documents) {
    if (!d.skipped) return false;
  }
  return true;
}

namespace {

// The default max_completion_tokens before it became the model's cap (issue 13).
constexpr int32_t kLegacyDefaultMaxCompletionTokens = 16000;

v1::SubmitDocumentsRequest Normalize(const v1::SubmitDocumentsRequest& request,
                                     int32_t default_max_completion_tokens) {
  v1::SubmitDocumentsRequest n = request;
  n.clear_request_id();
  if (n.model().empty()) n.set_model(std::string(kDefaultModel));
  if (n.mode() == v1::MODE_UNSPECIFIED) n.set_mode(v1::MODE_BATCH);
  if (n.max_completion_tokens() == 0) n.set_max_completion_tokens(default_max_completion_tokens);
  if (!n.has_skip_existing()) n.set_skip_existing(true);
  if (n.prompt().empty()) n.set_prompt(std::string(DefaultPrompt()));
  if (n.json_schema().empty()) n.set_json_schema(std::string(DefaultJsonSchema()));
  // The default policy is left out (proto3 does not serialise 0), so hashes
  // recorded before split_policy existed still match.
  if (n.split_policy() == v1::SPLIT_POLICY_AUTO) n.clear_split_policy();
  for (auto& doc : *n.mutable_documents()) {
    if (auto path = storage::NormalizeRelativePath(doc.path()); path.ok()) doc.set_path(*path);
  }
  if (n.has_source()) {
    auto* source = n.mutable_source();
    if (source->glob().empty()) source->set_glob(std::string(kDefaultGlob));
    if (auto dir = storage::NormalizeRelativePath(source->directory()); dir.ok()) {
      source->set_directory(*dir);
    }
  }
  return n;
}

std::string HashOf(const v1::SubmitDocumentsRequest& normalized) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);  // map entries (labels) in key order
    normalized.SerializeToCodedStream(&coded);
  }
  return db::Sha256Hex(bytes);
}

std::string ModelOf(const v1::SubmitDocumentsRequest& request) {
  return request.model().empty() ? std::string(kDefaultModel) : request.model();
}

}  // namespace

v1::SubmitDocumentsRequest NormalizeSubmitRequest(const v1::SubmitDocumentsRequest& request,
                                                  const pricing::PriceTable& prices) {
  // The max_completion_tokens of a request that leaves it at 0: the model's
  // output cap (pricing::DefaultMaxCompletionTokens), at most the API's limit.
  return Normalize(request, static_cast<int32_t>(std::min<int64_t>(
                                pricing::DefaultMaxCompletionTokens(prices, ModelOf(request)),
                                kMaxCompletionTokensLimit)));
}

std::string SubmitRequestHash(const v1::SubmitDocumentsRequest& request,
                              const pricing::PriceTable& prices) {
  return HashOf(NormalizeSubmitRequest(request, prices));
}

std::optional<std::string> LegacySubmitRequestHash(const v1::SubmitDocumentsRequest& request) {
  if (request.max_completion_tokens() != 0) return std::nullopt;
  return HashOf(Normalize(request, kLegacyDefaultMaxCompletionTokens));
}

SubmissionValidator::SubmissionValidator(storage::InputRoot input_root,
                                         std::filesystem::path storage_root,
                                         const pricing::PriceTable& prices,
                                         std::size_t max_documents_per_request)
    : input_root_(std::move(input_root)),
      storage_root_(std::move(storage_root)),
      prices_(prices),
      max_documents_(max_documents_per_request) {}

absl::Status SubmissionValidator::CheckFields(const v1::SubmitDocumentsRequest& request) const {
  if (request.request_id().size() > kMaxRequestIdLength) {
    return Invalid("request_id", "at most " + std::to_string(kMaxRequestIdLength) + " characters");
  }
  bool has_documents = request.documents_size() > 0;
  if (has_documents && request.has_source()) {
    return Invalid("documents", "set either documents or source, not both");
  }
  if (!has_documents && !request.has_source()) {
    return Invalid("documents", "no documents: set documents or source");
  }
  const std::string model = ModelOf(request);
  const std::optional<pricing::ModelPrice> price =
      pricing::ValidateModelName(model).ok() ? prices_.Find(model) : std::nullopt;
  if (!price) {
    std::string known;
    for (const auto& name : prices_.Models()) known += (known.empty() ? "" : ", ") + name;
    return Invalid("model", "unknown model " + Quote(model) + " (known: " + known + ")");
  }
  if (request.prompt().size() > kMaxPromptBytes) {
    return Invalid("prompt", "at most " + std::to_string(kMaxPromptBytes) + " bytes");
  }
  if (request.json_schema().size() > kMaxJsonSchemaBytes) {
    return Invalid("json_schema", "at most " + std::to_string(kMaxJsonSchemaBytes) + " bytes");
  }
  if (!request.json_schema().empty()) {
    if (absl::Status s = ValidateResponseSchema(request.json_schema()); !s.ok()) {
      return Invalid("json_schema", std::string(s.message()));
    }
  }
  if (request.max_completion_tokens() < 0 ||
      request.max_completion_tokens() > kMaxCompletionTokensLimit) {
    return Invalid("max_completion_tokens",
                   "must be 1.." + std::to_string(kMaxCompletionTokensLimit) + " (0 = default)");
  }
  if (price->max_output_tokens > 0 && request.max_completion_tokens() > price->max_output_tokens) {
    return Invalid("max_completion_tokens",
                   std::to_string(request.max_completion_tokens()) + " is more than " + model +
                       " can write: its output cap is " + std::to_string(price->max_output_tokens) +
                       " tokens (0 = that cap)");
  }
  if (!v1::SplitPolicy_IsValid(request.split_policy())) {
    return Invalid("split_policy",
                   "unknown split policy " + std::to_string(request.split_policy()));
  }
  if (!v1::Mode_IsValid(request.mode())) return Invalid("mode", "unknown mode");
  if (request.labels_size() > static_cast<int>(kMaxLabels)) {
    return Invalid("labels", "at most " + std::to_string(kMaxLabels) + " labels");
  }
  for (const auto& [key, value] : request.labels()) {
    if (!IsLabelKey(key)) {
      return Invalid("labels", "key " + Quote(key) + " must be 1-63 characters of [a-z0-9_-]");
    }
    if (Utf8Length(value) > kMaxLabelValueLength) {
      return Invalid("labels", "value of " + Quote(key) + " is longer than 256 characters");
    }
  }
  if (!std::isfinite(request.max_cost_usd()) || request.max_cost_usd() < 0) {
    return Invalid("max_cost_usd", "must be a non-negative number (0 = no cap)");
  }
  if (Utf8Length(request.display_name()) > kMaxDisplayNameLength) {
    return Invalid("display_name", "at most 256 characters");
  }
  if (request.has_source() && request.source().limit() < 0) {
    return Invalid("source.limit", "must not be negative (0 = no limit)");
  }
  if (static_cast<std::size_t>(request.documents_size()) > max_documents_) {
    return absl::ResourceExhaustedError(
        "documents: " + std::to_string(request.documents_size()) +
        " documents exceed this server's limit of " + std::to_string(max_documents_) +
        " per request (--max_documents_per_request); split the submission");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
SubmissionValidator::SelectDocuments(const v1::SubmitDocumentsRequest& request) const {
  // (label for messages, path) in request order.
  std::vector<std::pair<std::string, std::string>> selected;
  if (!request.has_source()) {
    for (int i = 0; i < request.documents_size(); ++i) {
      selected.emplace_back(
          "documents[" + std::to_string(i) + "] " + Quote(request.documents(i).path()),
          request.documents(i).path());
    }
    return selected;
  }
  const v1::DirectorySource& source = request.source();
  std::string glob = source.glob().empty() ? std::string(kDefaultGlob) : source.glob();
  // One more than allowed, to tell "too many" from "exactly the limit".
  std::size_t cap = max_documents_ + 1;
  if (source.limit() > 0) cap = std::min(cap, static_cast<std::size_t>(source.limit()));
  auto files = input_root_.Glob(source.directory(), glob, cap);
  if (!files.ok()) {
    return Invalid("source.directory",
                   Quote(source.directory()) + ": " + std::string(files.status().message()));
  }
  if (files->empty()) {
    return Invalid("source.glob",
                   "no file under " + Quote(source.directory()) + " matches " + Quote(glob));
  }
  if (files->size() > max_documents_) {
    return absl::ResourceExhaustedError(
        "source: more than " + std::to_string(max_documents_) +
        " files match, this server's limit per request (--max_documents_per_request); set "
        "source.limit or narrow the glob");
  }
  for (auto& path : *files) selected.emplace_back(Quote(path), std::move(path));
  return selected;
}

absl::StatusOr<Submission> SubmissionValidator::Validate(
    const v1::SubmitDocumentsRequest& request) const {
  if (absl::Status s = CheckFields(request); !s.ok()) return s;
  auto selected = SelectDocuments(request);
  if (!selected.ok()) return selected.status();

  const v1::SubmitDocumentsRequest normalized = NormalizeSubmitRequest(request, prices_);
  Submission submission;
  submission.request_id = request.request_id();
  submission.request_hash = HashOf(normalized);
  submission.display_name = normalized.display_name();
  submission.model = normalized.model();
  submission.mode = normalized.mode();
  submission.prompt = normalized.prompt();
  submission.json_schema = normalized.json_schema();
  submission.max_completion_tokens = normalized.max_completion_tokens();
  submission.split_policy = request.split_policy() == v1::SPLIT_POLICY_UNSPECIFIED
                                ? v1::SPLIT_POLICY_AUTO
                                : request.split_policy();
  submission.max_cost_usd = normalized.max_cost_usd();
  submission.skip_existing = normalized.skip_existing();
  submission.labels.insert(normalized.labels().begin(), normalized.labels().end());

  const std::string field = request.has_source() ? "source" : "documents";
  ProblemList problems;
  std::unordered_map<std::string, std::string> id_owner;  // document_id -> label
  submission.documents.reserve(selected->size());
  // Checking a file costs a handful of system calls; spread large requests
  // over a few threads (results stay in request order).
  std::vector<absl::StatusOr<storage::InputFileInfo>> infos(selected->size(),
                                                            absl::UnknownError("not checked"));
  const std::size_t threads =
      selected->size() < 1000 ? 1
                              : std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 4);
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (std::size_t i = t; i < selected->size(); i += threads) {
        infos[i] = input_root_.Check((*selected)[i].second);
      }
    });
  }
  for (auto& w : workers) w.join();

  for (std::size_t i = 0; i < selected->size(); ++i) {
    const std::string& label = (*selected)[i].first;
    auto& info = infos[i];
    // Paths are stored as text and returned in responses: a file name that is
    // not UTF-8 (e.g. Latin-1 on disk) cannot be recorded faithfully.
    if (!IsValidUtf8((*selected)[i].second)) {
      problems.Add(EscapeNonAscii(label), "file name is not valid UTF-8; rename the file");
      continue;
    }
    if (!info.ok()) {
      problems.Add(label, std::string(info.status().message()));
      continue;
    }
    std::string id;
    if (!request.has_source() && !request.documents(static_cast<int>(i)).document_id().empty()) {
      id = request.documents(static_cast<int>(i)).document_id();
      if (absl::Status s = storage::ValidateDocumentId(id); !s.ok()) {
        problems.Add(label, std::string(s.message()) + " (" + Quote(id) + ")");
        continue;
      }
    } else {
      id = storage::DefaultDocumentId(info->relative_path);
    }
    auto [it, inserted] = id_owner.emplace(id, label);
    if (!inserted) {
      problems.Add(label, "document id " + Quote(id) + " is already used by " + it->second +
                              " (ids must be unique within a batch)");
      continue;
    }
    submission.documents.push_back(
        DocumentRecord{std::move(id), info->relative_path, info->size_bytes, false});
  }
  if (!problems.empty()) return problems.ToStatus(field, selected->size());

  if (submission.skip_existing) {
    for (auto& doc : submission.documents) {
      doc.skipped = storage::TranscriptExists(storage_root_, submission.model, doc.document_id);
    }
  }
  return submission;
}

}  // namespace batchscribe::coordinator
