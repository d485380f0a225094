#pragma once
// The text layer and size of a PDF's pages, read with poppler-cpp. The emulator
// answers transcription requests with the text, so offline runs produce real
// text, and meters each page's image by its size.

#include <absl/status/statusor.h>

#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace batchscribe::emulator {

/// One page as the emulated model sees it.
struct PdfPage {
  /// The text layer in reading order, trailing whitespace trimmed.
  std::string text;
  /// The displayed size in points (crop box, /Rotate applied); 0 when unknown.
  double width_pt = 0;
  double height_pt = 0;
};

/// Reads PDF text layers. Thread-safe: loads are serialised because poppler's
/// global state is not meant for concurrent document loads. Results are kept
/// in a small LRU cache keyed by the PDF's bytes: a batch line is read once
/// when the batch is validated (to count its tokens) and again when it runs.
class PdfTextReader {
 public:
  /// Silences poppler's diagnostics (malformed PDFs are expected input).
  /// `cache_bytes` bounds the text kept in the cache.
  explicit PdfTextReader(size_t cache_bytes = 64 * 1024 * 1024);

  /// Every page in document order. INVALID_ARGUMENT when the bytes are not a
  /// readable, unlocked PDF.
  absl::StatusOr<std::vector<PdfPage>> Pages(std::string_view pdf_bytes);

 private:
  struct CachedPages {
    uint64_t key;
    std::vector<PdfPage> pages;
    size_t bytes;
  };

  std::mutex mu_;
  const size_t cache_limit_;
  size_t cached_bytes_ = 0;
  std::list<CachedPages> lru_;  // most recent first
  std::unordered_map<uint64_t, std::list<CachedPages>::iterator> index_;
};

}  // namespace batchscribe::emulator
