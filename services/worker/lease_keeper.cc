#include "services/worker/lease_keeper.h"

#include <vector>

#include "libs/common/logging.h"
#include "libs/db/status.h"

namespace batchscribe::worker {

LeaseKeeper::LeaseKeeper(const db::ConnectionPool& pool, const queue::Clock& clock,
                         queue::QueueOptions options)
    : pool_(pool), clock_(clock), options_(std::move(options)) {}

LeaseKeeper::~LeaseKeeper() { Stop(); }

void LeaseKeeper::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void LeaseKeeper::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LeaseKeeper::Add(const queue::Task& task, std::shared_ptr<std::atomic<bool>> lost) {
  std::lock_guard lock(mu_);
  entries_[task.id] = Entry{task, std::move(lost), task.lease_expires_at};
}

void LeaseKeeper::Remove(int64_t task_id) {
  std::lock_guard lock(mu_);
  entries_.erase(task_id);
}

void LeaseKeeper::Run() {
  const auto interval = std::max<std::chrono::milliseconds>(
      std::chrono::milliseconds(100),
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.lease) / 3);
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, interval, [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    Beat();
    lock.lock();
  }
}

void LeaseKeeper::Beat() {
  std::vector<Entry> entries;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : entries_) entries.push_back(e);
  }
  if (entries.empty()) return;
  for (const Entry& e : entries) {
    bool alive = false;
    bool reached = false;
    try {
      if (!conn_ || !conn_->is_open()) {
        auto opened = pool_.OpenDedicated();
        if (!opened.ok()) throw std::runtime_error(std::string(opened.status().message()));
        conn_ = std::move(*opened);
      }
      queue::TaskQueue queue(*conn_, clock_, options_);
      alive = queue.Heartbeat(e.task);
      reached = true;
    } catch (const std::exception& ex) {
      log::Warn("heartbeat failed", {{"task_id", e.task.id}, {"error", log::Redact(ex.what())}});
      conn_.reset();
    }
    std::lock_guard lock(mu_);
    auto it = entries_.find(e.task.id);
    if (it == entries_.end()) continue;
    if (reached && alive) {
      it->second.expires = clock_.Now() + options_.lease;
      continue;
    }
    // Lost for sure, or not renewed in time: someone else may hold it now.
    if ((reached && !alive) || clock_.Now() >= it->second.expires) {
      log::Warn("lease lost: stopping the task",
                {{"task_id", e.task.id}, {"kind", e.task.kind}, {"subject", e.task.subject}});
      it->second.lost->store(true);
      entries_.erase(it);
    }
  }
}

}  // namespace batchscribe::worker
