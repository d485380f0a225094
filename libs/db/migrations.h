#pragma once
// Schema migrations: libs/db/migrations/NNNN_name.sql, compiled into every
// binary that links batchscribe_db, applied in name order and recorded in
// schema_migrations. Applying takes a session advisory lock first, so several
// processes starting at once on an empty database apply each file exactly once:
// the first one migrates, the others wait and then find nothing left to do.

#include <absl/status/statusor.h>

#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

namespace batchscribe::db {

/// One migration file.
struct Migration {
  std::string_view version;  // file name without ".sql", e.g. "0001_initial"
  std::string_view sql;      // may hold several statements
};

/// The migrations compiled in from libs/db/migrations, sorted by version.
const std::vector<Migration>& EmbeddedMigrations();

/// Key of the advisory lock held while migrating.
inline constexpr long long kMigrationLockKey = 0x62617463685f6d31;  // "batch_m1"

/// Applies the `migrations` not yet recorded, each in its own transaction with
/// its schema_migrations row. Returns how many were applied. A recorded
/// migration whose text changed since is logged as a warning, not re-run.
absl::StatusOr<int> ApplyMigrations(pqxx::connection& conn,
                                    const std::vector<Migration>& migrations);

/// ApplyMigrations with EmbeddedMigrations() on a new connection to `url`.
absl::StatusOr<int> ApplyMigrations(const std::string& url);

/// SHA-256 of `text` as 64 lowercase hex digits.
std::string Sha256Hex(std::string_view text);

}  // namespace batchscribe::db
