#include "services/coordinator/batch_watch_hub.h"

#include "services/coordinator/batch_store.h"

namespace batchscribe::coordinator {

BatchWatchHub::BatchWatchHub() = default;

BatchWatchHub::BatchWatchHub(const db::ConnectionPool& pool)
    : listener_(std::make_unique<db::NotificationListener>(
          pool, kBatchesChannel, [this](const std::string& batch_id) { Publish(batch_id); },
          [this] { PublishAll(); })) {}

BatchWatchHub::~BatchWatchHub() { Stop(); }

void BatchWatchHub::Start() {
  if (listener_) listener_->Start();
}

void BatchWatchHub::Stop() {
  if (listener_) listener_->Stop();
  std::lock_guard lock(mu_);
  stopping_ = true;
  for (auto& [id, subscription] : subscribers_) {
    std::lock_guard sub_lock(subscription->mu_);
    subscription->stopping_ = true;
    subscription->changed_.notify_all();
  }
}

std::unique_ptr<BatchWatchHub::Subscription> BatchWatchHub::Subscribe(const std::string& batch_id) {
  std::unique_ptr<Subscription> subscription(new Subscription(this, batch_id));
  std::lock_guard lock(mu_);
  subscription->stopping_ = stopping_;
  subscribers_.emplace(batch_id, subscription.get());
  return subscription;
}

void BatchWatchHub::Unsubscribe(Subscription* subscription) {
  std::lock_guard lock(mu_);
  auto [begin, end] = subscribers_.equal_range(subscription->batch_id_);
  for (auto it = begin; it != end; ++it) {
    if (it->second == subscription) {
      subscribers_.erase(it);
      return;
    }
  }
}

void BatchWatchHub::Publish(const std::string& batch_id) {
  std::lock_guard lock(mu_);
  auto [begin, end] = subscribers_.equal_range(batch_id);
  for (auto it = begin; it != end; ++it) it->second->Signal();
}

void BatchWatchHub::PublishAll() {
  std::lock_guard lock(mu_);
  for (auto& [id, subscription] : subscribers_) subscription->Signal();
}

std::size_t BatchWatchHub::subscriber_count() const {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

BatchWatchHub::Subscription::~Subscription() { hub_->Unsubscribe(this); }

void BatchWatchHub::Subscription::Signal() {
  std::lock_guard lock(mu_);
  ++generation_;
  changed_.notify_all();
}

bool BatchWatchHub::Subscription::WaitForChange(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  bool changed =
      changed_.wait_for(lock, timeout, [this] { return stopping_ || generation_ != seen_; });
  seen_ = generation_;
  return changed;
}

}  // namespace batchscribe::coordinator
