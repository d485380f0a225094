#include "libs/pdf/part_ids.h"

#include <cstdio>

namespace batchscribe::pdf {
namespace {

std::string Range(int first, int last) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "p%04d-%04d", first, last);
  return buf;
}

}  // namespace

std::string PartCustomId(std::string_view document_id, int part_count, int first_page,
                         int last_page) {
  if (part_count <= 1) return std::string(document_id);
  return std::string(document_id) + "~" + Range(first_page, last_page);
}

ParsedCustomId ParsePartCustomId(std::string_view custom_id) {
  ParsedCustomId out;
  const size_t tilde = custom_id.rfind('~');
  if (tilde == std::string_view::npos) {
    out.document_id = std::string(custom_id);
    return out;
  }
  int first = 0;
  int last = 0;
  char tail = 0;
  const std::string range(custom_id.substr(tilde + 1));
  if (std::sscanf(range.c_str(), "p%d-%d%c", &first, &last, &tail) != 2 || first < 1 ||
      last < first) {
    out.document_id = std::string(custom_id);
    return out;
  }
  out.document_id = std::string(custom_id.substr(0, tilde));
  out.first_page = first;
  out.last_page = last;
  return out;
}

std::string PartFilename(std::string_view filename, int part_count, int first_page, int last_page) {
  if (part_count <= 1) return std::string(filename);
  std::string stem(filename);
  std::string ext;
  if (const size_t dot = stem.rfind('.'); dot != std::string::npos && dot > 0) {
    ext = stem.substr(dot);
    stem.resize(dot);
  }
  if (ext.empty()) ext = ".pdf";
  return stem + "." + Range(first_page, last_page) + ext;
}

std::string RequestFilename(std::string_view path) {
  auto slash = path.rfind('/');
  std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  return name.empty() ? std::string("document.pdf") : std::string(name);
}

}  // namespace batchscribe::pdf
