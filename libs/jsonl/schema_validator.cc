#include "libs/jsonl/schema_validator.h"

#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "libs/jsonl/fast_json.h"

namespace batchscribe::jsonl {

absl::StatusOr<SchemaValidator> SchemaValidator::Create(std::string_view schema_json) {
  auto document = nlohmann::json::parse(schema_json.begin(), schema_json.end(), nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    return absl::InvalidArgumentError("the JSON schema is not a JSON object");
  }
  auto schema = std::make_shared<valijson::Schema>();
  try {
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(document);
    parser.populateSchema(adapter, *schema);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(std::string("unusable JSON schema: ") + e.what());
  }
  return SchemaValidator(std::move(schema));
}

absl::Status SchemaValidator::Validate(std::string_view document_json) const {
  const nlohmann::json document = ParseJson(document_json);
  if (document.is_discarded()) {
    return absl::InvalidArgumentError("the answer is not valid JSON");
  }
  valijson::Validator validator;  // holds a regex cache: one per call keeps this thread-safe
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(document);
  bool ok = false;
  try {
    ok = validator.validate(*schema_, adapter, &results);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(std::string("schema validation failed: ") + e.what());
  }
  if (ok) return absl::OkStatus();
  std::string message = "the answer does not match the schema:";
  valijson::ValidationResults::Error error;
  int shown = 0;
  while (results.popError(error) && shown < 3) {
    std::string where;
    for (const auto& part : error.context) where += part;
    message += " " + where + ": " + error.description + ";";
    ++shown;
  }
  if (!message.empty() && message.back() == ';') message.pop_back();
  return absl::InvalidArgumentError(message);
}

}  // namespace batchscribe::jsonl
