#pragma once
// Fresh databases with the real schema (the migrations of libs/db), one per
// benchmark run, so that no run sees the rows of another.

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <string>

namespace batchscribe::bench {

/// `url` with its database name replaced by `database` (libpq URL form).
std::string WithDatabase(const std::string& url, const std::string& database);

/// Creates `database` on the cluster of `admin_url` (dropping any old one of
/// that name) and applies the schema with the real migrations (libs/db).
/// Returns the URL of the new database.
absl::StatusOr<std::string> CreateBenchDatabase(const std::string& admin_url,
                                                const std::string& database);

/// Drops `database` (connections to it are terminated).
absl::Status DropBenchDatabase(const std::string& admin_url, const std::string& database);

}  // namespace batchscribe::bench
