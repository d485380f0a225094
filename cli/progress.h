#pragma once
// What `batchscribe watch` draws for each snapshot of a batch: a redrawn
// progress bar on a terminal, one plain line per change otherwise.

#include <chrono>
#include <optional>
#include <string>

#include "batchscribe/v1/batch_service.pb.h"

namespace batchscribe::cli {

using WallTime = std::chrono::system_clock::time_point;

/// Figures derived from one snapshot.
struct ProgressFigures {
  int64_t total = 0;
  /// Documents in a final state (succeeded, failed, skipped, cancelled).
  int64_t done = 0;
  /// Documents still PENDING, PREPARED or SUBMITTED.
  int64_t remaining = 0;
  /// done / total, 1 for an empty batch.
  double fraction = 0;
  /// Seconds since the batch was created (until its end once it ended).
  double elapsed_seconds = 0;
  /// Documents transcribed (succeeded or failed; skipped ones cost nothing) per
  /// hour since the batch was created; unset before the first one.
  std::optional<double> documents_per_hour;
  /// remaining / rate; unset without a rate; 0 when nothing remains.
  std::optional<double> eta_seconds;
};

/// Computes the figures of `batch` as of `now`.
ProgressFigures ComputeProgress(const batchscribe::v1::Batch& batch, WallTime now);

/// Renders successive snapshots of one batch.
class ProgressView {
 public:
  /// `terminal`: redraw in place with ANSI escapes, `width` columns wide.
  ProgressView(bool terminal, int width);

  /// Text to write for this snapshot. In plain mode, empty unless the state, the
  /// counts or the cost changed since the last line.
  std::string Update(const batchscribe::v1::Batch& batch, WallTime now);

 private:
  bool terminal_;
  int width_;
  int lines_drawn_ = 0;
  std::string last_plain_;
};

/// The width of the terminal on file descriptor `fd`, or `fallback`.
int TerminalWidth(int fd, int fallback = 100);

}  // namespace batchscribe::cli
