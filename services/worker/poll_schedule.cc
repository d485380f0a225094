#include "services/worker/poll_schedule.h"

#include <algorithm>
#include <cmath>

namespace batchscribe::worker {

std::chrono::milliseconds NextPollDelay(const WorkerConfig& config, int polls) {
  const double min_ms = static_cast<double>(config.batch_poll_min.count());
  const double max_ms =
      static_cast<double>(std::max(config.batch_poll_max, config.batch_poll_min).count());
  const double ms = min_ms * std::pow(1.5, std::clamp(polls, 0, 60));
  return std::chrono::milliseconds(static_cast<int64_t>(std::min(ms, max_ms)));
}

std::chrono::milliseconds ResubmitDelay(const WorkerConfig& config, int resubmits) {
  constexpr double kHourMs = 3600.0 * 1000.0;
  const double ms = static_cast<double>(config.resubmit_backoff.count()) *
                    std::pow(2.0, std::clamp(resubmits, 0, 30));
  return std::chrono::milliseconds(static_cast<int64_t>(std::min(ms, kHourMs)));
}

}  // namespace batchscribe::worker
