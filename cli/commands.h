#pragma once
// The subcommands of the batchscribe CLI. Each returns the process exit code
// (cli/exit_codes.h) and writes results to `out`, diagnostics to `err`.

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "cli/connection.h"

namespace batchscribe::cli {

enum class OutputFormat { kText, kJson };

/// What every command shares.
struct CommandContext {
  ConnectionOptions connection;
  OutputFormat output = OutputFormat::kText;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  /// stdout is a terminal: watch redraws a progress bar instead of printing lines.
  bool terminal = false;
};

struct SubmitArgs {
  std::vector<std::string> files;
  std::string directory;
  bool directory_given = false;
  std::string glob;
  int limit = 0;
  std::string model;
  std::string prompt_file;
  std::string schema_file;
  std::string mode = "batch";
  int max_completion_tokens = 0;
  std::vector<std::string> labels;  // k=v
  std::string request_id;
  std::string display_name;
  double max_cost_usd = 0;
  bool no_skip_existing = false;
  bool dry_run = false;
  bool watch = false;
  /// Local view of the server's input root (paths under it are made relative;
  /// --dry-run reads the PDFs there). Empty: the current directory for --dry-run.
  std::string input_root;
  /// Local storage root: --dry-run counts documents with a transcript as skipped.
  std::string storage_root;
  int64_t max_shard_bytes = 0;
  int max_shard_requests = 0;
  /// auto, allow or never (the API's SplitPolicy).
  std::string split_policy = "auto";
  /// --dry-run: the workers' per-request part limits (0 = their defaults).
  int max_part_pages = 0;
  int64_t max_part_bytes = 0;
};

struct ListArgs {
  int page_size = 0;
  std::string page_token;
  bool all = false;
};

struct DocumentsArgs {
  std::string batch;
  std::vector<std::string> states;
  int page_size = 0;
  std::string page_token;
  bool all = false;
};

struct CostsArgs {
  std::string since;  // YYYY-MM-DD or RFC 3339
  std::string until;
  int days = 0;
  std::string model;
};

int RunSubmit(const CommandContext& ctx, const SubmitArgs& args);
int RunStatus(const CommandContext& ctx, const std::string& batch);
int RunWatch(const CommandContext& ctx, const std::string& batch);
int RunList(const CommandContext& ctx, const ListArgs& args);
int RunDocuments(const CommandContext& ctx, const DocumentsArgs& args);
int RunCancel(const CommandContext& ctx, const std::string& batch);
int RunRetry(const CommandContext& ctx, const std::string& batch, bool watch);
int RunCosts(const CommandContext& ctx, const CostsArgs& args);

}  // namespace batchscribe::cli
