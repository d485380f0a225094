#pragma once
// Checks the JSON Schema of SubmitDocuments before it is stored: the worker
// sends it as a strict json_schema response_format, and a schema OpenAI rejects
// would fail every document of the batch at OpenAI, after the upload was paid
// in time. So the checks below reject what strict mode is known to reject.

#include <absl/status/status.h>

#include <string_view>

namespace batchscribe::coordinator {

/// OK when `schema_text` is a JSON object schema usable in strict mode:
/// - it parses as JSON and is an object with "type": "object" at the root;
/// - every object schema inside (root, properties, items, anyOf, $defs, ...) has
///   "additionalProperties": false and lists every property in "required";
/// - "type" values are among string, number, integer, boolean, object, array, null.
/// INVALID_ARGUMENT with a JSON-pointer-like location otherwise (without the
/// field name: callers prefix it).
absl::Status ValidateResponseSchema(std::string_view schema_text);

}  // namespace batchscribe::coordinator
