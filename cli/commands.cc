#include "cli/commands.h"

#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/dry_run.h"
#include "cli/exit_codes.h"
#include "cli/format.h"
#include "cli/progress.h"
#include "libs/pricing/price_table.h"

namespace batchscribe::cli {

namespace v1 = batchscribe::v1;
namespace fs = std::filesystem;

namespace {

/// A watch stream that breaks (coordinator restart, network) is reopened this
/// many times in a row before watch gives up.
constexpr int kMaxWatchReconnects = 8;

int ReportRpcError(const CommandContext& ctx, const grpc::Status& status) {
  *ctx.err << "batchscribe: " << StatusCodeName(status.error_code()) << ": "
           << status.error_message() << "\n";
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    *ctx.err << "batchscribe: is the coordinator running at " << ctx.connection.server
             << "? (--server or BATCHSCRIBE_SERVER)\n";
  }
  return ExitCodeForStatus(status);
}

int ReportError(const CommandContext& ctx, const absl::Status& status, int code = kExitError) {
  *ctx.err << "batchscribe: " << status.message() << "\n";
  return code;
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(std::string(flag) + ": cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::unique_ptr<ApiClient>> Connect(const CommandContext& ctx) {
  return ApiClient::Connect(ctx.connection);
}

// Makes a local path relative to the local view of the input root when it lies
// under it; leaves server-relative paths alone.
absl::StatusOr<std::string> ServerPath(const std::string& path, const std::string& input_root) {
  if (input_root.empty()) return path;
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(fs::absolute(input_root), ec);
  const fs::path local = fs::weakly_canonical(fs::absolute(path), ec);
  const bool exists_locally = fs::exists(fs::absolute(path), ec);
  if (exists_locally || fs::path(path).is_absolute()) {
    const fs::path rel = local.lexically_relative(root);
    if (rel.empty() || *rel.begin() == "..") {
      if (fs::path(path).is_absolute()) {
        return absl::InvalidArgumentError(path + " is not under the input root " + input_root);
      }
      return path;  // a server-relative path that happens to exist here too
    }
    return rel == "." ? std::string() : rel.string();
  }
  return path;
}

absl::StatusOr<google::protobuf::Timestamp> ParseTime(const std::string& text, const char* flag) {
  google::protobuf::Timestamp ts;
  std::tm tm{};
  if (text.size() == 10 && strptime(text.c_str(), "%Y-%m-%d", &tm) != nullptr) {
    ts.set_seconds(timegm(&tm));
    return ts;
  }
  if (google::protobuf::util::TimeUtil::FromString(text, &ts)) return ts;
  return absl::InvalidArgumentError(std::string(flag) + ": expected YYYY-MM-DD or RFC 3339, got '" +
                                    text + "'");
}

void PrintDryRun(const CommandContext& ctx, const DryRunPlan& plan, const DryRunOptions& options) {
  if (ctx.output == OutputFormat::kJson) {
    *ctx.out << DryRunPlanToJson(plan) << "\n";
    return;
  }
  auto& out = *ctx.out;
  out << "Dry run: nothing was sent.\n";
  out << "documents:  " << FormatCount(plan.planned) << " to transcribe ("
      << FormatCount(plan.pages) << " pages, " << FormatBytes(plan.pdf_bytes) << " of PDF)";
  if (plan.skipped > 0) out << ", " << FormatCount(plan.skipped) << " skipped (transcript exists)";
  if (plan.failing > 0) out << ", " << FormatCount(plan.failing) << " would fail";
  out << "\n";
  out << "parts:      " << FormatCount(plan.parts) << " request lines";
  if (plan.split_documents > 0) {
    out << "; " << FormatCount(plan.split_documents) << " document"
        << (plan.split_documents == 1 ? "" : "s") << " split into "
        << FormatCount(plan.parts - (plan.planned - plan.split_documents)) << " parts (at most "
        << options.max_part_pages << " pages, " << FormatBytes(options.max_part_bytes)
        << " per request)";
  } else {
    out << " (no document needs splitting)";
  }
  out << "\n";
  out << "shards:     " << plan.shards.size() << " (caps " << FormatBytes(options.max_shard_bytes)
      << " / " << FormatCount(options.max_shard_requests) << " lines per shard)\n";
  Table shards({"  SHARD", "DOCS", "LINES", "SIZE", "EST. INPUT TOKENS"},
               {false, true, true, true, true});
  for (const auto& s : plan.shards) {
    shards.AddRow({"  " + s.shard_id, FormatCount(s.documents), FormatCount(s.requests),
                   FormatBytes(s.bytes), FormatCount(s.input_tokens)});
  }
  if (!shards.empty()) shards.Print(out);
  out << "model:      " << plan.model << " (" << ModeName(plan.mode) << ", max "
      << FormatCount(plan.max_completion_tokens) << " completion tokens per request)\n";
  out << "tokens:     ~" << FormatCount(plan.input_tokens) << " input, ~"
      << FormatCount(plan.output_tokens)
      << " output (estimated per page: its text layer and its image)\n";
  out << "cost:       ~" << FormatUsd(plan.cost_usd) << " in " << ModeName(plan.mode)
      << " mode (batch ~" << FormatUsd(plan.batch_cost_usd) << ", synchronous ~"
      << FormatUsd(plan.sync_cost_usd) << ")\n";
  for (const auto& d : plan.documents) {
    if (d.outcome == "fails") out << "would fail: " << d.path << ": " << d.error << "\n";
  }
}

// Follows the batch until it ends; returns the exit code for its final state.
int Watch(const CommandContext& ctx, ApiClient& client, const std::string& name) {
  const bool json = ctx.output == OutputFormat::kJson;
  ProgressView view(ctx.terminal && !json, TerminalWidth(1));
  v1::Batch last;
  bool seen = false;
  int reconnects = 0;
  grpc::Status status;
  while (true) {
    auto context = client.StreamContext();
    v1::WatchBatchRequest request;
    request.set_name(name);
    auto reader = client.stub().WatchBatch(context.get(), request);
    v1::WatchBatchResponse response;
    bool got_message = false;
    while (reader->Read(&response)) {
      got_message = true;
      seen = true;
      last = response.batch();
      if (json) {
        *ctx.out << ToJson(response) << "\n";
      } else {
        *ctx.out << view.Update(last, std::chrono::system_clock::now());
      }
      ctx.out->flush();
      if (IsFinal(last.state())) {
        context->TryCancel();
        break;
      }
    }
    status = reader->Finish();
    if (seen && IsFinal(last.state())) break;
    if (!status.ok() && ExitCodeForStatus(status) != kExitUnavailable) {
      return ReportRpcError(ctx, status);
    }
    // The stream broke before the batch ended: reopen it.
    reconnects = got_message ? 1 : reconnects + 1;
    if (reconnects > kMaxWatchReconnects) {
      if (status.ok()) status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "watch stream ended");
      return ReportRpcError(ctx, status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500) * (1 << std::min(reconnects, 5)));
  }
  if (!json) {
    const auto& c = last.counts();
    *ctx.out << last.name() << " ended " << StateName(last.state()) << ": "
             << FormatCount(c.succeeded()) << " succeeded, " << FormatCount(c.failed())
             << " failed, " << FormatCount(c.skipped()) << " skipped, "
             << FormatCount(c.cancelled()) << " cancelled; cost " << FormatUsd(last.cost_usd())
             << " (synchronous " << FormatUsd(last.sync_equivalent_cost_usd()) << ")\n";
    if (c.failed() > 0) {
      *ctx.out << "failed documents: batchscribe documents " << BatchId(last.name())
               << " --state failed\n";
    }
  }
  return ExitCodeForBatchState(last.state());
}

}  // namespace

int RunSubmit(const CommandContext& ctx, const SubmitArgs& args) {
  v1::SubmitDocumentsRequest request;
  if (args.files.empty() == !args.directory_given) {
    return ReportError(ctx, absl::InvalidArgumentError("give either PDF files or --dir (not both)"),
                       kExitUsage);
  }
  if (!args.directory_given && (!args.glob.empty() || args.limit != 0)) {
    return ReportError(ctx, absl::InvalidArgumentError("--glob and -n go with --dir"), kExitUsage);
  }
  for (const auto& file : args.files) {
    auto path = ServerPath(file, args.input_root);
    if (!path.ok()) return ReportError(ctx, path.status(), kExitBadRequest);
    request.add_documents()->set_path(*path);
  }
  if (args.directory_given) {
    auto dir = ServerPath(args.directory, args.input_root);
    if (!dir.ok()) return ReportError(ctx, dir.status(), kExitBadRequest);
    auto* source = request.mutable_source();
    source->set_directory(*dir);
    source->set_glob(args.glob);
    source->set_limit(args.limit);
  }
  request.set_model(args.model);
  if (!args.prompt_file.empty()) {
    auto prompt = ReadTextFile(args.prompt_file, "--prompt_file");
    if (!prompt.ok()) return ReportError(ctx, prompt.status());
    request.set_prompt(*prompt);
  }
  if (!args.schema_file.empty()) {
    auto schema = ReadTextFile(args.schema_file, "--schema_file");
    if (!schema.ok()) return ReportError(ctx, schema.status());
    request.set_json_schema(*schema);
  }
  auto mode = ParseMode(args.mode);
  if (!mode.ok()) return ReportError(ctx, mode.status(), kExitUsage);
  request.set_mode(*mode);
  request.set_max_completion_tokens(args.max_completion_tokens);
  request.set_split_policy(args.split_policy == "allow"   ? v1::SPLIT_POLICY_ALLOW
                           : args.split_policy == "never" ? v1::SPLIT_POLICY_NEVER
                                                          : v1::SPLIT_POLICY_AUTO);
  for (const auto& label : args.labels) {
    const auto eq = label.find('=');
    if (eq == std::string::npos || eq == 0) {
      return ReportError(
          ctx, absl::InvalidArgumentError("--label expects KEY=VALUE, got '" + label + "'"),
          kExitUsage);
    }
    (*request.mutable_labels())[label.substr(0, eq)] = label.substr(eq + 1);
  }
  request.set_request_id(args.request_id);
  request.set_display_name(args.display_name);
  request.set_max_cost_usd(args.max_cost_usd);
  if (args.no_skip_existing) request.set_skip_existing(false);

  if (args.dry_run) {
    DryRunOptions options;
    options.input_root = args.input_root.empty() ? fs::path(".") : fs::path(args.input_root);
    options.storage_root = args.storage_root;
    if (args.max_shard_bytes > 0) options.max_shard_bytes = args.max_shard_bytes;
    if (args.max_shard_requests > 0) {
      options.max_shard_requests = std::min(args.max_shard_requests, kMaxShardRequests);
    }
    if (args.max_part_pages > 0) options.max_part_pages = args.max_part_pages;
    if (args.max_part_bytes > 0) options.max_part_bytes = args.max_part_bytes;
    auto plan = PlanDryRun(request, options, pricing::PriceTable::Defaults());
    if (!plan.ok()) return ReportError(ctx, plan.status(), kExitBadRequest);
    PrintDryRun(ctx, *plan, options);
    return kExitOk;
  }

  auto client = Connect(ctx);
  if (!client.ok()) return ReportError(ctx, client.status());
  v1::SubmitDocumentsResponse response;
  const grpc::Status status =
      (*client)->stub().SubmitDocuments((*client)->UnaryContext().get(), request, &response);
  if (!status.ok()) return ReportRpcError(ctx, status);
  const auto& batch = response.batch();
  if (ctx.output == OutputFormat::kJson) {
    *ctx.out << ToJson(response) << "\n";
  } else {
    *ctx.out << (response.replayed() ? "Found the batch of request_id " + batch.request_id() + ": "
                                     : std::string("Submitted "))
             << batch.name() << ": " << FormatCount(batch.counts().total())
             << (batch.counts().total() == 1 ? " document" : " documents");
    if (batch.counts().skipped() > 0) {
      *ctx.out << " (" << FormatCount(batch.counts().skipped()) << " skipped: transcript exists)";
    }
    *ctx.out << ", " << batch.model() << ", " << ModeName(batch.mode()) << "\n";
    if (!args.watch)
      *ctx.out << "Follow it with: batchscribe watch " << BatchId(batch.name()) << "\n";
  }
  ctx.out->flush();
  if (args.watch) return Watch(ctx, **client, batch.name());
  return kExitOk;
}

int RunStatus(const CommandContext& ctx, const std::string& batch) {
  auto client = Connect(ctx);
  if (!client.ok()) return ReportError(ctx, client.status());
  v1::GetBatchRequest request;
  request.set_name(BatchName(batch));
  v1::GetBatchResponse response;
  const grpc::Status status =
      (*client)->stub().GetBatch((*client)->UnaryContext().get(), request, &response);
  if (!status.ok()) return ReportRpcError(ctx, status);
  if (ctx.output == OutputFormat::kJson) {
    *ctx.out << ToJson(response) << "\n";
  } else {
    PrintBatch(*ctx.out, response.batch());
  }
  return ExitCodeForBatchState(response.batch().state());
}

int RunWatch(const CommandContext& ctx, const std::string& batch) {
  auto client = Connect(ctx);
  if (!client.ok()) return ReportError(ctx, client.status());
  return Watch(ctx, **client, BatchName(batch));
}

int RunList(const CommandContext& ctx, const ListArgs& args) {
  auto client = Connect(ctx);
  if (!client.ok()) return ReportError(ctx, client.status());
  v1::ListBatchesResponse all;
  v1::ListBatchesRequest request;
  request.set_page_size(args.page_size);
  request.set_page_token(args.page_token);
  while (true) {
    v1::ListBatchesResponse page;
    const grpc::Status status =
        (*client)->stub().ListBatches((*client)->UnaryContext().get(), request, &page);
    if (!status.ok()) return ReportRpcError(ctx, status);
    all.mutable_batches()->MergeFrom(page.batches());
    all.set_next_page_token(page.next_page_token());
    if (!args.all || page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
  }
  if (ctx.output == OutputFormat::kJson) {
    *ctx.out << ToJson(all) << "\n";
    return kExitOk;
  }
  Table table({"BATCH", "STATE", "MODEL", "MODE", "DOCS", "SUCCEEDED", "FAILED", "SKIPPED", "COST",
               "CREATED", "NAME"},
              {false, false, false, false, true, true, true, true, true, false, false});
  for (const auto& b : all.batches()) {
    table.AddRow({BatchId(b.name()), StateName(b.state()), b.model(), ModeName(b.mode()),
                  FormatCount(b.counts().total()), FormatCount(b.counts().succeeded()),
                  FormatCount(b.counts().failed()), FormatCount(b.counts().skipped()),
                  FormatUsd(b.cost_usd()), FormatTimestamp(b.create_time()), b.display_name()});
  }
  table.Print(*ctx.out);
  if (!all.next_page_token().empty()) {
    *ctx.out << "More: batchscribe list --page_token " << all.next_page_token()
             << "   (or --all)\n";
  }
  return kExitOk;
}

int RunDocuments(const CommandContext& ctx, const DocumentsArgs& args) {
  v1::ListDocumentsRequest request;
  request.set_parent(BatchName(args.batch));
  request.set_page_size(args.page_size);
  request.set_page_token(args.page_token);
  for (const auto& s : args.states) {
    auto state = ParseDocumentState(s);
    if (!state.ok()) return ReportError(ctx, state.status(), kExitUsage);
    request.add_states(*state);
  }
  auto client = Connect(ctx);
  if (!client.ok()) return ReportError(ctx, client.status());
  v1::ListDocumentsResponse all;
  while (true) {
    v1::ListDocumentsResponse page;
    const grpc::Status status =
        (*client)->stub().ListDocuments((*client)->UnaryContext().get(), request, &page);
    if (!status.ok()) return ReportRpcError(ctx, status);
    all.mutable_documents()->MergeFrom(page.documents());
    all.set_next_page_token(page.next_page_token());
    if (!args.all || page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
  }
  if (ctx.output == OutputFormat::kJson) {
    *ctx.out << ToJson(all) << "\n";
    return kExitOk;
  }
  Table table({"DOCUMENT", "STATE", "ATTEMPTS", "SHARD", "SIZE", "PAGES", "PARTS", "COST",
               "TRANSCRIPT OR ERROR"},
              {false, false, true, false, true, true, true, true, false});
  for (const auto& d : all.documents()) {
    std::string detail = d.error().empty() ? d.transcript_path() : "error: " + d.error();
    if (detail.empty()) detail = d.path();
    // Parts as succeeded/planned; "-" until the worker planned the document.
    table.AddRow({d.document_id(), StateName(d.state()), std::to_string(d.attempts()),
                  d.shard_id().empty() ? "-" : d.shard_id(), FormatBytes(d.size_bytes()),
                  d.page_count() > 0 ? FormatCount(d.page_count()) : "-",
                  d.part_count() > 0
                      ? FormatCount(d.parts_succeeded()) + "/" + FormatCount(d.part_count())
                      : "-",
                  FormatUsd(d.cost_usd()), detail});
  }
  table.Print(*ctx.out);
  if (!all.next_page_token().empty()) {
    *ctx.out << "More: batchscribe documents " << BatchId(request.parent()) << " --page_token "
             << all.next_page_token() << "   (or --all)\n";
  }
  return kExitOk;
}

int RunCancel(const CommandContext& ctx, const std::string& batch) {
  auto client = Connect(ctx);
  if (!client.ok()) return ReportError(ctx, client.status());
  v1::CancelBatchRequest request;
  request.set_name(BatchName(batch));
  v1::CancelBatchResponse response;
  const grpc::Status status =
      (*client)->stub().CancelBatch((*client)->UnaryContext().get(), request, &response);
  if (!status.ok()) return ReportRpcError(ctx, status);
  if (ctx.output == OutputFormat::kJson) {
    *ctx.out << ToJson(response) << "\n";
  } else {
    const auto& b = response.batch();
    *ctx.out << b.name() << " is " << StateName(b.state()) << ": " << FormatCounts(b.counts())
             << "\n";
    if (b.state() == v1::BATCH_STATE_CANCELLING) {
      *ctx.out << "Shards already at OpenAI are being cancelled; follow with: batchscribe watch "
               << BatchId(b.name()) << "\n";
    }
  }
  return kExitOk;
}

int RunRetry(const CommandContext& ctx, const std::string& batch, bool watch) {
  auto client = Connect(ctx);
  if (!client.ok()) return ReportError(ctx, client.status());
  v1::RetryBatchRequest request;
  request.set_name(BatchName(batch));
  v1::RetryBatchResponse response;
  const grpc::Status status =
      (*client)->stub().RetryBatch((*client)->UnaryContext().get(), request, &response);
  if (!status.ok()) return ReportRpcError(ctx, status);
  if (ctx.output == OutputFormat::kJson) {
    *ctx.out << ToJson(response) << "\n";
  } else {
    *ctx.out << "Re-queued " << FormatCount(response.requeued_documents())
             << " failed documents of " << response.batch().name() << "; it is "
             << StateName(response.batch().state()) << "\n";
  }
  ctx.out->flush();
  if (watch && response.requeued_documents() > 0) {
    return Watch(ctx, **client, response.batch().name());
  }
  return kExitOk;
}

int RunCosts(const CommandContext& ctx, const CostsArgs& args) {
  v1::GetCostReportRequest request;
  if (args.days > 0 && !args.since.empty()) {
    return ReportError(ctx, absl::InvalidArgumentError("--days and --since exclude each other"),
                       kExitUsage);
  }
  if (args.days > 0) {
    const int64_t today = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count() /
                          86400 * 86400;
    request.mutable_start_time()->set_seconds(today - int64_t{86400} * (args.days - 1));
  }
  if (!args.since.empty()) {
    auto t = ParseTime(args.since, "--since");
    if (!t.ok()) return ReportError(ctx, t.status(), kExitUsage);
    *request.mutable_start_time() = *t;
  }
  if (!args.until.empty()) {
    auto t = ParseTime(args.until, "--until");
    if (!t.ok()) return ReportError(ctx, t.status(), kExitUsage);
    *request.mutable_end_time() = *t;
  }
  request.set_model(args.model);
  auto client = Connect(ctx);
  if (!client.ok()) return ReportError(ctx, client.status());
  v1::GetCostReportResponse response;
  const grpc::Status status =
      (*client)->stub().GetCostReport((*client)->UnaryContext().get(), request, &response);
  if (!status.ok()) return ReportRpcError(ctx, status);
  if (ctx.output == OutputFormat::kJson) {
    *ctx.out << ToJson(response) << "\n";
    return kExitOk;
  }
  Table table({"DAY", "MODEL", "MODE", "DOCS", "INPUT TOKENS", "CACHED", "OUTPUT TOKENS", "COST",
               "SYNC EQUIVALENT", "SAVED"},
              {false, false, false, true, true, true, true, true, true, true});
  auto add = [&](const v1::CostReportRow& r, const std::string& day) {
    table.AddRow({day, r.model().empty() ? "" : r.model(),
                  r.mode() == v1::MODE_UNSPECIFIED ? "" : ModeName(r.mode()),
                  FormatCount(r.documents()), FormatCount(r.usage().input_tokens()),
                  FormatCount(r.usage().cached_input_tokens()),
                  FormatCount(r.usage().output_tokens()), FormatUsd(r.cost_usd()),
                  FormatUsd(r.sync_equivalent_cost_usd()),
                  FormatUsd(r.sync_equivalent_cost_usd() - r.cost_usd())});
  };
  for (const auto& row : response.rows()) add(row, row.day());
  add(response.total(), "TOTAL");
  table.Print(*ctx.out);
  const auto& total = response.total();
  if (total.sync_equivalent_cost_usd() > 0) {
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.0f%%",
                  100.0 * (total.sync_equivalent_cost_usd() - total.cost_usd()) /
                      total.sync_equivalent_cost_usd());
    *ctx.out << "Paid " << FormatUsd(total.cost_usd())
             << " where synchronous calls would have cost "
             << FormatUsd(total.sync_equivalent_cost_usd()) << ": saved "
             << FormatUsd(total.sync_equivalent_cost_usd() - total.cost_usd()) << " (" << pct
             << ").\n";
  }
  return kExitOk;
}

}  // namespace batchscribe::cli
