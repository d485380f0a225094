// libs/pdf: inspecting PDFs, splitting them into page ranges, estimating tokens.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-page.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <qpdf/QPDF.hh>
#include <qpdf/QPDFPageDocumentHelper.hh>
#include <qpdf/QPDFPageObjectHelper.hh>
#include <qpdf/QPDFWriter.hh>
#include <sstream>
#include <string>
#include <vector>

#include "libs/pdf/document_planner.h"
#include "libs/pdf/estimator.h"
#include "libs/pdf/pdf_document.h"
#include "tests/support/pdf_writer.h"
#include "tests/support/test_env.h"

namespace batchscribe::pdf {
namespace {

namespace fs = std::filesystem;
using batchscribe::testing::PageWords;
using batchscribe::testing::TempDir;
using batchscribe::testing::WriteTextPdf;

class Fd {
 public:
  explicit Fd(const fs::path& path) : fd_(open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteFile(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

absl::StatusOr<PdfInfo> InspectPath(const fs::path& path) {
  Fd fd(path);
  if (fd.get() < 0) return absl::NotFoundError(path.string());
  return InspectPdf(fd.get());
}

// Words of every page's text layer, read with poppler directly.
std::vector<std::vector<std::string>> PageWordLists(const std::string& pdf) {
  std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(pdf.data(), static_cast<int>(pdf.size())));
  std::vector<std::vector<std::string>> pages;
  if (doc == nullptr) return pages;
  for (int i = 0; i < doc->pages(); ++i) {
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    poppler::byte_array utf8 =
        page->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout).to_utf8();
    std::istringstream in(std::string(utf8.begin(), utf8.end()));
    std::vector<std::string> words;
    for (std::string word; in >> word;) words.push_back(word);
    pages.push_back(std::move(words));
  }
  return pages;
}

std::vector<std::string> Split(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

// Page n has 10 + n % 13 words, so neighbouring pages differ in text size.
int WordsOnPage(int page) { return 10 + page % 13; }

std::vector<std::string> NumberedPages(int count, int words = 0) {
  std::vector<std::string> pages;
  for (int page = 1; page <= count; ++page) {
    pages.push_back(PageWords(page, words > 0 ? words : WordsOnPage(page)));
  }
  return pages;
}

absl::StatusOr<std::string> Part(PdfSplitter& splitter, int first, int last) {
  std::string out;
  absl::Status status = splitter.WritePages(first, last, [&out](std::string_view chunk) {
    out.append(chunk);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::unique_ptr<PdfSplitter>> OpenPath(const fs::path& path) {
  Fd fd(path);
  return PdfSplitter::Open(fd.get());
}

// Rewrites `in` with qpdf: encrypted (R6, AES-256) and/or with page 1 rotated.
void RewriteWithQpdf(const fs::path& in, const fs::path& out, const char* user_password,
                     bool encrypt, int rotate_first_page) {
  QPDF pdf;
  pdf.processFile(in.c_str());
  if (rotate_first_page != 0) {
    QPDFPageDocumentHelper(pdf).getAllPages().at(0).rotatePage(rotate_first_page, false);
  }
  QPDFWriter writer(pdf, out.c_str());
  if (encrypt) {
    writer.setR6EncryptionParameters(user_password, "owner", true, true, true, true, true, true,
                                     qpdf_r3p_full, true);
  }
  writer.write();
}

std::string StatusText(const absl::Status& status) { return std::string(status.message()); }

TEST(PdfWriter, PageWordsAreDeterministicAndUniqueToTheirPage) {
  EXPECT_EQ(PageWords(17, 3), "p17w0000 p17w0001 p17w0002");
  EXPECT_EQ(PageWords(17, 3), PageWords(17, 3));
  EXPECT_NE(PageWords(1, 3), PageWords(11, 3));
}

TEST(PdfWriter, WritesThreeThousandPagesQuickly) {
  TempDir dir;
  const std::vector<std::string> pages = NumberedPages(3000, 50);
  const auto start = std::chrono::steady_clock::now();
  WriteTextPdf(dir.path() / "big.pdf", pages);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "WriteTextPdf(3000 pages): " << seconds << " s, "
            << fs::file_size(dir.path() / "big.pdf") << " bytes\n";
  EXPECT_LT(seconds, 2.0);  // ~0.02 s unloaded; generous for a busy machine
}

TEST(InspectPdf, ReadsOnePage) {
  TempDir dir;
  WriteTextPdf(dir.path() / "one.pdf", {"Hello (world) \\ back"});
  absl::StatusOr<PdfInfo> info = InspectPath(dir.path() / "one.pdf");
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_EQ(info->page_count(), 1);
  EXPECT_EQ(info->pages[0].text_bytes, std::string("Hello (world) \\ back").size());
  EXPECT_DOUBLE_EQ(info->pages[0].width_pt, 612);
  EXPECT_DOUBLE_EQ(info->pages[0].height_pt, 792);
  EXPECT_EQ(info->size_bytes, static_cast<int64_t>(fs::file_size(dir.path() / "one.pdf")));
}

TEST(InspectPdf, ReadsEveryPagesTextSize) {
  for (int count : {150, 3000}) {
    TempDir dir;
    const std::vector<std::string> pages = NumberedPages(count);
    WriteTextPdf(dir.path() / "doc.pdf", pages);
    absl::StatusOr<PdfInfo> info = InspectPath(dir.path() / "doc.pdf");
    ASSERT_TRUE(info.ok()) << info.status();
    ASSERT_EQ(info->page_count(), count);
    for (int i = 0; i < count; ++i) {
      ASSERT_EQ(info->pages[i].text_bytes, static_cast<int64_t>(pages[i].size()))
          << "page " << i + 1 << " of " << count;
    }
  }
}

TEST(InspectPdf, PageTextAppearsOnItsOwnPage) {
  TempDir dir;
  const std::vector<std::string> pages = NumberedPages(20);
  WriteTextPdf(dir.path() / "doc.pdf", pages);
  const auto words = PageWordLists(ReadFile(dir.path() / "doc.pdf"));
  ASSERT_EQ(words.size(), 20u);
  EXPECT_EQ(words[16], Split(PageWords(17, WordsOnPage(17))));
}

TEST(InspectPdf, RotationSwapsWidthAndHeight) {
  TempDir dir;
  WriteTextPdf(dir.path() / "doc.pdf", NumberedPages(2));
  RewriteWithQpdf(dir.path() / "doc.pdf", dir.path() / "rotated.pdf", "", false, 90);
  absl::StatusOr<PdfInfo> info = InspectPath(dir.path() / "rotated.pdf");
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_EQ(info->page_count(), 2);
  EXPECT_DOUBLE_EQ(info->pages[0].width_pt, 792);
  EXPECT_DOUBLE_EQ(info->pages[0].height_pt, 612);
  EXPECT_DOUBLE_EQ(info->pages[1].width_pt, 612);
}

TEST(InspectPdf, ReadsARealPdf) {
  const fs::path real = "/usr/share/doc/libtasn1-doc/libtasn1.pdf";
  if (!fs::exists(real)) GTEST_SKIP() << real << " is not installed";
  absl::StatusOr<PdfInfo> info = InspectPath(real);
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_GT(info->page_count(), 3);
  int64_t text = 0;
  for (const PageInfo& page : info->pages) text += page.text_bytes;
  EXPECT_GT(text, 1000);

  absl::StatusOr<std::unique_ptr<PdfSplitter>> splitter = OpenPath(real);
  ASSERT_TRUE(splitter.ok()) << splitter.status();
  EXPECT_EQ((*splitter)->page_count(), info->page_count());
  absl::StatusOr<std::string> part = Part(**splitter, 2, 3);
  ASSERT_TRUE(part.ok()) << part.status();
  TempDir dir;
  WriteFile(dir.path() / "part.pdf", *part);
  absl::StatusOr<PdfInfo> part_info = InspectPath(dir.path() / "part.pdf");
  ASSERT_TRUE(part_info.ok()) << part_info.status();
  ASSERT_EQ(part_info->page_count(), 2);
  EXPECT_EQ(part_info->pages[0].text_bytes, info->pages[1].text_bytes);
  EXPECT_EQ(part_info->pages[1].text_bytes, info->pages[2].text_bytes);
  EXPECT_LT(part->size(), static_cast<size_t>(info->size_bytes));
}

TEST(InspectPdf, RefusesEncryptedPdfs) {
  TempDir dir;
  WriteTextPdf(dir.path() / "plain.pdf", NumberedPages(3));
  // With a user password (cannot be opened) and with an owner password only.
  for (const char* user : {"user", ""}) {
    const fs::path locked = dir.path() / "locked.pdf";
    RewriteWithQpdf(dir.path() / "plain.pdf", locked, user, true, 0);
    absl::StatusOr<PdfInfo> info = InspectPath(locked);
    ASSERT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument) << user;
    EXPECT_EQ(StatusText(info.status()), "the PDF is encrypted (password-protected)");
    absl::StatusOr<std::unique_ptr<PdfSplitter>> splitter = OpenPath(locked);
    ASSERT_EQ(splitter.status().code(), absl::StatusCode::kInvalidArgument) << user;
    EXPECT_NE(StatusText(splitter.status()).find("encrypted"), std::string::npos);
  }
}

TEST(InspectPdf, RefusesBytesThatAreNotAPdf) {
  TempDir dir;
  std::string garbage;
  for (int i = 0; i < 5000; ++i) garbage += static_cast<char>((i * 7919) % 251);
  WriteFile(dir.path() / "garbage.pdf", garbage);
  WriteFile(dir.path() / "empty.pdf", "");
  for (const char* name : {"garbage.pdf", "empty.pdf"}) {
    absl::StatusOr<PdfInfo> info = InspectPath(dir.path() / name);
    ASSERT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(StatusText(info.status()), "not a PDF");
    absl::StatusOr<std::unique_ptr<PdfSplitter>> splitter = OpenPath(dir.path() / name);
    ASSERT_EQ(splitter.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(StatusText(splitter.status()), "not a PDF");
  }
}

TEST(InspectPdf, RefusesDamagedPdfs) {
  TempDir dir;
  std::string garbage = "%PDF-1.7\n";
  for (int i = 0; i < 5000; ++i) garbage += static_cast<char>((i * 7919) % 251);
  WriteFile(dir.path() / "garbage.pdf", garbage);
  WriteTextPdf(dir.path() / "doc.pdf", NumberedPages(150));
  WriteFile(dir.path() / "head.pdf", ReadFile(dir.path() / "doc.pdf").substr(0, 120));
  for (const char* name : {"garbage.pdf", "head.pdf"}) {
    absl::StatusOr<PdfInfo> info = InspectPath(dir.path() / name);
    ASSERT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_TRUE(StatusText(info.status()) == "the PDF is damaged and cannot be read" ||
                StatusText(info.status()) == "the PDF has no pages")
        << name << ": " << info.status();
    absl::StatusOr<std::unique_ptr<PdfSplitter>> splitter = OpenPath(dir.path() / name);
    ASSERT_EQ(splitter.status().code(), absl::StatusCode::kInvalidArgument) << name;
  }
}

TEST(InspectPdf, TruncatedPdfIsRecoveredOrRefusedCleanly) {
  TempDir dir;
  WriteTextPdf(dir.path() / "doc.pdf", NumberedPages(150));
  const std::string bytes = ReadFile(dir.path() / "doc.pdf");
  WriteFile(dir.path() / "half.pdf", bytes.substr(0, bytes.size() / 2));
  absl::StatusOr<PdfInfo> info = InspectPath(dir.path() / "half.pdf");
  if (info.ok()) {
    EXPECT_GE(info->page_count(), 1);
    EXPECT_LE(info->page_count(), 150);
  } else {
    EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument) << info.status();
  }
  absl::StatusOr<std::unique_ptr<PdfSplitter>> splitter = OpenPath(dir.path() / "half.pdf");
  if (splitter.ok()) {
    absl::StatusOr<std::string> part = Part(**splitter, 1, (*splitter)->page_count());
    EXPECT_TRUE(part.ok() || part.status().code() == absl::StatusCode::kInvalidArgument)
        << part.status();
  } else {
    EXPECT_EQ(splitter.status().code(), absl::StatusCode::kInvalidArgument) << splitter.status();
  }
  std::cout << "half of a 150-page PDF: inspect "
            << (info.ok() ? std::to_string(info->page_count()) + " pages"
                          : info.status().ToString())
            << "; splitter "
            << (splitter.ok() ? std::to_string((*splitter)->page_count()) + " pages"
                              : splitter.status().ToString())
            << "\n";
}

TEST(InspectPdf, RefusesAPdfWithoutPages) {
  TempDir dir;
  WriteTextPdf(dir.path() / "none.pdf", {});
  absl::StatusOr<PdfInfo> info = InspectPath(dir.path() / "none.pdf");
  ASSERT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusText(info.status()), "the PDF has no pages");
  absl::StatusOr<std::unique_ptr<PdfSplitter>> splitter = OpenPath(dir.path() / "none.pdf");
  ASSERT_EQ(splitter.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusText(splitter.status()), "the PDF has no pages");
}

class Split150 : public ::testing::Test {
 protected:
  void SetUp() override {
    pages_ = NumberedPages(150);
    WriteTextPdf(dir_.path() / "doc.pdf", pages_);
    absl::StatusOr<std::unique_ptr<PdfSplitter>> splitter = OpenPath(dir_.path() / "doc.pdf");
    ASSERT_TRUE(splitter.ok()) << splitter.status();
    splitter_ = std::move(*splitter);
  }

  TempDir dir_;
  std::vector<std::string> pages_;
  std::unique_ptr<PdfSplitter> splitter_;
};

TEST_F(Split150, PartHoldsExactlyItsPagesInOrder) {
  ASSERT_EQ(splitter_->page_count(), 150);
  absl::StatusOr<std::string> part = Part(*splitter_, 40, 79);
  ASSERT_TRUE(part.ok()) << part.status();
  WriteFile(dir_.path() / "part.pdf", *part);
  absl::StatusOr<PdfInfo> info = InspectPath(dir_.path() / "part.pdf");
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_EQ(info->page_count(), 40);
  const auto words = PageWordLists(*part);
  ASSERT_EQ(words.size(), 40u);
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(words[i], Split(pages_[39 + i])) << "part page " << i + 1;
    EXPECT_EQ(info->pages[i].text_bytes, static_cast<int64_t>(pages_[39 + i].size()));
    EXPECT_DOUBLE_EQ(info->pages[i].width_pt, 612);
  }
  // The other 110 pages' content is not carried along.
  EXPECT_EQ(part->find("p80w0000"), std::string::npos);
  EXPECT_LT(part->size(), fs::file_size(dir_.path() / "doc.pdf") / 2);
}

TEST_F(Split150, FirstAndLastPagesAndWholeDocument) {
  for (auto [first, last] : {std::pair{1, 1}, std::pair{150, 150}, std::pair{1, 150}}) {
    absl::StatusOr<std::string> part = Part(*splitter_, first, last);
    ASSERT_TRUE(part.ok()) << part.status();
    const auto words = PageWordLists(*part);
    ASSERT_EQ(words.size(), static_cast<size_t>(last - first + 1));
    EXPECT_EQ(words.front(), Split(pages_[first - 1]));
    EXPECT_EQ(words.back(), Split(pages_[last - 1]));
  }
}

TEST_F(Split150, PagesSizeIsTheSizeWrittenAndOutputIsDeterministic) {
  absl::StatusOr<std::string> once = Part(*splitter_, 40, 79);
  absl::StatusOr<std::string> twice = Part(*splitter_, 40, 79);
  ASSERT_TRUE(once.ok() && twice.ok());
  EXPECT_EQ(*once, *twice);
  absl::StatusOr<uint64_t> size = splitter_->PagesSize(40, 79);
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, once->size());
  // A second splitter on the same file (another process at prepare) agrees.
  absl::StatusOr<std::unique_ptr<PdfSplitter>> other = OpenPath(dir_.path() / "doc.pdf");
  ASSERT_TRUE(other.ok());
  absl::StatusOr<std::string> again = Part(**other, 40, 79);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *once);
}

TEST_F(Split150, ChunksAreAtMost64KiB) {
  std::vector<size_t> chunks;
  ASSERT_TRUE(splitter_
                  ->WritePages(1, 150,
                               [&chunks](std::string_view chunk) {
                                 chunks.push_back(chunk.size());
                                 return absl::OkStatus();
                               })
                  .ok());
  ASSERT_FALSE(chunks.empty());
  for (size_t chunk : chunks) {
    EXPECT_GT(chunk, 0u);
    EXPECT_LE(chunk, 64u * 1024);
  }
}

TEST_F(Split150, SinkErrorIsReturnedUnchangedAndStopsTheWrite) {
  int calls = 0;
  const absl::Status full = absl::ResourceExhaustedError("disk full at byte 0");
  absl::Status status = splitter_->WritePages(1, 150, [&](std::string_view) {
    ++calls;
    return full;
  });
  EXPECT_EQ(status, full);
  EXPECT_EQ(calls, 1);
  // The splitter is still usable afterwards.
  absl::StatusOr<std::string> part = Part(*splitter_, 3, 4);
  ASSERT_TRUE(part.ok()) << part.status();
  EXPECT_EQ(PageWordLists(*part).size(), 2u);
}

TEST_F(Split150, RefusesBadRanges) {
  for (auto [first, last] : {std::pair{0, 1}, std::pair{2, 1}, std::pair{1, 151},
                             std::pair{151, 151}, std::pair{-3, 5}}) {
    bool called = false;
    absl::Status status = splitter_->WritePages(first, last, [&](std::string_view) {
      called = true;
      return absl::OkStatus();
    });
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << first << ".." << last;
    EXPECT_FALSE(called);
    EXPECT_EQ(splitter_->PagesSize(first, last).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(PdfSplitter, LeavesTheCallersFileOffsetAlone) {
  TempDir dir;
  WriteTextPdf(dir.path() / "doc.pdf", NumberedPages(10));
  Fd fd(dir.path() / "doc.pdf");
  ASSERT_EQ(lseek(fd.get(), 7, SEEK_SET), 7);
  absl::StatusOr<std::unique_ptr<PdfSplitter>> splitter = PdfSplitter::Open(fd.get());
  ASSERT_TRUE(splitter.ok()) << splitter.status();
  ASSERT_TRUE(Part(**splitter, 2, 5).ok());
  ASSERT_TRUE(InspectPdf(fd.get()).ok());
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_CUR), 7);
}

// Peak resident memory (VmHWM) in KiB after resetting the high-water mark to the
// current RSS; -1 when /proc does not allow it.
long ResetPeakRss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return clear ? 0 : -1;
}

long PeakRssKib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

long RssKib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

TEST(PdfSplitter, SplitsThreeThousandPagesInBoundedMemory) {
  TempDir dir;
  // ~300 words per page: a document of ~11 MB, mostly content streams.
  WriteTextPdf(dir.path() / "big.pdf", NumberedPages(3000, 300));
  const double pdf_mb = static_cast<double>(fs::file_size(dir.path() / "big.pdf")) / 1e6;
  // Freed heap that stays resident would hide the growth: hand it back first.
  malloc_trim(0);
  if (ResetPeakRss() != 0) GTEST_SKIP() << "cannot reset VmHWM through /proc/self/clear_refs";
  const long base_kib = RssKib();

  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<PdfSplitter>> splitter = OpenPath(dir.path() / "big.pdf");
  ASSERT_TRUE(splitter.ok()) << splitter.status();
  const double open_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const long open_peak_kib = PeakRssKib();
  uint64_t written = 0;
  int pages_seen = 0;
  auto split = [&](int part_pages) {
    for (int first = 1; first <= 3000; first += part_pages) {
      const int last = std::min(3000, first + part_pages - 1);
      absl::Status status = (*splitter)->WritePages(first, last, [&](std::string_view chunk) {
        written += chunk.size();
        return absl::OkStatus();
      });
      ASSERT_TRUE(status.ok()) << status;
      pages_seen += last - first + 1;
    }
  };
  split(100);  // 30 parts
  const long peak_kib = PeakRssKib();
  const double growth_mb = static_cast<double>(peak_kib - base_kib) / 1024;
  const double split_growth_mb = static_cast<double>(peak_kib - open_peak_kib) / 1024;
  ASSERT_EQ(pages_seen, 3000);

  start = std::chrono::steady_clock::now();
  written = 0;
  split(40);  // 75 parts
  const double split_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "3000-page PDF of " << pdf_mb << " MB: open " << open_s
            << " s; 40-page parts: " << split_s << " s, " << pdf_mb / split_s << " MB/s of input, "
            << static_cast<double>(written) / 1e6 << " MB written; peak RSS growth: " << growth_mb
            << " MB (" << split_growth_mb << " MB of it writing 30 parts)\n";
  // Opening costs qpdf's object cache (~4 KiB per page, whatever the streams
  // hold); writing reads stream data one stream at a time, so the parts add
  // little on top, and nothing near the document's size.
  EXPECT_LT(growth_mb, 2 * pdf_mb);
  EXPECT_LT(split_growth_mb, pdf_mb / 4);
}

TEST(Estimator, TextTokens) {
  EXPECT_EQ(TextTokens(0), 0);
  EXPECT_EQ(TextTokens(1), 1);
  EXPECT_EQ(TextTokens(4), 1);
  EXPECT_EQ(TextTokens(5), 2);
  EXPECT_EQ(TextTokens(4000), 1000);
  EXPECT_EQ(TextTokens(5, {.bytes_per_token = 2.0}), 3);
}

TEST(Estimator, ImageRulesMatchOpenAisWorkedExamples) {
  // images-vision#calculating-costs examples.
  EXPECT_EQ(ImageTokens("gpt-4o", 1024, 1024), 765);
  EXPECT_EQ(ImageTokens("gpt-4o", 2048, 4096), 1105);
  EXPECT_EQ(ImageTokens("gpt-4.1-2025-04-14", 1024, 1024), 765);
  EXPECT_EQ(ImageTokens("gpt-4o-mini", 1024, 1024), 2833 + 4 * 5667);
  EXPECT_EQ(ImageTokens("gpt-4o-mini-2024-07-18", 1024, 1024), 2833 + 4 * 5667);
  // 1024x1024: 32x32 = 1024 patches; 1800x2400: shrunk to 33x44 = 1452 patches.
  EXPECT_EQ(ImageTokens("gpt-4.1-mini", 1024, 1024), 1659);  // ceil(1024 x 1.62)
  EXPECT_EQ(ImageTokens("gpt-4.1-mini", 1800, 2400), 2353);  // ceil(1452 x 1.62)
  EXPECT_EQ(ImageTokens("gpt-4.1-nano", 1800, 2400), 3572);  // ceil(1452 x 2.46)
  EXPECT_EQ(ImageTokens("o4-mini", 1024, 1024), 1762);       // ceil(1024 x 1.72)
  EXPECT_EQ(ImageTokens("an-unknown-model", 1024, 1024), 765);
}

TEST(Estimator, LetterPageImageTokens) {
  const PageInfo letter;  // 612 x 792 pt, rendered as 1583 x 2048 px
  // Tile rule: 768 x 994 after scaling, 2 x 2 tiles.
  EXPECT_EQ(PageImageTokens("gpt-4o", letter), 85 + 4 * 170);
  // Patch rule: 50 x 64 patches shrunk to 34 x 44 = 1496, x 1.62.
  EXPECT_EQ(PageImageTokens("gpt-4.1-mini", letter), 2424);
  const PageInfo landscape{.width_pt = 792, .height_pt = 612};
  EXPECT_EQ(PageImageTokens("gpt-4o", landscape), 765);
  EXPECT_LE(PageImageTokens("gpt-4.1-mini", landscape), 2489);  // ceil(1536 x 1.62), the cap
  EXPECT_EQ(PageInputTokens("gpt-4o", PageInfo{.text_bytes = 4000}), 1000 + 765);
}

TEST(Estimator, OutputTokens) {
  EXPECT_EQ(PageOutputTokens(PageInfo{.text_bytes = 400}), 150 + 12);
  EXPECT_EQ(PageOutputTokens(PageInfo{.text_bytes = 0}), 800 + 12);
  EXPECT_EQ(PageOutputTokens(PageInfo{.text_bytes = 401}), 152 + 12);  // ceil(101 x 1.5)
  EXPECT_EQ(PageOutputTokens(PageInfo{.text_bytes = 0}, {.output_tokens_per_blank_page = 100,
                                                         .output_tokens_per_page_overhead = 0}),
            100);
}

// --- PlanDocument: the one planner of the worker and the dry run.

DocumentPlanOptions PlanOptions(SplitPolicy policy = SplitPolicy::kAuto, bool per_page = true) {
  DocumentPlanOptions options;
  options.model = "gpt-4.1-mini";
  options.limits = MakePartLimits(100, 32ull << 20, 32768, 1047576, "prompt", "{}");
  options.split_policy = policy;
  options.per_page_schema = per_page;
  return options;
}

absl::StatusOr<DocumentPlan> PlanPath(const fs::path& path, const DocumentPlanOptions& options) {
  Fd fd(path);
  return PlanDocument(fd.get(), fs::file_size(path), options);
}

TEST(PlanDocument, AShortDocumentIsOnePartSentAsItIs) {
  TempDir dir;
  WriteTextPdf(dir.path() / "short.pdf", NumberedPages(3, 20));
  auto plan = PlanPath(dir.path() / "short.pdf", PlanOptions());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->page_count, 3);
  ASSERT_EQ(plan->parts.size(), 1u);
  EXPECT_FALSE(plan->split());
  EXPECT_EQ(plan->parts[0].first_page, 1);
  EXPECT_EQ(plan->parts[0].last_page, 3);
  EXPECT_EQ(plan->parts[0].pdf_bytes, fs::file_size(dir.path() / "short.pdf"));
  EXPECT_GT(plan->parts[0].input_tokens, 3 * 2424) << "three page images at least";
}

TEST(PlanDocument, ALongDocumentIsMeasuredPartByPart) {
  TempDir dir;
  WriteTextPdf(dir.path() / "long.pdf", NumberedPages(250, 20));
  auto plan = PlanPath(dir.path() / "long.pdf", PlanOptions());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->page_count, 250);
  ASSERT_EQ(plan->parts.size(), 3u);
  auto splitter = OpenPath(dir.path() / "long.pdf");
  ASSERT_TRUE(splitter.ok());
  int next = 1;
  for (const MeasuredPart& part : plan->parts) {
    EXPECT_EQ(part.first_page, next);
    EXPECT_LE(part.pages(), 100);
    // The exact size of the part's own PDF, as prepare will write it.
    EXPECT_EQ(part.pdf_bytes, *(*splitter)->PagesSize(part.first_page, part.last_page));
    next = part.last_page + 1;
  }
  EXPECT_EQ(next, 251);
}

TEST(PlanDocument, PartsOverTheByteLimitAreHalvedAndOnePageOverItFails) {
  TempDir dir;
  WriteTextPdf(dir.path() / "doc.pdf", NumberedPages(40, 20));
  DocumentPlanOptions options = PlanOptions();
  auto splitter = OpenPath(dir.path() / "doc.pdf");
  ASSERT_TRUE(splitter.ok());
  // Room for about ten pages per request.
  options.limits.max_bytes = *(*splitter)->PagesSize(1, 10);
  auto plan = PlanPath(dir.path() / "doc.pdf", options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_GE(plan->parts.size(), 4u);
  for (const MeasuredPart& part : plan->parts) EXPECT_LE(part.pdf_bytes, options.limits.max_bytes);

  options.limits.max_bytes = 100;  // no page fits
  auto refused = PlanPath(dir.path() / "doc.pdf", options);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(StatusText(refused.status()).find("alone is"), std::string::npos) << refused.status();
  WriteTextPdf(dir.path() / "one.pdf", NumberedPages(1, 20));
  auto one = PlanPath(dir.path() / "one.pdf", options);
  ASSERT_EQ(one.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(StatusText(one.status()).find("has one page"), std::string::npos) << one.status();
}

TEST(PlanDocument, TheSplitPolicyDecidesWhatADocumentInPartsMayDo) {
  TempDir dir;
  WriteTextPdf(dir.path() / "long.pdf", NumberedPages(150, 20));
  WriteTextPdf(dir.path() / "short.pdf", NumberedPages(2, 20));
  const fs::path long_pdf = dir.path() / "long.pdf";
  auto never = PlanPath(long_pdf, PlanOptions(SplitPolicy::kNever));
  EXPECT_NE(StatusText(never.status()).find("split_policy is NEVER"), std::string::npos)
      << never.status();
  auto no_pages = PlanPath(long_pdf, PlanOptions(SplitPolicy::kAuto, /*per_page=*/false));
  EXPECT_NE(StatusText(no_pages.status()).find("split_policy ALLOW"), std::string::npos)
      << no_pages.status();
  auto allowed = PlanPath(long_pdf, PlanOptions(SplitPolicy::kAllow, /*per_page=*/false));
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_EQ(allowed->parts.size(), 2u);
  // A document that fits one request is never refused, whatever the policy.
  EXPECT_TRUE(PlanPath(dir.path() / "short.pdf", PlanOptions(SplitPolicy::kNever)).ok());
  EXPECT_EQ(ParseSplitPolicy("ALLOW"), SplitPolicy::kAllow);
  EXPECT_EQ(ParseSplitPolicy("NEVER"), SplitPolicy::kNever);
  EXPECT_EQ(ParseSplitPolicy(""), SplitPolicy::kAuto);
}

TEST(PlanDocument, EncryptedAndDamagedFilesFailWithTheirReason) {
  TempDir dir;
  WriteTextPdf(dir.path() / "plain.pdf", NumberedPages(3));
  RewriteWithQpdf(dir.path() / "plain.pdf", dir.path() / "locked.pdf", "user", true, 0);
  auto locked = PlanPath(dir.path() / "locked.pdf", PlanOptions());
  ASSERT_EQ(locked.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusText(locked.status()),
            "cannot be sent: the PDF is encrypted (password-protected)");
  WriteFile(dir.path() / "text.pdf", "just some text, not a PDF at all\n");
  auto text = PlanPath(dir.path() / "text.pdf", PlanOptions());
  EXPECT_EQ(StatusText(text.status()), "cannot be sent: not a PDF");
}

TEST(PageArrayProperty, FindsTheArrayOfPagesOrNothing) {
  EXPECT_EQ(
      PageArrayProperty(R"({"type":"object","properties":{"pages":{"type":"array",)"
                        R"("items":{"type":"object","properties":{"page":{"type":"integer"}}}}}})"),
      "pages");
  EXPECT_EQ(PageArrayProperty(R"({"type":"object","properties":{"s":{"type":"string"}}})"),
            std::nullopt);
  EXPECT_EQ(PageArrayProperty("not json"), std::nullopt);
}

}  // namespace
}  // namespace batchscribe::pdf
