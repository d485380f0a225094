#pragma once
// Standard base64 (RFC 4648), as used in data URLs.

#include <optional>
#include <string>
#include <string_view>

namespace batchscribe::emulator {

/// Decodes standard base64; ASCII whitespace is skipped, padding is optional.
/// Returns nullopt on any other character or a dangling final sextet.
std::optional<std::string> DecodeBase64(std::string_view text);

/// Encodes with padding.
std::string EncodeBase64(std::string_view bytes);

}  // namespace batchscribe::emulator
