#include "services/worker/worker_flags.h"

#include <absl/status/status.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "libs/common/logging.h"
#include "libs/common/secrets.h"

namespace batchscribe::worker {
namespace {

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

void AddWorkerFlags(CLI::App& app, WorkerFlags& f) {
  app.add_option("--database_url", f.database_url, "PostgreSQL URL")->envname("DATABASE_URL");
  app.add_option("--storage_root", f.storage_root, "Storage root (transcripts, batch files)")
      ->envname("BATCHSCRIBE_STORAGE_ROOT");
  app.add_option("--input_root", f.input_root, "Input root (PDFs, read-only)")
      ->envname("BATCHSCRIBE_INPUT_ROOT");
  app.add_option("--openai_base_url", f.openai_base_url, "OpenAI API base URL (or the emulator's)")
      ->envname("OPENAI_BASE_URL");
  app.add_option("--openai_api_key_file", f.openai_api_key_file,
                 "File holding the OpenAI API key (else $OPENAI_API_KEY)")
      ->envname("OPENAI_API_KEY_FILE");
  app.add_option("--openai_max_retries", f.openai_max_retries, "Client retries per OpenAI call")
      ->envname("BATCHSCRIBE_OPENAI_MAX_RETRIES");
  app.add_option("--concurrency", f.concurrency, "Tasks in flight in this process")
      ->envname("BATCHSCRIBE_CONCURRENCY");
  app.add_option("--kinds", f.kinds, "Task kinds to run, comma separated (default: all)")
      ->envname("BATCHSCRIBE_KINDS");
  app.add_option("--metrics_port", f.metrics_port, "Prometheus /metrics port (0 = off)")
      ->envname("BATCHSCRIBE_METRICS_PORT");
  app.add_option("--health_port", f.health_port,
                 "HTTP port of /livez (claim loops progressing), /readyz (database answers) "
                 "and /healthz (both); 0 = off")
      ->envname("BATCHSCRIBE_HEALTH_PORT");
  app.add_option("--liveness_timeout_seconds", f.liveness_timeout_seconds,
                 "A claim slot silent this long makes /livez fail")
      ->envname("BATCHSCRIBE_LIVENESS_TIMEOUT_SECONDS");
  app.add_option("--health_check", f.health_check,
                 "HOST:PORT: GET /healthz there and exit 0 when healthy (container probes)");
  app.add_option("--lease_seconds", f.lease_seconds, "Task lease; heartbeats every lease/3")
      ->envname("BATCHSCRIBE_LEASE_SECONDS");
  app.add_option("--poll_interval_ms", f.poll_interval_ms,
                 "Queue polling interval when no NOTIFY arrives")
      ->envname("BATCHSCRIBE_POLL_INTERVAL_MS");
  app.add_option("--batch_poll_min_ms", f.batch_poll_min_ms,
                 "First interval between polls of an OpenAI batch")
      ->envname("BATCHSCRIBE_BATCH_POLL_MIN_MS");
  app.add_option("--batch_poll_max_ms", f.batch_poll_max_ms,
                 "Longest interval between polls of an OpenAI batch")
      ->envname("BATCHSCRIBE_BATCH_POLL_MAX_MS");
  app.add_option("--max_shard_bytes", f.max_shard_bytes,
                 "Largest shard input file (hard cap 200,000,000)")
      ->envname("BATCHSCRIBE_MAX_SHARD_BYTES");
  app.add_option("--max_shard_requests", f.max_shard_requests,
                 "Most documents per shard (hard cap 50,000)")
      ->envname("BATCHSCRIBE_MAX_SHARD_REQUESTS");
  app.add_option("--max_part_pages", f.max_part_pages,
                 "Most PDF pages per request line; longer documents are split "
                 "(OpenAI file inputs: 100 pages per request)")
      ->envname("BATCHSCRIBE_MAX_PART_PAGES");
  app.add_option("--max_part_bytes", f.max_part_bytes,
                 "Most PDF bytes per request line; larger documents are split "
                 "(OpenAI file inputs: 32 MB per request)")
      ->envname("BATCHSCRIBE_MAX_PART_BYTES");
  app.add_option("--token_budget", f.token_budget,
                 "Enqueued input-token budget per model: model=tokens,...")
      ->envname("BATCHSCRIBE_TOKEN_BUDGET");
  app.add_option("--max_resubmits", f.max_resubmits,
                 "Times a shard is created again after OpenAI rejected its batch for a "
                 "transient reason or could not find its input file (a fresh upload each)")
      ->envname("BATCHSCRIBE_MAX_RESUBMITS");
  app.add_option("--resubmit_backoff_ms", f.resubmit_backoff_ms,
                 "First wait before resubmitting after token_limit_exceeded (doubles, max 1 h)")
      ->envname("BATCHSCRIBE_RESUBMIT_BACKOFF_MS");
  app.add_option("--budget_wait_ms", f.budget_wait_ms,
                 "Re-check interval while a model's token budget is full")
      ->envname("BATCHSCRIBE_BUDGET_WAIT_MS");
  app.add_option("--price_table", f.price_table, "JSON price table (adds to the defaults)")
      ->envname("BATCHSCRIBE_PRICE_TABLE");
  app.add_option("--sync_concurrency", f.sync_concurrency,
                 "Concurrent chat completions per SYNC transcribe task")
      ->envname("BATCHSCRIBE_SYNC_CONCURRENCY");
  app.add_option("--sweep_interval_ms", f.sweep_interval_ms,
                 "Interval of the stranded-work sweep (0 = off)")
      ->envname("BATCHSCRIBE_SWEEP_INTERVAL_MS");
  app.add_option("--drain_seconds", f.drain_seconds,
                 "On SIGTERM, how long running tasks may finish before they are handed back")
      ->envname("BATCHSCRIBE_DRAIN_SECONDS");
  app.add_option("--task_backoff_scale", f.task_backoff_scale,
                 "Multiplies the queue's retry backoff (tests)")
      ->envname("BATCHSCRIBE_TASK_BACKOFF_SCALE");
  app.add_option("--log_level", f.log_level, "debug, info, warn or error")
      ->envname("BATCHSCRIBE_LOG_LEVEL");
}

absl::StatusOr<std::map<std::string, int64_t>> ParseTokenBudgets(const std::string& text) {
  std::map<std::string, int64_t> budgets;
  for (const std::string& item : SplitList(text)) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError("--token_budget: '" + item + "' is not model=tokens");
    }
    std::string model = item.substr(0, eq);
    std::string value = item.substr(eq + 1);
    char* end = nullptr;
    long long tokens = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || tokens <= 0) {
      return absl::InvalidArgumentError("--token_budget: '" + value +
                                        "' is not a positive token count");
    }
    budgets[model] = tokens;
  }
  return budgets;
}

absl::StatusOr<std::vector<std::string>> ParseKinds(const std::string& text) {
  std::vector<std::string> kinds = SplitList(text);
  for (const std::string& kind : kinds) {
    const auto& all = AllTaskKinds();
    if (std::find(all.begin(), all.end(), kind) == all.end()) {
      return absl::InvalidArgumentError("--kinds: unknown task kind '" + kind + "'");
    }
  }
  return kinds;
}

absl::StatusOr<WorkerConfig> BuildConfig(const WorkerFlags& f) {
  WorkerConfig c;
  if (f.database_url.empty()) return absl::InvalidArgumentError("--database_url is required");
  if (f.storage_root.empty()) return absl::InvalidArgumentError("--storage_root is required");
  if (f.input_root.empty()) return absl::InvalidArgumentError("--input_root is required");
  if (f.concurrency < 1) return absl::InvalidArgumentError("--concurrency must be at least 1");
  if (f.lease_seconds < 1) return absl::InvalidArgumentError("--lease_seconds must be at least 1");
  if (f.poll_interval_ms < 1 || f.batch_poll_min_ms < 1 || f.batch_poll_max_ms < 1) {
    return absl::InvalidArgumentError("poll intervals must be positive");
  }
  if (f.max_shard_bytes < 1 || f.max_shard_requests < 1) {
    return absl::InvalidArgumentError("shard limits must be positive");
  }
  if (f.max_part_pages < 1 || f.max_part_bytes < 1) {
    return absl::InvalidArgumentError("--max_part_pages and --max_part_bytes must be positive");
  }
  c.database_url = f.database_url;
  c.storage_root = f.storage_root;
  c.input_root = f.input_root;
  c.openai_base_url = f.openai_base_url;
  c.openai_max_retries = std::max(0, f.openai_max_retries);
  c.concurrency = f.concurrency;
  auto kinds = ParseKinds(f.kinds);
  if (!kinds.ok()) return kinds.status();
  c.kinds = *kinds;
  c.lease = std::chrono::seconds(f.lease_seconds);
  c.poll_interval = std::chrono::milliseconds(f.poll_interval_ms);
  c.batch_poll_min = std::chrono::milliseconds(f.batch_poll_min_ms);
  c.batch_poll_max = std::chrono::milliseconds(f.batch_poll_max_ms);
  c.max_shard_bytes = std::min<int64_t>(f.max_shard_bytes, kHardMaxShardBytes);
  c.max_shard_requests = std::min(f.max_shard_requests, kHardMaxShardRequests);
  c.max_part_pages = f.max_part_pages;
  c.max_part_bytes = static_cast<uint64_t>(f.max_part_bytes);
  auto budgets = ParseTokenBudgets(f.token_budget);
  if (!budgets.ok()) return budgets.status();
  c.token_budgets = *budgets;
  c.resubmit_backoff = std::chrono::milliseconds(std::max(1, f.resubmit_backoff_ms));
  c.max_resubmits = std::max(0, f.max_resubmits);
  c.budget_wait = std::chrono::milliseconds(std::max(1, f.budget_wait_ms));
  c.sync_concurrency = std::max(1, f.sync_concurrency);
  c.sweep_interval = std::chrono::milliseconds(std::max(0, f.sweep_interval_ms));
  c.drain_timeout = std::chrono::seconds(std::max(0, f.drain_seconds));
  if (f.liveness_timeout_seconds < 1) {
    return absl::InvalidArgumentError("--liveness_timeout_seconds must be positive");
  }
  c.liveness_timeout = std::chrono::seconds(f.liveness_timeout_seconds);
  if (const char* freeze = std::getenv("BATCHSCRIBE_TEST_FREEZE_FILE"); freeze != nullptr) {
    c.test_freeze_file = freeze;
  }
  c.task_backoff_scale = f.task_backoff_scale > 0 ? f.task_backoff_scale : 1.0;
  if (!f.price_table.empty()) {
    auto prices = pricing::PriceTable::LoadFile(f.price_table);
    if (!prices.ok()) return prices.status();
    c.prices = *std::move(prices);
  }
  auto key = ReadSecret(f.openai_api_key_file, "OPENAI_API_KEY");
  if (!key.ok()) return key.status();
  c.openai_api_key = *key;
  if (c.openai_api_key.empty()) {
    if (c.openai_base_url.find("api.openai.com") != std::string::npos) {
      return absl::InvalidArgumentError(
          "an OpenAI API key is required (--openai_api_key_file or OPENAI_API_KEY)");
    }
    // An emulator accepts any bearer token when it has no key of its own.
    c.openai_api_key = "sk-batchscribe-emulator";
    log::Info("no OpenAI API key given: using a placeholder for the emulator",
              {{"openai_base_url", c.openai_base_url}});
  }
  if (const char* crash = std::getenv("BATCHSCRIBE_TEST_CRASH_AT"); crash != nullptr) {
    c.crash_points = SplitList(crash);
  }
  return c;
}

}  // namespace batchscribe::worker
