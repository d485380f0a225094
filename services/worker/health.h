#pragma once
// Liveness and readiness of a worker process, for container probes.
//
// Liveness: every claim slot reports progress (a beat) each time its loop turns
// and, while it runs a step, each time the step or its OpenAI transfers check
// whether to stop (curl does so about once a second). A slot silent for longer
// than the threshold is stalled, and the process is not live: restarting it
// hands its tasks to other workers (their leases expire). Readiness: the
// database answers, and the worker is claiming (not starting or draining).
//
// Served over HTTP by HealthServer: GET /livez, /readyz, and /healthz (both);
// 200 when healthy, 503 otherwise, with a JSON body saying why.

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace batchscribe::worker {

/// One probe's answer.
struct HealthReport {
  bool ok = false;
  nlohmann::json details = nlohmann::json::object();
};

/// The claim slots' heartbeats. Thread-safe; Beat is lock-free.
class LoopHealth {
 public:
  using Now = std::function<std::chrono::steady_clock::time_point()>;
  LoopHealth(int slots, std::chrono::milliseconds stall_after,
             Now now = [] { return std::chrono::steady_clock::now(); });

  /// The slot's loop or its running step made progress.
  void Beat(int slot);
  /// The slot runs `task_id` (0: none); also a beat.
  void SetTask(int slot, int64_t task_id);
  /// The slot's loop has ended (drain): it is not stalled.
  void Ended(int slot);

  /// ok unless a slot that has not ended has been silent longer than the threshold.
  HealthReport Liveness() const;

 private:
  struct Slot {
    std::atomic<int64_t> last_beat_ns{0};
    std::atomic<int64_t> task_id{0};
    std::atomic<bool> ended{false};
  };
  int64_t NowNs() const;

  const std::chrono::milliseconds stall_after_;
  const Now now_;
  std::vector<Slot> slots_;
};

/// Whether the database answers: SELECT 1 on a connection of its own, opened
/// lazily with a short connect timeout, reopened after an error.
class DatabaseProbe {
 public:
  explicit DatabaseProbe(std::string database_url);
  ~DatabaseProbe();
  HealthReport Check();

 private:
  const std::string url_;
  std::mutex mu_;
  std::unique_ptr<pqxx::connection> conn_;
};

/// GET /livez, /readyz, /healthz on `port` (0 = any free port).
class HealthServer {
 public:
  using Probe = std::function<HealthReport()>;
  static absl::StatusOr<std::unique_ptr<HealthServer>> Start(const std::string& bind_address,
                                                             int port, Probe liveness,
                                                             Probe readiness);
  ~HealthServer();
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;
  int port() const { return port_; }

 private:
  struct Impl;
  explicit HealthServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

/// The probe client of --health_check: GET http://HOST:PORT/healthz (or `path`);
/// OK when the answer is 200, else UNAVAILABLE with the body.
absl::Status CheckHealthEndpoint(const std::string& host_port, const std::string& path = "/healthz");

}  // namespace batchscribe::worker
