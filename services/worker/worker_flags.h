#pragma once
// The worker's command line: every flag has an environment fallback (flags
// win). BuildConfig validates the values and reads the secrets.

#include <absl/status/statusor.h>

#include <CLI/CLI.hpp>
#include <map>
#include <string>

#include "services/worker/worker_config.h"

namespace batchscribe::worker {

struct WorkerFlags {
  std::string database_url;
  std::string storage_root;
  std::string input_root;
  std::string openai_base_url = "https://api.openai.com/v1";
  std::string openai_api_key_file;
  int openai_max_retries = 2;
  int concurrency = 4;
  std::string kinds;
  int metrics_port = 0;
  int health_port = 0;
  int liveness_timeout_seconds = 300;
  std::string health_check;
  int lease_seconds = 60;
  int poll_interval_ms = 1000;
  int batch_poll_min_ms = 30000;
  int batch_poll_max_ms = 300000;
  int64_t max_shard_bytes = 190LL * 1000 * 1000;
  int max_shard_requests = 50000;
  int max_part_pages = 100;                  // pdf::kDefaultMaxPartPages
  int64_t max_part_bytes = 32LL * 1024 * 1024;  // pdf::kDefaultMaxPartBytes
  std::string token_budget;
  int resubmit_backoff_ms = 60000;
  int max_resubmits = 30;
  int budget_wait_ms = 30000;
  std::string price_table;
  int sync_concurrency = 4;
  int sweep_interval_ms = 30000;
  int drain_seconds = 20;
  double task_backoff_scale = 1.0;
  std::string log_level = "info";
};

/// Declares every flag on `app`, bound to `flags`.
void AddWorkerFlags(CLI::App& app, WorkerFlags& flags);

/// "gpt-4.1-mini=2000000,gpt-4o-mini=500000" -> map. INVALID_ARGUMENT on a
/// malformed entry or a non-positive budget.
absl::StatusOr<std::map<std::string, int64_t>> ParseTokenBudgets(const std::string& text);

/// "plan,prepare" -> kinds; INVALID_ARGUMENT for an unknown kind. "" = all.
absl::StatusOr<std::vector<std::string>> ParseKinds(const std::string& text);

/// Validates the flags, loads the price table, reads the API key
/// (--openai_api_key_file, else OPENAI_API_KEY), BATCHSCRIBE_TEST_CRASH_AT and
/// BATCHSCRIBE_TEST_FREEZE_FILE.
absl::StatusOr<WorkerConfig> BuildConfig(const WorkerFlags& flags);

}  // namespace batchscribe::worker
