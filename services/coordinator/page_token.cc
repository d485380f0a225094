#include "services/coordinator/page_token.h"

#include <absl/strings/escaping.h>

#include <nlohmann/json.hpp>

#include "services/coordinator/defaults.h"

namespace batchscribe::coordinator {
namespace {

absl::Status BadToken() {
  return absl::InvalidArgumentError(
      "page_token: not a token from a previous response of this list");
}

}  // namespace

std::string EncodePageToken(const PageToken& token) {
  nlohmann::json j = {{"v", 1},
                      {"c", token.collection},
                      {"p", token.parent},
                      {"f", token.filter},
                      {"t", token.after_time_micros},
                      {"i", token.after_id}};
  return absl::WebSafeBase64Escape(j.dump());  // base64url, unpadded
}

absl::StatusOr<PageToken> DecodePageToken(const std::string& text, const PageToken& expected) {
  std::string raw;
  if (text.size() > 4096 || !absl::WebSafeBase64Unescape(text, &raw)) return BadToken();
  nlohmann::json j = nlohmann::json::parse(raw, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return BadToken();
  // Typed checks only: json::value() throws when a key has another type.
  auto version = j.find("v");
  if (version == j.end() || !version->is_number_integer() || version->get<int64_t>() != 1) {
    return BadToken();
  }
  auto str = [&](const char* key) -> const nlohmann::json* {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? &*it : nullptr;
  };
  const auto* collection = str("c");
  const auto* parent = str("p");
  const auto* filter = str("f");
  const auto* id = str("i");
  auto time = j.find("t");
  if (!collection || !parent || !filter || !id || time == j.end() || !time->is_number_integer()) {
    return BadToken();
  }
  PageToken token{collection->get<std::string>(), parent->get<std::string>(),
                  filter->get<std::string>(), time->get<int64_t>(), id->get<std::string>()};
  if (token.collection != expected.collection) return BadToken();
  if (token.parent != expected.parent) {
    return absl::InvalidArgumentError("page_token: was issued for another parent");
  }
  if (token.filter != expected.filter) {
    return absl::InvalidArgumentError("page_token: was issued for another filter (states)");
  }
  return token;
}

absl::StatusOr<int> EffectivePageSize(int32_t requested, int32_t default_size) {
  if (requested < 0) return absl::InvalidArgumentError("page_size: must not be negative");
  if (requested == 0) return default_size;
  return std::min(requested, kMaxPageSize);
}

}  // namespace batchscribe::coordinator
