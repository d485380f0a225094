// Planning parts: page limits, the output budget, the context window, pages
// without a text layer, custom ids and file names.

#include "libs/pdf/part_planner.h"

#include <gtest/gtest.h>

namespace batchscribe::pdf {
namespace {

PdfInfo Pages(int n, int64_t text_bytes) {
  PdfInfo info;
  info.size_bytes = 1000 * n;
  info.pages.resize(n, PageInfo{text_bytes, 612, 792});
  return info;
}

void ExpectCover(const std::vector<PlannedPart>& parts, int pages) {
  int next = 1;
  for (const auto& p : parts) {
    EXPECT_EQ(p.first_page, next);
    EXPECT_GE(p.last_page, p.first_page);
    next = p.last_page + 1;
  }
  EXPECT_EQ(next - 1, pages);
}

TEST(PartPlannerTest, ShortDocumentIsOnePart) {
  PartLimits limits;
  limits.max_completion_tokens = 32768;
  auto parts = PlanParts("gpt-4.1-mini", Pages(7, 2000), limits);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].last_page, 7);
}

TEST(PartPlannerTest, PageLimitCutsAtOneHundredPages) {
  PartLimits limits;
  limits.max_completion_tokens = 1'000'000;
  auto parts = PlanParts("gpt-4.1-mini", Pages(250, 10), limits);
  ExpectCover(parts, 250);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].pages(), 100);
  EXPECT_EQ(parts[2].pages(), 50);
}

TEST(PartPlannerTest, OutputBudgetBoundsEachPart) {
  PartLimits limits;
  limits.max_completion_tokens = 16000;
  EstimatorOptions options;
  auto info = Pages(60, 3000);  // dense pages: ~1,100 output tokens each
  auto parts = PlanParts("gpt-4.1-mini", info, limits, options);
  ExpectCover(parts, 60);
  EXPECT_GT(parts.size(), 1u);
  for (const auto& p : parts) EXPECT_LE(p.output_tokens, 16000 * 0.8) << p.first_page;
}

TEST(PartPlannerTest, ScannedPagesGetAnAllowance) {
  PartLimits limits;
  limits.max_completion_tokens = 8000;
  auto parts = PlanParts("gpt-4.1-mini", Pages(40, 0), limits);
  ExpectCover(parts, 40);
  EXPECT_GT(parts.size(), 4u);  // 800 tokens per page, 6,400 per part
}

TEST(PartPlannerTest, ContextWindowBoundsInput) {
  PartLimits limits;
  limits.max_completion_tokens = 16000;
  limits.context_tokens = 128000;
  auto parts = PlanParts("gpt-4o-mini", Pages(100, 10), limits);
  ExpectCover(parts, 100);
  for (const auto& p : parts) EXPECT_LE(p.input_tokens, 128000 - 16000);
}

TEST(PartPlannerTest, ByteLimitUsesEachPagesShare) {
  PartLimits limits;
  limits.max_completion_tokens = 1'000'000;
  limits.max_bytes = 10'000;
  auto parts = PlanParts("gpt-4.1-mini", Pages(30, 10), limits);  // 1,000 bytes a page
  ExpectCover(parts, 30);
  for (const auto& p : parts) EXPECT_LE(p.pages(), 10);
}

TEST(PartPlannerTest, SplitRangeHalves) {
  auto [a, b] = SplitRange("gpt-4.1-mini", Pages(9, 10), 1, 9, PartLimits{});
  EXPECT_EQ(a.first_page, 1);
  EXPECT_EQ(a.last_page, 5);
  EXPECT_EQ(b.first_page, 6);
  EXPECT_EQ(b.last_page, 9);
}

TEST(PartPlannerTest, CustomIdsAndFilenames) {
  EXPECT_EQ(PartCustomId("report", 1, 1, 7), "report");
  EXPECT_EQ(PartCustomId("report", 3, 101, 200), "report~p0101-0200");
  auto parsed = ParsePartCustomId("a.b-c~p0101-0200");
  EXPECT_EQ(parsed.document_id, "a.b-c");
  EXPECT_EQ(parsed.first_page, 101);
  EXPECT_EQ(parsed.last_page, 200);
  EXPECT_EQ(ParsePartCustomId("plain").document_id, "plain");
  EXPECT_EQ(ParsePartCustomId("x~junk").document_id, "x~junk");
  EXPECT_EQ(PartFilename("report.pdf", 2, 1, 40), "report.p0001-0040.pdf");
  EXPECT_EQ(PartFilename("report.pdf", 1, 1, 40), "report.pdf");
  EXPECT_EQ(PartFilename("noext", 2, 1, 40), "noext.p0001-0040.pdf");
}

}  // namespace
}  // namespace batchscribe::pdf
