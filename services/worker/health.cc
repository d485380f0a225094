#include "services/worker/health.h"

#include <httplib.h>

#include <exception>
#include <thread>

#include "libs/common/logging.h"

namespace batchscribe::worker {
namespace {

// A probe must answer within the kubelet's timeout even when the database does not.
std::string WithConnectTimeout(const std::string& url) {
  if (url.find("connect_timeout") != std::string::npos) return url;
  if (url.find("://") != std::string::npos) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=2";
  }
  return url + " connect_timeout=2";
}

}  // namespace

LoopHealth::LoopHealth(int slots, std::chrono::milliseconds stall_after, Now now)
    : stall_after_(stall_after), now_(std::move(now)), slots_(static_cast<size_t>(slots)) {
  for (auto& slot : slots_) slot.last_beat_ns = NowNs();
}

int64_t LoopHealth::NowNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(now_().time_since_epoch()).count();
}

void LoopHealth::Beat(int slot) { slots_[static_cast<size_t>(slot)].last_beat_ns = NowNs(); }

void LoopHealth::SetTask(int slot, int64_t task_id) {
  slots_[static_cast<size_t>(slot)].task_id = task_id;
  Beat(slot);
}

void LoopHealth::Ended(int slot) { slots_[static_cast<size_t>(slot)].ended = true; }

HealthReport LoopHealth::Liveness() const {
  HealthReport report;
  report.ok = true;
  const int64_t now = NowNs();
  nlohmann::json slots = nlohmann::json::array();
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& slot = slots_[i];
    const double silent_s = static_cast<double>(now - slot.last_beat_ns.load()) / 1e9;
    const bool ended = slot.ended.load();
    const bool stalled = !ended && silent_s * 1000 > static_cast<double>(stall_after_.count());
    if (stalled) report.ok = false;
    nlohmann::json entry = {{"slot", i},
                            {"state", ended ? "ended" : stalled ? "stalled" : "ok"},
                            {"seconds_since_progress", silent_s}};
    if (const int64_t task = slot.task_id.load(); task != 0) entry[log::kTaskId] = task;
    slots.push_back(std::move(entry));
  }
  report.details = {{"status", report.ok ? "live" : "stalled"},
                    {"stall_after_seconds", static_cast<double>(stall_after_.count()) / 1000},
                    {"slots", std::move(slots)}};
  return report;
}

DatabaseProbe::DatabaseProbe(std::string database_url) : url_(std::move(database_url)) {}

DatabaseProbe::~DatabaseProbe() = default;

HealthReport DatabaseProbe::Check() {
  std::lock_guard lock(mu_);
  try {
    if (!conn_ || !conn_->is_open()) {
      conn_ = std::make_unique<pqxx::connection>(WithConnectTimeout(url_));
    }
    pqxx::nontransaction tx(*conn_);
    tx.exec0("SET statement_timeout = 2000");
    tx.exec1("SELECT 1");
    return {true, {{"database", "ok"}}};
  } catch (const std::exception& e) {
    conn_.reset();
    return {false, {{"database", "unavailable"}, {"error", log::Redact(e.what())}}};
  }
}

struct HealthServer::Impl {
  httplib::Server server;
  std::thread thread;
};

HealthServer::HealthServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HealthServer::~HealthServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

absl::StatusOr<std::unique_ptr<HealthServer>> HealthServer::Start(const std::string& bind_address,
                                                                  int port, Probe liveness,
                                                                  Probe readiness) {
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError("--health_port must be 0..65535, got " +
                                      std::to_string(port));
  }
  auto impl = std::make_unique<Impl>();
  auto answer = [](httplib::Response& res, const HealthReport& report) {
    res.status = report.ok ? 200 : 503;
    res.set_content(report.details.dump() + "\n", "application/json");
  };
  impl->server.Get("/livez", [liveness, answer](const httplib::Request&, httplib::Response& res) {
    answer(res, liveness());
  });
  impl->server.Get("/readyz", [readiness, answer](const httplib::Request&,
                                                  httplib::Response& res) {
    answer(res, readiness());
  });
  impl->server.Get("/healthz", [liveness, readiness, answer](const httplib::Request&,
                                                             httplib::Response& res) {
    HealthReport live = liveness();
    HealthReport ready = readiness();
    answer(res, {live.ok && ready.ok, {{"live", live.details}, {"ready", ready.details}}});
  });
  const int bound = port == 0 ? impl->server.bind_to_any_port(bind_address)
                              : (impl->server.bind_to_port(bind_address, port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError("cannot serve health on " + bind_address + ":" +
                                  std::to_string(port));
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->server.listen_after_bind(); });
  std::unique_ptr<HealthServer> server(new HealthServer(std::move(impl)));
  server->port_ = bound;
  log::Info("health served",
            {{"address", bind_address + ":" + std::to_string(bound)},
             {"paths", {"/livez", "/readyz", "/healthz"}}});
  return server;
}

absl::Status CheckHealthEndpoint(const std::string& host_port, const std::string& path) {
  const auto colon = host_port.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError("--health_check wants HOST:PORT, got '" + host_port + "'");
  }
  int port = 0;
  try {
    port = std::stoi(host_port.substr(colon + 1));
  } catch (const std::exception&) {
    return absl::InvalidArgumentError("--health_check wants HOST:PORT, got '" + host_port + "'");
  }
  httplib::Client client(host_port.substr(0, colon), port);
  client.set_connection_timeout(std::chrono::seconds(3));
  client.set_read_timeout(std::chrono::seconds(5));
  auto res = client.Get(path);
  if (!res) {
    return absl::UnavailableError("no answer from " + host_port + path + ": " +
                                  httplib::to_string(res.error()));
  }
  if (res->status != 200) {
    return absl::UnavailableError(std::to_string(res->status) + " " + res->body);
  }
  return absl::OkStatus();
}

}  // namespace batchscribe::worker
