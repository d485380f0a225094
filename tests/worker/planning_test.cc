// Planning arithmetic, poll schedule and flag parsing of the worker.

#include <gtest/gtest.h>

#include "services/worker/poll_schedule.h"
#include "services/worker/shard_planning.h"
#include "services/worker/step.h"
#include "services/worker/worker_flags.h"

namespace batchscribe::worker {
namespace {

using std::chrono::milliseconds;

PlannedDocument Doc(const std::string& id, uint64_t bytes) {
  PlannedDocument d;
  d.document_id = id;
  d.line_bytes = bytes;
  d.estimated_tokens = static_cast<int64_t>(bytes / 4);
  return d;
}

TEST(ShardPlanningTest, FillsShardsUpToTheByteCap) {
  ShardLimits limits{100, 1000};
  auto shards = GroupIntoShards({Doc("a", 40), Doc("b", 60), Doc("c", 1), Doc("d", 100)}, limits);
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_EQ(shards[0].documents.size(), 2u);
  EXPECT_EQ(shards[0].bytes, 100u);
  EXPECT_EQ(shards[1].documents[0].document_id, "c");
  EXPECT_EQ(shards[2].documents[0].document_id, "d");
  EXPECT_EQ(shards[0].estimated_tokens, 25);
}

TEST(ShardPlanningTest, FillsShardsUpToTheRequestCap) {
  std::vector<PlannedDocument> docs;
  for (int i = 0; i < 7; ++i) docs.push_back(Doc("d" + std::to_string(i), 1));
  auto shards = GroupIntoShards(docs, ShardLimits{1000, 3});
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_EQ(shards[0].documents.size(), 3u);
  EXPECT_EQ(shards[1].documents.size(), 3u);
  EXPECT_EQ(shards[2].documents.size(), 1u);
  EXPECT_TRUE(GroupIntoShards({}, ShardLimits{10, 10}).empty());
}

TEST(ShardPlanningTest, CapsAreClampedToOpenAiLimits) {
  WorkerConfig config;
  config.max_shard_bytes = 500LL * 1000 * 1000;
  config.max_shard_requests = 90000;
  ShardLimits limits = EffectiveShardLimits(config);
  EXPECT_EQ(limits.max_bytes, static_cast<uint64_t>(kHardMaxShardBytes));
  EXPECT_EQ(limits.max_requests, kHardMaxShardRequests);
}

TEST(ShardPlanningTest, RequestFilename) {
  EXPECT_EQ(RequestFilename("a/b/report 1.pdf"), "report 1.pdf");
  EXPECT_EQ(RequestFilename("x.pdf"), "x.pdf");
}

TEST(PaidWorkBackoffTest, DoublesFromASecondUpToAnHourAndScales) {
  using std::chrono::milliseconds;
  EXPECT_EQ(PaidWorkBackoff(1, 1.0), milliseconds(1000));
  EXPECT_EQ(PaidWorkBackoff(2, 1.0), milliseconds(2000));
  EXPECT_EQ(PaidWorkBackoff(5, 1.0), milliseconds(16000));
  EXPECT_EQ(PaidWorkBackoff(13, 1.0), milliseconds(3600 * 1000));
  EXPECT_EQ(PaidWorkBackoff(1000, 1.0), milliseconds(3600 * 1000)) << "never overflows";
  EXPECT_EQ(PaidWorkBackoff(3, 0.01), milliseconds(40));
}

TEST(PollScheduleTest, GrowsFromMinToMax) {
  WorkerConfig config;
  config.batch_poll_min = milliseconds(1000);
  config.batch_poll_max = milliseconds(5000);
  EXPECT_EQ(NextPollDelay(config, 0), milliseconds(1000));
  EXPECT_EQ(NextPollDelay(config, 1), milliseconds(1500));
  EXPECT_EQ(NextPollDelay(config, 2), milliseconds(2250));
  EXPECT_EQ(NextPollDelay(config, 10), milliseconds(5000));
}

TEST(PollScheduleTest, ResubmitBackoffDoublesToAnHour) {
  WorkerConfig config;
  config.resubmit_backoff = milliseconds(60000);
  EXPECT_EQ(ResubmitDelay(config, 0), milliseconds(60000));
  EXPECT_EQ(ResubmitDelay(config, 1), milliseconds(120000));
  EXPECT_EQ(ResubmitDelay(config, 20), milliseconds(3600000));
}

TEST(WorkerFlagsTest, ParsesTokenBudgets) {
  auto budgets = ParseTokenBudgets("gpt-4.1-mini=2000000, gpt-4o-mini=5");
  ASSERT_TRUE(budgets.ok());
  EXPECT_EQ(budgets->at("gpt-4.1-mini"), 2000000);
  EXPECT_EQ(budgets->at("gpt-4o-mini"), 5);
  EXPECT_TRUE(ParseTokenBudgets("")->empty());
  EXPECT_FALSE(ParseTokenBudgets("gpt-4.1-mini").ok());
  EXPECT_FALSE(ParseTokenBudgets("gpt-4.1-mini=-1").ok());
  EXPECT_FALSE(ParseTokenBudgets("gpt-4.1-mini=12x").ok());
}

TEST(WorkerFlagsTest, ParsesKinds) {
  EXPECT_EQ(*ParseKinds("plan, prepare"), (std::vector<std::string>{"plan", "prepare"}));
  EXPECT_TRUE(ParseKinds("")->empty());
  EXPECT_FALSE(ParseKinds("plan,nap").ok());
}

TEST(WorkerFlagsTest, RequiresAKeyForTheRealApiOnly) {
  unsetenv("OPENAI_API_KEY");
  WorkerFlags flags;
  flags.database_url = "postgresql://x/y";
  flags.storage_root = "/tmp";
  flags.input_root = "/tmp";
  EXPECT_FALSE(BuildConfig(flags).ok());
  flags.openai_base_url = "http://127.0.0.1:9/v1";
  auto config = BuildConfig(flags);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->openai_api_key.empty());
}

}  // namespace
}  // namespace batchscribe::worker
