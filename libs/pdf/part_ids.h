#pragma once
// The names of parts: custom_ids and the filenames their PDFs are sent under.
// Pure string functions with no PDF library behind them (target
// batchscribe_pdf_ids), so that the coordinator can name parts without linking
// poppler and qpdf.

#include <string>
#include <string_view>

namespace batchscribe::pdf {

/// The custom_id of a part: the document id alone when the document is one
/// part, else "<document_id>~p0001-0040" (document ids never contain '~').
std::string PartCustomId(std::string_view document_id, int part_count, int first_page,
                         int last_page);

/// Parses a custom_id back: document id and range (0, 0 for a whole document).
struct ParsedCustomId {
  std::string document_id;
  int first_page = 0;
  int last_page = 0;
};
ParsedCustomId ParsePartCustomId(std::string_view custom_id);

/// The filename sent with a document's PDF: the last component of its path
/// ("a/b/report.pdf" -> "report.pdf"), "document.pdf" when that is empty.
std::string RequestFilename(std::string_view path);

/// The filename sent with a part's PDF: "report.pdf" -> "report.p0001-0040.pdf".
std::string PartFilename(std::string_view filename, int part_count, int first_page, int last_page);

}  // namespace batchscribe::pdf
