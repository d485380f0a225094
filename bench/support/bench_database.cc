#include "bench/support/bench_database.h"

#include <pqxx/pqxx>

#include "libs/db/migrations.h"
#include "libs/db/status.h"

namespace batchscribe::bench {

std::string WithDatabase(const std::string& url, const std::string& database) {
  const auto scheme = url.find("://");
  const auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return url + "/" + database;
  const auto query = url.find('?', slash);
  const std::string rest = query == std::string::npos ? "" : url.substr(query);
  return url.substr(0, slash + 1) + database + rest;
}

absl::StatusOr<std::string> CreateBenchDatabase(const std::string& admin_url,
                                                const std::string& database) {
  try {
    pqxx::connection admin(admin_url);
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(database) + " WITH (FORCE)");
    tx.exec("CREATE DATABASE " + tx.quote_name(database));
  } catch (const std::exception& e) {
    return db::StatusFromException(e);
  }
  std::string url = WithDatabase(admin_url, database);
  absl::StatusOr<int> applied = db::ApplyMigrations(url);
  if (!applied.ok()) return applied.status();
  return url;
}

absl::Status DropBenchDatabase(const std::string& admin_url, const std::string& database) {
  try {
    pqxx::connection admin(admin_url);
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(database) + " WITH (FORCE)");
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return db::StatusFromException(e);
  }
}

}  // namespace batchscribe::bench
