#pragma once
// The emulated model's answers: deterministic functions of what it was given.

#include <optional>
#include <string>
#include <vector>

#include "services/openai-emulator/json.h"

namespace batchscribe::emulator {

/// What the emulated model read: the text layer of every PDF part, page by
/// page, and the text of the messages.
struct DocumentText {
  std::vector<std::string> pages;
  std::string prompt_text;
};

/// True when `schema`'s `properties.pages.items` has `page` and `text`
/// properties: batchscribe's transcript schema (docs/CONTRACTS.md).
bool IsTranscriptSchema(const Json& schema);

/// The assistant message content for a request whose `response_format` is
/// `response_format` (null, text, json_object or json_schema). For a JSON
/// schema the answer validates against it; pages of a transcript-shaped schema
/// carry the PDF's text, one entry per page.
std::string WriteAnswer(const DocumentText& doc, const Json& response_format);

/// The first non-empty line of the first page with text (at most 120 bytes,
/// cut at a character boundary), or nullopt when there is no text.
std::optional<std::string> GuessTitle(const std::vector<std::string>& pages);

/// ISO 639-1 code of the main language by counting common words (en, de, fr,
/// es, it, nl, pt), or nullopt when none is evident.
std::optional<std::string> GuessLanguage(const std::string& text);

/// Cuts `text` to at most `max_bytes` without splitting a UTF-8 sequence.
std::string TruncateUtf8(const std::string& text, size_t max_bytes);

}  // namespace batchscribe::emulator
