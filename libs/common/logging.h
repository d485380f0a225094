#pragma once
// Structured JSON log lines on stderr, one object per line, the same schema in
// every service (docs/CONTRACTS.md, "Log lines"):
//   {"ts":"2026-11-29T19:45:38.123Z","level":"info","service":"worker","msg":"...",
//    "batch_id":"...","shard_id":"s0001","document_id":"...","task_id":42,
//    "openai_request_id":"req_...", ...other fields}
// ts, level, service and msg are always there; the correlation keys (kBatchId ...
// kOpenAiRequestId) appear when the line is about such an object, either passed as
// fields or inherited from the thread's ScopedContext. A line is at most
// kMaxLineBytes: longer string values are cut (and "truncated":true is added).
// Every registered secret is replaced by "[redacted]" before a line is written,
// as a second line of defence: code must not log secrets in the first place.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace batchscribe::log {

/// Correlation keys of the log schema: use these names, nothing else, for these ids.
inline constexpr const char* kBatchId = "batch_id";
inline constexpr const char* kShardId = "shard_id";
inline constexpr const char* kDocumentId = "document_id";
inline constexpr const char* kTaskId = "task_id";
/// The x-request-id OpenAI returned for a call (quote it in a support request).
inline constexpr const char* kOpenAiRequestId = "openai_request_id";

/// Longest line written, newline excluded (log shippers split or drop longer ones).
inline constexpr size_t kMaxLineBytes = 16 * 1024;

/// Sets the service name and the minimum level ("debug", "info", "warn", "error").
void Init(std::string_view service, std::string_view level = "info");

/// Any later log line containing `secret` (if at least 4 characters) has it redacted.
void RegisterSecret(std::string_view secret);

/// Replaces every registered secret in `text` by "[redacted]".
std::string Redact(std::string_view text);

/// While alive, every line this thread writes carries `fields` (a line's own
/// fields win). Nests: an inner context adds to the outer one.
class ScopedContext {
 public:
  explicit ScopedContext(const nlohmann::json& fields);
  ~ScopedContext();
  ScopedContext(const ScopedContext&) = delete;
  ScopedContext& operator=(const ScopedContext&) = delete;

 private:
  nlohmann::json previous_;
};

/// The line Write would emit for these arguments, without the newline (for tests).
std::string FormatLine(std::string_view level, std::string_view msg,
                       const nlohmann::json& fields);

void Debug(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());
void Info(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());
void Warn(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());
void Error(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());

}  // namespace batchscribe::log
