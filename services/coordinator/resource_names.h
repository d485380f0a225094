#pragma once
// Resource names (AIP-122): `batches/{batch_id}` and
// `batches/{batch_id}/documents/{document_id}`, and new batch ids.

#include <absl/status/statusor.h>

#include <string>
#include <string_view>

namespace batchscribe::coordinator {

/// A new batch id: 20 lowercase hex characters from a random source.
std::string NewBatchId();

/// OK when `id` is 1-63 characters of [a-z0-9-] (docs/CONTRACTS.md).
bool IsValidBatchId(std::string_view id);

/// The batch id of `batches/{batch_id}`; INVALID_ARGUMENT naming `field` when
/// the name is malformed.
absl::StatusOr<std::string> ParseBatchName(std::string_view name, std::string_view field);

std::string BatchName(std::string_view batch_id);
std::string DocumentName(std::string_view batch_id, std::string_view document_id);

}  // namespace batchscribe::coordinator
