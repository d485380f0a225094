#include "libs/db/transaction.h"

#include <random>
#include <thread>

#include "libs/db/status.h"

namespace batchscribe::db {
namespace {

enum class Outcome { kDone, kRetry, kRetryOnNewConnection };

struct Attempt {
  absl::Status status;
  Outcome outcome = Outcome::kDone;
};

const char* IsolationStatement(Isolation isolation) {
  switch (isolation) {
    case Isolation::kRepeatableRead:
      return "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ";
    case Isolation::kSerializable:
      return "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE";
    case Isolation::kReadCommitted:
      break;
  }
  return nullptr;
}

Attempt RunOnce(pqxx::connection& conn, const TransactionBody& body,
                const TransactionOptions& options) {
  bool committing = false;
  try {
    pqxx::work tx(conn);
    if (const char* set = IsolationStatement(options.isolation)) tx.exec(set);
    absl::Status status = body(tx);
    if (!status.ok()) {
      tx.abort();
      return {status, Outcome::kDone};
    }
    committing = true;
    tx.commit();
    return {absl::OkStatus(), Outcome::kDone};
  } catch (const pqxx::in_doubt_error& e) {
    return {StatusFromException(e), Outcome::kDone};
  } catch (const std::exception& e) {
    absl::Status status = StatusFromException(e);
    if (IsRetryableTransactionError(status)) return {status, Outcome::kRetry};
    // Broken before the commit was sent: nothing was written, run again.
    if (IsConnectionError(e) && !committing) return {status, Outcome::kRetryOnNewConnection};
    if (IsConnectionError(e)) {
      return {absl::UnavailableError(std::string(status.message()) +
                                     " (during commit: outcome unknown)"),
              Outcome::kDone};
    }
    return {status, Outcome::kDone};
  } catch (...) {
    return {absl::InternalError("database: unknown exception in transaction"), Outcome::kDone};
  }
}

void PauseBeforeRetry(int attempt, std::chrono::milliseconds delay) {
  thread_local std::minstd_rand random(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  std::this_thread::sleep_for(
      std::chrono::duration<double, std::milli>(delay.count() * attempt * jitter(random)));
}

}  // namespace

absl::Status RunInTransaction(ConnectionPool& pool, const TransactionBody& body,
                              const TransactionOptions& options) {
  absl::Status last = absl::InternalError("transaction not attempted");
  for (int attempt = 1; attempt <= std::max(1, options.max_attempts); ++attempt) {
    auto lease = pool.Acquire();
    if (!lease.ok()) return lease.status();
    Attempt result = RunOnce(lease->conn(), body, options);
    last = result.status;
    if (result.outcome == Outcome::kDone) {
      if (absl::IsUnavailable(last)) lease->MarkBroken();
      return last;
    }
    if (result.outcome == Outcome::kRetryOnNewConnection) lease->MarkBroken();
    if (attempt < options.max_attempts) PauseBeforeRetry(attempt, options.retry_delay);
  }
  return last;
}

absl::Status RunInTransaction(pqxx::connection& conn, const TransactionBody& body,
                              const TransactionOptions& options) {
  absl::Status last = absl::InternalError("transaction not attempted");
  for (int attempt = 1; attempt <= std::max(1, options.max_attempts); ++attempt) {
    Attempt result = RunOnce(conn, body, options);
    last = result.status;
    if (result.outcome != Outcome::kRetry) return last;
    if (attempt < options.max_attempts) PauseBeforeRetry(attempt, options.retry_delay);
  }
  return last;
}

absl::Status RunWithConnection(ConnectionPool& pool,
                               const std::function<absl::Status(pqxx::connection&)>& body) {
  auto lease = pool.Acquire();
  if (!lease.ok()) return lease.status();
  try {
    return body(lease->conn());
  } catch (const std::exception& e) {
    if (IsConnectionError(e)) lease->MarkBroken();
    return StatusFromException(e);
  } catch (...) {
    return absl::InternalError("database: unknown exception");
  }
}

}  // namespace batchscribe::db
