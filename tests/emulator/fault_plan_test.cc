// Fault rules: selection by count/skip/every/probability, deterministic line
// faults, batch faults matched on metadata, config validation, persistence.

#include "services/openai-emulator/fault_plan.h"

#include <gtest/gtest.h>

namespace batchscribe::emulator {
namespace {

int Fires(FaultPlan& plan, const std::string& request, int times) {
  int fired = 0;
  for (int i = 0; i < times; ++i) {
    if (plan.ForRequest(request, FaultPhase::kBeforeHandling)) ++fired;
  }
  return fired;
}

TEST(FaultPlanTest, CountSkipAndEverySelectRequestsDeterministically) {
  FaultPlan plan(1);
  ASSERT_TRUE(plan.Configure(ParseJson(R"({"http": [
      {"match": "^POST /v1/batches$", "status": 429, "retry_after_ms": 250, "count": 2},
      {"match": "^GET /v1/files", "status": 503, "skip": 1, "every": 3}]})"))
                  .ok());
  auto first = plan.ForRequest("POST /v1/batches", FaultPhase::kBeforeHandling);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 429);
  EXPECT_EQ(first->retry_after_ms, "250");
  EXPECT_EQ(Fires(plan, "POST /v1/batches", 5), 1);  // count 2 in total
  EXPECT_FALSE(plan.ForRequest("POST /v1/batches", FaultPhase::kAfterHandling));
  EXPECT_FALSE(plan.ForRequest("GET /v1/batches", FaultPhase::kBeforeHandling));
  // skip 1, then every 3rd match: matches 4, 7, 10 fire.
  std::vector<int> fired_at;
  for (int i = 1; i <= 10; ++i) {
    if (plan.ForRequest("GET /v1/files/file-x", FaultPhase::kBeforeHandling)) fired_at.push_back(i);
  }
  EXPECT_EQ(fired_at, (std::vector<int>{4, 7, 10}));
  const Json state = plan.ToJson();
  EXPECT_EQ(state["http"][0]["fired"], 2);
  EXPECT_EQ(state["http"][1]["matched"], 10);
}

TEST(FaultPlanTest, ProbabilitiesAreSeeded) {
  const Json config = ParseJson(R"({"seed": 42, "http": [{"status": 500, "probability": 0.3}]})");
  FaultPlan a(1), b(1);
  ASSERT_TRUE(a.Configure(config).ok());
  ASSERT_TRUE(b.Configure(config).ok());
  std::vector<bool> da, db;
  for (int i = 0; i < 200; ++i) {
    da.push_back(a.ForRequest("GET /v1/files", FaultPhase::kBeforeHandling).has_value());
    db.push_back(b.ForRequest("GET /v1/files", FaultPhase::kBeforeHandling).has_value());
  }
  EXPECT_EQ(da, db);
  const auto fired = std::count(da.begin(), da.end(), true);
  EXPECT_GT(fired, 30);
  EXPECT_LT(fired, 90);
}

TEST(FaultPlanTest, LineRulesMatchCustomIdsAndAttempts) {
  FaultPlan plan(7);
  ASSERT_TRUE(plan.Configure(ParseJson(R"({"lines": [
      {"custom_id": "^bad-", "kind": "bad_request"},
      {"kind": "server_error", "status": 503, "attempts": 1}]})"))
                  .ok());
  EXPECT_EQ(plan.ForLine("bad-1", 1)->kind, "bad_request");
  EXPECT_EQ(plan.ForLine("bad-1", 5)->kind, "bad_request");
  auto first = plan.ForLine("doc-1", 1);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->kind, "server_error");
  EXPECT_EQ(first->status, 503);
  EXPECT_FALSE(plan.ForLine("doc-1", 2));  // only the first attempt fails
}

TEST(FaultPlanTest, LineProbabilityDependsOnlyOnSeedIdAndAttempt) {
  const Json config =
      ParseJson(R"({"seed": 3, "lines": [{"kind": "status_0", "probability": 0.5}]})");
  FaultPlan a(1), b(1);
  ASSERT_TRUE(a.Configure(config).ok());
  ASSERT_TRUE(b.Configure(config).ok());
  int fired = 0;
  // Different evaluation orders give the same decision per (id, attempt).
  for (int i = 0; i < 100; ++i) {
    const std::string id = "doc-" + std::to_string(i);
    const bool x = a.ForLine(id, 1).has_value();
    fired += x;
    EXPECT_EQ(x, b.ForLine("doc-" + std::to_string(i), 1).has_value()) << id;
  }
  EXPECT_GT(fired, 25);
  EXPECT_LT(fired, 75);
}

TEST(FaultPlanTest, BatchRulesApplyToTheNextMatchingBatches) {
  FaultPlan plan(1);
  ASSERT_TRUE(plan.Configure(ParseJson(R"({"batches": [
      {"kind": "cannot_find_file", "count": 1},
      {"kind": "expire", "after_lines": 2, "metadata": {"batchscribe_shard": "^s0002$"}},
      {"kind": "stuck_finalizing", "ms": 500, "count": 1, "skip": 1}]})"))
                  .ok());
  const Json s1 = {{"batchscribe_shard", "s0001"}};
  const Json s2 = {{"batchscribe_shard", "s0002"}};
  BatchFaults first = plan.ForNewBatch(s1);
  EXPECT_TRUE(first.cannot_find_file);
  EXPECT_FALSE(first.expire_after_lines);
  EXPECT_EQ(first.extra_finalizing_ms, 0);
  BatchFaults second = plan.ForNewBatch(s2);
  EXPECT_FALSE(second.cannot_find_file);
  EXPECT_EQ(second.expire_after_lines, 2);
  EXPECT_EQ(second.extra_finalizing_ms, 500);
  BatchFaults third = plan.ForNewBatch(nullptr);
  EXPECT_FALSE(third.cannot_find_file);
  EXPECT_FALSE(third.expire_after_lines);
  EXPECT_EQ(third.extra_finalizing_ms, 0);
}

TEST(FaultPlanTest, RejectsMalformedConfigsAndKeepsTheOldOne) {
  FaultPlan plan(1);
  ASSERT_TRUE(plan.Configure(ParseJson(R"({"http": [{"status": 500}]})")).ok());
  for (const char* bad : {
           R"([1, 2])",
           R"({"htp": []})",
           R"({"http": [{"status": 200}]})",
           R"({"http": [{"action": "explode"}]})",
           R"({"http": [{"match": "(["}]})",
           R"({"http": [{"statuss": 500}]})",
           R"({"http": [{"action": "delay"}]})",
           R"({"http": [{"every": 0}]})",
           R"({"lines": [{"kind": "nonsense"}]})",
           R"({"lines": [{"kind": "status_0", "probability": 2}]})",
           R"({"batches": [{"kind": "stuck_finalizing"}]})",
           R"({"batches": [{"kind": "expire", "metadata": {"k": 1}}]})",
           R"({"http": [{"phase": 1}]})",
           R"({"http": [{"body": ["html"]}]})",
       }) {
    EXPECT_FALSE(plan.Configure(ParseJson(bad)).ok()) << bad;
  }
  EXPECT_TRUE(plan.ForRequest("GET /v1/files", FaultPhase::kBeforeHandling));
  plan.Clear();
  EXPECT_FALSE(plan.ForRequest("GET /v1/files", FaultPhase::kBeforeHandling));
}

TEST(FaultPlanTest, RestoreKeepsCounters) {
  FaultPlan plan(1);
  ASSERT_TRUE(plan.Configure(ParseJson(R"({"http": [{"status": 500, "count": 3}]})")).ok());
  EXPECT_EQ(Fires(plan, "GET /v1/files", 2), 2);
  FaultPlan restored(1);
  ASSERT_TRUE(restored.Restore(plan.ToJson()).ok());
  EXPECT_EQ(Fires(restored, "GET /v1/files", 5), 1);
}

}  // namespace
}  // namespace batchscribe::emulator
