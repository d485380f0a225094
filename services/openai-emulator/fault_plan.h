#pragma once
// Faults on demand. One JSON document (from --faults or POST /_emulator/faults)
// lists rules of three kinds:
//
//   {"seed": 7,
//    "http":    [{"match": "^POST /v1/batches$", "action": "error", "status": 429,
//                 "retry_after_ms": 200, "count": 2}, ...],
//    "lines":   [{"custom_id": "^doc-1$", "kind": "server_error", "attempts": 1}, ...],
//    "batches": [{"kind": "expire", "count": 1, "after_lines": 2}, ...]}
//
// Rules are deterministic: counters select "the next N" or "every Nth", a
// seeded generator draws probabilities for HTTP rules, and line probabilities
// hash (seed, rule, custom_id, attempt) so they do not depend on thread timing.
// README.md lists every field.

#include <absl/status/status.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "services/openai-emulator/json.h"

namespace batchscribe::emulator {

/// When an HTTP rule is evaluated relative to the real handling of a request.
enum class FaultPhase {
  /// Instead of handling: nothing happens server-side.
  kBeforeHandling,
  /// After handling: the effect (a created batch, a deleted file) is kept but
  /// the client gets the fault instead of the real response.
  kAfterHandling,
};

/// What to do to one HTTP request.
struct HttpFault {
  /// "error": answer `status` with `body`; "drop": close the connection without
  /// answering; "delay": only sleep `delay_ms`, then answer normally.
  std::string action;
  int status = 500;
  /// "openai" (OpenAI's JSON error for the status), "html" (a CDN error page),
  /// "cf_bad_gateway" (numeric `code` body), "insufficient_quota", "empty".
  std::string body = "openai";
  std::optional<std::string> retry_after;
  std::optional<std::string> retry_after_ms;
  std::optional<bool> should_retry;
  int64_t delay_ms = 0;
  /// Index of the rule in the config, for accounting.
  int rule = 0;
};

/// How one batch request line fails.
struct LineFault {
  /// server_error | status_0 | rate_limit | bad_request | malformed | length |
  /// refusal | content_filter
  std::string kind;
  /// HTTP status for server_error (500, 502, 503) and bad_request (400, 404, ...).
  int status = 0;
  std::optional<std::string> message;
};

/// Faults that apply to one new batch, decided when it is created.
struct BatchFaults {
  bool cannot_find_file = false;
  bool token_limit_exceeded = false;
  /// Expire after this many lines ran (negative: half of the lines).
  std::optional<int64_t> expire_after_lines;
  /// Extra time in `finalizing`.
  int64_t extra_finalizing_ms = 0;

  Json ToJson() const;
  static BatchFaults FromJson(const Json& json);
};

/// Thread-safe.
class FaultPlan {
 public:
  explicit FaultPlan(uint64_t default_seed);

  /// Replaces every rule and counter with `config`; INVALID_ARGUMENT (and no
  /// change) when it is malformed, naming the offending field.
  absl::Status Configure(const Json& config);
  /// Removes every rule.
  void Clear();
  /// The rules with their counters (`matched`, `fired`).
  Json ToJson() const;
  /// Restores rules and counters saved by ToJson().
  absl::Status Restore(const Json& saved);

  /// The fault for a /v1 request in `phase`, if a rule fires. `method_and_path`
  /// is e.g. "POST /v1/batches".
  std::optional<HttpFault> ForRequest(const std::string& method_and_path, FaultPhase phase);
  /// The fault for executing line `custom_id` for the `attempt`-th time (1-based,
  /// counted over the emulator's lifetime), if a rule fires.
  std::optional<LineFault> ForLine(const std::string& custom_id, int64_t attempt);
  /// The faults for a batch being created with `metadata` (object or null).
  BatchFaults ForNewBatch(const Json& metadata);

 private:
  struct Selector {
    int64_t count = -1;  // fires at most this often; -1 = unlimited
    int64_t skip = 0;    // let this many matches pass first
    int64_t every = 1;   // then fire on every Nth match
    double probability = 1.0;
    int64_t matched = 0;
    int64_t fired = 0;
  };
  struct HttpRule {
    Json config;
    std::regex match;
    FaultPhase phase = FaultPhase::kBeforeHandling;
    HttpFault fault;
    Selector selector;
  };
  struct LineRule {
    Json config;
    std::regex custom_id;
    LineFault fault;
    int64_t attempts = -1;  // only attempts <= this; -1 = every attempt
    Selector selector;
  };
  struct BatchRule {
    Json config;
    std::string kind;
    std::map<std::string, std::regex> metadata;
    int64_t after_lines = -1;
    int64_t ms = 0;
    Selector selector;
  };
  struct Rules {
    uint64_t seed = 0;
    std::vector<HttpRule> http;
    std::vector<LineRule> lines;
    std::vector<BatchRule> batches;
  };

  static absl::Status Parse(const Json& config, uint64_t default_seed, Rules& rules);
  // Counts a match and decides whether the rule fires; `draw` in [0, 1).
  static bool Select(Selector& selector, double draw);

  const uint64_t default_seed_;
  mutable std::mutex mu_;
  Rules rules_;
  std::mt19937_64 rng_;
};

}  // namespace batchscribe::emulator
