#include "libs/pricing/price_table.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/test_env.h"

namespace batchscribe::pricing {
namespace {

TEST(PriceTable, DefaultsCoverTheFiveModels) {
  PriceTable table = PriceTable::Defaults();
  for (const char* model : {"gpt-4.1-mini", "gpt-4.1", "gpt-4o-mini", "gpt-5-mini", "gpt-5-nano"}) {
    EXPECT_TRUE(table.IsKnownModel(model)) << model;
  }
  EXPECT_FALSE(table.IsKnownModel("gpt-3"));
  EXPECT_FALSE(table.IsKnownModel(""));
  EXPECT_EQ(table.Models().size(), 5u);
}

TEST(PriceTable, DatedSnapshotsUseTheBasePrice) {
  PriceTable table = PriceTable::Defaults();
  EXPECT_TRUE(table.IsKnownModel("gpt-4.1-mini-2025-04-14"));
  EXPECT_FALSE(table.IsKnownModel("gpt-4.1-mini-latest"));
  EXPECT_FALSE(table.IsKnownModel("gpt-4.1-mini-2025-04-1x"));
}

TEST(PriceTable, BatchIsHalfOfStandard) {
  PriceTable table = PriceTable::Defaults();
  TokenUsage usage{1'000'000, 0, 1'000'000};
  // gpt-4.1-mini: 0.40 in + 1.60 out per 1M.
  EXPECT_DOUBLE_EQ(*table.Cost("gpt-4.1-mini", usage, PricingMode::kSync), 2.00);
  EXPECT_DOUBLE_EQ(*table.Cost("gpt-4.1-mini", usage, PricingMode::kBatch), 1.00);
  EXPECT_DOUBLE_EQ(*table.SyncEquivalentCost("gpt-4.1-mini", usage), 2.00);
  // gpt-5-nano batch: 0.025 in + 0.20 out, as in the published batch table.
  EXPECT_DOUBLE_EQ(*table.Cost("gpt-5-nano", usage, PricingMode::kBatch), 0.225);
}

TEST(PriceTable, CachedTokensArePartOfInputAndPricedApart) {
  PriceTable table = PriceTable::Defaults();
  // gpt-4.1: 600k uncached * 2.00 + 400k cached * 0.50 + 0 output = 1.2 + 0.2 = 1.4 USD.
  TokenUsage usage{1'000'000, 400'000, 0};
  EXPECT_DOUBLE_EQ(*table.Cost("gpt-4.1", usage, PricingMode::kSync), 1.4);
  EXPECT_DOUBLE_EQ(*table.Cost("gpt-4.1", usage, PricingMode::kBatch), 0.7);
  // More cached than input (a malformed report) never goes negative.
  TokenUsage odd{10, 20, 0};
  EXPECT_GE(*table.Cost("gpt-4.1", odd, PricingMode::kSync), 0);
}

TEST(PriceTable, UnknownModelCostIsNotFound) {
  EXPECT_EQ(PriceTable::Defaults().Cost("nope", {}, PricingMode::kBatch).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(PriceTable, JsonAddsAndOverridesEntries) {
  auto table = PriceTable::FromJson(R"({"models": {
      "gpt-4.1-mini": {"input": 1, "cached_input": 0.5, "output": 2},
      "my-model": {"input": 3, "output": 6}}})");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_TRUE(table->IsKnownModel("gpt-4.1"));
  EXPECT_DOUBLE_EQ(table->Find("gpt-4.1-mini")->input, 1);
  EXPECT_DOUBLE_EQ(table->Find("my-model")->cached_input, 3);
  EXPECT_DOUBLE_EQ(*table->Cost("my-model", {1'000'000, 0, 0}, PricingMode::kBatch), 1.5);
}

TEST(PriceTable, BadJsonIsInvalidArgument) {
  for (const char* json :
       {"", "[]", "{}", R"({"models": []})", R"({"models": {"m": 1}})",
        R"({"models": {"m": {"input": -1, "output": 1}}})", R"({"models": {"m": {"input": 1}}})",
        R"({"models": {"../x": {"input": 1, "output": 1}}})",
        R"({"models": {"m": {"input": "1", "output": 1}}})"}) {
    EXPECT_EQ(PriceTable::FromJson(json).status().code(), absl::StatusCode::kInvalidArgument)
        << json;
  }
}

TEST(PriceTable, LoadFile) {
  batchscribe::testing::TempDir dir;
  auto path = dir.path() / "prices.json";
  std::ofstream(path) << R"({"models": {"x": {"input": 1, "output": 1}}})";
  auto table = PriceTable::LoadFile(path);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_TRUE(table->IsKnownModel("x"));
  EXPECT_EQ(PriceTable::LoadFile(dir.path() / "missing.json").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace batchscribe::pricing
