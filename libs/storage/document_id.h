#pragma once
// Document ids (docs/CONTRACTS.md, Identifiers): the OpenAI custom_id and the
// transcript file name, so they must be safe as a single path component.

#include <absl/status/status.h>

#include <string>
#include <string_view>

namespace batchscribe::storage {

/// Longest document id accepted.
inline constexpr std::size_t kMaxDocumentIdLength = 64;

/// OK when `id` is 1-64 characters of [A-Za-z0-9._-] and does not start with
/// '.'; INVALID_ARGUMENT saying what is wrong otherwise (without the field name:
/// callers prefix it).
absl::Status ValidateDocumentId(std::string_view id);

/// The default id of the document at `path` (relative or absolute): the file
/// name without its last extension, every character outside [A-Za-z0-9._-]
/// replaced by '_', and a leading '.' replaced by '_'. Names longer than 64
/// characters keep their first 55 characters followed by '-' and 8 hex digits of
/// a hash of the whole stem, so that long names stay distinct and deterministic.
/// The result always passes ValidateDocumentId.
std::string DefaultDocumentId(std::string_view path);

}  // namespace batchscribe::storage
