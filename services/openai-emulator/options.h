#pragma once
// Settings of one emulator instance, filled from flags by main.cc.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace batchscribe::emulator {

/// How long a batch dwells in each state. Real OpenAI takes minutes to hours;
/// tests use a few milliseconds and demos a few seconds.
struct LifecycleTimings {
  /// Time in `validating` before the input file is checked.
  int64_t validate_ms = 1000;
  /// Minimum time in `in_progress`, even when every line ran sooner.
  int64_t in_progress_ms = 2000;
  /// Time per request line: line i runs `i * line_ms` after `in_progress_at`.
  int64_t line_ms = 0;
  /// Time in `finalizing` before the result files appear.
  int64_t finalize_ms = 1000;
  /// Time in `cancelling` before `cancelled`.
  int64_t cancel_ms = 1000;
  /// The completion window: a batch not finished this long after creation
  /// expires. 24 h like OpenAI unless scaled down.
  int64_t expire_after_ms = 86'400'000;
};

/// What one chat completion may carry in PDF file parts, summed over all its
/// parts. From https://platform.openai.com/docs/guides/pdf-files ("File size
/// limitations"): "up to 100 pages and 32MB of total content in a single
/// request to the API, across multiple file inputs". The newer guide is quoted
/// with 50 MB per request and no page limit; the stricter figures are the
/// defaults. 0 disables a limit.
struct PdfRequestLimits {
  /// Pages of all PDF parts of one request.
  int64_t max_pages = 100;  // platform.openai.com/docs/guides/pdf-files
  /// Decoded bytes of all file parts of one request. The guide does not
  /// define "MB"; it is read as MiB (32 x 2^20). For the 10^6 reading, which
  /// is 1.5 MiB stricter, pass 32000000.
  int64_t max_bytes = 32LL * 1024 * 1024;  // platform.openai.com/docs/guides/pdf-files
};

/// Service limits (openai-batch-api.md section 7).
struct ServiceLimits {
  int64_t max_requests_per_batch = 50'000;
  int64_t max_batch_file_bytes = 200LL * 1024 * 1024;
  int64_t max_file_bytes = 512LL * 1024 * 1024;
  /// Enqueued input-token limit per model; key "*" applies to models not
  /// listed. No entry means no limit.
  std::map<std::string, int64_t> enqueued_token_limits;
  /// Enforced on every chat completion, synchronous or a batch line.
  PdfRequestLimits pdf;
};

struct EmulatorOptions {
  LifecycleTimings timings;
  ServiceLimits limits;
  /// Keeps files, batches, stats and faults across restarts when set; else a
  /// private temporary folder is used and removed on exit.
  std::filesystem::path state_dir;
  /// Seeds output shuffling and, unless the fault config sets its own, faults.
  uint64_t seed = 1;
  /// Threads that advance batches and execute request lines.
  int exec_threads = 2;
  /// Shown in organisation-scoped messages (token_limit_exceeded, ...).
  std::string organization = "org-emulator";
};

}  // namespace batchscribe::emulator
