#pragma once
// JSON text -> nlohmann::json, parsed by simdjson (several times faster than
// nlohmann's own lexer on the long escaped strings of result lines, which
// made that lexer ~45% of retrieve). Text simdjson rejects (numbers beyond 64
// bits, nesting deeper than 1024) goes through nlohmann::json::parse, so the
// accepted language and the resulting values are nlohmann's.

#include <nlohmann/json.hpp>
#include <string_view>

namespace batchscribe::jsonl {

/// The parsed value, or a discarded value (is_discarded()) when `text` is not
/// valid JSON (including invalid UTF-8).
nlohmann::json ParseJson(std::string_view text);

}  // namespace batchscribe::jsonl
