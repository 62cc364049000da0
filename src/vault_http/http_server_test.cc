// HttpServer with real sockets on 127.0.0.1: concurrency, stalled and idle clients, timeouts,
// pipelining, 100-continue, oversize bodies, partial writes, TLS (and garbage on the TLS port),
// the connection cap, and Stop() with clients connected.
#include "vault_http/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "crypto/x509.h"

namespace pgcmk::vault_http {
namespace {

using namespace std::chrono_literals;

// Echoes "METHOD target body"; /big answers 8 MiB, /slow sleeps 200 ms first.
HttpResponse Echo(const HttpRequest& r) {
  HttpResponse out;
  out.content_type = "text/plain";
  if (r.target == "/big") {
    out.body.assign(8 << 20, 'b');
    return out;
  }
  if (r.target == "/slow") std::this_thread::sleep_for(200ms);
  if (r.target == "/throw") throw std::runtime_error("boom");
  out.body = r.method + " " + r.target + " " + r.body;
  auto host = r.headers.find("host");
  if (host != r.headers.end()) out.headers.emplace_back("x-host", host->second);
  out.headers.emplace_back("x-remote", r.remote_addr);
  return out;
}

HttpResponse JsonError(const HttpRequest&, int status, std::string_view code,
                       std::string_view message) {
  HttpResponse out;
  out.status = status;
  out.body = "{\"error\":{\"code\":\"" + std::string(code) + "\",\"message\":\"" +
             std::string(message) + "\"}}";
  return out;
}

// A server running Serve() on its own thread; stopped and joined on destruction.
class RunningServer {
 public:
  explicit RunningServer(HttpServerOptions options) {
    auto s = HttpServer::Create(std::move(options), Echo, JsonError);
    EXPECT_TRUE(s.has_value());
    server_ = std::move(*s);
    auto port = server_->Bind();
    EXPECT_TRUE(port.has_value());
    port_ = *port;
    thread_ = std::thread([this] { served_ = server_->Serve(); });
  }
  ~RunningServer() { StopAndJoin(); }
  void StopAndJoin() {
    if (!thread_.joinable()) return;
    server_->Stop();
    thread_.join();
  }
  int port() const { return port_; }
  HttpServer& server() { return *server_; }

 private:
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::thread thread_;
  Status served_;
};

HttpServerOptions PlainOptions() {
  HttpServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.threads = 4;
  o.limits.max_body_bytes = 1 << 16;
  o.limits.max_header_bytes = 4 << 10;
  return o;
}

// A blocking client socket with a receive timeout.
class RawClient {
 public:
  explicit RawClient(int port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    timeval tv{5, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  bool connected() const { return connected_; }
  bool Send(std::string_view data) {
    return ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(data.size());
  }
  // One response: head and Content-Length body. Empty if the connection ended first.
  std::string ReadResponse() {
    for (;;) {
      std::size_t head_end = buf_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::size_t length = 0;
        std::size_t cl = buf_.find("Content-Length: ");
        if (cl != std::string::npos && cl < head_end) length = std::stoul(buf_.substr(cl + 16));
        if (buf_.compare(0, 12, "HTTP/1.1 100") == 0) length = 0;
        if (buf_.size() >= head_end + 4 + length) {
          std::string r = buf_.substr(0, head_end + 4 + length);
          buf_.erase(0, r.size());
          return r;
        }
      }
      if (!Fill()) return "";
    }
  }
  // True if the server closed the connection (EOF or reset) within the receive timeout;
  // whatever it sends first (a response, a TLS alert) is skipped.
  bool ClosedByServer() {
    for (;;) {
      char chunk[4096];
      ssize_t n = ::recv(fd_.get(), chunk, sizeof(chunk), 0);
      if (n > 0) continue;
      return n == 0 || errno == ECONNRESET;
    }
  }
  void SetReceiveTimeout(std::chrono::milliseconds t) {
    timeval tv{static_cast<time_t>(t.count() / 1000),
               static_cast<suseconds_t>(t.count() % 1000 * 1000)};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  int fd() const { return fd_.get(); }

 private:
  bool Fill() {
    char chunk[65536];
    ssize_t n = ::recv(fd_.get(), chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  UniqueFd fd_;
  bool connected_ = false;
  std::string buf_;
};

std::string Body(const std::string& response) {
  return response.substr(response.find("\r\n\r\n") + 4);
}

std::string Get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
}

TEST(HttpServerTest, ServesManyConcurrentKeepAliveClients) {
  RunningServer s(PlainOptions());
  constexpr int kClients = 24;
  constexpr int kRequests = 50;
  std::atomic<int> ok = 0;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      RawClient c(s.port());
      for (int j = 0; j < kRequests; ++j) {
        std::string body = "c" + std::to_string(i) + "r" + std::to_string(j);
        c.Send("POST /echo/%2F?x=1 HTTP/1.1\r\nHost: t\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body);
        std::string r = c.ReadResponse();
        if (r.starts_with("HTTP/1.1 200 OK\r\n") && Body(r) == "POST /echo/%2F?x=1 " + body &&
            r.find("x-remote: 127.0.0.1\r\n") != std::string::npos) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
}

TEST(HttpServerTest, PipelinedRequestsAreAllAnsweredInOrder) {
  RunningServer s(PlainOptions());
  RawClient c(s.port());
  std::string batch;
  for (int i = 0; i < 20; ++i) batch += Get("/p" + std::to_string(i));
  batch += "POST /last HTTP/1.1\r\nContent-Length: 3\r\n\r\nend";
  ASSERT_TRUE(c.Send(batch));
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(Body(c.ReadResponse()), "GET /p" + std::to_string(i) + " ");
  EXPECT_EQ(Body(c.ReadResponse()), "POST /last end");
}

// A client that keeps its pipeline full cannot hold a worker: after a turn of requests its
// connection goes back through epoll, so another client's request (here with a single worker)
// is served in between instead of after the whole flood.
TEST(HttpServerTest, APipeliningClientCannotHoldTheOnlyWorker) {
  std::atomic<int> served{0};
  std::atomic<int> other_at{-1};
  auto handler = [&](const HttpRequest& r) {
    const int n = ++served;
    if (r.target == "/other") other_at = n;
    if (r.target == "/f") std::this_thread::sleep_for(100us);  // slower than the client sends
    HttpResponse out;
    out.content_type = "text/plain";
    out.body = "ok";
    return out;
  };
  HttpServerOptions o = PlainOptions();
  o.threads = 1;
  auto server = HttpServer::Create(o, handler, JsonError);
  ASSERT_TRUE(server.has_value());
  auto port = (*server)->Bind();
  ASSERT_TRUE(port.has_value());
  std::thread serve([&] { (void)(*server)->Serve(); });
  constexpr int kFlood = 4000;
  RawClient flood(*port);
  ASSERT_TRUE(flood.connected());
  std::string batch;
  for (int i = 0; i < kFlood; ++i) batch += "GET /f HTTP/1.1\r\nHost: x\r\n\r\n";
  std::atomic<int> flood_answers{0};
  std::thread reader([&] {
    for (int i = 0; i < kFlood && !flood.ReadResponse().empty(); ++i) ++flood_answers;
  });
  std::thread writer([&] { flood.Send(batch); });
  for (int i = 0; i < 5000 && served < 50; ++i) std::this_thread::sleep_for(1ms);
  RawClient other(*port);
  ASSERT_TRUE(other.Send("GET /other HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_NE(other.ReadResponse().find("200 OK"), std::string::npos);
  writer.join();
  reader.join();
  EXPECT_EQ(flood_answers, kFlood);
  EXPECT_GT(other_at, 0);
  EXPECT_LT(other_at, kFlood / 2) << "the other client waited for the flood";
  (*server)->Stop();
  serve.join();
}

TEST(HttpServerTest, RequestSplitIntoTinyWritesIsServed) {
  RunningServer s(PlainOptions());
  RawClient c(s.port());
  std::string req = "POST /split HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
  for (char ch : req) {
    ASSERT_TRUE(c.Send(std::string_view(&ch, 1)));
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(Body(c.ReadResponse()), "POST /split hello");
}

TEST(HttpServerTest, AStalledClientDoesNotBlockOthers) {
  HttpServerOptions o = PlainOptions();
  o.threads = 2;
  RunningServer s(o);
  RawClient stalled(s.port());
  ASSERT_TRUE(stalled.Send("POST /stalled HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly a part"));
  RawClient idle(s.port());
  ASSERT_TRUE(idle.Send("GET /half"));
  for (int i = 0; i < 20; ++i) {
    RawClient c(s.port());
    c.Send(Get("/other"));
    EXPECT_EQ(Body(c.ReadResponse()), "GET /other ");
  }
  // The stalled client finishes its body and is answered.
  ASSERT_TRUE(stalled.Send(std::string(100 - 11, 'x')));
  EXPECT_EQ(Body(stalled.ReadResponse()), "POST /stalled only a part" + std::string(89, 'x'));
}

TEST(HttpServerTest, IdleAndSlowlorisConnectionsAreClosedByTheTimeouts) {
  HttpServerOptions o = PlainOptions();
  o.request_timeout = 400ms;
  o.idle_timeout = 300ms;
  RunningServer s(o);
  auto start = std::chrono::steady_clock::now();
  RawClient idle(s.port());
  RawClient served(s.port());
  served.Send(Get("/once"));
  EXPECT_EQ(Body(served.ReadResponse()), "GET /once ");
  RawClient slow(s.port());
  std::atomic<bool> slow_closed = false;
  std::thread trickle([&] {
    // One header byte every 50 ms: progress, but the request never completes in time.
    std::string head = "GET /slowloris HTTP/1.1\r\nX-Pad: " + std::string(200, 'a');
    for (char ch : head) {
      if (!slow.Send(std::string_view(&ch, 1))) break;
      std::this_thread::sleep_for(50ms);
      pollfd p{slow.fd(), POLLIN | POLLRDHUP, 0};
      if (::poll(&p, 1, 0) > 0) break;
    }
    slow_closed = slow.ClosedByServer();
  });
  EXPECT_TRUE(idle.ClosedByServer());
  EXPECT_TRUE(served.ClosedByServer());
  trickle.join();
  EXPECT_TRUE(slow_closed.load());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  // Still serving.
  RawClient c(s.port());
  c.Send(Get("/after"));
  EXPECT_EQ(Body(c.ReadResponse()), "GET /after ");
}

TEST(HttpServerTest, MalformedRequestsGetAJsonErrorAndTheConnectionIsClosed) {
  RunningServer s(PlainOptions());
  struct Case {
    std::string bytes;
    std::string status_line;
  };
  std::vector<Case> cases = {
      {"GARBAGE\r\n\r\n", "HTTP/1.1 400 Bad Request"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
       "HTTP/1.1 411 Length Required"},
      {"GET / HTTP/1.1\r\nX: " + std::string(5000, 'a') + "\r\n\r\n",
       "HTTP/1.1 431 Request Header Fields Too Large"},
      {"GET / HTTP/3.0\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"},
  };
  for (const Case& k : cases) {
    RawClient c(s.port());
    c.Send(k.bytes);
    std::string r = c.ReadResponse();
    EXPECT_TRUE(r.starts_with(k.status_line + "\r\n")) << r;
    EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos) << r;
    EXPECT_TRUE(Body(r).starts_with("{\"error\":{\"code\":\"")) << r;
    EXPECT_TRUE(c.ClosedByServer());
  }
}

TEST(HttpServerTest, OversizeBodyIsDrainedAndAnswered413) {
  RunningServer s(PlainOptions());
  RawClient c(s.port());
  std::string body(200'000, 'z');  // limit 64 KiB
  ASSERT_TRUE(c.Send("POST /big HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\n\r\n" + body));
  std::string r = c.ReadResponse();
  EXPECT_TRUE(r.starts_with("HTTP/1.1 413 Payload Too Large\r\n")) << r.substr(0, 100);
  EXPECT_NE(Body(r).find("RequestEntityTooLarge"), std::string::npos);
  EXPECT_TRUE(c.ClosedByServer());
}

TEST(HttpServerTest, ExpectContinueGetsAnInterimResponseThenTheAnswer) {
  RunningServer s(PlainOptions());
  RawClient c(s.port());
  ASSERT_TRUE(c.Send("POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  EXPECT_EQ(c.ReadResponse(), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(c.Send("body"));
  EXPECT_EQ(Body(c.ReadResponse()), "POST /e body");
  // Too large: refused without the interim response.
  RawClient d(s.port());
  ASSERT_TRUE(d.Send("POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 999999\r\n\r\n"));
  EXPECT_TRUE(d.ReadResponse().starts_with("HTTP/1.1 413 "));
}

TEST(HttpServerTest, Http10ClosesUnlessAskedToKeepAliveAndConnectionCloseIsHonoured) {
  RunningServer s(PlainOptions());
  {
    RawClient c(s.port());
    c.Send("GET /ten HTTP/1.0\r\n\r\n");
    std::string r = c.ReadResponse();
    EXPECT_EQ(Body(r), "GET /ten ");
    EXPECT_TRUE(c.ClosedByServer());
  }
  {
    RawClient c(s.port());
    c.Send("GET /ten HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    EXPECT_NE(c.ReadResponse().find("Connection: keep-alive\r\n"), std::string::npos);
    c.Send("GET /again HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    EXPECT_EQ(Body(c.ReadResponse()), "GET /again ");
  }
  {
    RawClient c(s.port());
    c.Send(Get("/bye", "Connection: close\r\n"));
    EXPECT_EQ(Body(c.ReadResponse()), "GET /bye ");
    EXPECT_TRUE(c.ClosedByServer());
  }
}

TEST(HttpServerTest, HandlerExceptionBecomesA500AndTheConnectionStaysUsable) {
  RunningServer s(PlainOptions());
  RawClient c(s.port());
  c.Send(Get("/throw"));
  EXPECT_TRUE(c.ReadResponse().starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
  c.Send(Get("/fine"));
  EXPECT_EQ(Body(c.ReadResponse()), "GET /fine ");
}

TEST(HttpServerTest, LargeResponseToASlowReaderWaitsForWritability) {
  RunningServer s(PlainOptions());
  RawClient slow(s.port());
  slow.Send(Get("/big"));
  std::this_thread::sleep_for(300ms);  // the server fills the socket buffers and must wait
  RawClient other(s.port());
  other.Send(Get("/meanwhile"));
  EXPECT_EQ(Body(other.ReadResponse()), "GET /meanwhile ");
  std::string r = slow.ReadResponse();
  EXPECT_EQ(Body(r).size(), std::size_t{8} << 20);
  slow.Send(Get("/next"));
  EXPECT_EQ(Body(slow.ReadResponse()), "GET /next ");
}

TEST(HttpServerTest, ConnectionsBeyondTheCapAreClosed) {
  HttpServerOptions o = PlainOptions();
  o.max_connections = 2;
  RunningServer s(o);
  RawClient a(s.port()), b(s.port());
  a.Send(Get("/a"));
  b.Send(Get("/b"));
  EXPECT_EQ(Body(a.ReadResponse()), "GET /a ");
  EXPECT_EQ(Body(b.ReadResponse()), "GET /b ");
  RawClient c(s.port());
  EXPECT_TRUE(c.ClosedByServer());
  EXPECT_EQ(s.server().open_connections(), 2u);
}

TEST(HttpServerTest, StopWithClientsConnectedReturnsPromptlyAndClosesThem) {
  for (int round = 0; round < 5; ++round) {
    auto s = std::make_unique<RunningServer>(PlainOptions());
    RawClient idle(s->port());
    RawClient partial(s->port());
    partial.Send("POST /p HTTP/1.1\r\nContent-Length: 10\r\n\r\nab");
    RawClient busy(s->port());
    busy.Send(Get("/slow"));
    RawClient served(s->port());
    served.Send(Get("/x"));
    EXPECT_EQ(Body(served.ReadResponse()), "GET /x ");
    std::this_thread::sleep_for(20ms);
    auto start = std::chrono::steady_clock::now();
    s->StopAndJoin();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
    // The running request was answered (with Connection: close); everyone else is closed.
    std::string r = busy.ReadResponse();
    EXPECT_EQ(Body(r), "GET /slow ");
    EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos);
    EXPECT_TRUE(idle.ClosedByServer());
    EXPECT_TRUE(partial.ClosedByServer());
    EXPECT_TRUE(served.ClosedByServer());
  }
}

TEST(HttpServerTest, StopBeforeServeMakesServeReturn) {
  auto s = HttpServer::Create(PlainOptions(), Echo, JsonError);
  ASSERT_TRUE(s.has_value());
  ASSERT_TRUE((*s)->Bind().has_value());
  (*s)->Stop();
  EXPECT_TRUE((*s)->Serve().ok());
}

class HttpsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = crypto::CreateCertificateAuthority({});
    ASSERT_TRUE(ca.has_value());
    crypto::ServerCertificateOptions so;
    so.common_name = "localhost";
    so.ip_addresses = {"127.0.0.1"};
    auto leaf = crypto::IssueServerCertificate(*ca, so);
    ASSERT_TRUE(leaf.has_value());
    auto ctx = crypto::TlsServerContext::Create(leaf->certificate_pem + ca->certificate_pem,
                                                leaf->private_key_pem);
    ASSERT_TRUE(ctx.has_value());
    options_ = PlainOptions();
    options_.tls = std::move(*ctx);
    ca_path_ = ::testing::TempDir() + "/http_server_test_ca." + std::to_string(::getpid()) + ".pem";
    ASSERT_TRUE(
        WriteAll(UniqueFd(::open(ca_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600))
                     .get(),
                 AsBytes(ca->certificate_pem))
            .ok());
  }
  void TearDown() override { ::unlink(ca_path_.c_str()); }
  std::unique_ptr<httplib::SSLClient> Client(int port) {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", port);
    c->set_ca_cert_path(ca_path_.c_str());
    c->enable_server_certificate_verification(true);
    c->set_keep_alive(true);
    c->set_read_timeout(5, 0);
    return c;
  }
  HttpServerOptions options_;
  std::string ca_path_;
};

TEST_F(HttpsServerTest, ServesConcurrentKeepAliveTlsClients) {
  RunningServer s(options_);
  std::atomic<int> ok = 0;
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      auto c = Client(s.port());
      for (int j = 0; j < 30; ++j) {
        std::string body = std::to_string(i * 100 + j);
        auto r = c->Post("/tls?a=b", body, "text/plain");
        if (r && r->status == 200 && r->body == "POST /tls?a=b " + body) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 8 * 30);
  auto c = Client(s.port());
  auto big = c->Get("/big");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->body.size(), std::size_t{8} << 20);
}

TEST_F(HttpsServerTest, GarbageAndFailedHandshakesDoNotHurtOtherConnections) {
  options_.request_timeout = 500ms;
  RunningServer s(options_);
  auto good = Client(s.port());
  ASSERT_TRUE(good->Get("/before"));
  // Plain HTTP on the TLS port, random bytes, a client that stalls mid-handshake, and a client
  // that does not trust the certificate.
  RawClient plain(s.port());
  plain.Send(Get("/plain"));
  RawClient noise(s.port());
  noise.Send(std::string("\x16\x03\x01\x00\x05garbagegarbage", 19));
  RawClient stalled(s.port());
  stalled.Send(std::string("\x16\x03\x01\x02\x00\x01", 6));
  httplib::SSLClient untrusting("127.0.0.1", s.port());
  untrusting.enable_server_certificate_verification(true);
  untrusting.set_ca_cert_path("/dev/null");
  EXPECT_FALSE(untrusting.Get("/x"));
  for (int i = 0; i < 10; ++i) {
    auto r = good->Get("/during");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "GET /during ");
  }
  EXPECT_TRUE(plain.ClosedByServer());
  EXPECT_TRUE(noise.ClosedByServer());
  EXPECT_TRUE(stalled.ClosedByServer());  // by the handshake timeout
  auto r = Client(s.port())->Get("/after");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "GET /after ");
}

TEST_F(HttpsServerTest, StopWithTlsClientsConnected) {
  for (int round = 0; round < 3; ++round) {
    auto s = std::make_unique<RunningServer>(options_);
    auto c = Client(s->port());
    ASSERT_TRUE(c->Get("/x"));
    RawClient handshaking(s->port());
    auto start = std::chrono::steady_clock::now();
    s->StopAndJoin();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
    EXPECT_TRUE(handshaking.ClosedByServer());
  }
}

}  // namespace
}  // namespace pgcmk::vault_http
