#include "server/webhook_notifier.h"

#include <algorithm>

#include "common/log.h"

namespace pgcmk::server {

WebhookNotifier::WebhookNotifier(std::vector<std::string> urls, WebhookOptions options)
    : urls_(std::move(urls)), options_(std::move(options)) {
  thread_ = std::thread([this] { Loop(); });
}

WebhookNotifier::~WebhookNotifier() { Stop(); }

void WebhookNotifier::Enqueue(std::string json_event) {
  if (urls_.empty()) return;
  std::lock_guard lock(mu_);
  if (stopping_) return;
  for (const auto& url : urls_) {
    if (queue_.size() >= options_.max_queue) {
      queue_.pop_front();
      ++dropped_;
    }
    queue_.push_back(Item{json_event, url, 0, std::chrono::steady_clock::now()});
  }
  cv_.notify_one();
}

void WebhookNotifier::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::size_t WebhookNotifier::delivered() const {
  std::lock_guard lock(mu_);
  return delivered_;
}
std::size_t WebhookNotifier::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}
std::size_t WebhookNotifier::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

bool WebhookNotifier::Deliver(const Item& item) {
  auto url = kms::Url::Parse(item.url);
  if (!url) return false;
  auto client = kms::HttpClient::Create(url->origin(), options_.http);
  if (!client) return false;
  auto r = (*client)->Send("POST", url->path, {}, item.body, "application/json");
  return r && r->status >= 200 && r->status < 300;
}

void WebhookNotifier::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    if (queue_.empty()) {
      if (stopping_) return;
      cv_.wait(lock);
      continue;
    }
    // Earliest due item first.
    auto due = std::min_element(queue_.begin(), queue_.end(), [](const Item& a, const Item& b) {
      return a.next_try < b.next_try;
    });
    if (!stopping_ && due->next_try > std::chrono::steady_clock::now()) {
      cv_.wait_until(lock, due->next_try);
      continue;
    }
    Item item = std::move(*due);
    queue_.erase(due);
    lock.unlock();
    bool ok = Deliver(item);
    lock.lock();
    if (ok) {
      ++delivered_;
      continue;
    }
    ++item.attempts;
    if (item.attempts >= options_.max_attempts || stopping_) {
      ++failed_;
      log::Warning("webhook", "giving up delivering an event to " + item.url + " after " +
                                  std::to_string(item.attempts) + " attempts");
      continue;
    }
    item.next_try = std::chrono::steady_clock::now() +
                    options_.initial_backoff * (1 << std::min(item.attempts - 1, 10));
    queue_.push_back(std::move(item));
  }
}

}  // namespace pgcmk::server
