#pragma once
// Secrets (API keys, tokens, passwords) come from files or the environment and
// are registered with the logger for redaction as soon as they are read.

#include <absl/status/statusor.h>

#include <string>

namespace batchscribe {

/// Reads a secret from `file` (trailing whitespace trimmed) when `file` is not
/// empty, else from the environment variable `env_var`; returns "" when neither
/// is set. Registers the value for log redaction.
absl::StatusOr<std::string> ReadSecret(const std::string& file, const char* env_var);

/// Hides the password of a postgresql:// URL (or a "password=" keyword) for display.
std::string RedactDatabaseUrl(const std::string& url);

/// Registers the password in a database URL for log redaction.
void RegisterDatabaseUrlSecret(const std::string& url);

}  // namespace batchscribe
