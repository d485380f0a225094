#pragma once
// Waiting times of the OpenAI-facing steps, as pure functions.

#include <chrono>

#include "services/worker/worker_config.h"

namespace batchscribe::worker {

/// Delay before the next poll of a batch whose status has not changed for
/// `polls` polls: batch_poll_min * 1.5^polls, capped at batch_poll_max.
std::chrono::milliseconds NextPollDelay(const WorkerConfig& config, int polls);

/// Delay before resubmitting after token_limit_exceeded for the
/// (`resubmits`+1)-th time: resubmit_backoff * 2^resubmits, capped at one hour.
std::chrono::milliseconds ResubmitDelay(const WorkerConfig& config, int resubmits);

}  // namespace batchscribe::worker
