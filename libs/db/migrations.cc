#include "libs/db/migrations.h"

#include <openssl/evp.h>

#include <map>

#include "libs/common/logging.h"
#include "libs/db/status.h"

namespace batchscribe::db {

std::string Sha256Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

absl::StatusOr<int> ApplyMigrations(pqxx::connection& conn,
                                    const std::vector<Migration>& migrations) {
  bool locked = false;
  try {
    // One libpqxx transaction object per connection at a time: each step below
    // opens its own; the advisory lock belongs to the session and spans them.
    std::map<std::string, std::string> applied;
    {
      pqxx::nontransaction session(conn);
      session.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
      locked = true;
      session.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          " version text PRIMARY KEY,"
          " checksum text NOT NULL,"
          " applied_at timestamptz NOT NULL DEFAULT now())");
      for (const auto& row : session.exec("SELECT version, checksum FROM schema_migrations")) {
        applied[row[0].as<std::string>()] = row[1].as<std::string>();
      }
    }
    int count = 0;
    for (const Migration& migration : migrations) {
      std::string version(migration.version);
      std::string checksum = Sha256Hex(migration.sql);
      if (auto it = applied.find(version); it != applied.end()) {
        if (it->second != checksum) {
          log::Warn("migration changed after it was applied; not re-running it",
                    {{"version", version}});
        }
        continue;
      }
      pqxx::work tx(conn);
      tx.exec(std::string(migration.sql));
      tx.exec_params("INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)", version,
                     checksum);
      tx.commit();
      log::Info("applied migration", {{"version", version}});
      ++count;
    }
    pqxx::nontransaction session(conn);
    session.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
    return count;
  } catch (const std::exception& e) {
    absl::Status status = StatusFromException(e);
    if (locked && !IsConnectionError(e)) {
      // Keep the connection usable for the caller; a closed session drops the lock anyway.
      try {
        pqxx::nontransaction session(conn);
        session.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
      } catch (const std::exception&) {
      }
    }
    return absl::Status(status.code(), "applying migrations: " + std::string(status.message()));
  }
}

absl::StatusOr<int> ApplyMigrations(const std::string& url) {
  try {
    pqxx::connection conn(url);
    return ApplyMigrations(conn, EmbeddedMigrations());
  } catch (const std::exception& e) {
    return StatusFromException(e);
  }
}

}  // namespace batchscribe::db
