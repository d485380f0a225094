#pragma once
// The emulator's one JSON type. Insertion-ordered so objects come out with their
// keys in the order OpenAI writes them (id first), which makes curl output and
// result files read like the real service's.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace batchscribe::emulator {

using Json = nlohmann::ordered_json;

}  // namespace batchscribe::emulator

namespace batchscribe::emulator {

/// Compact serialisation that never throws: invalid UTF-8 (possible in text
/// that came from a PDF or a client) is replaced by U+FFFD.
inline std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

/// Parses without throwing; a discarded value (is_discarded()) on error.
inline Json ParseJson(std::string_view text) {
  return Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

}  // namespace batchscribe::emulator
