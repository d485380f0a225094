#pragma once
// Structured JSON log lines on stderr, one object per line:
//   {"ts":"2026-11-29T19:45:38.123Z","level":"info","service":"worker","msg":"...", ...fields}
// Every registered secret is replaced by "[redacted]" before a line is written,
// as a second line of defence: code must not log secrets in the first place.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace batchscribe::log {

/// Sets the service name and the minimum level ("debug", "info", "warn", "error").
void Init(std::string_view service, std::string_view level = "info");

/// Any later log line containing `secret` (if at least 4 characters) has it redacted.
void RegisterSecret(std::string_view secret);

/// Replaces every registered secret in `text` by "[redacted]".
std::string Redact(std::string_view text);

void Debug(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());
void Info(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());
void Warn(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());
void Error(std::string_view msg, const nlohmann::json& fields = nlohmann::json::object());

}  // namespace batchscribe::log
