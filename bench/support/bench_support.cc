#include "bench/support/bench_support.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

namespace batchscribe::bench {

void LatencySamples::Add(std::chrono::steady_clock::duration d) {
  samples_.push_back(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
  sorted_ = false;
}

void LatencySamples::Merge(const LatencySamples& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
  sorted_ = false;
}

double LatencySamples::PercentileMs(double p) {
  if (samples_.empty()) return 0;
  if (!sorted_) {
    std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
  // Nearest rank: the smallest sample with at least p% of samples at or below it.
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(samples_.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, samples_.size());
  return static_cast<double>(samples_[rank - 1]) / 1000.0;
}

nlohmann::json LatencySamples::Summary() {
  return {{"count", samples_.size()},
          {"p50_ms", PercentileMs(50)},
          {"p90_ms", PercentileMs(90)},
          {"p99_ms", PercentileMs(99)},
          {"max_ms", PercentileMs(100)}};
}

double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return -1;
  // The command name (field 2) may hold spaces and parentheses: fields are
  // counted from the last ')'.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0, cutime = 0, cstime = 0;
  // After ')': state is field 3; utime 14, stime 15, cutime 16, cstime 17.
  for (int i = 3; i <= 17 && fields >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
    if (i == 16) cutime = std::stoll(field);
    if (i == 17) cstime = std::stoll(field);
  }
  return static_cast<double>(utime + stime + cutime + cstime) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

int64_t SelfPeakRssBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void PrintResult(const nlohmann::json& result) { std::cout << result.dump() << std::endl; }

}  // namespace batchscribe::bench
