#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "cli/format.h"

namespace batchscribe::cli {

namespace v1 = batchscribe::v1;

namespace {

double Seconds(const google::protobuf::Timestamp& ts) {
  return static_cast<double>(ts.seconds()) + ts.nanos() / 1e9;
}

bool IsSet(const google::protobuf::Timestamp& ts) { return ts.seconds() != 0 || ts.nanos() != 0; }

std::string Percent(double fraction) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%", std::floor(fraction * 100));
  return buf;
}

std::string Rate(const ProgressFigures& f) {
  if (!f.documents_per_hour) return "-";
  return FormatCount(static_cast<int64_t>(std::llround(*f.documents_per_hour))) + " docs/h";
}

std::string Eta(const ProgressFigures& f) {
  return f.eta_seconds ? FormatDuration(*f.eta_seconds) : "unknown";
}

std::string Utc(WallTime now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Fit(std::string line, int width) {
  if (width > 1 && static_cast<int>(line.size()) >= width) line.resize(width - 1);
  return line;
}

}  // namespace

ProgressFigures ComputeProgress(const v1::Batch& batch, WallTime now) {
  ProgressFigures f;
  const auto& c = batch.counts();
  f.total = c.total();
  f.done = static_cast<int64_t>(c.succeeded()) + c.failed() + c.skipped() + c.cancelled();
  f.remaining = static_cast<int64_t>(c.pending()) + c.prepared() + c.submitted();
  f.fraction = f.total > 0 ? static_cast<double>(f.done) / static_cast<double>(f.total) : 1.0;
  f.fraction = std::clamp(f.fraction, 0.0, 1.0);
  const double now_s = std::chrono::duration<double>(now.time_since_epoch()).count();
  const double end_s = IsSet(batch.end_time()) ? Seconds(batch.end_time()) : now_s;
  f.elapsed_seconds =
      IsSet(batch.create_time()) ? std::max(0.0, end_s - Seconds(batch.create_time())) : 0;
  const int64_t transcribed = static_cast<int64_t>(c.succeeded()) + c.failed();
  if (transcribed > 0 && f.elapsed_seconds >= 1) {
    f.documents_per_hour = static_cast<double>(transcribed) * 3600.0 / f.elapsed_seconds;
  }
  if (f.remaining == 0) {
    f.eta_seconds = 0;
  } else if (f.documents_per_hour && *f.documents_per_hour > 0) {
    f.eta_seconds = static_cast<double>(f.remaining) * 3600.0 / *f.documents_per_hour;
  }
  return f;
}

ProgressView::ProgressView(bool terminal, int width) : terminal_(terminal), width_(width) {}

std::string ProgressView::Update(const v1::Batch& batch, WallTime now) {
  const ProgressFigures f = ComputeProgress(batch, now);
  const auto& c = batch.counts();
  const std::string done = FormatCount(f.done) + "/" + FormatCount(f.total);
  const std::string cost =
      FormatUsd(batch.cost_usd()) + " (sync " + FormatUsd(batch.sync_equivalent_cost_usd()) + ")";
  if (!terminal_) {
    // Rate and ETA move with the clock alone: a new line only when the batch did.
    const std::string key = batch.name() + " " + StateName(batch.state()) + " done " + done + " (" +
                            Percent(f.fraction) + ")  " + FormatCounts(c) + "  " +
                            FormatPages(batch.pages());
    if (key + cost == last_plain_) return "";
    last_plain_ = key + cost;
    return Utc(now) + " " + key + "  rate " + Rate(f) + "  eta " + Eta(f) + "  cost " + cost + "\n";
  }
  const int bar_width = std::clamp(width_ / 3, 10, 40);
  const int filled = static_cast<int>(std::floor(f.fraction * bar_width));
  // Failed and cancelled documents are marked apart from the succeeded ones.
  const int bad_docs = c.failed() + c.cancelled();
  int bad = f.total > 0 ? static_cast<int>(std::ceil(static_cast<double>(bad_docs) * bar_width /
                                                     static_cast<double>(f.total)))
                        : 0;
  bad = std::min(bad, filled);
  const std::string bar = "[" + std::string(filled - bad, '#') + std::string(bad, 'x') +
                          std::string(bar_width - filled, '.') + "]";
  std::vector<std::string> lines = {
      batch.name() + "  " + StateName(batch.state()) + "  " + batch.model() + " " +
          ModeName(batch.mode()),
      bar + " " + done + " " + Percent(f.fraction) + "  ETA " + Eta(f),
      FormatCounts(c),
      FormatPages(batch.pages()),
      Rate(f) + "  elapsed " + FormatDuration(f.elapsed_seconds) + "  cost " + cost,
  };
  std::string out;
  if (lines_drawn_ > 0) out += "\033[" + std::to_string(lines_drawn_) + "A";
  for (const auto& line : lines) out += "\r\033[K" + Fit(line, width_) + "\n";
  lines_drawn_ = static_cast<int>(lines.size());
  return out;
}

int TerminalWidth(int fd, int fallback) {
  winsize ws{};
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return fallback;
}

}  // namespace batchscribe::cli
