#pragma once
// Generated PDFs for tests: any number of US Letter pages, each with a known
// text layer, written in a fraction of a second even for thousands of pages.

#include <filesystem>
#include <string>
#include <vector>

namespace batchscribe::testing {

/// Writes a valid PDF with one US Letter page per string, each drawing its
/// string in Helvetica (Type 1, not embedded) as lines of at most ~90
/// characters, wrapped at spaces; '\n' starts a new line. About 60 lines fit on
/// a page; text below the page's bottom edge is not part of its text layer.
/// The fonts are inherited from the page tree's root, as many producers do.
void WriteTextPdf(const std::filesystem::path& path, const std::vector<std::string>& page_texts);

/// `words` deterministic words unique to page `page_number`:
/// "p17w0000 p17w0001 ...", so a test can tell which page a text came from.
std::string PageWords(int page_number, int words);

}  // namespace batchscribe::testing
