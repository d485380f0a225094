#include "libs/openai/retry_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>

namespace batchscribe::openai {
namespace {

std::optional<double> ParseNumber(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  while (end != nullptr && *end == ' ') ++end;
  if (end == text.c_str() || (end != nullptr && *end != '\0') || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

// RFC 7231 IMF-fixdate, e.g. "Wed, 21 Oct 2015 07:28:00 GMT".
std::optional<std::chrono::system_clock::time_point> ParseHttpDate(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr) return std::nullopt;
  std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t);
}

}  // namespace

std::optional<std::chrono::milliseconds> ServerRetryDelay(
    const Headers& headers, std::chrono::system_clock::time_point now) {
  if (auto it = headers.find("retry-after-ms"); it != headers.end()) {
    if (auto ms = ParseNumber(it->second)) {
      return std::chrono::milliseconds(static_cast<int64_t>(std::llround(*ms)));
    }
  }
  if (auto it = headers.find("retry-after"); it != headers.end()) {
    if (auto seconds = ParseNumber(it->second)) {
      return std::chrono::milliseconds(static_cast<int64_t>(std::llround(*seconds * 1000)));
    }
    if (auto date = ParseHttpDate(it->second)) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(*date - now);
    }
  }
  return std::nullopt;
}

bool RetryPolicy::IsRetryable(const AttemptResult& result) {
  if (result.error_code == "insufficient_quota") return false;
  if (result.transport_error) return true;
  if (auto it = result.headers.find("x-should-retry"); it != result.headers.end()) {
    if (it->second == "true") return true;
    if (it->second == "false") return false;
  }
  int s = result.http_status;
  return s == 408 || s == 409 || s == 429 || s >= 500;
}

std::chrono::milliseconds RetryPolicy::Backoff(int retries_made, double unit_random) {
  double seconds = std::min(0.5 * std::pow(2.0, retries_made), 8.0);
  double jitter = 1.0 - 0.25 * std::clamp(unit_random, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * jitter * 1000.0));
}

std::optional<std::chrono::milliseconds> RetryPolicy::NextDelay(
    const AttemptResult& result, int retries_made, double unit_random,
    std::chrono::system_clock::time_point now) const {
  if (retries_made >= max_retries_) return std::nullopt;
  if (result.error_code == "insufficient_quota") return std::nullopt;
  auto server = result.transport_error ? std::nullopt : ServerRetryDelay(result.headers, now);
  // A server asking for more than kMaxServerDelay is not retried at all; this
  // check comes before x-should-retry, as in the python SDK.
  if (server && *server > kMaxServerDelay) return std::nullopt;
  if (!IsRetryable(result)) return std::nullopt;
  if (server && server->count() > 0) return *server;
  return Backoff(retries_made, unit_random);
}

}  // namespace batchscribe::openai
