#pragma once
// The Batch API: creating, reading, listing and cancelling batches, and the
// lifecycle that background threads drive through RunDueWork():
//
//   validating -> in_progress -> finalizing -> completed
//   validating -> failed                (bad input, token queue full, file missing)
//   validating | in_progress -> expired (completion window ran out; partial results)
//   validating | in_progress | finalizing -> cancelling -> cancelled (partial results)
//
// Slow work (reading the input file, executing lines, writing result files)
// runs without the lock on one batch at a time per thread; HTTP handlers only
// take the lock for quick reads and state changes.

#include <absl/status/status.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "services/openai-emulator/accounting.h"
#include "services/openai-emulator/api_error.h"
#include "services/openai-emulator/chat_completer.h"
#include "services/openai-emulator/clock.h"
#include "services/openai-emulator/fault_plan.h"
#include "services/openai-emulator/file_store.h"
#include "services/openai-emulator/ids.h"
#include "services/openai-emulator/json.h"
#include "services/openai-emulator/options.h"

namespace batchscribe::emulator {

/// Thread-safe.
class BatchEngine {
 public:
  /// `work_dir` holds one folder per unfinished batch (its input, linked at
  /// creation so deleting the input file does not disturb it, and the result
  /// lines written so far).
  BatchEngine(const EmulatorOptions& options, std::filesystem::path work_dir, FileStore* files,
              ChatCompleter* completer, FaultPlan* faults, Accounting* accounting, IdGenerator* ids,
              const Clock* clock);

  /// POST /v1/batches with a parsed JSON body: the new Batch object, or the
  /// synchronous 400/404 for bad parameters. Content problems surface later as
  /// a `failed` batch.
  ApiResult<Json> Create(const Json& request);
  /// GET /v1/batches/{id}.
  ApiResult<Json> Get(const std::string& id) const;
  /// GET /v1/batches: newest first, `limit` 1..100, `after` a batch id cursor.
  ApiResult<Json> List(int64_t limit, const std::string& after) const;
  /// POST /v1/batches/{id}/cancel.
  ApiResult<Json> Cancel(const std::string& id);
  /// The current status of batch `id`, nullopt when unknown.
  std::optional<std::string> StatusOf(const std::string& id) const;
  /// Every batch's status by id.
  std::map<std::string, std::string> Statuses() const;
  /// Input tokens enqueued per model by batches in flight.
  Json EnqueuedTokens() const;

  /// Performs one unit of due work (a validation, up to 64 lines, a state
  /// change, writing result files); false when nothing is due now.
  bool RunDueWork();
  /// Sleeps until Wake() or `max_wait`.
  void WaitForWork(std::chrono::milliseconds max_wait);
  /// Wakes the threads waiting in WaitForWork().
  void Wake();
  /// Makes slow work in progress (validating a large file) stop early; the
  /// batch keeps its state and the work is redone after a restart.
  void Interrupt();

  /// Calls `save` with the engine's state while no batch can change, so the
  /// accounting saved alongside matches the batches' progress exactly.
  void WithStateLocked(const std::function<void(const Json& batches)>& save) const;
  /// Restores batches saved by WithStateLocked(); unfinished ones continue.
  absl::Status LoadState(const Json& state);
  /// Forgets every batch and removes their work folders.
  void Clear();
  /// Called (without the lock) after every change worth persisting.
  void SetChangeListener(std::function<void()> listener);

 private:
  struct Batch {
    std::string id;
    std::string endpoint;
    std::string input_file_id;
    std::string completion_window;
    std::string status;
    std::optional<std::string> model;
    Json errors;  // null or {"object":"list","data":[...]}
    std::optional<std::string> output_file_id;
    std::optional<std::string> error_file_id;
    int64_t created_at = 0;
    std::optional<int64_t> in_progress_at, expires_at, finalizing_at, completed_at, failed_at,
        expired_at, cancelling_at, cancelled_at;
    int64_t total = 0, completed = 0, failed = 0;
    int64_t input_tokens = 0, output_tokens = 0, reasoning_tokens = 0;
    Json metadata;
    Json output_expires_after;

    // Progress, persisted so a restarted emulator continues where it was.
    int64_t sequence = 0;
    int64_t phase_due_ms = 0;  // when the current state may advance
    int64_t in_progress_started_ms = 0;
    int64_t expire_at_ms = 0;
    std::string request_model;  // body.model of the lines, the billing key
    int64_t enqueued_tokens = 0;
    bool validated = false;
    int64_t next_line = 0;    // lines executed so far
    int64_t next_offset = 0;  // byte offset of the next line in the input
    int64_t ok_bytes = 0, err_bytes = 0, ok_lines = 0, err_lines = 0;
    BatchFaults faults;

    bool busy = false;  // a thread works on it without the lock

    Json ToApiJson() const;
    Json ToStateJson() const;
    static Batch FromStateJson(const Json& json);
  };

  enum class WorkKind { kValidate, kExecute, kExpire, kFinalize, kFinishCancel };

  // A copy of what slow work needs, taken under the lock.
  struct WorkItem {
    WorkKind kind;
    Batch batch;
    int64_t lines_due = 0;
    uint64_t epoch = 0;
  };

  struct ValidationOutcome {
    bool interrupted = false;
    Json errors = Json::array();
    int64_t lines = 0;
    std::string model;
    int64_t tokens = 0;
  };

  struct ExecutionOutcome {
    int64_t lines = 0;
    int64_t next_offset = 0;
    int64_t ok_bytes = 0, err_bytes = 0, ok_lines = 0, err_lines = 0;
    int64_t completed = 0, failed = 0;
    int64_t input_tokens = 0, output_tokens = 0, reasoning_tokens = 0;
    struct Executed {
      std::string custom_id;
      bool billed;
      int64_t input_tokens, output_tokens;
      bool over_limit;       // refused for its size (ChatCompleter's limits)
      uint64_t fingerprint;  // of the request line's bytes (never 0)
      bool deterministic;    // an answer that re-sending this line cannot change
    };
    std::vector<Executed> executed;
  };

  struct FinalFiles {
    std::optional<std::string> output_file_id;
    std::optional<std::string> error_file_id;
    int64_t unexecuted = 0;
  };

  std::filesystem::path BatchDir(const std::string& id) const;
  std::optional<WorkItem> PickWork(int64_t now_ms, bool& changed);
  std::optional<WorkKind> DueWork(Batch& batch, int64_t now_ms, int64_t& lines_due, bool& changed);
  ValidationOutcome Validate(const Batch& batch);
  ExecutionOutcome Execute(const Batch& batch, int64_t lines_due);
  absl::StatusOr<FinalFiles> WriteResults(const Batch& batch, const char* unexecuted_code);
  absl::StatusOr<std::optional<std::string>> PublishShuffled(const Batch& batch,
                                                             const std::filesystem::path& lines,
                                                             const std::string& suffix);
  void ApplyValidation(Batch& batch, const ValidationOutcome& outcome, int64_t now_ms);
  int64_t EnqueuedFor(const std::string& model, const std::string& except_id) const;
  std::optional<int64_t> TokenLimitFor(const std::string& model) const;
  Json LineResult(const std::string& custom_id, const Json& response, const Json& error);
  void Changed();

  const EmulatorOptions options_;
  const std::filesystem::path work_dir_;
  FileStore* files_;
  ChatCompleter* completer_;
  FaultPlan* faults_;
  Accounting* accounting_;
  IdGenerator* ids_;
  const Clock* clock_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::map<std::string, Batch> batches_;
  int64_t next_sequence_ = 1;
  std::string cursor_;  // round-robin position of PickWork
  uint64_t epoch_ = 0;  // bumped by Clear(): in-flight work of older epochs is dropped
  std::atomic<bool> interrupted_{false};
  std::function<void()> on_change_;
};

}  // namespace batchscribe::emulator
