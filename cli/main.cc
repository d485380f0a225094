// batchscribe: the command-line client of the BatchService API.
//   batchscribe submit --dir invoices -n 1000        submit a folder (or PDF files)
//   batchscribe watch <batch>                        live progress until the batch ends
//   batchscribe status|documents|cancel|retry <batch>, list, costs
// Exit codes: cli/exit_codes.h (0 ok, 2 usage, 3 bad request, 4 unreachable,
// 5 auth, 10 failed, 11 partially succeeded, 12 cancelled, 1 other).

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"

namespace {

using namespace batchscribe::cli;

int Main(int argc, char** argv) {
  CLI::App app{
      "batchscribe: transcribe PDF collections with an LLM through the OpenAI Batch API.\n"
      "A client of the coordinator's gRPC API (BatchService)."};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand

  CommandContext ctx;
  ctx.out = &std::cout;
  ctx.err = &std::cerr;
  ctx.terminal = isatty(STDOUT_FILENO) == 1;
  std::string output = "text";
  double timeout_seconds = 30;
  app.add_option("--server", ctx.connection.server, "Coordinator HOST:PORT")
      ->envname("BATCHSCRIBE_SERVER")
      ->capture_default_str();
  app.add_option("--token", ctx.connection.token,
                 "Bearer token (prefer --token_file or BATCHSCRIBE_TOKEN: argv is visible in ps)")
      ->envname("BATCHSCRIBE_TOKEN");
  app.add_option("--token_file", ctx.connection.token_file, "File holding the bearer token")
      ->envname("BATCHSCRIBE_TOKEN_FILE");
  app.add_option("--tls_ca", ctx.connection.tls_ca,
                 "PEM file of the CA of the server certificate (enables TLS)")
      ->envname("BATCHSCRIBE_TLS_CA");
  app.add_flag("--tls", ctx.connection.tls, "TLS with the system root certificates");
  app.add_option("--timeout", timeout_seconds, "Deadline of each call in seconds")
      ->capture_default_str();
  app.add_option("--output,-o", output, "text or json (proto3 JSON, one object per line)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  // submit
  SubmitArgs submit;
  auto* submit_cmd = app.add_subcommand(
      "submit", "Submit PDFs (paths relative to the server's input root) or a directory");
  submit_cmd->add_option("files", submit.files, "PDF files, relative to the input root");
  submit_cmd->add_option("--dir", submit.directory, "Directory under the input root (. = root)")
      ->each([&](const std::string&) { submit.directory_given = true; });
  submit_cmd->add_option("--glob", submit.glob,
                         "Glob under --dir; ** crosses folders (default *.pdf)");
  submit_cmd->add_option("-n,--limit", submit.limit, "At most N files of --dir, in path order")
      ->check(CLI::NonNegativeNumber);
  submit_cmd->add_option("--model", submit.model, "Model (default gpt-4.1-mini)");
  submit_cmd->add_option("--prompt_file", submit.prompt_file, "File with the instruction text");
  submit_cmd->add_option("--schema_file", submit.schema_file,
                         "File with the JSON Schema of the answer (strict)");
  submit_cmd->add_option("--mode", submit.mode, "batch (Batch API, half price) or sync")
      ->capture_default_str();
  submit_cmd->add_option("--max_completion_tokens", submit.max_completion_tokens,
                         "Cap per request (default: the model's output cap)");
  submit_cmd
      ->add_option("--split_policy", submit.split_policy,
                   "Documents that do not fit one request: auto (split when the schema has a "
                   "per-page array), allow (split whatever the schema), never")
      ->check(CLI::IsMember({"auto", "allow", "never"}))
      ->capture_default_str();
  submit_cmd->add_option("--label", submit.labels, "KEY=VALUE label (repeatable)");
  submit_cmd->add_option("--request_id", submit.request_id,
                         "Idempotency key: a replay returns the original batch");
  submit_cmd->add_option("--display_name", submit.display_name, "Display name");
  submit_cmd->add_option("--max_cost_usd", submit.max_cost_usd, "Budget for the batch (0 = none)");
  submit_cmd->add_flag("--no_skip_existing", submit.no_skip_existing,
                       "Transcribe even documents whose transcript exists");
  submit_cmd->add_flag("--dry-run,--dry_run", submit.dry_run,
                       "Plan shards and estimate cost locally; send nothing");
  submit_cmd->add_flag("--watch", submit.watch, "Then follow the batch like `watch`");
  submit_cmd
      ->add_option("--input_root", submit.input_root,
                   "Local view of the server's input root: local paths under it are made "
                   "relative; --dry-run reads PDFs there (default: current directory)")
      ->envname("BATCHSCRIBE_INPUT_ROOT");
  submit_cmd
      ->add_option("--storage_root", submit.storage_root,
                   "Local storage root: --dry-run counts existing transcripts as skipped")
      ->envname("BATCHSCRIBE_STORAGE_ROOT");
  submit_cmd->add_option("--max_shard_bytes", submit.max_shard_bytes,
                         "--dry-run: shard size cap (default 190 MB)");
  submit_cmd->add_option("--max_shard_requests", submit.max_shard_requests,
                         "--dry-run: request lines per shard cap (default and maximum 50000)");
  submit_cmd->add_option("--max_part_pages", submit.max_part_pages,
                         "--dry-run: the workers' pages per request (default 100)");
  submit_cmd->add_option("--max_part_bytes", submit.max_part_bytes,
                         "--dry-run: the workers' PDF bytes per request (default 32 MiB)");

  std::string batch;
  auto* status_cmd =
      app.add_subcommand("status", "Show a batch: state, counts, usage, cost, shards, last errors");
  status_cmd->add_option("batch", batch, "Batch id or batches/<id>")->required();

  auto* watch_cmd =
      app.add_subcommand("watch", "Follow a batch until it ends (progress bar, rate, ETA, cost)");
  watch_cmd->add_option("batch", batch, "Batch id or batches/<id>")->required();

  ListArgs list;
  auto* list_cmd = app.add_subcommand("list", "List batches, newest first");
  list_cmd->add_option("--page_size", list.page_size, "Batches per page (default 50)");
  list_cmd->add_option("--page_token", list.page_token, "Page token from a previous list");
  list_cmd->add_flag("--all", list.all, "Follow every page");

  DocumentsArgs documents;
  auto* documents_cmd = app.add_subcommand(
      "documents", "List the documents of a batch with their state and failure reason");
  documents_cmd->add_option("batch", documents.batch, "Batch id or batches/<id>")->required();
  documents_cmd->add_option("--state", documents.states,
                            "Only this state (repeatable): pending prepared submitted succeeded "
                            "failed skipped cancelled");
  documents_cmd->add_option("--page_size", documents.page_size, "Documents per page (default 100)");
  documents_cmd->add_option("--page_token", documents.page_token, "Page token");
  documents_cmd->add_flag("--all", documents.all, "Follow every page");

  auto* cancel_cmd = app.add_subcommand("cancel", "Cancel a PENDING or RUNNING batch");
  cancel_cmd->add_option("batch", batch, "Batch id or batches/<id>")->required();

  bool retry_watch = false;
  auto* retry_cmd =
      app.add_subcommand("retry", "Re-queue the FAILED documents of a finished batch");
  retry_cmd->add_option("batch", batch, "Batch id or batches/<id>")->required();
  retry_cmd->add_flag("--watch", retry_watch, "Then follow the batch like `watch`");

  CostsArgs costs;
  auto* costs_cmd = app.add_subcommand(
      "costs", "Cost history per UTC day, model and mode, beside the synchronous price");
  costs_cmd->add_option("--since", costs.since, "From this day (YYYY-MM-DD, UTC) or RFC 3339 time");
  costs_cmd->add_option("--until", costs.until, "Before this day or time");
  costs_cmd->add_option("--days", costs.days, "The last N days, today included")
      ->check(CLI::PositiveNumber);
  costs_cmd->add_option("--model", costs.model, "Only this model");

  app.footer(
      "Exit codes: 0 ok; 1 other error; 2 usage; 3 bad request (INVALID_ARGUMENT, NOT_FOUND,\n"
      "FAILED_PRECONDITION); 4 server unreachable (UNAVAILABLE, DEADLINE_EXCEEDED); 5 auth\n"
      "(UNAUTHENTICATED, PERMISSION_DENIED); status/watch: 10 batch FAILED, 11 "
      "PARTIALLY_SUCCEEDED,\n"
      "12 CANCELLED.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  ctx.output = output == "json" ? OutputFormat::kJson : OutputFormat::kText;
  ctx.connection.timeout =
      std::chrono::milliseconds(static_cast<int64_t>(std::max(0.001, timeout_seconds) * 1000));

  if (submit_cmd->parsed()) return RunSubmit(ctx, submit);
  if (status_cmd->parsed()) return RunStatus(ctx, batch);
  if (watch_cmd->parsed()) return RunWatch(ctx, batch);
  if (list_cmd->parsed()) return RunList(ctx, list);
  if (documents_cmd->parsed()) return RunDocuments(ctx, documents);
  if (cancel_cmd->parsed()) return RunCancel(ctx, batch);
  if (retry_cmd->parsed()) return RunRetry(ctx, batch, retry_watch);
  if (costs_cmd->parsed()) return RunCosts(ctx, costs);
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
