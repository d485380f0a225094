#pragma once
// One emulator instance: the stores, the emulated model, the batch engine, the
// fault plan and the accounting, the threads that advance batches, and the
// state file when persistent. The HTTP layer (http_api.h) is a thin shell
// around it; tests build it directly.

#include <absl/status/statusor.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "services/openai-emulator/accounting.h"
#include "services/openai-emulator/batch_engine.h"
#include "services/openai-emulator/chat_completer.h"
#include "services/openai-emulator/clock.h"
#include "services/openai-emulator/fault_plan.h"
#include "services/openai-emulator/file_store.h"
#include "services/openai-emulator/ids.h"
#include "services/openai-emulator/options.h"
#include "services/openai-emulator/pdf_text.h"

namespace batchscribe::emulator {

class Emulator {
 public:
  /// Builds an emulator. With `options.state_dir` set, the folder is created
  /// if needed and a saved state restored (unfinished batches continue);
  /// otherwise files live in a private temporary folder removed on
  /// destruction. `clock` must outlive the emulator.
  static absl::StatusOr<std::unique_ptr<Emulator>> Create(const EmulatorOptions& options,
                                                          const Clock* clock);
  ~Emulator();
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  /// Starts the threads that advance batches and persist state.
  void Start();
  /// Stops them and saves a last time. Idempotent.
  void Stop();

  /// GET /_emulator/stats.
  Json Stats() const;
  /// POST /_emulator/reset: everything (files, batches, stats, faults), or
  /// only the stats.
  void Reset(bool stats_only);
  /// Writes the state file now (a no-op unless persistent). API handlers call
  /// it after a change and before answering, so an acknowledged upload or
  /// batch survives a crash.
  void SaveNow();

  const EmulatorOptions& options() const { return options_; }
  const Clock& clock() const { return *clock_; }
  IdGenerator& ids() { return ids_; }
  FileStore& files() { return *files_; }
  ChatCompleter& completer() { return *completer_; }
  FaultPlan& faults() { return faults_; }
  Accounting& accounting() { return accounting_; }
  BatchEngine& batches() { return *batches_; }

 private:
  Emulator(const EmulatorOptions& options, const Clock* clock, std::filesystem::path root,
           bool temporary_root);
  absl::Status Load();
  void ExecLoop();
  void SaveLoop();

  const EmulatorOptions options_;
  const Clock* clock_;
  const std::filesystem::path root_;
  const bool temporary_root_;
  IdGenerator ids_;
  PdfTextReader pdfs_;
  FaultPlan faults_;
  Accounting accounting_;
  std::unique_ptr<FileStore> files_;
  std::unique_ptr<ChatCompleter> completer_;
  std::unique_ptr<BatchEngine> batches_;

  std::mutex save_mu_;
  std::atomic<bool> dirty_{false};
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::vector<std::thread> threads_;
};

}  // namespace batchscribe::emulator
