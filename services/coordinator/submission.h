#pragma once
// Validation of SubmitDocuments: everything is checked before anything is
// written, and the error names the field and up to 20 offending documents.

#include <absl/status/statusor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "batchscribe/v1/batch_service.pb.h"
#include "libs/pricing/price_table.h"
#include "libs/storage/input_root.h"

namespace batchscribe::coordinator {

namespace v1 = ::batchscribe::v1;

/// One document ready to be recorded.
struct DocumentRecord {
  std::string document_id;
  std::string path;  // normalised, relative to the input root
  int64_t size_bytes = 0;
  bool skipped = false;  // its transcript already exists (skip_existing)
};

/// A validated request with every default filled in.
struct Submission {
  std::string request_id;  // "" when none
  std::string request_hash;
  std::string display_name;
  std::string model;
  v1::Mode mode = v1::MODE_BATCH;
  std::string prompt;
  std::string json_schema;
  int32_t max_completion_tokens = 0;
  v1::SplitPolicy split_policy = v1::SPLIT_POLICY_AUTO;  // never UNSPECIFIED
  double max_cost_usd = 0;
  bool skip_existing = true;
  std::map<std::string, std::string> labels;
  std::vector<DocumentRecord> documents;

  bool AllSkipped() const;
};

/// `request` with request_id cleared and every default made explicit (the
/// default max_completion_tokens from `prices`), so that two requests that mean
/// the same thing compare equal. split_policy is the exception: AUTO is
/// cleared rather than set, so that the hash of a request that does not use it
/// is the hash it had before the field existed.
v1::SubmitDocumentsRequest NormalizeSubmitRequest(const v1::SubmitDocumentsRequest& request,
                                                  const pricing::PriceTable& prices);

/// SHA-256 (hex) of the deterministic serialisation of the normalised request:
/// what a request_id replay is compared by.
std::string SubmitRequestHash(const v1::SubmitDocumentsRequest& request,
                              const pricing::PriceTable& prices);

/// The hash that a request leaving max_completion_tokens at 0 had while the
/// default was a fixed 16000, so that replaying a batch recorded then still
/// finds it; nullopt when the request sets max_completion_tokens (its hash did
/// not change).
std::optional<std::string> LegacySubmitRequestHash(const v1::SubmitDocumentsRequest& request);

class SubmissionValidator {
 public:
  /// `prices` must outlive the validator.
  SubmissionValidator(storage::InputRoot input_root, std::filesystem::path storage_root,
                      const pricing::PriceTable& prices, std::size_t max_documents_per_request);

  /// The checks that need no file system: INVALID_ARGUMENT naming the field, or
  /// RESOURCE_EXHAUSTED when explicit documents exceed the per-request limit.
  absl::Status CheckFields(const v1::SubmitDocumentsRequest& request) const;

  /// CheckFields, then the documents: selection (directory + glob + limit),
  /// paths confined to the input root, regular PDF files, ids valid and unique,
  /// the per-request limit; then skip_existing.
  absl::StatusOr<Submission> Validate(const v1::SubmitDocumentsRequest& request) const;

 private:
  /// The documents named by the request, without checking the files.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> SelectDocuments(
      const v1::SubmitDocumentsRequest& request) const;

  storage::InputRoot input_root_;
  std::filesystem::path storage_root_;
  const pricing::PriceTable& prices_;
  std::size_t max_documents_;
};

}  // namespace batchscribe::coordinator
