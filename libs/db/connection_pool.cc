#include "libs/db/connection_pool.h"

#include "libs/db/status.h"

namespace batchscribe::db {

std::string WithConnectTimeout(const std::string& url, int seconds) {
  if (seconds <= 0 || url.find("connect_timeout") != std::string::npos) return url;
  std::string param = "connect_timeout=" + std::to_string(seconds);
  bool is_uri = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
  if (!is_uri) return url.empty() ? param : url + " " + param;
  return url + (url.find('?') == std::string::npos ? "?" : "&") + param;
}

ConnectionPool::ConnectionPool(std::string url, PoolOptions options)
    : url_(WithConnectTimeout(url, options.connect_timeout_seconds)), options_(options) {}

ConnectionPool::~ConnectionPool() = default;

absl::StatusOr<std::unique_ptr<pqxx::connection>> ConnectionPool::OpenDedicated() const {
  try {
    return std::make_unique<pqxx::connection>(url_);
  } catch (...) {
    return StatusFromCurrentException();
  }
}

absl::StatusOr<ConnectionPool::Lease> ConnectionPool::Acquire() {
  std::unique_lock lock(mu_);
  auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->is_open()) return Lease(this, std::move(conn));
      --open_;  // closed while idle: drop it
    }
    if (open_ < options_.max_connections) break;
    if (released_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.max_connections) {
      return absl::UnavailableError("database: no free connection in the pool");
    }
  }
  ++open_;
  lock.unlock();
  auto conn = OpenDedicated();
  if (!conn.ok()) {
    lock.lock();
    --open_;
    released_.notify_one();
    return conn.status();
  }
  return Lease(this, std::move(*conn));
}

void ConnectionPool::Return(std::unique_ptr<pqxx::connection> conn, bool broken) {
  {
    std::lock_guard lock(mu_);
    if (broken || !conn->is_open()) {
      --open_;
    } else {
      idle_.push_back(std::move(conn));
    }
  }
  released_.notify_one();
  // A broken connection is destroyed here, outside the lock.
}

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      conn_(std::move(other.conn_)),
      broken_(other.broken_) {}

ConnectionPool::Lease& ConnectionPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = std::exchange(other.pool_, nullptr);
    conn_ = std::move(other.conn_);
    broken_ = other.broken_;
  }
  return *this;
}

ConnectionPool::Lease::~Lease() { Release(); }

void ConnectionPool::Lease::Release() {
  if (pool_ != nullptr && conn_) pool_->Return(std::move(conn_), broken_);
  pool_ = nullptr;
}

}  // namespace batchscribe::db
