#include "libs/storage/document_id.h"

#include <cstdint>
#include <cstdio>

namespace batchscribe::storage {
namespace {

bool IsIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// FNV-1a: stable across builds and platforms, which std::hash is not.
uint32_t Fnv1a(std::string_view text) {
  uint32_t h = 2166136261u;
  for (unsigned char c : text) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

}  // namespace

absl::Status ValidateDocumentId(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("document id is empty");
  if (id.size() > kMaxDocumentIdLength) {
    return absl::InvalidArgumentError("document id is longer than " +
                                      std::to_string(kMaxDocumentIdLength) + " characters");
  }
  if (id.front() == '.') return absl::InvalidArgumentError("document id starts with '.'");
  for (char c : id) {
    if (!IsIdChar(c)) {
      return absl::InvalidArgumentError("document id has a character outside [A-Za-z0-9._-]");
    }
  }
  return absl::OkStatus();
}

std::string DefaultDocumentId(std::string_view path) {
  std::string_view name = path;
  if (auto slash = name.rfind('/'); slash != std::string_view::npos) name.remove_prefix(slash + 1);
  // The stem: drop the last extension unless the only dot is the first character.
  if (auto dot = name.rfind('.'); dot != std::string_view::npos && dot > 0) {
    name = name.substr(0, dot);
  }
  std::string id;
  id.reserve(name.size());
  for (char c : name) id.push_back(IsIdChar(c) ? c : '_');
  if (id.empty()) id = "_";
  if (id.front() == '.') id.front() = '_';
  if (id.size() > kMaxDocumentIdLength) {
    char suffix[16];
    std::snprintf(suffix, sizeof(suffix), "-%08x", Fnv1a(id));
    id = id.substr(0, kMaxDocumentIdLength - 9) + suffix;
  }
  return id;
}

}  // namespace batchscribe::storage
