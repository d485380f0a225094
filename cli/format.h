#pragma once
// Text rendering of API objects for people (tables, money, sizes, times) and
// JSON rendering for scripts.

#include <absl/status/statusor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "batchscribe/v1/batch_service.pb.h"

namespace batchscribe::cli {

/// "RUNNING" for BATCH_STATE_RUNNING.
std::string StateName(batchscribe::v1::BatchState state);
/// "FAILED" for DOCUMENT_STATE_FAILED.
std::string StateName(batchscribe::v1::DocumentState state);
/// "BATCH" / "SYNC" / "-".
std::string ModeName(batchscribe::v1::Mode mode);

/// Parses a document state given on the command line: "failed", "FAILED" or
/// "DOCUMENT_STATE_FAILED".
absl::StatusOr<batchscribe::v1::DocumentState> ParseDocumentState(std::string_view text);
/// Parses "batch" or "sync" (any case).
absl::StatusOr<batchscribe::v1::Mode> ParseMode(std::string_view text);

/// "batches/abc" for "abc" or "batches/abc".
std::string BatchName(std::string_view id_or_name);
/// "abc" for "batches/abc".
std::string BatchId(std::string_view name);

/// "$0.0123": four decimals, since a document often costs a fraction of a cent.
std::string FormatUsd(double usd);
/// "1,234,567".
std::string FormatCount(int64_t n);
/// "512 B", "1.5 KB", "190.0 MB" (powers of 1000, like the OpenAI limits).
std::string FormatBytes(int64_t bytes);
/// "2024-06-01 12:34:56Z", or "-" when unset.
std::string FormatTimestamp(const google::protobuf::Timestamp& ts);
/// "45s", "3m04s", "2h05m", "1d03h".
std::string FormatDuration(double seconds);

/// A left-aligned text table; numeric columns may be right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> header, std::vector<bool> right_aligned = {});
  void AddRow(std::vector<std::string> row);
  void Print(std::ostream& out) const;
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<std::string> header_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

/// The proto3 JSON form of `message` on one line (lowerCamelCase field names,
/// enum names, zero values included), as `buf curl` prints it but compact.
std::string ToJson(const google::protobuf::Message& message);

/// Counts per state on one line: "pending 0  prepared 0  submitted 3 ...".
std::string FormatCounts(const batchscribe::v1::DocumentCounts& counts);
/// "pages 120/3,751  parts 3/39 (4 documents split)": succeeded of planned.
std::string FormatPages(const batchscribe::v1::PageCounts& pages);

/// A batch in full: state, counts, usage, cost, times, labels, shards, last errors.
void PrintBatch(std::ostream& out, const batchscribe::v1::Batch& batch);

}  // namespace batchscribe::cli
