#include "services/coordinator/page_token.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "services/coordinator/defaults.h"

namespace batchscribe::coordinator {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64UrlEncode(const std::string& in) {
  std::string out;
  std::size_t i = 0;
  while (i + 2 < in.size()) {
    uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
    i += 3;
  }
  std::size_t rest = in.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(in[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    if (rest == 2) out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

bool Base64UrlDecode(const std::string& in, std::string& out) {
  out.clear();
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    const char* pos = std::strchr(kAlphabet, c);
    if (c == '\0' || pos == nullptr) return false;
    buffer = (buffer << 6) | static_cast<uint32_t>(pos - kAlphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return bits < 6;
}

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
  return Base64UrlEncode(j.dump());
}

absl::StatusOr<PageToken> DecodePageToken(const std::string& text, const PageToken& expected) {
  std::string raw;
  if (text.size() > 4096 || !Base64UrlDecode(text, raw)) return BadToken();
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
