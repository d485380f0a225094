#include "services/coordinator/resource_names.h"

#include <random>

namespace batchscribe::coordinator {

std::string NewBatchId() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device random;  // /dev/urandom: unpredictable, no shared state
  std::string id;
  id.reserve(20);
  while (id.size() < 20) {
    unsigned int bits = random();
    for (int i = 0; i < 8 && id.size() < 20; ++i, bits >>= 4) id.push_back(kHex[bits & 0xf]);
  }
  return id;
}

bool IsValidBatchId(std::string_view id) {
  if (id.empty() || id.size() > 63) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

absl::StatusOr<std::string> ParseBatchName(std::string_view name, std::string_view field) {
  constexpr std::string_view kPrefix = "batches/";
  if (name.empty()) {
    return absl::InvalidArgumentError(std::string(field) + " is required (batches/{batch_id})");
  }
  if (name.substr(0, kPrefix.size()) != kPrefix || !IsValidBatchId(name.substr(kPrefix.size()))) {
    return absl::InvalidArgumentError(std::string(field) +
                                      " must look like batches/{batch_id} with a batch_id of "
                                      "1-63 characters of [a-z0-9-]");
  }
  return std::string(name.substr(kPrefix.size()));
}

std::string BatchName(std::string_view batch_id) { return "batches/" + std::string(batch_id); }

std::string DocumentName(std::string_view batch_id, std::string_view document_id) {
  return BatchName(batch_id) + "/documents/" + std::string(document_id);
}

}  // namespace batchscribe::coordinator
