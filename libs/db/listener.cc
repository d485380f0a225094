#include "libs/db/listener.h"

#include <pqxx/pqxx>

#include "libs/common/logging.h"
#include "libs/db/status.h"

namespace batchscribe::db {

class NotificationListener::Receiver : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection& conn, const std::string& channel, const PayloadCallback& callback)
      : pqxx::notification_receiver(conn, channel), callback_(callback) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override {
    if (callback_) callback_(payload);
  }

 private:
  const PayloadCallback& callback_;
};

NotificationListener::NotificationListener(const ConnectionPool& pool, std::string channel,
                                           PayloadCallback on_notify, GapCallback on_gap)
    : pool_(pool),
      channel_(std::move(channel)),
      on_notify_(std::move(on_notify)),
      on_gap_(std::move(on_gap)) {}

NotificationListener::~NotificationListener() { Stop(); }

void NotificationListener::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { Run(); });
}

void NotificationListener::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool NotificationListener::PauseUnlessStopped(std::chrono::milliseconds delay) {
  std::unique_lock lock(mu_);
  return !stop_cv_.wait_for(lock, delay, [this] { return stop_; });
}

void NotificationListener::Run() {
  auto backoff = std::chrono::milliseconds(100);
  while (PauseUnlessStopped(std::chrono::milliseconds(0))) {
    auto conn = pool_.OpenDedicated();
    if (!conn.ok()) {
      if (!PauseUnlessStopped(backoff)) break;
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
      continue;
    }
    std::unique_ptr<Receiver> receiver;
    try {
      receiver = std::make_unique<Receiver>(**conn, channel_, on_notify_);
      // LISTEN is sent lazily by some libpqxx versions; force it now.
      (*conn)->get_notifs();
    } catch (const std::exception& e) {
      log::Warn("listener could not LISTEN", {{"channel", channel_}, {"error", e.what()}});
      receiver.reset();
      if (!PauseUnlessStopped(backoff)) break;
      continue;
    }
    connected_ = true;
    backoff = std::chrono::milliseconds(100);
    if (on_gap_) on_gap_();
    try {
      while (PauseUnlessStopped(std::chrono::milliseconds(0))) {
        (*conn)->await_notification(0, 250000);
      }
    } catch (const std::exception& e) {
      log::Warn("listener connection lost; reconnecting",
                {{"channel", channel_}, {"error", e.what()}});
    }
    connected_ = false;
    try {
      receiver.reset();
    } catch (const std::exception&) {
    }
  }
}

}  // namespace batchscribe::db
