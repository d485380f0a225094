#pragma once
// Validates a model's answer against the batch's JSON Schema (valijson).
// A strict json_schema response_format should already guarantee it; this is
// the check that nothing malformed is written as a transcript.

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <memory>
#include <string_view>

namespace valijson {
class Schema;
}

namespace batchscribe::jsonl {

class SchemaValidator {
 public:
  /// INVALID_ARGUMENT when `schema_json` is not JSON or not a usable schema.
  static absl::StatusOr<SchemaValidator> Create(std::string_view schema_json);

  /// OK when `document_json` parses and satisfies the schema; INVALID_ARGUMENT
  /// naming the first few violations otherwise. Thread-safe.
  absl::Status Validate(std::string_view document_json) const;

 private:
  explicit SchemaValidator(std::shared_ptr<const valijson::Schema> schema)
      : schema_(std::move(schema)) {}
  std::shared_ptr<const valijson::Schema> schema_;
};

}  // namespace batchscribe::jsonl
