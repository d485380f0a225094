#pragma once
// The text layer of a PDF, page by page, read with poppler-cpp. The emulator
// answers transcription requests with it, so offline runs produce real text.

#include <absl/status/statusor.h>

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace batchscribe::emulator {

/// Reads PDF text layers. Thread-safe: loads are serialised because poppler's
/// global state is not meant for concurrent document loads.
class PdfTextReader {
 public:
  /// Silences poppler's diagnostics (malformed PDFs are expected input).
  PdfTextReader();

  /// One string per page in reading order, trailing whitespace trimmed.
  /// INVALID_ARGUMENT when the bytes are not a readable, unlocked PDF.
  absl::StatusOr<std::vector<std::string>> Pages(std::string_view pdf_bytes);

 private:
  std::mutex mu_;
};

}  // namespace batchscribe::emulator
