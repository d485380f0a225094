#pragma once
// The emulated model behind /v1/chat/completions and every batch line: it
// validates a request body like OpenAI does, "reads" PDF parts through their
// text layer, answers deterministically and reports deterministic usage.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "services/openai-emulator/answer_writer.h"
#include "services/openai-emulator/api_error.h"
#include "services/openai-emulator/clock.h"
#include "services/openai-emulator/ids.h"
#include "services/openai-emulator/json.h"
#include "services/openai-emulator/model_catalog.h"
#include "services/openai-emulator/options.h"
#include "services/openai-emulator/pdf_text.h"

namespace batchscribe::emulator {

/// Forced outcomes, used by line faults.
struct CompletionOverrides {
  /// Cut the answer in half and finish with `length`.
  bool force_length = false;
  /// The model declines: content null, `refusal` set, finish `stop`.
  bool refusal = false;
  /// finish_reason `content_filter`, content null.
  bool content_filter = false;
};

/// The result of one chat completion request.
struct Completion {
  /// 200, or the status of the request error in `body`.
  int status_code = 200;
  /// A `chat.completion` object, or {"error":{...}}.
  Json body;
  /// The model as requested (the billing key); empty when the request had none.
  std::string model;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  /// Part of completion_tokens.
  int64_t reasoning_tokens = 0;
  /// The request was refused for its size: too many PDF pages, too many file
  /// bytes, or more prompt tokens than the model's context.
  bool over_limit = false;
};

/// Loads an uploaded file's bytes for `{"type":"file","file":{"file_id":...}}`
/// parts; nullopt when there is no such file.
using FileLoader = std::function<std::optional<std::string>(const std::string& file_id)>;

/// Thread-safe (its collaborators are).
class ChatCompleter {
 public:
  /// `limits` bound the PDF parts of every request.
  ChatCompleter(PdfTextReader* pdfs, IdGenerator* ids, const Clock* clock, FileLoader load_file,
                PdfRequestLimits limits = {});

  /// Validates and answers `request` (a Chat Completions request body).
  Completion Complete(const Json& request, const CompletionOverrides& overrides = {});

  /// The prompt tokens `request` would be billed (0 for an invalid request):
  /// what a batch's lines enqueue against the model's token limit.
  int64_t CountPromptTokens(const Json& request);

 private:
  struct Prepared {
    std::string model;
    ModelInfo info;
    DocumentText doc;
    Json response_format;
    std::optional<int64_t> max_completion_tokens;
    int64_t choices = 1;
    int64_t prompt_tokens = 0;
    // Summed over the request's file parts, for PdfRequestLimits.
    int64_t pdf_pages = 0;
    int64_t file_parts = 0;
    int64_t file_bytes = 0;
    // Set with the error when the request is refused for its size.
    bool over_limit = false;
  };
  // On error, `over_limit` says whether a size limit refused the request.
  ApiResult<Prepared> Prepare(const Json& request, bool& over_limit);
  std::optional<ApiError> ReadContentParts(const Json& parts, const std::string& where,
                                           Prepared& prepared, int64_t& tokens);
  std::optional<ApiError> CheckFileLimits(const std::string& param, int64_t part_pages,
                                          int64_t part_bytes, Prepared& prepared) const;

  PdfTextReader* pdfs_;
  IdGenerator* ids_;
  const Clock* clock_;
  FileLoader load_file_;
  const PdfRequestLimits limits_;
};

/// Token count of `bytes` bytes of text: about four bytes per token, at least 1
/// for non-empty text.
int64_t TokensForBytes(size_t bytes);

}  // namespace batchscribe::emulator
