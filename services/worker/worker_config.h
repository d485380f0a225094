#pragma once
// Settings of one worker process (flags and environment, see main.cc).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "libs/pdf/part_planner.h"
#include "libs/pricing/price_table.h"

namespace batchscribe::worker {

/// Every task kind a worker can run.
inline const std::vector<std::string>& AllTaskKinds() {
  static const std::vector<std::string>* kinds = new std::vector<std::string>{
      "plan", "prepare", "submit", "poll", "retrieve", "cancel", "transcribe"};
  return *kinds;
}

/// OpenAI's hard limits on one batch input file (openai-batch-api.md §7).
inline constexpr int64_t kHardMaxShardBytes = 200LL * 1000 * 1000;
inline constexpr int kHardMaxShardRequests = 50000;

struct WorkerConfig {
  std::string database_url;
  std::filesystem::path storage_root;
  std::filesystem::path input_root;

  std::string openai_base_url = "https://api.openai.com/v1";
  std::string openai_api_key;
  /// Client retries per call (the SDKs' default is 2).
  int openai_max_retries = 2;

  /// Tasks in flight in this process.
  int concurrency = 4;
  /// Task kinds this process claims; empty = all.
  std::vector<std::string> kinds;
  /// Lease length; heartbeats every lease/3.
  std::chrono::seconds lease{60};
  /// Fallback polling of the queue when no NOTIFY arrives.
  std::chrono::milliseconds poll_interval{1000};
  /// Adaptive OpenAI batch polling: starts at the minimum, grows 1.5x per
  /// unchanged poll up to the maximum.
  std::chrono::milliseconds batch_poll_min{30000};
  std::chrono::milliseconds batch_poll_max{300000};
  /// Wait before resubmitting after token_limit_exceeded; doubles per
  /// resubmission up to an hour. "Cannot find file" waits a tenth of it.
  std::chrono::milliseconds resubmit_backoff{60000};
  /// Resubmissions of one shard before its documents are given up.
  int max_resubmits = 30;
  /// Re-check interval while a model's enqueued-token budget is full.
  std::chrono::milliseconds budget_wait{30000};

  /// Shard caps (clamped to OpenAI's 200 MB / 50,000 lines).
  int64_t max_shard_bytes = 190LL * 1000 * 1000;
  int max_shard_requests = 50000;
  /// Per-request limits of a part (pdf::PartLimits): pages and PDF bytes.
  int max_part_pages = pdf::kDefaultMaxPartPages;
  uint64_t max_part_bytes = pdf::kDefaultMaxPartBytes;
  /// Enqueued input-token budget per model (estimated tokens of shards at
  /// OpenAI); models without an entry are not limited.
  std::map<std::string, int64_t> token_budgets;

  pricing::PriceTable prices = pricing::PriceTable::Defaults();

  /// SYNC mode: concurrent chat completions per transcribe task.
  int sync_concurrency = 4;

  /// The stranded-work sweep (one worker at a time); 0 disables it.
  std::chrono::milliseconds sweep_interval{30000};
  /// SIGTERM: how long running tasks may take to finish before they are handed back.
  std::chrono::seconds drain_timeout{20};
  /// Multiplies the queue's task backoff (tests shrink it).
  double task_backoff_scale = 1.0;

  /// Shown in tasks.lease_owner: host:pid.
  std::string owner;
  /// Liveness: a claim slot silent this long (its loop not turning, its step not
  /// checking in) makes the worker not live (services/worker/health.h).
  std::chrono::seconds liveness_timeout{300};
  /// Test-only (BATCHSCRIBE_TEST_FREEZE_FILE): while this file exists the claim
  /// loops stand still without a heartbeat, as stuck ones would.
  std::filesystem::path test_freeze_file;
  /// Test-only: named points where the process kills itself with SIGKILL
  /// (BATCHSCRIBE_TEST_CRASH_AT), e.g. "prepare.after_upload".
  std::vector<std::string> crash_points;
};

}  // namespace batchscribe::worker
