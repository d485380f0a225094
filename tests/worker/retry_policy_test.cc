// The SDK retry policy as a pure function: which results are retried, with
// which delay, and when the server's hint forbids a retry.

#include "libs/openai/retry_policy.h"

#include <gtest/gtest.h>

namespace batchscribe::openai {
namespace {

using std::chrono::milliseconds;
const auto kNow = std::chrono::system_clock::from_time_t(1'700'000'000);

AttemptResult Http(int status, Headers headers = {}, std::string code = "") {
  AttemptResult r;
  r.http_status = status;
  r.headers = std::move(headers);
  r.error_code = std::move(code);
  return r;
}

TEST(RetryPolicyTest, RetriesTheSdkStatusesAndTransportErrors) {
  for (int status : {408, 409, 429, 500, 502, 503, 504}) {
    EXPECT_TRUE(RetryPolicy::IsRetryable(Http(status))) << status;
  }
  for (int status : {400, 401, 403, 404, 422}) {
    EXPECT_FALSE(RetryPolicy::IsRetryable(Http(status))) << status;
  }
  AttemptResult dropped;
  dropped.transport_error = true;
  EXPECT_TRUE(RetryPolicy::IsRetryable(dropped));
}

TEST(RetryPolicyTest, ShouldRetryHeaderOverridesTheStatus) {
  EXPECT_TRUE(RetryPolicy::IsRetryable(Http(400, {{"x-should-retry", "true"}})));
  EXPECT_FALSE(RetryPolicy::IsRetryable(Http(503, {{"x-should-retry", "false"}})));
}

TEST(RetryPolicyTest, NeverRetriesInsufficientQuota) {
  RetryPolicy policy(5);
  EXPECT_FALSE(policy.NextDelay(Http(429, {}, "insufficient_quota"), 0, 0.5, kNow).has_value());
  EXPECT_TRUE(policy.NextDelay(Http(429, {}, "rate_limit_exceeded"), 0, 0.5, kNow).has_value());
}

TEST(RetryPolicyTest, BackoffDoublesFromHalfASecondToEightWithJitter) {
  // min(0.5 * 2^n, 8) * (1 - 0.25 * U): U = 0 gives the top of the range.
  EXPECT_EQ(RetryPolicy::Backoff(0, 0.0), milliseconds(500));
  EXPECT_EQ(RetryPolicy::Backoff(1, 0.0), milliseconds(1000));
  EXPECT_EQ(RetryPolicy::Backoff(2, 0.0), milliseconds(2000));
  EXPECT_EQ(RetryPolicy::Backoff(4, 0.0), milliseconds(8000));
  EXPECT_EQ(RetryPolicy::Backoff(9, 0.0), milliseconds(8000));
  // U close to 1 takes a quarter off.
  EXPECT_EQ(RetryPolicy::Backoff(0, 0.999999), milliseconds(375));
  EXPECT_EQ(RetryPolicy::Backoff(5, 0.999999), milliseconds(6000));
}

TEST(RetryPolicyTest, StopsAfterMaxRetries) {
  RetryPolicy policy(2);
  EXPECT_TRUE(policy.NextDelay(Http(500), 0, 0.0, kNow).has_value());
  EXPECT_TRUE(policy.NextDelay(Http(500), 1, 0.0, kNow).has_value());
  EXPECT_FALSE(policy.NextDelay(Http(500), 2, 0.0, kNow).has_value());
}

TEST(RetryPolicyTest, HonoursRetryAfterMsThenRetryAfter) {
  RetryPolicy policy(2);
  EXPECT_EQ(policy.NextDelay(Http(429, {{"retry-after-ms", "250.4"}}), 0, 0.0, kNow),
            milliseconds(250));
  EXPECT_EQ(policy.NextDelay(Http(429, {{"retry-after", "1.5"}}), 0, 0.0, kNow),
            milliseconds(1500));
  // retry-after-ms wins over retry-after.
  EXPECT_EQ(
      policy.NextDelay(Http(429, {{"retry-after-ms", "100"}, {"retry-after", "7"}}), 0, 0.0, kNow),
      milliseconds(100));
}

TEST(RetryPolicyTest, ParsesHttpDates) {
  // kNow is 2023-11-14T22:13:20Z; the header names 30 s later.
  auto delay = ServerRetryDelay({{"retry-after", "Tue, 14 Nov 2023 22:13:50 GMT"}}, kNow);
  ASSERT_TRUE(delay.has_value());
  EXPECT_EQ(*delay, milliseconds(30000));
  EXPECT_FALSE(ServerRetryDelay({{"retry-after", "soon"}}, kNow).has_value());
}

TEST(RetryPolicyTest, AServerDelayOverTwoMinutesForbidsTheRetry) {
  RetryPolicy policy(2);
  EXPECT_FALSE(policy.NextDelay(Http(429, {{"retry-after", "121"}}), 0, 0.0, kNow).has_value());
  // Checked before x-should-retry.
  EXPECT_FALSE(
      policy
          .NextDelay(Http(503, {{"retry-after", "600"}, {"x-should-retry", "true"}}), 0, 0.0, kNow)
          .has_value());
  EXPECT_EQ(policy.NextDelay(Http(429, {{"retry-after", "120"}}), 0, 0.0, kNow),
            milliseconds(120000));
}

TEST(RetryPolicyTest, ZeroOrNegativeServerDelayFallsBackToBackoff) {
  RetryPolicy policy(2);
  EXPECT_EQ(policy.NextDelay(Http(503, {{"retry-after", "0"}}), 1, 0.0, kNow), milliseconds(1000));
  EXPECT_EQ(policy.NextDelay(Http(503, {{"retry-after-ms", "-5"}}), 0, 0.0, kNow),
            milliseconds(500));
}

}  // namespace
}  // namespace batchscribe::openai
