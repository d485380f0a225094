#pragma once
// AIP-158 page tokens: opaque to clients, base64url of a small JSON object that
// holds the keyset position (so pages stay stable while rows are added) and the
// list the token belongs to (collection, parent, filter), so a token replayed
// against another list is INVALID_ARGUMENT instead of a silently wrong page.

#include <absl/status/statusor.h>

#include <cstdint>
#include <string>

namespace batchscribe::coordinator {

struct PageToken {
  /// "batches" or "documents".
  std::string collection;
  /// Parent resource ("" for batches).
  std::string parent;
  /// Canonical filter text ("" when none).
  std::string filter;
  /// Keyset position: last row of the previous page.
  int64_t after_time_micros = 0;  // batches: create_time
  std::string after_id;           // batches: id; documents: document_id
};

std::string EncodePageToken(const PageToken& token);

/// Decodes `text` and checks that it belongs to the list of `expected`
/// (collection, parent, filter). INVALID_ARGUMENT otherwise.
absl::StatusOr<PageToken> DecodePageToken(const std::string& text, const PageToken& expected);

/// page_size rules of the proto: negative -> INVALID_ARGUMENT, 0 -> default,
/// above kMaxPageSize -> kMaxPageSize.
absl::StatusOr<int> EffectivePageSize(int32_t requested, int32_t default_size);

}  // namespace batchscribe::coordinator
