#pragma once
// Plans a document's parts: contiguous page ranges, each sent as its own
// request line, each fitting the per-request input limits of OpenAI's
// file-input guide (pages and bytes of file content), the model's output cap
// (the part's expected transcript within max_completion_tokens) and its
// context window. Pure arithmetic over PdfInfo and the estimator, shared by
// the worker's plan step and the CLI's dry run.

#include <absl/status/statusor.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libs/pdf/estimator.h"
#include "libs/pdf/part_ids.h"
#include "libs/pdf/pdf_document.h"

namespace batchscribe::pdf {

// OpenAI, "File inputs" guide (developers.openai.com/api/docs/guides/file-inputs):
// "You can upload up to 100 pages and 32MB of total content in a single
// request to the API, across multiple file inputs." The newer PDF guide allows
// 50 MB per request; the defaults take the stricter figures (--max_part_pages,
// --max_part_bytes).
inline constexpr int kDefaultMaxPartPages = 100;
inline constexpr uint64_t kDefaultMaxPartBytes = 32ull * 1024 * 1024;

struct PartLimits {
  int max_pages = kDefaultMaxPartPages;
  /// Bytes of the PDF a part sends (the part's own file, before base64).
  uint64_t max_bytes = kDefaultMaxPartBytes;
  /// The request's max_completion_tokens.
  int64_t max_completion_tokens = 16000;
  /// Expected output may fill at most this share of max_completion_tokens
  /// (room for reasoning and estimation error).
  double output_fill = 0.8;
  /// The model's context window (input + output), 0 = unknown (not checked).
  int64_t context_tokens = 0;
  /// Prompt and schema tokens every request carries.
  int64_t fixed_input_tokens = 0;
};

struct PlannedPart {
  int first_page = 1;  // 1-based, inclusive
  int last_page = 1;
  int64_t input_tokens = 0;   // estimated, including fixed_input_tokens
  int64_t output_tokens = 0;  // estimated
  int pages() const { return last_page - first_page + 1; }
};

/// One or more parts covering pages 1..N in order, no gaps. Greedy: a page
/// joins the current part unless a limit would be passed. Byte sizes are
/// estimated as the page's share of the file (the caller checks the exact
/// size of each part's PDF and splits further with SplitRange). A single page
/// over a limit still gets a part of its own (the caller's request or its
/// result says why it fails).
std::vector<PlannedPart> PlanParts(std::string_view model, const PdfInfo& info,
                                   const PartLimits& limits, const EstimatorOptions& options = {});

/// Estimates for pages first..last (tokens as in PlanParts).
PlannedPart EstimateRange(std::string_view model, const PdfInfo& info, int first, int last,
                          const PartLimits& limits, const EstimatorOptions& options = {});

/// Splits [first, last] into two halves (first half gets the extra page);
/// first < last required.
std::pair<PlannedPart, PlannedPart> SplitRange(std::string_view model, const PdfInfo& info,
                                               int first, int last, const PartLimits& limits,
                                               const EstimatorOptions& options = {});

}  // namespace batchscribe::pdf
