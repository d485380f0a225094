#include "services/coordinator/maintenance.h"

#include "libs/common/logging.h"

namespace batchscribe::coordinator {

MaintenanceLoop::MaintenanceLoop(const db::ConnectionPool& pool, const queue::Clock& clock,
                                 std::chrono::milliseconds interval,
                                 std::function<void(int)> on_rescued)
    : pool_(pool), clock_(clock), interval_(interval), on_rescued_(std::move(on_rescued)) {}

MaintenanceLoop::~MaintenanceLoop() { Stop(); }

void MaintenanceLoop::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { Run(); });
}

void MaintenanceLoop::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int MaintenanceLoop::RunOnce() {
  try {
    if (!conn_ || !conn_->is_open()) {
      auto conn = pool_.OpenDedicated();
      if (!conn.ok()) return -1;
      conn_ = std::move(*conn);
    }
    int rescued = queue::RescueExpiredLeases(*conn_, clock_.Now());
    if (rescued > 0) {
      log::Info("rescued expired task leases", {{"tasks", rescued}});
      if (on_rescued_) on_rescued_(rescued);
    }
    return rescued;
  } catch (const std::exception& e) {
    log::Warn("maintenance pass failed", {{"error", e.what()}});
    conn_.reset();
    return -1;
  }
}

void MaintenanceLoop::Run() {
  for (;;) {
    RunOnce();
    std::unique_lock lock(mu_);
    if (stop_cv_.wait_for(lock, interval_, [this] { return stop_; })) break;
  }
  conn_.reset();
}

}  // namespace batchscribe::coordinator
