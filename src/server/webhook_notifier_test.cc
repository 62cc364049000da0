// The webhook receiver here is an in-process httplib server on 127.0.0.1 (a fake receiver).
#include "server/webhook_notifier.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <thread>

namespace pgcmk::server {
namespace {

class FakeReceiver {
 public:
  explicit FakeReceiver(int failures_first) : failures_left_(failures_first) {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      if (failures_left_.fetch_sub(1) > 0) {
        res.status = 503;
        return;
      }
      last_body = req.body;
      ++received;
    });
    port = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ~FakeReceiver() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/hook"; }
  int port = 0;
  std::atomic<int> received{0};
  std::string last_body;

 private:
  std::atomic<int> failures_left_;
  httplib::Server server_;
  std::thread thread_;
};

WebhookOptions Fast() {
  WebhookOptions o;
  o.initial_backoff = std::chrono::milliseconds(50);
  o.max_attempts = 4;
  return o;
}

TEST(WebhookNotifierTest, RetriesWithBackoffUntilDelivered) {
  FakeReceiver receiver(2);
  WebhookNotifier n({receiver.url()}, Fast());
  n.Enqueue(R"({"event":"StateChanged","state":"Inaccessible"})");
  for (int i = 0; i < 200 && receiver.received.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(receiver.received.load(), 1);
  EXPECT_EQ(receiver.last_body, R"({"event":"StateChanged","state":"Inaccessible"})");
  n.Stop();
  EXPECT_EQ(n.delivered(), 1u);
}

TEST(WebhookNotifierTest, GivesUpAfterMaxAttempts) {
  FakeReceiver receiver(100);
  WebhookNotifier n({receiver.url()}, Fast());
  n.Enqueue("{}");
  for (int i = 0; i < 300 && n.failed() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(n.failed(), 1u);
  EXPECT_EQ(receiver.received.load(), 0);
}

TEST(WebhookNotifierTest, EnqueueNeverBlocksOnADeadReceiver) {
  // 10.255.255.1 is unroutable: connecting hangs until the connect timeout.
  WebhookOptions o = Fast();
  o.http.connect_timeout = std::chrono::milliseconds(300);
  WebhookNotifier n({"http://10.255.255.1:9/hook"}, o);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 50; ++i) n.Enqueue("{}");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
}

}  // namespace
}  // namespace pgcmk::server
