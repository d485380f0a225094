#include "services/openai-emulator/pdf_text.h"

#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>

#include <climits>
#include <memory>

namespace batchscribe::emulator {
namespace {
void IgnorePopplerMessage(const std::string& /*message*/, void* /*closure*/) {}

std::string TrimRight(std::string text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\r' ||
                           text.back() == '\t' || text.back() == '\f')) {
    text.pop_back();
  }
  return text;
}
}  // namespace

PdfTextReader::PdfTextReader() { poppler::set_debug_error_function(IgnorePopplerMessage, nullptr); }

absl::StatusOr<std::vector<std::string>> PdfTextReader::Pages(std::string_view pdf_bytes) {
  if (pdf_bytes.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("the PDF is larger than 2 GiB");
  }
  if (pdf_bytes.substr(0, 1024).find("%PDF-") == std::string_view::npos) {
    return absl::InvalidArgumentError("the file is not a PDF (no %PDF- header)");
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(pdf_bytes.data(), static_cast<int>(pdf_bytes.size())));
  if (doc == nullptr) return absl::InvalidArgumentError("the PDF could not be parsed");
  if (doc->is_locked()) return absl::InvalidArgumentError("the PDF is encrypted");
  std::vector<std::string> pages;
  const int count = doc->pages();
  pages.reserve(count > 0 ? count : 0);
  for (int i = 0; i < count; ++i) {
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    if (page == nullptr) {
      pages.emplace_back();
      continue;
    }
    poppler::byte_array utf8 =
        page->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout).to_utf8();
    pages.push_back(TrimRight(std::string(utf8.begin(), utf8.end())));
  }
  return pages;
}

}  // namespace batchscribe::emulator
