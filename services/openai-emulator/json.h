#pragma once
// The emulator's one JSON type. Insertion-ordered so objects come out with their
// keys in the order OpenAI writes them (id first), which makes curl output and
// result files read like the real service's.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "libs/jsonl/fast_json.h"

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
/// simdjson does the parsing (request lines carry ~130 KB base64 strings that
/// nlohmann's lexer reads a character at a time); same values, same errors.
inline Json ParseJson(std::string_view text) { return jsonl::ParseJsonAs<Json>(text); }

}  // namespace batchscribe::emulator
