#pragma once
// A small pool of PostgreSQL connections shared by the threads of one process.
// A connection that broke (server restart, network) is dropped when its lease
// ends and a fresh one is opened on the next Acquire, so the process recovers
// by itself once the database is back.

#include <absl/status/statusor.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace batchscribe::db {

struct PoolOptions {
  /// Most connections open at once; Acquire waits when all are leased.
  int max_connections = 8;
  /// How long Acquire waits for a free connection before UNAVAILABLE.
  std::chrono::milliseconds acquire_timeout{std::chrono::seconds(30)};
  /// libpq connect_timeout added to the URL unless it names one.
  int connect_timeout_seconds = 5;
};

/// Adds `connect_timeout` to a libpq URL or keyword/value string unless present.
std::string WithConnectTimeout(const std::string& url, int seconds);

class ConnectionPool {
 public:
  /// Connections are opened lazily; constructing never touches the network.
  explicit ConnectionPool(std::string url, PoolOptions options = {});
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  /// Exclusive use of one connection until destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    pqxx::connection& conn() { return *conn_; }
    pqxx::connection& operator*() { return *conn_; }
    pqxx::connection* operator->() { return conn_.get(); }
    /// The connection will be closed instead of reused.
    void MarkBroken() { broken_ = true; }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    void Release();

    ConnectionPool* pool_ = nullptr;
    std::unique_ptr<pqxx::connection> conn_;
    bool broken_ = false;
  };

  /// A connection: an idle one, a new one if below max_connections, or the
  /// next one released. UNAVAILABLE when the database cannot be reached or no
  /// connection frees up within acquire_timeout.
  absl::StatusOr<Lease> Acquire();

  /// Opens a connection outside the pool, for work that keeps a connection for
  /// itself (LISTEN, advisory locks, long-running loops).
  absl::StatusOr<std::unique_ptr<pqxx::connection>> OpenDedicated() const;

  /// The URL connections are opened with (may hold a password: never log it).
  const std::string& url() const { return url_; }

 private:
  void Return(std::unique_ptr<pqxx::connection> conn, bool broken);

  const std::string url_;
  const PoolOptions options_;
  std::mutex mu_;
  std::condition_variable released_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  int open_ = 0;  // idle + leased + being opened
};

}  // namespace batchscribe::db
