#include "services/openai-emulator/emulator.h"

#include <stdlib.h>

#include <fstream>
#include <sstream>

#include "libs/common/logging.h"
#include "services/openai-emulator/state_file.h"

namespace batchscribe::emulator {
namespace fs = std::filesystem;

namespace {
constexpr int kStateVersion = 1;
constexpr auto kSaveInterval = std::chrono::milliseconds(100);
constexpr auto kPurgeInterval = std::chrono::seconds(60);
constexpr auto kIdleWait = std::chrono::milliseconds(20);
}  // namespace

absl::StatusOr<std::unique_ptr<Emulator>> Emulator::Create(const EmulatorOptions& options,
                                                           const Clock* clock) {
  fs::path root = options.state_dir;
  bool temporary = false;
  std::error_code ec;
  if (root.empty()) {
    std::string pattern = (fs::temp_directory_path(ec) / "openai-emulator-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError("creating a temporary folder failed");
    }
    root = pattern;
    temporary = true;
  } else {
    fs::create_directories(root, ec);
    if (ec) return absl::InvalidArgumentError("--state_dir " + root.string() + ": " + ec.message());
  }
  std::unique_ptr<Emulator> emulator(new Emulator(options, clock, root, temporary));
  if (auto status = emulator->Load(); !status.ok()) return status;
  return emulator;
}

Emulator::Emulator(const EmulatorOptions& options, const Clock* clock, fs::path root,
                   bool temporary_root)
    : options_(options),
      clock_(clock),
      root_(std::move(root)),
      temporary_root_(temporary_root),
      faults_(options.seed) {
  files_ = std::make_unique<FileStore>(root_ / "files", &ids_, clock_);
  FileStore* files = files_.get();
  completer_ = std::make_unique<ChatCompleter>(
      &pdfs_, &ids_, clock_,
      [files](const std::string& id) -> std::optional<std::string> {
        if (!files->Get(id)) return std::nullopt;
        std::ifstream in(files->PathOf(id), std::ios::binary);
        if (!in) return std::nullopt;
        std::stringstream bytes;
        bytes << in.rdbuf();
        return bytes.str();
      },
      options_.limits.pdf);
  batches_ = std::make_unique<BatchEngine>(options_, root_ / "batches", files_.get(),
                                           completer_.get(), &faults_, &accounting_, &ids_, clock_);
  batches_->SetChangeListener([this] { dirty_ = true; });
}

Emulator::~Emulator() {
  Stop();
  if (temporary_root_) {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
}

absl::Status Emulator::Load() {
  std::error_code ec;
  fs::create_directories(root_ / "batches", ec);
  if (!temporary_root_) {
    auto saved = ReadStateFile(root_ / "state.json");
    if (!saved.ok()) return saved.status();
    if (saved->has_value()) {
      const Json& state = **saved;
      if (state.value("version", 0) != kStateVersion) {
        return absl::FailedPreconditionError("state.json has an unknown version");
      }
      try {
        files_->LoadState(state.value("files", Json::object()));
        accounting_.LoadState(state.value("stats", Json::object()));
      } catch (const std::exception& e) {
        return absl::DataLossError(std::string("reading state.json: ") + e.what());
      }
      if (auto s = batches_->LoadState(state.value("batches", Json::object())); !s.ok()) return s;
      if (auto s = faults_.Restore(state.value("faults", Json())); !s.ok()) return s;
      log::Info("restored emulator state", {{"state_dir", root_.string()}});
    }
  }
  return files_->Init();
}

void Emulator::Start() {
  stopping_ = false;
  const int exec_threads = std::max(1, options_.exec_threads);
  for (int i = 0; i < exec_threads; ++i) threads_.emplace_back([this] { ExecLoop(); });
  threads_.emplace_back([this] { SaveLoop(); });
}

void Emulator::Stop() {
  if (threads_.empty()) return;
  stopping_ = true;
  stop_cv_.notify_all();
  batches_->Interrupt();
  for (auto& t : threads_) t.join();
  threads_.clear();
  SaveNow();
}

void Emulator::ExecLoop() {
  while (!stopping_) {
    try {
      if (!batches_->RunDueWork()) batches_->WaitForWork(kIdleWait);
    } catch (const std::exception& e) {
      // A bug must not take the emulator down; the batch is retried later.
      log::Error("batch work failed", {{"error", e.what()}});
      batches_->WaitForWork(kIdleWait);
    }
  }
}

void Emulator::SaveLoop() {
  auto next_purge = std::chrono::steady_clock::now() + kPurgeInterval;
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, kSaveInterval);
    if (dirty_) SaveNow();
    if (std::chrono::steady_clock::now() >= next_purge) {
      next_purge = std::chrono::steady_clock::now() + kPurgeInterval;
      if (files_->PurgeExpired() > 0) SaveNow();
    }
  }
}

void Emulator::SaveNow() {
  if (temporary_root_) return;
  std::lock_guard<std::mutex> lock(save_mu_);
  dirty_ = false;
  Json state;
  batches_->WithStateLocked([&](const Json& batches) {
    state = Json::object();
    state["version"] = kStateVersion;
    state["saved_at_ms"] = clock_->NowMs();
    state["files"] = files_->ToState();
    state["batches"] = batches;
    state["stats"] = accounting_.ToState();
    state["faults"] = faults_.ToJson();
  });
  if (auto s = WriteStateFile(root_ / "state.json", state); !s.ok()) {
    log::Error("saving the emulator state failed", {{"error", std::string(s.message())}});
    dirty_ = true;
  }
}

Json Emulator::Stats() const {
  Json stats = accounting_.ToJson(batches_->Statuses());
  stats["files"]["live"] = static_cast<int64_t>(files_->List().size());
  stats["enqueued_tokens"] = batches_->EnqueuedTokens();
  return stats;
}

void Emulator::Reset(bool stats_only) {
  if (!stats_only) {
    faults_.Clear();
    batches_->Clear();
    files_->Clear();
  }
  accounting_.Clear();
  SaveNow();
}

}  // namespace batchscribe::emulator
