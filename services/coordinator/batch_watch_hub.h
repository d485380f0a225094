#pragma once
// Fan-out of batch change notifications to WatchBatch streams. One LISTEN
// connection per coordinator (not one per stream) receives
// `batchscribe_batches` notifications (payload: batch id) and wakes the streams
// watching that batch. Streams also re-read on a short timeout, so a lost
// notification (listener reconnecting, database restart) only delays an update.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "libs/db/connection_pool.h"
#include "libs/db/listener.h"

namespace batchscribe::coordinator {

class BatchWatchHub {
 public:
  /// Listens through a dedicated connection opened from `pool`.
  explicit BatchWatchHub(const db::ConnectionPool& pool);
  /// A hub without a database listener: only Publish wakes subscribers (tests).
  BatchWatchHub();
  ~BatchWatchHub();
  BatchWatchHub(const BatchWatchHub&) = delete;
  BatchWatchHub& operator=(const BatchWatchHub&) = delete;

  void Start();
  /// Stops listening and wakes every subscriber; later waits return at once.
  void Stop();

  /// Interest in one batch. Destroy it before the hub.
  class Subscription {
   public:
    ~Subscription();
    /// Waits until the batch changed since the previous call (or the
    /// subscription was made) or `timeout` passed. True on a change or when
    /// the hub is stopping.
    bool WaitForChange(std::chrono::milliseconds timeout);

   private:
    friend class BatchWatchHub;
    Subscription(BatchWatchHub* hub, std::string batch_id) : hub_(hub), batch_id_(batch_id) {}
    void Signal();

    BatchWatchHub* hub_;
    std::string batch_id_;
    std::mutex mu_;
    std::condition_variable changed_;
    uint64_t generation_ = 0;
    uint64_t seen_ = 0;
    bool stopping_ = false;
  };

  std::unique_ptr<Subscription> Subscribe(const std::string& batch_id);

  /// Wakes the subscribers of `batch_id` (what a notification does).
  void Publish(const std::string& batch_id);
  /// Wakes every subscriber (after a listener reconnect: changes may have been missed).
  void PublishAll();

  /// Streams currently subscribed.
  std::size_t subscriber_count() const;

 private:
  void Unsubscribe(Subscription* subscription);

  mutable std::mutex mu_;
  std::multimap<std::string, Subscription*> subscribers_;
  bool stopping_ = false;
  std::unique_ptr<db::NotificationListener> listener_;
};

}  // namespace batchscribe::coordinator
