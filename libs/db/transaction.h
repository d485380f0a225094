#pragma once
// Running work in a transaction with the retries every caller would otherwise
// write by hand: a serialization failure or deadlock re-runs the whole body on a
// fresh transaction, and a connection that broke before the commit is replaced
// and the body re-run. A commit whose outcome is unknown is never retried.

#include <absl/status/status.h>

#include <chrono>
#include <functional>
#include <pqxx/pqxx>
#include <string>

#include "libs/db/connection_pool.h"

namespace batchscribe::db {

enum class Isolation { kReadCommitted, kRepeatableRead, kSerializable };

struct TransactionOptions {
  Isolation isolation = Isolation::kReadCommitted;
  /// Runs of the body at most (first run included).
  int max_attempts = 5;
  /// Pause before retry n is about n * retry_delay (jittered).
  std::chrono::milliseconds retry_delay{20};
};

/// The body of a transaction. Return OK to commit; any other status rolls back
/// and is returned as is (not retried). libpqxx exceptions thrown by the body
/// are caught, mapped (libs/db/status.h) and retried when that makes sense. The
/// body may run more than once, so it must not have effects outside the
/// transaction that cannot be repeated.
using TransactionBody = std::function<absl::Status(pqxx::work&)>;

/// Runs `body` in a transaction on a pooled connection.
absl::Status RunInTransaction(ConnectionPool& pool, const TransactionBody& body,
                              const TransactionOptions& options = {});

/// Runs `body` in a transaction on a caller-owned connection (with the same
/// retries, except that a broken connection is not replaced).
absl::Status RunInTransaction(pqxx::connection& conn, const TransactionBody& body,
                              const TransactionOptions& options = {});

/// Runs `body` with a pooled connection and no transaction (autocommit
/// statements, or APIs that open their own transactions). Exceptions are mapped;
/// nothing is retried.
absl::Status RunWithConnection(ConnectionPool& pool,
                               const std::function<absl::Status(pqxx::connection&)>& body);

}  // namespace batchscribe::db
