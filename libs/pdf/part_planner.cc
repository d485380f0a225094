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

std::string Range(int first, int last) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "p%04d-%04d", first, last);
  return buf;
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

std::string PartCustomId(std::string_view document_id, int part_count, int first_page,
                         int last_page) {
  if (part_count <= 1) return std::string(document_id);
  return std::string(document_id) + "~" + Range(first_page, last_page);
}

ParsedCustomId ParsePartCustomId(std::string_view custom_id) {
  ParsedCustomId out;
  const size_t tilde = custom_id.rfind('~');
  if (tilde == std::string_view::npos) {
    out.document_id = std::string(custom_id);
    return out;
  }
  int first = 0;
  int last = 0;
  char tail = 0;
  const std::string range(custom_id.substr(tilde + 1));
  if (std::sscanf(range.c_str(), "p%d-%d%c", &first, &last, &tail) != 2 || first < 1 ||
      last < first) {
    out.document_id = std::string(custom_id);
    return out;
  }
  out.document_id = std::string(custom_id.substr(0, tilde));
  out.first_page = first;
  out.last_page = last;
  return out;
}

std::string PartFilename(std::string_view filename, int part_count, int first_page, int last_page) {
  if (part_count <= 1) return std::string(filename);
  std::string stem(filename);
  std::string ext;
  if (const size_t dot = stem.rfind('.'); dot != std::string::npos && dot > 0) {
    ext = stem.substr(dot);
    stem.resize(dot);
  }
  if (ext.empty()) ext = ".pdf";
  return stem + "." + Range(first_page, last_page) + ext;
}

std::string RequestFilename(std::string_view path) {
  auto slash = path.rfind('/');
  std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  return name.empty() ? std::string("document.pdf") : std::string(name);
}

}  // namespace batchscribe::pdf
