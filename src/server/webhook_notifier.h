// WebhookNotifier: delivers activity events to configured webhooks (the self-hosted counterpart of
// Azure action groups) as JSON POSTs, on its own thread, so that a slow or dead receiver never
// blocks the supervisor.
//
// Each event is POSTed to every URL with `Content-Type: application/json`; a 2xx answer is
// success. Failures (transport errors, non-2xx) are retried with exponential backoff
// (initial_backoff, doubling, at most max_attempts tries per URL). The queue is bounded
// (max_queue); beyond it the oldest events are dropped and counted. Enqueue never blocks on the
// network. Stop() makes one last, short attempt for what is queued and joins the thread.
// Thread safety: Enqueue may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kms/http_client.h"

namespace pgcmk::server {

struct WebhookOptions {
  int max_attempts = 6;
  std::chrono::milliseconds initial_backoff{500};
  std::size_t max_queue = 1000;
  kms::HttpOptions http = [] {
    kms::HttpOptions o;
    o.allow_plain_http = true;  // local receivers; https is verified against the system CAs
    o.connect_timeout = std::chrono::milliseconds(2000);
    o.io_timeout = std::chrono::milliseconds(3000);
    return o;
  }();
};

class WebhookNotifier {
 public:
  WebhookNotifier(std::vector<std::string> urls, WebhookOptions options = {});
  ~WebhookNotifier();
  WebhookNotifier(const WebhookNotifier&) = delete;
  WebhookNotifier& operator=(const WebhookNotifier&) = delete;

  void Enqueue(std::string json_event);
  void Stop();

  std::size_t delivered() const;
  std::size_t failed() const;   // events given up on after max_attempts
  std::size_t dropped() const;  // events dropped because the queue was full

 private:
  struct Item {
    std::string body;
    std::string url;
    int attempts = 0;
    std::chrono::steady_clock::time_point next_try;
  };
  void Loop();
  bool Deliver(const Item& item);

  const std::vector<std::string> urls_;
  const WebhookOptions options_;
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::size_t delivered_ = 0, failed_ = 0, dropped_ = 0;
  std::thread thread_;
};

}  // namespace pgcmk::server
