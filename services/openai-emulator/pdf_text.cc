#include "services/openai-emulator/pdf_text.h"

#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>

#include <climits>
#include <cmath>
#include <functional>
#include <memory>
#include <utility>

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

PdfTextReader::PdfTextReader(size_t cache_bytes) : cache_limit_(cache_bytes) {
  poppler::set_debug_error_function(IgnorePopplerMessage, nullptr);
}

absl::StatusOr<std::vector<PdfPage>> PdfTextReader::Pages(std::string_view pdf_bytes) {
  if (pdf_bytes.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("the PDF is larger than 2 GiB");
  }
  if (pdf_bytes.substr(0, 1024).find("%PDF-") == std::string_view::npos) {
    return absl::InvalidArgumentError("the file is not a PDF (no %PDF- header)");
  }
  // 64 bits of the content hash plus the size: collisions are not a concern
  // for an emulator's answers.
  const uint64_t key = std::hash<std::string_view>{}(pdf_bytes) ^
                       (static_cast<uint64_t>(pdf_bytes.size()) * 0x9e3779b97f4a7c15ULL);
  std::lock_guard<std::mutex> lock(mu_);
  if (auto hit = index_.find(key); hit != index_.end()) {
    lru_.splice(lru_.begin(), lru_, hit->second);
    return hit->second->pages;
  }
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(pdf_bytes.data(), static_cast<int>(pdf_bytes.size())));
  if (doc == nullptr) return absl::InvalidArgumentError("the PDF could not be parsed");
  if (doc->is_locked()) return absl::InvalidArgumentError("the PDF is encrypted");
  std::vector<PdfPage> pages;
  const int count = doc->pages();
  pages.reserve(count > 0 ? count : 0);
  for (int i = 0; i < count; ++i) {
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    if (page == nullptr) {
      pages.emplace_back();
      continue;
    }
    PdfPage out;
    poppler::byte_array utf8 =
        page->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout).to_utf8();
    out.text = TrimRight(std::string(utf8.begin(), utf8.end()));
    // What a renderer draws: the crop box (the media box unless set), turned
    // by /Rotate.
    const poppler::rectf box = page->page_rect(poppler::crop_box);
    out.width_pt = std::abs(box.width());
    out.height_pt = std::abs(box.height());
    const poppler::page::orientation_enum turn = page->orientation();
    if (turn == poppler::page::landscape || turn == poppler::page::seascape) {
      std::swap(out.width_pt, out.height_pt);
    }
    pages.push_back(std::move(out));
  }
  size_t bytes = 64;
  for (const auto& page : pages) bytes += page.text.size() + 48;
  if (bytes <= cache_limit_) {
    lru_.push_front(CachedPages{key, pages, bytes});
    index_[key] = lru_.begin();
    cached_bytes_ += bytes;
    while (cached_bytes_ > cache_limit_) {
      cached_bytes_ -= lru_.back().bytes;
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
  }
  return pages;
}

}  // namespace batchscribe::emulator
