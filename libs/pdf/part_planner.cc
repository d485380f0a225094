#include "libs/pdf/part_planner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace batchscribe::pdf {
namespace {

uint64_t PageBytes(const PdfInfo& info) {
  const int pages = std::max(1, info.page_count());
  return static_cast<uint64_t>(std::max<int64_t>(info.size_bytes, 0)) / pages + 1;
}

}  // namespace

PlannedPart EstimateRange(std::string_view model, const PdfInfo& info, int first, int last,
                          const PartLimits& limits, const EstimatorOptions& options) {
  PlannedPart part;
  part.first_page = first;
  part.last_page = last;
  part.input_tokens = limits.fixed_input_tokens;
  for (int p = first; p <= last; ++p) {
    const PageInfo& page = info.pages[static_cast<size_t>(p - 1)];
    part.input_tokens += PageInputTokens(model, page, options);
    part.output_tokens += PageOutputTokens(page, options);
  }
  return part;
}

std::vector<PlannedPart> PlanParts(std::string_view model, const PdfInfo& info,
                                   const PartLimits& limits, const EstimatorOptions& options) {
  std::vector<PlannedPart> parts;
  const int n = info.page_count();
  if (n <= 0) return parts;
  const double output_budget =
      static_cast<double>(limits.max_completion_tokens) * std::clamp(limits.output_fill, 0.1, 1.0);
  const int64_t input_budget =
      limits.context_tokens > 0 ? limits.context_tokens - limits.max_completion_tokens : 0;
  const uint64_t page_bytes = PageBytes(info);
  const int max_pages = std::max(1, limits.max_pages);

  PlannedPart current;
  current.first_page = 1;
  current.last_page = 0;
  current.input_tokens = limits.fixed_input_tokens;
  for (int p = 1; p <= n; ++p) {
    const PageInfo& page = info.pages[static_cast<size_t>(p - 1)];
    const int64_t in = PageInputTokens(model, page, options);
    const int64_t out = PageOutputTokens(page, options);
    const int pages = current.last_page - current.first_page + 1;
    const bool fits =
        pages == 0 || (pages + 1 <= max_pages &&
                       static_cast<uint64_t>(pages + 1) * page_bytes <= limits.max_bytes &&
                       static_cast<double>(current.output_tokens + out) <= output_budget &&
                       (input_budget <= 0 || current.input_tokens + in <= input_budget));
    if (!fits) {
      parts.push_back(current);
      current = PlannedPart{};
      current.first_page = p;
      current.last_page = p - 1;
      current.input_tokens = limits.fixed_input_tokens;
    }
    current.last_page = p;
    current.input_tokens += in;
    current.output_tokens += out;
  }
  parts.push_back(current);
  return parts;
}

std::pair<PlannedPart, PlannedPart> SplitRange(std::string_view model, const PdfInfo& info,
                                               int first, int last, const PartLimits& limits,
                                               const EstimatorOptions& options) {
  const int mid = first + (last - first) / 2;  // first half: first..mid
  return {EstimateRange(model, info, first, mid, limits, options),
          EstimateRange(model, info, mid + 1, last, limits, options)};
}

}  // namespace batchscribe::pdf
