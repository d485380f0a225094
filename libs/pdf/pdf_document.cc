#include "libs/pdf/pdf_document.h"

#include <fcntl.h>
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <qpdf/Pipeline.hh>
#include <qpdf/QPDF.hh>
#include <qpdf/QPDFExc.hh>
#include <qpdf/QPDFLogger.hh>
#include <qpdf/QPDFPageDocumentHelper.hh>
#include <qpdf/QPDFPageObjectHelper.hh>
#include <qpdf/QPDFWriter.hh>
#include <string>
#include <utility>

namespace batchscribe::pdf {
namespace {

constexpr char kNotPdf[] = "not a PDF";
constexpr char kEncrypted[] = "the PDF is encrypted (password-protected)";
constexpr char kDamaged[] = "the PDF is damaged and cannot be read";
constexpr char kNoPages[] = "the PDF has no pages";
constexpr size_t kChunkBytes = 64 * 1024;

std::string ProcFdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

absl::Status ErrnoError(const char* what) {
  return absl::InternalError(std::string(what) + ": " + std::strerror(errno));
}

// The PDF header may follow up to 1 KiB of junk (PDF 32000-1, Annex H.3 note 13 lets
// readers accept that), like poppler and qpdf do.
absl::Status CheckHeader(int fd) {
  char head[1024];
  ssize_t got;
  do {
    got = pread(fd, head, sizeof(head), 0);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return ErrnoError("reading the PDF");
  if (std::string_view(head, static_cast<size_t>(got)).find("%PDF-") == std::string_view::npos) {
    return absl::InvalidArgumentError(kNotPdf);
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> FileSize(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoError("fstat on the PDF");
  return static_cast<int64_t>(st.st_size);
}

void IgnorePopplerMessage(const std::string& /*message*/, void* /*closure*/) {}

// poppler's error callback is process-wide; installing it is idempotent.
void SilencePoppler() {
  static std::once_flag once;
  std::call_once(once, [] { poppler::set_debug_error_function(IgnorePopplerMessage, nullptr); });
}

int64_t TextBytes(const poppler::page& page) {
  // Reading order, as the emulator extracts it; physical layout pads columns with spaces.
  poppler::byte_array utf8 =
      page.text(poppler::rectf(), poppler::page::non_raw_non_physical_layout).to_utf8();
  size_t size = utf8.size();
  while (size > 0 && std::strchr(" \t\r\n\f", utf8[size - 1]) != nullptr) --size;
  return static_cast<int64_t>(size);
}

PageInfo PageFacts(const poppler::page& page) {
  PageInfo info;
  info.text_bytes = TextBytes(page);
  const poppler::rectf box = page.page_rect(poppler::media_box);
  double width = std::abs(box.width());
  double height = std::abs(box.height());
  if (page.orientation() == poppler::page::landscape ||
      page.orientation() == poppler::page::seascape) {
    std::swap(width, height);
  }
  if (width > 0 && height > 0) {
    info.width_pt = width;
    info.height_pt = height;
  }
  return info;
}

// Thrown by SinkPipeline so that the sink's error leaves QPDFWriter untouched.
struct SinkFailed {
  absl::Status status;
};

// QPDFWriter's final pipeline: gathers its many small writes into chunks of at
// most 64 KiB for the sink. A sink error is thrown as SinkFailed (not a
// std::exception, so no handler inside qpdf takes it for a damaged stream).
class SinkPipeline : public Pipeline {
 public:
  explicit SinkPipeline(const Sink& sink) : Pipeline("batchscribe sink", nullptr), sink_(sink) {
    buffer_.reserve(kChunkBytes);
  }

  void write(unsigned char const* data, size_t len) override {
    while (len > 0) {
      const size_t take = std::min(len, kChunkBytes - buffer_.size());
      buffer_.append(reinterpret_cast<const char*>(data), take);
      data += take;
      len -= take;
      if (buffer_.size() == kChunkBytes) Flush();
    }
  }

  // QPDFWriter calls finish from a destructor, where throwing would terminate:
  // WritePages flushes the tail itself once write() has returned.
  void finish() override {}

  void Flush() {
    if (buffer_.empty()) return;
    absl::Status status = sink_(buffer_);
    buffer_.clear();
    if (!status.ok()) throw SinkFailed{std::move(status)};
  }

 private:
  const Sink& sink_;
  std::string buffer_;
};

std::shared_ptr<QPDFLogger> SilentLogger() {
  auto logger = QPDFLogger::create();
  logger->setInfo(logger->discard());
  logger->setWarn(logger->discard());
  logger->setError(logger->discard());
  return logger;
}

absl::Status DamagedError(const std::exception& e) {
  std::string detail = e.what();
  if (detail.size() > 200) detail.resize(200);
  return absl::InvalidArgumentError(std::string(kDamaged) + " (" + detail + ")");
}

class QpdfSplitter : public PdfSplitter {
 public:
  explicit QpdfSplitter(std::unique_ptr<QPDF> source) : source_(std::move(source)) {
    pages_ = QPDFPageDocumentHelper(*source_).getAllPages();
  }

  int page_count() const override { return static_cast<int>(pages_.size()); }

  absl::Status WritePages(int first, int last, const Sink& sink) override {
    if (first < 1 || last < first || last > page_count()) {
      return absl::InvalidArgumentError("page range " + std::to_string(first) + ".." +
                                        std::to_string(last) + " is outside 1.." +
                                        std::to_string(page_count()));
    }
    SinkPipeline pipeline(sink);
    try {
      QPDF part;
      part.setLogger(SilentLogger());
      part.setSuppressWarnings(true);
      part.emptyPDF();
      QPDFPageDocumentHelper part_pages(part);
      // addPage copies a foreign page with what it references (not its /Parent);
      // references to pages left out become null. Stream data stays in the source
      // file and is read one stream at a time while writing.
      for (int i = first - 1; i < last; ++i) part_pages.addPage(pages_[i], false);
      QPDFWriter writer(part);
      writer.setOutputPipeline(&pipeline);
      writer.setStaticID(true);  // same input and range -> same bytes
      // Stream data as it is in the source: qpdf would otherwise decode and
      // deflate every stream it can (zlib at ~40 MB/s, on every pass: the
      // size count at planning and the write at prepare). A part is then no
      // larger than its pages in the source and is written at copy speed.
      writer.setCompressStreams(false);
      writer.setDecodeLevel(qpdf_dl_none);
      writer.setLinearization(false);
      writer.setMinimumPDFVersion(source_->getPDFVersion(), source_->getExtensionLevel());
      writer.write();
      pipeline.Flush();
    } catch (SinkFailed& failed) {
      return std::move(failed.status);
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError("out of memory while splitting the PDF");
    } catch (const std::exception& e) {
      return DamagedError(e);
    } catch (...) {
      return absl::InvalidArgumentError(kDamaged);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> PagesSize(int first, int last) override {
    uint64_t size = 0;
    absl::Status status = WritePages(first, last, [&size](std::string_view chunk) {
      size += chunk.size();
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    return size;
  }

 private:
  std::unique_ptr<QPDF> source_;
  std::vector<QPDFPageObjectHelper> pages_;
};

// A separate open file description, so qpdf's seeks do not move the caller's
// offset (a dup would share it).
FILE* OpenOwnFile(int fd) {
  int own = open(ProcFdPath(fd).c_str(), O_RDONLY | O_CLOEXEC);
  if (own < 0) own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return nullptr;
  FILE* file = fdopen(own, "rb");
  if (file == nullptr) close(own);
  return file;
}

}  // namespace

absl::StatusOr<PdfInfo> InspectPdf(int fd) {
  SilencePoppler();
  if (absl::Status header = CheckHeader(fd); !header.ok()) return header;
  absl::StatusOr<int64_t> size = FileSize(fd);
  if (!size.ok()) return size.status();
  std::unique_ptr<poppler::document> doc(poppler::document::load_from_file(ProcFdPath(fd)));
  // A password-protected PDF loads, locked; nullptr means poppler could not parse it.
  if (doc == nullptr) return absl::InvalidArgumentError(kDamaged);
  if (doc->is_locked() || doc->is_encrypted()) return absl::InvalidArgumentError(kEncrypted);
  const int count = doc->pages();
  if (count <= 0) return absl::InvalidArgumentError(kNoPages);
  PdfInfo info;
  info.size_bytes = *size;
  info.pages.reserve(count);
  for (int i = 0; i < count; ++i) {
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    info.pages.push_back(page == nullptr ? PageInfo{} : PageFacts(*page));
  }
  return info;
}

absl::StatusOr<std::unique_ptr<PdfSplitter>> PdfSplitter::Open(int fd) {
  if (absl::Status header = CheckHeader(fd); !header.ok()) return header;
  FILE* file = OpenOwnFile(fd);
  if (file == nullptr) return ErrnoError("opening the PDF");
  try {
    auto source = std::make_unique<QPDF>();
    source->setLogger(SilentLogger());
    source->setSuppressWarnings(true);
    source->setAttemptRecovery(true);
    source->processFile("input.pdf", file, /*close_file=*/true);
    if (source->isEncrypted()) return absl::InvalidArgumentError(kEncrypted);
    // Once, before any page is copied: copies must not see the source change.
    source->pushInheritedAttributesToPage();
    auto splitter = std::make_unique<QpdfSplitter>(std::move(source));
    if (splitter->page_count() == 0) return absl::InvalidArgumentError(kNoPages);
    return splitter;
  } catch (const QPDFExc& e) {
    if (e.getErrorCode() == qpdf_e_password) return absl::InvalidArgumentError(kEncrypted);
    return DamagedError(e);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory while opening the PDF");
  } catch (const std::exception& e) {
    return DamagedError(e);
  } catch (...) {
    return absl::InvalidArgumentError(kDamaged);
  }
}

}  // namespace batchscribe::pdf
