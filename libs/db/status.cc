#include "libs/db/status.h"

#include <pqxx/pqxx>
#include <string>

namespace batchscribe::db {
namespace {

std::string Message(const char* what, const std::exception& e) {
  std::string text = e.what();
  // libpq messages end with a newline (and sometimes a caret line); keep one line.
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return std::string(what) + ": " + text;
}

}  // namespace

absl::Status StatusFromException(const std::exception& e) {
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr ||
      dynamic_cast<const pqxx::statement_completion_unknown*>(&e) != nullptr) {
    return absl::UnavailableError(Message("database: outcome unknown", e));
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return absl::UnavailableError(Message("database unavailable", e));
  }
  if (dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr ||
      dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr) {
    return absl::AbortedError(Message("database: transaction conflict", e));
  }
  if (dynamic_cast<const pqxx::unique_violation*>(&e) != nullptr) {
    return absl::AlreadyExistsError(Message("database: already exists", e));
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    std::string cls = state.substr(0, 2);
    if (state == "40001" || state == "40P01") {
      return absl::AbortedError(Message("database: transaction conflict", e));
    }
    if (state == "23505") return absl::AlreadyExistsError(Message("database: already exists", e));
    if (cls == "23") return absl::FailedPreconditionError(Message("database: constraint", e));
    // 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now;
    // 53300: too many connections.
    if (cls == "08" || state == "57P01" || state == "57P02" || state == "57P03" ||
        state == "53300") {
      return absl::UnavailableError(Message("database unavailable", e));
    }
    if (state == "57014") return absl::DeadlineExceededError(Message("database: cancelled", e));
    if (cls == "22") return absl::InvalidArgumentError(Message("database: invalid data", e));
    return absl::InternalError(Message("database error", e));
  }
  return absl::InternalError(Message("database client error", e));
}

absl::Status StatusFromCurrentException() {
  try {
    throw;
  } catch (const std::exception& e) {
    return StatusFromException(e);
  } catch (...) {
    return absl::InternalError("database: unknown exception");
  }
}

bool IsRetryableTransactionError(const absl::Status& status) {
  return status.code() == absl::StatusCode::kAborted;
}

bool IsConnectionError(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return true;
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    return state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03";
  }
  return false;
}

}  // namespace batchscribe::db
