#include "libs/pdf/document_planner.h"

#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

namespace batchscribe::pdf {

std::optional<std::string> PageArrayProperty(std::string_view json_schema) {
  nlohmann::json schema = nlohmann::json::parse(json_schema, nullptr, /*allow_exceptions=*/false);
  if (!schema.is_object()) return std::nullopt;
  auto props = schema.find("properties");
  if (props == schema.end() || !props->is_object()) return std::nullopt;
  for (const auto& [name, prop] : props->items()) {
    if (!prop.is_object() || prop.value("type", nlohmann::json()) != "array") continue;
    auto items = prop.find("items");
    if (items == prop.end() || !items->is_object()) continue;
    auto item_props = items->find("properties");
    if (item_props == items->end() || !item_props->is_object()) continue;
    auto page = item_props->find("page");
    if (page != item_props->end() && page->is_object() &&
        page->value("type", nlohmann::json()) == "integer") {
      return name;
    }
  }
  return std::nullopt;
}

SplitPolicy ParseSplitPolicy(std::string_view name) {
  if (name == "ALLOW") return SplitPolicy::kAllow;
  if (name == "NEVER") return SplitPolicy::kNever;
  return SplitPolicy::kAuto;
}

PartLimits MakePartLimits(int max_pages, uint64_t max_bytes, int64_t max_completion_tokens,
                          int64_t context_tokens, std::string_view prompt,
                          std::string_view json_schema) {
  PartLimits limits;
  limits.max_pages = max_pages;
  limits.max_bytes = max_bytes;
  limits.max_completion_tokens = max_completion_tokens;
  limits.context_tokens = context_tokens;
  limits.fixed_input_tokens = TextTokens(static_cast<int64_t>(prompt.size() + json_schema.size()));
  return limits;
}

std::string PagesText(int first, int last) {
  return first == last ? "page " + std::to_string(first)
                       : "pages " + std::to_string(first) + "-" + std::to_string(last);
}

absl::Status MeasureParts(PdfSplitter& splitter, const PdfInfo* info, std::string_view model,
                          const PartLimits& limits, std::vector<MeasuredPart>& parts,
                          const EstimatorOptions& estimator) {
  std::deque<MeasuredPart> todo(parts.begin(), parts.end());
  std::vector<MeasuredPart> out;
  while (!todo.empty()) {
    MeasuredPart part = todo.front();
    todo.pop_front();
    if (part.pdf_bytes == 0) {
      auto size = splitter.PagesSize(part.first_page, part.last_page);
      if (!size.ok()) return size.status();
      part.pdf_bytes = *size;
    }
    if (part.pdf_bytes <= limits.max_bytes) {
      out.push_back(part);
      continue;
    }
    if (part.first_page == part.last_page) {
      return absl::InvalidArgumentError(
          PagesText(part.first_page, part.last_page) + " alone is " +
          std::to_string(part.pdf_bytes) + " bytes as a PDF, over the per-request limit of " +
          std::to_string(limits.max_bytes) + " bytes (--max_part_bytes)");
    }
    const int mid = part.first_page + (part.last_page - part.first_page) / 2;
    MeasuredPart a = part, b = part;
    a.last_page = mid;
    b.first_page = mid + 1;
    a.pdf_bytes = b.pdf_bytes = 0;
    if (info != nullptr) {
      auto halves = SplitRange(model, *info, part.first_page, part.last_page, limits, estimator);
      a.input_tokens = halves.first.input_tokens;
      a.output_tokens = halves.first.output_tokens;
      b.input_tokens = halves.second.input_tokens;
      b.output_tokens = halves.second.output_tokens;
    } else {
      a.input_tokens = part.input_tokens * a.pages() / part.pages();
      b.input_tokens = part.input_tokens - a.input_tokens;
      a.output_tokens = part.output_tokens * a.pages() / part.pages();
      b.output_tokens = part.output_tokens - a.output_tokens;
    }
    todo.push_front(b);
    todo.push_front(a);
  }
  parts = std::move(out);
  return absl::OkStatus();
}

absl::StatusOr<DocumentPlan> PlanDocument(int fd, uint64_t size_bytes,
                                          const DocumentPlanOptions& options) {
  const PartLimits& limits = options.limits;
  auto info = InspectPdf(fd);
  if (!info.ok()) {
    return absl::InvalidArgumentError("cannot be sent: " + std::string(info.status().message()));
  }
  DocumentPlan plan;
  plan.page_count = info->page_count();
  for (const PlannedPart& p : PlanParts(options.model, *info, limits, options.estimator)) {
    plan.parts.push_back({p.first_page, p.last_page, 0, p.input_tokens, p.output_tokens});
  }
  if (plan.parts.size() == 1) {
    // One part: the file itself, unchanged.
    plan.parts[0].pdf_bytes = size_bytes;
    if (size_bytes <= limits.max_bytes) return plan;
    if (plan.page_count == 1) {
      return absl::InvalidArgumentError("the PDF is " + std::to_string(size_bytes) +
                                        " bytes and has one page: over the per-request limit of " +
                                        std::to_string(limits.max_bytes) +
                                        " bytes (--max_part_bytes)");
    }
    // Fits by pages and tokens but not by bytes: measured below, in parts.
    plan.parts[0].pdf_bytes = 0;
  }

  const std::string why = "needs " +
                          (plan.parts.size() > 1 ? std::to_string(plan.parts.size()) + " parts"
                                                 : std::string("parts")) +
                          " (" + std::to_string(plan.page_count) + " pages; at most " +
                          std::to_string(limits.max_pages) + " pages, " +
                          std::to_string(limits.max_bytes) + " bytes and an answer of " +
                          std::to_string(limits.max_completion_tokens) + " tokens per request)";
  if (options.split_policy == SplitPolicy::kNever) {
    return absl::InvalidArgumentError(why + ", and the batch's split_policy is NEVER");
  }
  if (options.split_policy == SplitPolicy::kAuto && !options.per_page_schema) {
    return absl::InvalidArgumentError(
        why +
        ", but the batch's schema has no per-page array to stitch: submit with split_policy "
        "ALLOW to get the parts' answers");
  }
  auto splitter = PdfSplitter::Open(fd);
  if (!splitter.ok()) {
    return absl::InvalidArgumentError("cannot be split: " +
                                      std::string(splitter.status().message()));
  }
  if (absl::Status m =
          MeasureParts(**splitter, &*info, options.model, limits, plan.parts, options.estimator);
      !m.ok()) {
    return absl::InvalidArgumentError("cannot be sent: " + std::string(m.message()));
  }
  return plan;
}

}  // namespace batchscribe::pdf
