#pragma once
// The retry policy of the official OpenAI SDKs (openai-python v3.3.1,
// openai-node 7.5.0; openai-batch-api.md §10), as a pure function of one
// attempt's result so that it is unit-tested without sleeping:
//   - retried: transport errors (connect, timeout, dropped connection) and
//     HTTP 408, 409, 429, >= 500;
//   - a server delay d from `retry-after-ms` (float ms), else `retry-after`
//     (float seconds or an HTTP date) is honoured when 0 < d <= 120 s;
//     d > 120 s means no retry at all (checked before x-should-retry);
//   - `x-should-retry: true|false` overrides the status;
//   - otherwise backoff min(0.5 * 2^n, 8) s * (1 - 0.25 * U[0,1)), n = retries made;
//   - our own rule: never retry `insufficient_quota` (the SDKs retry every 429).

#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace batchscribe::openai {

/// Response headers, names lower-cased.
using Headers = std::map<std::string, std::string>;

/// What one attempt produced.
struct AttemptResult {
  /// True when no HTTP reply arrived (connect error, timeout, dropped connection).
  bool transport_error = false;
  int http_status = 0;
  Headers headers;
  /// `error.code` from the body, if any.
  std::string error_code;
};

/// The server's retry hint: `retry-after-ms`, else `retry-after` (seconds or an
/// HTTP date relative to `now`). nullopt when absent or unparseable.
std::optional<std::chrono::milliseconds> ServerRetryDelay(
    const Headers& headers, std::chrono::system_clock::time_point now);

/// Whether and when to retry.
class RetryPolicy {
 public:
  /// Longest server delay honoured; a longer one forbids the retry (python SDK).
  static constexpr std::chrono::milliseconds kMaxServerDelay{120000};

  explicit RetryPolicy(int max_retries = 2) : max_retries_(max_retries) {}

  int max_retries() const { return max_retries_; }

  /// Whether the result is of a kind that is retried at all (ignores the budget
  /// of retries and the delay limit).
  static bool IsRetryable(const AttemptResult& result);

  /// The delay before the next attempt, or nullopt when the call must not be
  /// retried. `retries_made` counts retries already made (0 after the first
  /// attempt); `unit_random` is drawn from [0, 1).
  std::optional<std::chrono::milliseconds> NextDelay(
      const AttemptResult& result, int retries_made, double unit_random,
      std::chrono::system_clock::time_point now) const;

  /// The SDK backoff min(0.5 * 2^n, 8) s scaled by (1 - 0.25 * unit_random).
  static std::chrono::milliseconds Backoff(int retries_made, double unit_random);

 private:
  int max_retries_;
};

}  // namespace batchscribe::openai
