#pragma once
// Request defaults of SubmitDocuments (see the proto field comments). The
// prompt and schema texts are compiled in from config/ so that a batch never
// depends on files next to the binary; they are stored in the batch row, so
// workers read them from there.

#include <cstdint>
#include <string_view>

namespace batchscribe::coordinator {

/// config/transcript.prompt.txt
std::string_view DefaultPrompt();
/// config/transcript.schema.json
std::string_view DefaultJsonSchema();

inline constexpr std::string_view kDefaultModel = "gpt-4.1-mini";
inline constexpr std::string_view kDefaultGlob = "*.pdf";
// The default max_completion_tokens is the model's output cap from the price
// table: pricing::DefaultMaxCompletionTokens (libs/pricing/price_table.h).
inline constexpr int32_t kMaxCompletionTokensLimit = 128000;
inline constexpr std::size_t kMaxRequestIdLength = 128;
inline constexpr std::size_t kMaxPromptBytes = 32 * 1024;
inline constexpr std::size_t kMaxJsonSchemaBytes = 64 * 1024;
inline constexpr std::size_t kMaxLabels = 16;
inline constexpr std::size_t kMaxLabelKeyLength = 63;
inline constexpr std::size_t kMaxLabelValueLength = 256;
inline constexpr std::size_t kMaxDisplayNameLength = 256;
/// Offending documents named in one error message.
inline constexpr std::size_t kMaxReportedDocuments = 20;

inline constexpr int32_t kDefaultBatchPageSize = 50;
inline constexpr int32_t kDefaultDocumentPageSize = 100;
inline constexpr int32_t kMaxPageSize = 1000;

}  // namespace batchscribe::coordinator
