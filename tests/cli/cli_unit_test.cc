// Unit tests of the CLI's pieces that need no server: formatting, exit codes,
// progress figures and rendering, and the dry-run planner on real PDFs.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/dry_run.h"
#include "cli/exit_codes.h"
#include "cli/format.h"
#include "cli/progress.h"
#include "libs/pdf/document_planner.h"
#include "tests/support/pdf_writer.h"
#include "tests/support/test_env.h"

namespace batchscribe::cli {
namespace {

namespace v1 = batchscribe::v1;
using ::batchscribe::testing::PageWords;
using ::batchscribe::testing::SourceDir;
using ::batchscribe::testing::TempDir;
using ::batchscribe::testing::WriteMinimalPdf;
using ::batchscribe::testing::WriteTextPdf;

TEST(FormatTest, MoneyCountsBytesDurations) {
  EXPECT_EQ(FormatUsd(0.012345), "$0.0123");
  EXPECT_EQ(FormatUsd(12), "$12.0000");
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(1234567), "1,234,567");
  EXPECT_EQ(FormatCount(-1000), "-1,000");
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(190'000'000), "190.0 MB");
  EXPECT_EQ(FormatDuration(45), "45s");
  EXPECT_EQ(FormatDuration(184), "3m04s");
  EXPECT_EQ(FormatDuration(7500), "2h05m");
  EXPECT_EQ(FormatDuration(97200), "1d03h");
  google::protobuf::Timestamp ts;
  EXPECT_EQ(FormatTimestamp(ts), "-");
  ts.set_seconds(1717243200);  // 2024-06-01T12:00:00Z
  EXPECT_EQ(FormatTimestamp(ts), "2024-06-01 12:00:00Z");
}

TEST(FormatTest, NamesAndStates) {
  EXPECT_EQ(BatchName("abc"), "batches/abc");
  EXPECT_EQ(BatchName("batches/abc"), "batches/abc");
  EXPECT_EQ(BatchId("batches/abc"), "abc");
  EXPECT_EQ(StateName(v1::BATCH_STATE_PARTIALLY_SUCCEEDED), "PARTIALLY_SUCCEEDED");
  EXPECT_EQ(StateName(v1::DOCUMENT_STATE_SKIPPED), "SKIPPED");
  EXPECT_EQ(ModeName(v1::MODE_SYNC), "SYNC");
  EXPECT_EQ(*ParseDocumentState("failed"), v1::DOCUMENT_STATE_FAILED);
  EXPECT_EQ(*ParseDocumentState("DOCUMENT_STATE_SKIPPED"), v1::DOCUMENT_STATE_SKIPPED);
  EXPECT_FALSE(ParseDocumentState("done").ok());
  EXPECT_FALSE(ParseDocumentState("unspecified").ok());
  EXPECT_EQ(*ParseMode("Sync"), v1::MODE_SYNC);
  EXPECT_FALSE(ParseMode("fast").ok());
}

TEST(FormatTest, TableAlignsColumns) {
  Table table({"NAME", "DOCS"}, {false, true});
  table.AddRow({"a", "1"});
  table.AddRow({"longer", "1,000"});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(),
            "NAME     DOCS\n"
            "a           1\n"
            "longer  1,000\n");
}

TEST(FormatTest, JsonIncludesZeroValuesAndEnumNames) {
  v1::Batch batch;
  batch.set_name("batches/x");
  batch.set_state(v1::BATCH_STATE_RUNNING);
  const auto json = nlohmann::json::parse(ToJson(batch));
  EXPECT_EQ(json["name"], "batches/x");
  EXPECT_EQ(json["state"], "BATCH_STATE_RUNNING");
  EXPECT_EQ(json["costUsd"], 0);
}

TEST(ExitCodeTest, DistinctCodesPerOutcome) {
  EXPECT_EQ(ExitCodeForStatus(grpc::Status::OK), kExitOk);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "")), 3);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "")), 3);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "")), 3);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "")), 4);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "")), 4);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "")), 5);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "")), 5);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(grpc::StatusCode::INTERNAL, "")), 1);
  EXPECT_EQ(ExitCodeForBatchState(v1::BATCH_STATE_RUNNING), 0);
  EXPECT_EQ(ExitCodeForBatchState(v1::BATCH_STATE_SUCCEEDED), 0);
  EXPECT_EQ(ExitCodeForBatchState(v1::BATCH_STATE_FAILED), 10);
  EXPECT_EQ(ExitCodeForBatchState(v1::BATCH_STATE_PARTIALLY_SUCCEEDED), 11);
  EXPECT_EQ(ExitCodeForBatchState(v1::BATCH_STATE_CANCELLED), 12);
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::NOT_FOUND), "NOT_FOUND");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
}

v1::Batch RunningBatch(int64_t created, int succeeded, int failed, int skipped, int pending,
                       int submitted) {
  v1::Batch b;
  b.set_name("batches/abc");
  b.set_state(v1::BATCH_STATE_RUNNING);
  b.set_model("gpt-4.1-mini");
  b.set_mode(v1::MODE_BATCH);
  b.mutable_create_time()->set_seconds(created);
  auto* c = b.mutable_counts();
  c->set_succeeded(succeeded);
  c->set_failed(failed);
  c->set_skipped(skipped);
  c->set_pending(pending);
  c->set_submitted(submitted);
  c->set_total(succeeded + failed + skipped + pending + submitted);
  b.set_cost_usd(0.5);
  b.set_sync_equivalent_cost_usd(1.0);
  return b;
}

WallTime At(int64_t seconds) { return WallTime(std::chrono::seconds(seconds)); }

TEST(ProgressTest, RateAndEtaFromTheBatchLifetime) {
  // 30 transcribed (and 10 skipped) in 30 minutes: 60 per hour; 20 left: 20 minutes.
  const auto f = ComputeProgress(RunningBatch(1000, 25, 5, 10, 5, 15), At(1000 + 1800));
  EXPECT_EQ(f.total, 60);
  EXPECT_EQ(f.done, 40);
  EXPECT_EQ(f.remaining, 20);
  ASSERT_TRUE(f.documents_per_hour.has_value());
  EXPECT_DOUBLE_EQ(*f.documents_per_hour, 60);
  ASSERT_TRUE(f.eta_seconds.has_value());
  EXPECT_DOUBLE_EQ(*f.eta_seconds, 1200);
  EXPECT_DOUBLE_EQ(f.elapsed_seconds, 1800);
}

TEST(ProgressTest, NoRateBeforeTheFirstDocument) {
  const auto f = ComputeProgress(RunningBatch(1000, 0, 0, 3, 7, 0), At(1060));
  EXPECT_FALSE(f.documents_per_hour.has_value());
  EXPECT_FALSE(f.eta_seconds.has_value());
  const auto done = ComputeProgress(RunningBatch(1000, 0, 0, 3, 0, 0), At(1060));
  EXPECT_EQ(done.eta_seconds, 0);
  EXPECT_DOUBLE_EQ(done.fraction, 1.0);
}

TEST(ProgressTest, PlainOutputIsOneLinePerChange) {
  ProgressView view(/*terminal=*/false, 100);
  const auto batch = RunningBatch(1000, 1, 0, 0, 1, 0);
  const std::string first = view.Update(batch, At(1100));
  EXPECT_NE(first.find("batches/abc RUNNING done 1/2 (50%)"), std::string::npos) << first;
  EXPECT_NE(first.find("cost $0.5000 (sync $1.0000)"), std::string::npos) << first;
  EXPECT_EQ(first.find('\033'), std::string::npos) << "no escapes when not a terminal";
  EXPECT_EQ(std::count(first.begin(), first.end(), '\n'), 1);
  EXPECT_EQ(view.Update(batch, At(1100)), "") << "nothing changed";
  EXPECT_EQ(view.Update(batch, At(1500)), "") << "only the rate moved";
  EXPECT_NE(view.Update(RunningBatch(1000, 2, 0, 0, 0, 0), At(1200)), "");
}

TEST(ProgressTest, TerminalOutputRedrawsInPlace) {
  ProgressView view(/*terminal=*/true, 120);
  const std::string first = view.Update(RunningBatch(1000, 3, 1, 0, 4, 0), At(1100));
  EXPECT_EQ(first.find("\033[5A"), std::string::npos) << "nothing to move over yet";
  // 40 columns: half done, one document in eight failed.
  const std::string bar =
      "[" + std::string(15, '#') + std::string(5, 'x') + std::string(20, '.') + "]";
  EXPECT_NE(first.find(bar), std::string::npos) << first;
  EXPECT_NE(first.find("4/8 50%"), std::string::npos) << first;
  EXPECT_NE(first.find("ETA"), std::string::npos) << first;
  const std::string second = view.Update(RunningBatch(1000, 4, 1, 0, 3, 0), At(1200));
  EXPECT_EQ(second.rfind("\033[5A", 0), 0u) << "moves up over the previous drawing";
}

class DryRunTest : public ::testing::Test {
 protected:
  v1::SubmitDocumentsRequest DirectoryRequest(const std::string& dir) {
    v1::SubmitDocumentsRequest request;
    request.mutable_source()->set_directory(dir);
    return request;
  }
  DryRunOptions Options() {
    DryRunOptions options;
    options.input_root = SourceDir();
    return options;
  }
};

TEST_F(DryRunTest, PlansTheSamplePdfs) {
  auto plan = PlanDryRun(DirectoryRequest("examples"), Options(), pricing::PriceTable::Defaults());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->planned, 7);
  EXPECT_EQ(plan->skipped, 0);
  EXPECT_EQ(plan->failing, 0);
  EXPECT_EQ(plan->pages, 17);
  ASSERT_EQ(plan->shards.size(), 1u);
  EXPECT_EQ(plan->shards[0].documents, 7);
  int64_t pdf_bytes = 0;
  for (const auto& d : plan->documents) {
    EXPECT_EQ(d.shard_id, "s0001");
    // A line holds the base64 PDF (4/3 of its size) plus the prompt and schema.
    EXPECT_GT(d.line_bytes, d.size_bytes * 4 / 3 + 1000) << d.path;
    EXPECT_GT(d.input_tokens, 765) << d.path;
    EXPECT_GT(d.output_tokens, 100) << d.path;
    pdf_bytes += d.size_bytes;
  }
  EXPECT_EQ(plan->pdf_bytes, pdf_bytes);
  EXPECT_EQ(plan->model, "gpt-4.1-mini");
  // gpt-4.1-mini: $0.40 / $1.60 per 1M tokens standard, half in batch.
  const double sync = (plan->input_tokens * 0.40 + plan->output_tokens * 1.60) / 1e6;
  EXPECT_NEAR(plan->sync_cost_usd, sync, 1e-9);
  EXPECT_NEAR(plan->batch_cost_usd, sync / 2, 1e-9);
  EXPECT_NEAR(plan->cost_usd, plan->batch_cost_usd, 1e-12);
  const auto json = nlohmann::json::parse(DryRunPlanToJson(*plan));
  EXPECT_EQ(json["plannedDocuments"], 7);
  EXPECT_EQ(json["documents"].size(), 7u);
}

TEST_F(DryRunTest, ShardCapsSplitAndOversizedDocumentsFail) {
  DryRunOptions options = Options();
  options.max_shard_requests = 3;
  auto plan = PlanDryRun(DirectoryRequest("examples"), options, pricing::PriceTable::Defaults());
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->shards.size(), 3u);
  EXPECT_EQ(plan->shards[0].documents, 3);
  EXPECT_EQ(plan->shards[2].shard_id, "s0003");
  EXPECT_EQ(plan->shards[2].documents, 1);

  options = Options();
  options.max_shard_bytes = 8000;  // the larger samples' lines do not fit
  plan = PlanDryRun(DirectoryRequest("examples"), options, pricing::PriceTable::Defaults());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_GT(plan->failing, 0);
  EXPECT_GT(plan->planned, 0);
  for (const auto& s : plan->shards) EXPECT_LE(s.bytes, 8000);
  for (const auto& d : plan->documents) {
    if (d.outcome == "fails") {
      EXPECT_NE(d.error.find("exceed the shard cap"), std::string::npos) << d.error;
    }
  }
}

// The dry run plans long documents with the worker's own planner: the same
// parts, page ranges, tokens and split-policy refusals.
TEST_F(DryRunTest, LongDocumentsShowTheirPartsAsTheWorkerPlansThem) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "in" / "long");
  std::vector<std::string> pages;
  for (int p = 1; p <= 250; ++p) pages.push_back(PageWords(p, 40));
  WriteTextPdf(dir.path() / "in/long/manual.pdf", pages);
  WriteTextPdf(dir.path() / "in/long/short.pdf", {PageWords(1, 40), PageWords(2, 40)});
  DryRunOptions options;
  options.input_root = dir.path() / "in";
  const auto prices = pricing::PriceTable::Defaults();
  v1::SubmitDocumentsRequest request;
  request.mutable_source()->set_directory("long");
  auto plan = PlanDryRun(request, options, prices);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->planned, 2);
  EXPECT_EQ(plan->pages, 252);
  EXPECT_EQ(plan->split_documents, 1);
  EXPECT_EQ(plan->parts, 4);  // 1-100, 101-200, 201-250 and the short one
  EXPECT_EQ(plan->max_completion_tokens, 32768) << "gpt-4.1-mini's output cap";
  const DryRunDocument& manual = plan->documents[0];
  ASSERT_EQ(manual.document_id, "manual");
  ASSERT_EQ(manual.parts.size(), 3u);
  EXPECT_EQ(manual.parts[0].first_page, 1);
  EXPECT_EQ(manual.parts[0].last_page, 100);
  EXPECT_EQ(manual.parts[2].first_page, 201);
  EXPECT_EQ(manual.parts[2].last_page, 250);
  ASSERT_EQ(plan->shards.size(), 1u);
  EXPECT_EQ(plan->shards[0].documents, 2);
  EXPECT_EQ(plan->shards[0].requests, 4);

  // The same figures as the planner the worker calls, over the same file.
  const int fd = open((dir.path() / "in/long/manual.pdf").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  pdf::DocumentPlanOptions planning;
  planning.model = "gpt-4.1-mini";
  planning.limits =
      pdf::MakePartLimits(100, 32 << 20, 32768, 1047576, DefaultPrompt(), DefaultJsonSchema());
  auto direct = pdf::PlanDocument(fd, static_cast<uint64_t>(manual.size_bytes), planning);
  close(fd);
  ASSERT_TRUE(direct.ok()) << direct.status();
  ASSERT_EQ(direct->parts.size(), manual.parts.size());
  int64_t input = 0;
  for (size_t i = 0; i < direct->parts.size(); ++i) {
    EXPECT_EQ(static_cast<int64_t>(direct->parts[i].pdf_bytes), manual.parts[i].pdf_bytes);
    EXPECT_EQ(direct->parts[i].input_tokens, manual.parts[i].input_tokens);
    input += direct->parts[i].input_tokens;
  }
  EXPECT_EQ(manual.input_tokens, input);
  // Pages cost their image: more than 1,000 input tokens per page here.
  EXPECT_GT(manual.input_tokens, 250 * 1000);

  const auto json = nlohmann::json::parse(DryRunPlanToJson(*plan));
  EXPECT_EQ(json["splitDocuments"], 1);
  EXPECT_EQ(json["parts"], 4);
  EXPECT_EQ(json["documents"][0]["parts"].size(), 3u);

  // A schema without a per-page array: AUTO refuses to split, ALLOW splits,
  // NEVER refuses whatever the schema.
  request.set_json_schema(R"({"type":"object","additionalProperties":false,"required":["summary"],)"
                          R"("properties":{"summary":{"type":"string"}}})");
  plan = PlanDryRun(request, options, prices);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->planned, 1);
  EXPECT_EQ(plan->failing, 1);
  EXPECT_NE(plan->documents[0].error.find("split_policy ALLOW"), std::string::npos)
      << plan->documents[0].error;
  request.set_split_policy(v1::SPLIT_POLICY_ALLOW);
  plan = PlanDryRun(request, options, prices);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->planned, 2);
  EXPECT_EQ(plan->split_documents, 1);
  request.clear_json_schema();
  request.set_split_policy(v1::SPLIT_POLICY_NEVER);
  plan = PlanDryRun(request, options, prices);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->failing, 1);
  EXPECT_NE(plan->documents[0].error.find("split_policy is NEVER"), std::string::npos)
      << plan->documents[0].error;
}

TEST_F(DryRunTest, SyncModeCostsTheStandardPriceAndExistingTranscriptsAreSkipped) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "in" / "docs");
  WriteMinimalPdf(dir.path() / "in/docs/one.pdf", "first document");
  WriteMinimalPdf(dir.path() / "in/docs/two.pdf", "second document");
  std::filesystem::create_directories(dir.path() / "store/transcripts/gpt-5-nano");
  std::ofstream(dir.path() / "store/transcripts/gpt-5-nano/one.json") << "{}";
  v1::SubmitDocumentsRequest request;
  request.add_documents()->set_path("docs/one.pdf");
  request.add_documents()->set_path("docs/two.pdf");
  request.set_model("gpt-5-nano");
  request.set_mode(v1::MODE_SYNC);
  DryRunOptions options;
  options.input_root = dir.path() / "in";
  options.storage_root = dir.path() / "store";
  auto plan = PlanDryRun(request, options, pricing::PriceTable::Defaults());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->skipped, 1);
  EXPECT_EQ(plan->planned, 1);
  EXPECT_EQ(plan->documents[0].outcome, "skipped");
  EXPECT_EQ(plan->documents[1].document_id, "two");
  EXPECT_EQ(plan->documents[1].pages, 1);
  EXPECT_NEAR(plan->cost_usd, plan->sync_cost_usd, 1e-12);

  request.set_skip_existing(false);
  plan = PlanDryRun(request, options, pricing::PriceTable::Defaults());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->planned, 2);
}

TEST_F(DryRunTest, RejectsWhatTheServerWouldReject) {
  const auto prices = pricing::PriceTable::Defaults();
  auto request = DirectoryRequest("examples");
  request.set_model("gpt-9-ultra");
  EXPECT_EQ(PlanDryRun(request, Options(), prices).status().code(),
            absl::StatusCode::kInvalidArgument);

  v1::SubmitDocumentsRequest missing;
  missing.add_documents()->set_path("examples/no-such.pdf");
  EXPECT_EQ(PlanDryRun(missing, Options(), prices).status().code(),
            absl::StatusCode::kInvalidArgument);

  v1::SubmitDocumentsRequest twice;
  twice.add_documents()->set_path("examples/datasheet-centraflow-x200.pdf");
  twice.add_documents()->set_path("examples/invoice-northwind-INV-2024-0117.pdf");
  twice.mutable_documents(1)->set_document_id("datasheet-centraflow-x200");
  const auto status = PlanDryRun(twice, Options(), prices).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("appears twice"), std::string::npos) << status;

  v1::SubmitDocumentsRequest escape;
  escape.add_documents()->set_path("../etc/passwd");
  EXPECT_EQ(PlanDryRun(escape, Options(), prices).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto bad_schema = DirectoryRequest("examples");
  bad_schema.set_json_schema("[1, 2]");
  EXPECT_EQ(PlanDryRun(bad_schema, Options(), prices).status().code(),
            absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(PlanDryRun(DirectoryRequest("cli"), Options(), prices).status().code(),
            absl::StatusCode::kInvalidArgument)
      << "no PDF in cli/";
}

}  // namespace
}  // namespace batchscribe::cli
