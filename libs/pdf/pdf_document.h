#pragma once
// PDF facts and page-range splitting, the one place that opens PDFs for
// planning, estimating and preparing (the dry run, the worker's plan and
// prepare steps all use it).
//
// Inspect: page count, per-page size and text layer (poppler-cpp). Split:
// writes pages [first, last] of a PDF as a valid standalone PDF (qpdf), pushed
// through a sink in small chunks so that memory stays bounded whatever the
// size of the document; the output is deterministic (same input, same range ->
// same bytes), so a size counted at planning is the size written at prepare.

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace batchscribe::pdf {

struct PageInfo {
  /// UTF-8 bytes of the page's text layer (0 for a scanned page).
  int64_t text_bytes = 0;
  /// Media box in PDF points (1/72 inch), rotation applied.
  double width_pt = 612;
  double height_pt = 792;
};

struct PdfInfo {
  int64_t size_bytes = 0;
  std::vector<PageInfo> pages;  // pages.size() = page count, >= 1
  int page_count() const { return static_cast<int>(pages.size()); }
};

/// Reads the PDF open on `fd` (not closed, position not relied upon).
/// INVALID_ARGUMENT with a reason a user understands for: not a PDF, encrypted
/// (password-protected), damaged beyond repair, no pages. Never crashes on
/// hostile input; poppler's and qpdf's messages never reach stderr.
absl::StatusOr<PdfInfo> InspectPdf(int fd);

/// Bytes pushed by a splitter; an error stops the write and is returned as is.
using Sink = std::function<absl::Status(std::string_view)>;

/// One open PDF (qpdf), reused for all parts of a document.
class PdfSplitter {
 public:
  /// Opens the PDF on `fd` (dup'ed: the caller keeps its fd). Same errors as InspectPdf.
  static absl::StatusOr<std::unique_ptr<PdfSplitter>> Open(int fd);
  virtual ~PdfSplitter() = default;

  virtual int page_count() const = 0;

  /// Writes pages first..last (1-based, inclusive) as one standalone PDF to
  /// `sink`, in chunks of at most 64 KiB. Memory bounded (never the whole part
  /// or document in a buffer). INVALID_ARGUMENT for a bad range; the sink's
  /// error as is.
  virtual absl::Status WritePages(int first, int last, const Sink& sink) = 0;

  /// Exact size of what WritePages(first, last) writes (a counting pass).
  virtual absl::StatusOr<uint64_t> PagesSize(int first, int last) = 0;
};

}  // namespace batchscribe::pdf
