#include "tests/support/pdf_writer.h"

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string_view>

namespace batchscribe::testing {
namespace {

constexpr size_t kLineChars = 90;

void AppendEscaped(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c == '(' || c == ')' || c == '\\') out += '\\';
    out += c;
  }
}

// Lines of at most kLineChars, broken at spaces (a longer word gets its own line).
std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view paragraph = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    do {
      size_t cut = paragraph.size();
      if (cut > kLineChars) {
        cut = paragraph.rfind(' ', kLineChars);
        if (cut == std::string_view::npos || cut == 0) cut = paragraph.find(' ');
        if (cut == std::string_view::npos) cut = paragraph.size();
      }
      lines.push_back(paragraph.substr(0, cut));
      paragraph.remove_prefix(cut);
      while (!paragraph.empty() && paragraph.front() == ' ') paragraph.remove_prefix(1);
    } while (!paragraph.empty());
  }
  return lines;
}

std::string Content(std::string_view text) {
  std::string content = "BT\n/F1 10 Tf\n12 TL\n54 740 Td\n";
  for (std::string_view line : Lines(text)) {
    content += '(';
    AppendEscaped(content, line);
    content += ") Tj T*\n";
  }
  content += "ET\n";
  return content;
}

}  // namespace

void WriteTextPdf(const std::filesystem::path& path, const std::vector<std::string>& page_texts) {
  // Objects: 1 catalog, 2 page tree, 3 font, then per page i: 4+2i page, 5+2i contents.
  const size_t object_count = 3 + 2 * page_texts.size();
  std::string out = "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n";
  std::vector<size_t> offsets;
  offsets.reserve(object_count);
  auto begin_object = [&](size_t number) {
    offsets.push_back(out.size());
    out += std::to_string(number) + " 0 obj\n";
  };
  begin_object(1);
  out += "<< /Type /Catalog /Pages 2 0 R >>\nendobj\n";
  begin_object(2);
  out += "<< /Type /Pages /Count " + std::to_string(page_texts.size()) +
         " /Resources << /Font << /F1 3 0 R >> >> /Kids [";
  for (size_t i = 0; i < page_texts.size(); ++i) {
    out += (i % 16 == 0 ? "\n" : " ") + std::to_string(4 + 2 * i) + " 0 R";
  }
  out += "\n] >>\nendobj\n";
  begin_object(3);
  out +=
      "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>\n"
      "endobj\n";
  for (size_t i = 0; i < page_texts.size(); ++i) {
    const std::string page = std::to_string(4 + 2 * i);
    const std::string contents = std::to_string(5 + 2 * i);
    begin_object(4 + 2 * i);
    out += "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents " + contents +
           " 0 R >>\nendobj\n";
    const std::string content = Content(page_texts[i]);
    begin_object(5 + 2 * i);
    out += "<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content +
           "endstream\nendobj\n";
  }
  const size_t xref = out.size();
  out += "xref\n0 " + std::to_string(object_count + 1) + "\n0000000000 65535 f \n";
  for (size_t offset : offsets) {
    char entry[24];
    std::snprintf(entry, sizeof(entry), "%010zu 00000 n \n", offset);
    out += entry;
  }
  out += "trailer\n<< /Size " + std::to_string(object_count + 1) + " /Root 1 0 R >>\nstartxref\n" +
         std::to_string(xref) + "\n%%EOF\n";
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(out.data(), static_cast<std::streamsize>(out.size()));
  if (!file.flush()) throw std::runtime_error("cannot write " + path.string());
}

std::string PageWords(int page_number, int words) {
  std::string text;
  char word[32];
  for (int i = 0; i < words; ++i) {
    std::snprintf(word, sizeof(word), "%sp%dw%04d", i == 0 ? "" : " ", page_number, i);
    text += word;
  }
  return text;
}

}  // namespace batchscribe::testing
