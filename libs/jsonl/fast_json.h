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
/// valid JSON (including invalid UTF-8). `Json` is nlohmann::json or
/// nlohmann::ordered_json (the emulator's, which keeps key order).
template <typename Json>
Json ParseJsonAs(std::string_view text);
extern template nlohmann::json ParseJsonAs<nlohmann::json>(std::string_view);
extern template nlohmann::ordered_json ParseJsonAs<nlohmann::ordered_json>(std::string_view);

inline nlohmann::json ParseJson(std::string_view text) { return ParseJsonAs<nlohmann::json>(text); }

}  // namespace batchscribe::jsonl
