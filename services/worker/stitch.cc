#include "services/worker/stitch.h"

#include <algorithm>

namespace batchscribe::worker {

using nlohmann::json;

absl::Status CheckPartAnswer(const json& answer, const std::string& array, int first, int last) {
  const int expected = last - first + 1;
  if (!answer.is_object() || !answer.contains(array) || !answer[array].is_array()) {
    return absl::FailedPreconditionError("the answer for pages " + std::to_string(first) + "-" +
                                         std::to_string(last) + " has no \"" + array +
                                         "\" array");
  }
  const int got = static_cast<int>(answer[array].size());
  if (got != expected) {
    return absl::FailedPreconditionError(
        "the answer for pages " + std::to_string(first) + "-" + std::to_string(last) + " has " +
        std::to_string(got) + " page entries for " + std::to_string(expected) + " pages");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> StitchTranscript(std::vector<PartAnswer> parts,
                                             const std::string& array, int page_count) {
  if (parts.empty()) return absl::InvalidArgumentError("no parts to stitch");
  std::sort(parts.begin(), parts.end(),
            [](const PartAnswer& a, const PartAnswer& b) { return a.first_page < b.first_page; });
  int next = 1;
  for (const PartAnswer& p : parts) {
    if (p.first_page != next || p.last_page < p.first_page) {
      return absl::InvalidArgumentError(
          "parts do not cover the document's pages in order: expected a part starting at page " +
          std::to_string(next) + ", found pages " + std::to_string(p.first_page) + "-" +
          std::to_string(p.last_page));
    }
    next = p.last_page + 1;
  }
  if (next - 1 != page_count) {
    return absl::InvalidArgumentError("parts cover pages 1-" + std::to_string(next - 1) +
                                      " of a document of " + std::to_string(page_count) +
                                      " pages");
  }
  if (array.empty()) {
    json out = {{"parts", json::array()}};
    for (PartAnswer& p : parts) {
      out["parts"].push_back({{"first_page", p.first_page},
                              {"last_page", p.last_page},
                              {"answer", std::move(p.answer)}});
    }
    return out.dump();
  }
  json out = parts.front().answer;
  if (!out.is_object()) return absl::InvalidArgumentError("the first part's answer is not an object");
  json pages = json::array();
  for (PartAnswer& p : parts) {
    if (absl::Status s = CheckPartAnswer(p.answer, array, p.first_page, p.last_page); !s.ok()) {
      return absl::InvalidArgumentError(s.message());
    }
    int number = p.first_page;
    for (json& entry : p.answer[array]) {
      if (entry.is_object()) entry["page"] = number;
      ++number;
      pages.push_back(std::move(entry));
    }
  }
  out[array] = std::move(pages);
  return out.dump();
}

}  // namespace batchscribe::worker
