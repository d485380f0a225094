#pragma once
// What every benchmark program shares: latency percentiles, CPU time of other processes, and the
// one JSON object a benchmark prints on stdout for scripts/bench.sh to collect.

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <sys/types.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace batchscribe::bench {

/// Latency samples in microseconds; percentiles by nearest rank.
class LatencySamples {
 public:
  void Add(std::chrono::steady_clock::duration d);
  void Merge(const LatencySamples& other);
  size_t count() const { return samples_.size(); }
  /// `p` in [0, 100]; 0 when empty. Milliseconds.
  double PercentileMs(double p);
  /// {"count","p50_ms","p90_ms","p99_ms","max_ms"}
  nlohmann::json Summary();

 private:
  std::vector<int64_t> samples_;
  bool sorted_ = false;
};

/// utime + stime of process `pid` in seconds, from /proc/<pid>/stat (children
/// that were waited for included, so a process's whole tree counts once it
/// reaped them). -1 when the process is gone.
double ProcessCpuSeconds(pid_t pid);

/// Peak resident set size of the calling process in bytes (getrusage).
int64_t SelfPeakRssBytes();

/// Seconds since `start`.
double SecondsSince(std::chrono::steady_clock::time_point start);

/// Prints `result` as one line of JSON on stdout (what scripts/bench.sh reads).
void PrintResult(const nlohmann::json& result);

}  // namespace batchscribe::bench
