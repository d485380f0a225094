#pragma once
// libpqxx reports errors with exceptions; everything above libs/db sees
// absl::Status. The mapping (STYLE.md):
//   broken connection, unknown commit outcome, server shutting down -> UNAVAILABLE
//   serialization failure, deadlock                                  -> ABORTED (retry)
//   unique violation                                                 -> ALREADY_EXISTS
//   other integrity violations                                       -> FAILED_PRECONDITION
//   statement timeout / cancel                                       -> DEADLINE_EXCEEDED
//   invalid data (SQLSTATE class 22)                                 -> INVALID_ARGUMENT
//   anything else                                                    -> INTERNAL

#include <absl/status/status.h>

#include <exception>

namespace batchscribe::db {

/// Maps a caught exception (libpqxx or any std::exception) to a status whose
/// message says what failed. Never returns OK.
absl::Status StatusFromException(const std::exception& e);

/// StatusFromException for the exception being handled; use inside catch (...).
absl::Status StatusFromCurrentException();

/// True when the status came from a transaction that may succeed if run again
/// from the start (serialization failure, deadlock).
bool IsRetryableTransactionError(const absl::Status& status);

/// True when the failure means the connection it happened on is unusable.
bool IsConnectionError(const std::exception& e);

}  // namespace batchscribe::db
