#pragma once
// LISTEN on one channel from a background thread with its own connection, so
// that any number of in-process subscribers share one database session. The
// connection is re-opened after a failure; because notifications sent while it
// was down are lost, `on_gap` runs after every (re)connect so subscribers can
// re-read what they watch.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "libs/db/connection_pool.h"

namespace batchscribe::db {

class NotificationListener {
 public:
  using PayloadCallback = std::function<void(const std::string& payload)>;
  using GapCallback = std::function<void()>;

  /// Opens its connection with `pool.OpenDedicated()`. Callbacks run on the
  /// listener thread and must be quick.
  NotificationListener(const ConnectionPool& pool, std::string channel, PayloadCallback on_notify,
                       GapCallback on_gap = {});
  /// Stops the thread.
  ~NotificationListener();
  NotificationListener(const NotificationListener&) = delete;
  NotificationListener& operator=(const NotificationListener&) = delete;

  /// Starts the background thread (once).
  void Start();
  /// Stops and joins the background thread; idempotent.
  void Stop();
  /// True while LISTENing on a live connection.
  bool connected() const { return connected_.load(); }

 private:
  class Receiver;
  void Run();
  /// Sleeps up to `delay` unless Stop is called; returns false when stopping.
  bool PauseUnlessStopped(std::chrono::milliseconds delay);

  const ConnectionPool& pool_;
  const std::string channel_;
  PayloadCallback on_notify_;
  GapCallback on_gap_;
  std::atomic<bool> connected_{false};
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace batchscribe::db
