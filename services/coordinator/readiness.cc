#include "services/coordinator/readiness.h"

#include "libs/common/logging.h"

namespace batchscribe::coordinator {

DatabaseReadiness::DatabaseReadiness(const db::ConnectionPool& pool,
                                     std::chrono::milliseconds interval,
                                     std::function<void(bool)> on_change)
    : pool_(pool), interval_(interval), on_change_(std::move(on_change)) {}

DatabaseReadiness::~DatabaseReadiness() { Stop(); }

void DatabaseReadiness::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { Run(); });
}

void DatabaseReadiness::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool DatabaseReadiness::Probe() {
  try {
    if (!conn_ || !conn_->is_open()) {
      auto conn = pool_.OpenDedicated();
      if (!conn.ok()) return false;
      conn_ = std::move(*conn);
    }
    pqxx::nontransaction tx(*conn_);
    tx.exec("SELECT 1");
    return true;
  } catch (const std::exception&) {
    conn_.reset();  // reconnect next time
    return false;
  }
}

void DatabaseReadiness::Run() {
  bool first = true;
  for (;;) {
    bool ready = Probe();
    if (first || ready != ready_.load()) {
      ready_ = ready;
      if (!first || !ready) {
        log::Info(ready ? "database reachable: serving" : "database unreachable: not serving");
      }
      if (on_change_) on_change_(ready);
      first = false;
    }
    std::unique_lock lock(mu_);
    if (stop_cv_.wait_for(lock, interval_, [this] { return stop_; })) break;
  }
  conn_.reset();
}

}  // namespace batchscribe::coordinator
