#pragma once
// Plans one document the first time it is seen: inspect the PDF, plan its
// parts (part_planner.h), apply the batch's split policy, and measure each
// part's own PDF exactly (halving parts over the per-request byte limit). The
// worker's plan step and the CLI's dry run both call PlanDocument, so that the
// dry run shows the parts, pages, tokens and failures the worker will find:
// one estimator, one planner.

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libs/pdf/part_planner.h"
#include "libs/pdf/pdf_document.h"

namespace batchscribe::pdf {

/// What a batch allows when a document does not fit one request (the API's
/// SplitPolicy; stored as "AUTO", "ALLOW", "NEVER").
enum class SplitPolicy {
  kAuto,   // split when the schema has a per-page array to stitch
  kAllow,  // split whatever the schema
  kNever,  // never split: such a document fails
};

/// "ALLOW" and "NEVER" as named; anything else is AUTO.
SplitPolicy ParseSplitPolicy(std::string_view name);

/// A part with its exact PDF size.
struct MeasuredPart {
  int first_page = 1;
  int last_page = 1;
  /// Bytes of the part's own PDF (the file itself for a one-part document);
  /// 0 = not measured yet.
  uint64_t pdf_bytes = 0;
  int64_t input_tokens = 0;   // estimated
  int64_t output_tokens = 0;  // estimated
  int pages() const { return last_page - first_page + 1; }
};

/// The limits of a batch's parts: the per-request pages and bytes (flags of
/// the worker, defaults in the dry run), its max_completion_tokens, the
/// model's context window (0 = unknown) and the tokens of the prompt and
/// schema every request carries.
PartLimits MakePartLimits(int max_pages, uint64_t max_bytes, int64_t max_completion_tokens,
                          int64_t context_tokens, std::string_view prompt,
                          std::string_view json_schema);

struct DocumentPlanOptions {
  std::string model;
  PartLimits limits;
  SplitPolicy split_policy = SplitPolicy::kAuto;
  /// The batch's schema has a per-page array (stitching by pages works).
  bool per_page_schema = true;
  EstimatorOptions estimator;
};

struct DocumentPlan {
  int page_count = 0;
  std::vector<MeasuredPart> parts;  // in page order, covering 1..page_count
  bool split() const { return parts.size() > 1; }
};

/// Plans the PDF open on `fd` (`size_bytes` long). INVALID_ARGUMENT whose
/// message is the document's error, for the user, when the document cannot be
/// sent: not a PDF, encrypted or damaged ("cannot be sent: ..."); one page
/// over the byte limit; or it needs parts that the split policy forbids.
absl::StatusOr<DocumentPlan> PlanDocument(int fd, uint64_t size_bytes,
                                          const DocumentPlanOptions& options);

/// Measures every part whose pdf_bytes is 0 with `splitter` and halves parts
/// over limits.max_bytes (tokens re-estimated from `info` when given, else
/// shared by pages). INVALID_ARGUMENT when a single page is over the limit.
absl::Status MeasureParts(PdfSplitter& splitter, const PdfInfo* info, std::string_view model,
                          const PartLimits& limits, std::vector<MeasuredPart>& parts,
                          const EstimatorOptions& estimator = {});

/// The name of the schema's per-page array property (a top-level array whose
/// items have an integer "page" property, like the shipped schema's "pages"),
/// or nullopt: documents in parts are stitched by it.
std::optional<std::string> PageArrayProperty(std::string_view json_schema);

/// "page 7" or "pages 7-12".
std::string PagesText(int first, int last);

}  // namespace batchscribe::pdf
