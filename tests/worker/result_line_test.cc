// Classification of result lines: every line shape of openai-batch-api.md §5
// and failure mode of §12.

#include "libs/jsonl/result_line.h"

#include <gtest/gtest.h>

#include "libs/jsonl/schema_validator.h"

namespace batchscribe::jsonl {
namespace {

ResultLine Classify(const std::string& line) {
  auto r = ClassifyResultLine(line);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : ResultLine{};
}

std::string Success(const std::string& id, const std::string& finish, const std::string& content,
                    const std::string& refusal = "null") {
  return R"({"id":"batch_req_1","custom_id":")" + id +
         R"(","response":{"status_code":200,"request_id":"req_1","body":{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4.1-mini","choices":[{"index":0,"message":{"role":"assistant","content":)" +
         content + R"(,"refusal":)" + refusal + R"(},"logprobs":null,"finish_reason":")" + finish +
         R"("}],"usage":{"prompt_tokens":22,"completion_tokens":2,"total_tokens":24,"prompt_tokens_details":{"cached_tokens":10}}}},"error":null})";
}

TEST(ResultLineTest, SuccessCarriesContentAndUsage) {
  ResultLine r = Classify(Success("doc-1", "stop", R"("{\"pages\":[]}")"));
  EXPECT_EQ(r.custom_id, "doc-1");
  EXPECT_EQ(r.outcome, LineOutcome::kSucceeded);
  EXPECT_EQ(r.content, R"({"pages":[]})");
  ASSERT_TRUE(r.usage.has_value());
  EXPECT_EQ(r.usage->input_tokens, 22);
  EXPECT_EQ(r.usage->cached_input_tokens, 10);
  EXPECT_EQ(r.usage->output_tokens, 2);
}

// The same request is cut at the same place again: never re-sent as it was
// (the batch pipeline splits the part instead).
TEST(ResultLineTest, TruncatedAnswerIsPermanentAndBilled) {
  ResultLine r = Classify(Success("doc-1", "length", R"("{\"pages\":[{\"pa")"));
  EXPECT_EQ(r.outcome, LineOutcome::kPermanent);
  EXPECT_NE(r.reason.find("finish_reason=length"), std::string::npos);
  EXPECT_TRUE(r.usage.has_value());
}

TEST(ResultLineTest, RefusalAndContentFilterArePermanent) {
  ResultLine refused = Classify(Success("d", "stop", "null", R"("I can't help with that.")"));
  EXPECT_EQ(refused.outcome, LineOutcome::kPermanent);
  EXPECT_NE(refused.reason.find("refused"), std::string::npos);
  ResultLine filtered = Classify(Success("d", "content_filter", "null"));
  EXPECT_EQ(filtered.outcome, LineOutcome::kPermanent);
  EXPECT_NE(filtered.reason.find("content_filter"), std::string::npos);
}

TEST(ResultLineTest, EmptyContentIsRetryable) {
  EXPECT_EQ(Classify(Success("d", "stop", R"("")")).outcome, LineOutcome::kRetryable);
  EXPECT_EQ(Classify(Success("d", "stop", "null")).outcome, LineOutcome::kRetryable);
}

TEST(ResultLineTest, FailureInsideResponseBodyWithNullErrorIsClassifiedByStatus) {
  std::string bad_request =
      R"({"id":"batch_req_Y","custom_id":"request-5","response":{"status_code":400,"request_id":"0538","body":{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}},"error":null})";
  ResultLine r = Classify(bad_request);
  EXPECT_EQ(r.outcome, LineOutcome::kPermanent);
  EXPECT_EQ(r.status_code, 400);
  EXPECT_NE(r.reason.find("context_length_exceeded"), std::string::npos);
  EXPECT_NE(r.reason.find("maximum context length"), std::string::npos);

  for (int status : {500, 502, 503, 429, 408, 409}) {
    std::string line =
        R"({"custom_id":"d","response":{"status_code":)" + std::to_string(status) +
        R"(,"body":{"error":{"message":"An error occurred while processing your request. You can retry your request","type":"server_error","param":null,"code":null}}},"error":null})";
    EXPECT_EQ(Classify(line).outcome, LineOutcome::kRetryable) << status;
  }
}

TEST(ResultLineTest, StatusZeroLineIsRetryable) {
  ResultLine r = Classify(
      R"({"id":"batch_req_690a","custom_id":"chat-186","response":{"status_code":0,"request_id":"","body":{}},"error":null})");
  EXPECT_EQ(r.custom_id, "chat-186");
  EXPECT_EQ(r.outcome, LineOutcome::kRetryable);
  EXPECT_EQ(r.status_code, 0);
}

TEST(ResultLineTest, ExpiredAndCancelledLines) {
  ResultLine expired = Classify(
      R"({"id":"batch_req_123","custom_id":"request-3","response":null,"error":{"code":"batch_expired","message":"This request could not be executed before the completion window expired."}})");
  EXPECT_EQ(expired.outcome, LineOutcome::kRetryable);
  EXPECT_NE(expired.reason.find("expired"), std::string::npos);
  EXPECT_TRUE(expired.never_ran) << "sending it again is not a second try";
  ResultLine cancelled = Classify(
      R"({"id":"batch_req_124","custom_id":"request-4","response":null,"error":{"code":"batch_cancelled","message":"cancelled"}})");
  EXPECT_EQ(cancelled.outcome, LineOutcome::kCancelled);
}

TEST(ResultLineTest, LineWithNeitherResponseNorErrorIsRetryable) {
  EXPECT_EQ(Classify(R"({"custom_id":"d","response":null,"error":null})").outcome,
            LineOutcome::kRetryable);
}

TEST(ResultLineTest, UnparseableLinesAreSalvagedByCustomId) {
  ResultLine r =
      Classify(R"({"id":"batch_req_1","custom_id":"doc-77","response":{"status_code":200,"bo)");
  EXPECT_EQ(r.custom_id, "doc-77");
  EXPECT_EQ(r.outcome, LineOutcome::kRetryable);
  EXPECT_NE(r.reason.find("unparseable"), std::string::npos);
  EXPECT_EQ(ClassifyResultLine("garbage without an id").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ResultLineTest, HttpStatusOutcomes) {
  EXPECT_EQ(OutcomeForHttpStatus(0), LineOutcome::kRetryable);
  EXPECT_EQ(OutcomeForHttpStatus(429), LineOutcome::kRetryable);
  EXPECT_EQ(OutcomeForHttpStatus(503), LineOutcome::kRetryable);
  EXPECT_EQ(OutcomeForHttpStatus(400), LineOutcome::kPermanent);
  EXPECT_EQ(OutcomeForHttpStatus(404), LineOutcome::kPermanent);
}

TEST(SchemaValidatorTest, AcceptsMatchingAndRejectsOtherAnswers) {
  auto validator = SchemaValidator::Create(
      R"({"type":"object","properties":{"title":{"type":["string","null"]},
          "pages":{"type":"array","items":{"type":"object","properties":{"page":{"type":"integer"},
          "text":{"type":"string"}},"required":["page","text"],"additionalProperties":false}}},
          "required":["title","pages"],"additionalProperties":false})");
  ASSERT_TRUE(validator.ok()) << validator.status();
  EXPECT_TRUE(validator->Validate(R"({"title":null,"pages":[{"page":1,"text":"Hi"}]})").ok());
  EXPECT_FALSE(validator->Validate(R"({"title":null,"pages":[{"page":"1","text":"Hi"}]})").ok());
  EXPECT_FALSE(validator->Validate(R"({"pages":[]})").ok());
  EXPECT_FALSE(validator->Validate(R"({"title":"t","pages":[],"extra":1})").ok());
  auto truncated = validator->Validate(R"({"title":"t","pages":[{"pa)");
  EXPECT_EQ(truncated.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(SchemaValidator::Create("not json").ok());
}

}  // namespace
}  // namespace batchscribe::jsonl
