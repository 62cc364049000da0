#include "vault_http/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/log.h"
#include "common/secret_bytes.h"
#include "common/unique_fd.h"
#include "crypto/tls_connection.h"

namespace pgcmk::vault_http {
namespace {

using Io = crypto::TlsServerConnection::Io;
using IoResult = crypto::TlsServerConnection::IoResult;

constexpr std::int64_t kNoDeadline = std::numeric_limits<std::int64_t>::max();
// Room for one full TLS record's plaintext; grown up to the request limits when needed.
constexpr std::size_t kInitialBufferBytes = 16 << 10;

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string PeerAddress(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(addr).sin_addr, text, sizeof(text));
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr, text, sizeof(text));
  }
  return text;
}

// What the worker does with a connection once it can make no more progress.
// kYield: more requests are already buffered, but the connection has had its turn; it goes back
// through epoll (armed for writability, which is reported at once) so that other connections'
// requests are served in between: a client that keeps pipelining cannot hold a worker forever.
enum class Next { kWaitReadable, kWaitWritable, kYield, kClose };

// Requests one connection may have served in one turn of a worker before it yields.
constexpr int kRequestsPerTurn = 16;

Next WaitFor(Io io) {
  switch (io) {
    case Io::kWantRead:
      return Next::kWaitReadable;
    case Io::kWantWrite:
      return Next::kWaitWritable;
    case Io::kDone:
    case Io::kClosed:
      break;
  }
  return Next::kClose;
}

struct Connection {
  enum class Phase { kHandshake, kReading, kDiscarding, kWriting };
  // After the pending output is written: read the next request, read the body the client was
  // told to send (100 Continue), or close.
  enum class AfterWrite { kNextRequest, kBody, kClose };

  Connection(UniqueFd socket, HttpLimits limits) : fd(std::move(socket)), parser(limits) {}
  ~Connection() {
    // A connection may go (peer reset, timeout, Stop) with a response still unsent: the whole
    // buffers are wiped, whatever they held.
    SecureZero(in.data(), in.size());
    SecureZero(out.data(), out.size());
    WipeRequest(refused_request);
  }

  UniqueFd fd;
  std::unique_ptr<crypto::TlsServerConnection> tls;  // null: plain HTTP
  std::string remote_addr;
  Phase phase = Phase::kReading;
  // Received bytes not yet consumed: in[begin, end).
  std::vector<char> in = std::vector<char>(kInitialBufferBytes);
  std::size_t begin = 0;
  std::size_t end = 0;
  HttpRequestParser parser;
  bool continue_sent = false;
  std::size_t discard = 0;  // body bytes of a refused request still to drop
  HttpParseError refused;
  HttpRequest refused_request;  // method, target, remote_addr of the refused request
  std::string out;
  std::size_t sent = 0;
  bool out_sensitive = false;
  AfterWrite after_write = AfterWrite::kNextRequest;
  // Read by the timeout thread.
  std::atomic<std::int64_t> deadline_ns{kNoDeadline};
  std::atomic<bool> timed_out{false};

  std::size_t buffered() const { return end - begin; }
  bool HasInput() const { return buffered() > 0 || (tls && tls->HasBufferedInput()); }
};

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  Handler handler;
  ErrorResponder error_responder;
  // error_responder, but never throwing: an exception from it (allocation failure, a JSON error)
  // must not escape a worker and terminate the daemon; a fixed 500 is answered instead.
  HttpResponse Refuse(const HttpRequest& partial, int status, std::string_view code,
                      std::string_view message) noexcept {
    try {
      return error_responder(partial, status, code, message);
    } catch (...) {
      HttpResponse fallback;
      fallback.status = 500;
      fallback.body = R"({"error":{"code":"InternalServerError","message":"internal error"}})";
      return fallback;
    }
  }
  UniqueFd epoll;
  UniqueFd stop_event;  // eventfd, readable once Stop() was called; level-triggered
  UniqueFd listener;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<bool> serving{false};
  // Markers told apart from connections in epoll_event.data.ptr.
  char listener_marker = 0;
  char stop_marker = 0;

  // Every open connection; a connection is destroyed only by its owning worker (or by Serve
  // after every worker has stopped), under this mutex, which the timeout thread holds while it
  // shuts sockets down.
  mutable std::mutex mu;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections;  // guarded by mu
  bool listener_paused = false;                                              // guarded by mu

  std::mutex reaper_mu;
  std::condition_variable reaper_cv;

  std::int64_t request_timeout_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(options.request_timeout).count();
  }
  std::int64_t idle_timeout_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(options.idle_timeout).count();
  }

  void WorkerLoop();
  void ReaperLoop();
  void Accept();
  void ArmListener();
  Next Drive(Connection& c);
  void HandleRequest(Connection& c);
  void Respond(Connection& c, const HttpResponse& response, bool keep_alive, int minor_version,
               bool head_request);
  IoResult ReadMore(Connection& c);
  IoResult Write(Connection& c);
  void Arm(Connection& c, std::uint32_t events);
  void Close(Connection& c);
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Create(HttpServerOptions options, Handler handler,
                                                       ErrorResponder error_responder) {
  if (options.threads < 1) options.threads = 1;
  if (options.max_connections < 1) options.max_connections = 1;
  auto impl = std::make_unique<Impl>();
  impl->epoll = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  if (!impl->epoll.valid()) return Err(Status::FromErrno(errno, "epoll_create1"));
  impl->stop_event = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!impl->stop_event.valid()) return Err(Status::FromErrno(errno, "eventfd"));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &impl->stop_marker;
  if (::epoll_ctl(impl->epoll.get(), EPOLL_CTL_ADD, impl->stop_event.get(), &ev) != 0) {
    return Err(Status::FromErrno(errno, "epoll_ctl"));
  }
  impl->options = std::move(options);
  impl->handler = std::move(handler);
  impl->error_responder = std::move(error_responder);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

Result<int> HttpServer::Bind() {
  Impl& m = *impl_;
  if (m.listener.valid()) return Err(StatusCode::kFailedPrecondition, "already bound");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(m.options.port);
  const std::string where = m.options.host + ":" + service;
  if (int rc = ::getaddrinfo(m.options.host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return Err(StatusCode::kUnavailable, "cannot resolve " + where + ": " + gai_strerror(rc));
  }
  Status last(StatusCode::kUnavailable, "cannot bind to " + where);
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    UniqueFd s(
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (!s.valid()) {
      last = Status::FromErrno(errno, "socket for " + where);
      continue;
    }
    int one = 1;
    ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(s.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      last = Status::FromErrno(errno, "cannot bind to " + where);
      continue;
    }
    if (::listen(s.get(), SOMAXCONN) != 0) {
      last = Status::FromErrno(errno, "cannot listen on " + where);
      continue;
    }
    m.listener = std::move(s);
    break;
  }
  ::freeaddrinfo(found);
  if (!m.listener.valid()) return Err(last);
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (::getsockname(m.listener.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    return Err(Status::FromErrno(errno, "getsockname"));
  }
  m.port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(bound).sin6_port
                                             : reinterpret_cast<sockaddr_in&>(bound).sin_port);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.ptr = &m.listener_marker;
  if (::epoll_ctl(m.epoll.get(), EPOLL_CTL_ADD, m.listener.get(), &ev) != 0) {
    return Err(Status::FromErrno(errno, "epoll_ctl"));
  }
  return m.port;
}

Status HttpServer::Serve() {
  Impl& m = *impl_;
  if (!m.listener.valid()) return Status(StatusCode::kFailedPrecondition, "Serve before Bind");
  if (m.serving.exchange(true)) return Status(StatusCode::kFailedPrecondition, "Serve twice");
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(m.options.threads) + 1);
  for (int i = 0; i < m.options.threads; ++i) threads.emplace_back([&m] { m.WorkerLoop(); });
  threads.emplace_back([&m] { m.ReaperLoop(); });
  for (std::thread& t : threads) t.join();
  // Every worker has returned: nobody owns a connection any more.
  std::unordered_map<Connection*, std::unique_ptr<Connection>> left;
  {
    std::lock_guard l(m.mu);
    left.swap(m.connections);
  }
  left.clear();
  m.listener.Reset();
  return Status::Ok();
}

void HttpServer::Stop() {
  Impl& m = *impl_;
  if (m.stopping.exchange(true)) return;
  const std::uint64_t one = 1;
  // Level-triggered and never read: every worker's epoll_wait returns it.
  if (::write(m.stop_event.get(), &one, sizeof(one)) != sizeof(one)) {
    log::Error("vault-http", "cannot signal the server threads to stop");
  }
  std::lock_guard l(m.reaper_mu);
  m.reaper_cv.notify_all();
}

std::size_t HttpServer::open_connections() const {
  std::lock_guard l(impl_->mu);
  return impl_->connections.size();
}

void HttpServer::Impl::WorkerLoop() {
  // A TLS write to a peer that has gone raises SIGPIPE in the writing thread; blocked here it
  // stays pending and the write fails with EPIPE instead.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
  while (!stopping.load(std::memory_order_relaxed)) {
    epoll_event ev{};
    int n = ::epoll_wait(epoll.get(), &ev, 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log::Error("vault-http", Status::FromErrno(errno, "epoll_wait").ToString());
      return;
    }
    if (n == 0 || ev.data.ptr == &stop_marker) continue;
    if (ev.data.ptr == &listener_marker) {
      Accept();
      continue;
    }
    auto& c = *static_cast<Connection*>(ev.data.ptr);
    switch (Drive(c)) {
      case Next::kWaitReadable:
        Arm(c, EPOLLIN);
        break;
      case Next::kWaitWritable:
      case Next::kYield:
        Arm(c, EPOLLOUT);
        break;
      case Next::kClose:
        Close(c);
        break;
    }
  }
}

void HttpServer::Impl::ReaperLoop() {
  // Deadlines are checked a few times per timeout, at least once a second.
  auto tick = std::min(std::min(options.request_timeout, options.idle_timeout) / 4,
                       std::chrono::milliseconds(1000));
  if (tick < std::chrono::milliseconds(10)) tick = std::chrono::milliseconds(10);
  std::unique_lock rl(reaper_mu);
  while (!stopping.load()) {
    reaper_cv.wait_for(rl, tick, [this] { return stopping.load(); });
    if (stopping.load()) break;
    const std::int64_t now = NowNs();
    bool resume_accepting = false;
    {
      std::lock_guard l(mu);
      for (auto& [ptr, c] : connections) {
        if (c->deadline_ns.load(std::memory_order_relaxed) > now || c->timed_out.exchange(true)) {
          continue;
        }
        // The owning worker (or the next event) sees the end of the stream and closes it; the
        // descriptor cannot be closed under us while `mu` is held.
        ::shutdown(c->fd.get(), SHUT_RDWR);
      }
      if (listener_paused && static_cast<int>(connections.size()) < options.max_connections) {
        listener_paused = false;
        resume_accepting = true;
      }
    }
    if (resume_accepting) ArmListener();
  }
}

void HttpServer::Impl::ArmListener() {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.ptr = &listener_marker;
  ::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, listener.get(), &ev);
}

void HttpServer::Impl::Accept() {
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    UniqueFd fd(::accept4(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len,
                          SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      // Out of descriptors or memory: stop accepting until the timeout thread sees room
      // (re-arming now would spin on the same pending connection).
      log::Warning("vault-http", Status::FromErrno(errno, "accept").ToString());
      std::lock_guard l(mu);
      listener_paused = true;
      return;
    }
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto c = std::make_unique<Connection>(std::move(fd), options.limits);
    c->remote_addr = PeerAddress(addr);
    if (options.tls) {
      auto tls = crypto::TlsServerConnection::Create(*options.tls, c->fd.get());
      if (!tls) {
        log::Warning("vault-http", tls.error().ToString());
        continue;
      }
      c->tls = std::move(*tls);
      c->phase = Connection::Phase::kHandshake;
    }
    c->deadline_ns.store(NowNs() + request_timeout_ns(), std::memory_order_relaxed);
    Connection* raw = c.get();
    {
      std::lock_guard l(mu);
      if (static_cast<int>(connections.size()) >= options.max_connections) {
        log::Warning("vault-http", "too many open connections (" +
                                       std::to_string(options.max_connections) +
                                       "): closing a new one from " + c->remote_addr);
        continue;
      }
      connections.emplace(raw, std::move(c));
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.ptr = raw;
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, raw->fd.get(), &ev) != 0) {
      log::Warning("vault-http", Status::FromErrno(errno, "epoll_ctl").ToString());
      Close(*raw);
    }
  }
  ArmListener();
}

void HttpServer::Impl::Arm(Connection& c, std::uint32_t events) {
  epoll_event ev{};
  ev.events = events | EPOLLONESHOT;
  ev.data.ptr = &c;
  // The last touch of `c` by this worker: once armed, another worker may own it.
  if (::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) != 0) {
    log::Warning("vault-http", Status::FromErrno(errno, "epoll_ctl").ToString());
    Close(c);
  }
}

void HttpServer::Impl::Close(Connection& c) {
  if (c.tls) c.tls->Shutdown();
  std::unique_ptr<Connection> owned;
  {
    std::lock_guard l(mu);
    auto it = connections.find(&c);
    if (it == connections.end()) return;
    owned = std::move(it->second);
    connections.erase(it);
  }
  // Destroyed outside the lock: wipes the buffers, frees the session, closes the socket.
}

IoResult HttpServer::Impl::ReadMore(Connection& c) {
  if (c.end == c.in.size()) {
    if (c.begin > 0) {
      std::memmove(c.in.data(), c.in.data() + c.begin, c.buffered());
      SecureZero(c.in.data() + c.buffered(), c.begin);
      c.end -= c.begin;
      c.begin = 0;
    } else {
      // The parser refuses a head or body beyond the limits before the buffer gets here.
      const std::size_t cap =
          options.limits.max_header_bytes + options.limits.max_body_bytes + kInitialBufferBytes;
      if (c.in.size() >= cap) return {Io::kClosed, 0};
      std::vector<char> bigger(std::min(cap, c.in.size() * 2));
      std::memcpy(bigger.data(), c.in.data(), c.end);
      SecureZero(c.in.data(), c.in.size());
      c.in.swap(bigger);
    }
  }
  MutableByteView space(reinterpret_cast<std::uint8_t*>(c.in.data()) + c.end, c.in.size() - c.end);
  if (c.tls) return c.tls->Read(space);
  for (;;) {
    ssize_t n = ::recv(c.fd.get(), space.data(), space.size(), 0);
    if (n > 0) return {Io::kDone, static_cast<std::size_t>(n)};
    if (n == 0) return {Io::kClosed, 0};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {Io::kWantRead, 0};
    return {Io::kClosed, 0};
  }
}

IoResult HttpServer::Impl::Write(Connection& c) {
  ByteView rest(reinterpret_cast<const std::uint8_t*>(c.out.data()) + c.sent,
                c.out.size() - c.sent);
  if (c.tls) return c.tls->Write(rest);
  for (;;) {
    ssize_t n = ::send(c.fd.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n >= 0) return {Io::kDone, static_cast<std::size_t>(n)};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {Io::kWantWrite, 0};
    return {Io::kClosed, 0};
  }
}

void HttpServer::Impl::Respond(Connection& c, const HttpResponse& response, bool keep_alive,
                               int minor_version, bool head_request) {
  c.out.clear();
  c.sent = 0;
  AppendResponse(response, keep_alive, minor_version, head_request, c.out);
  c.out_sensitive = response.sensitive;
  c.after_write =
      keep_alive ? Connection::AfterWrite::kNextRequest : Connection::AfterWrite::kClose;
  c.phase = Connection::Phase::kWriting;
  // The peer must take the response within the request timeout.
  c.deadline_ns.store(NowNs() + request_timeout_ns(), std::memory_order_relaxed);
}

void HttpServer::Impl::HandleRequest(Connection& c) {
  HttpRequest& request = c.parser.request();
  request.remote_addr = c.remote_addr;
  c.deadline_ns.store(kNoDeadline, std::memory_order_relaxed);
  HttpResponse response;
  try {
    response = handler(request);
  } catch (...) {
    HttpRequest partial;
    partial.method = request.method;
    partial.target = request.target;
    partial.remote_addr = request.remote_addr;
    response = Refuse(partial, 500, "InternalServerError", "internal error");
    WipeRequest(partial);
  }
  // The request's bytes (body and bearer token) are wiped: the parser's copy and our buffer.
  SecureZero(request.body.data(), request.body.size());
  const std::size_t used = c.parser.consumed();
  SecureZero(c.in.data() + c.begin, used);
  c.begin += used;
  if (c.begin == c.end) c.begin = c.end = 0;
  c.continue_sent = false;
  const bool keep_alive = c.parser.keep_alive() && !stopping.load(std::memory_order_relaxed);
  Respond(c, response, keep_alive, c.parser.minor_version(), c.parser.is_head());
  if (response.sensitive) SecureZero(response.body.data(), response.body.size());
}

Next HttpServer::Impl::Drive(Connection& c) {
  int served = 0;  // responses completed in this turn with more input already waiting
  for (;;) {
    switch (c.phase) {
      case Connection::Phase::kHandshake: {
        Io io = c.tls->Handshake();
        if (io != Io::kDone) return WaitFor(io);
        c.phase = Connection::Phase::kReading;
        continue;
      }
      case Connection::Phase::kWriting: {
        while (c.sent < c.out.size()) {
          IoResult r = Write(c);
          if (r.io != Io::kDone) return WaitFor(r.io);
          c.sent += r.bytes;
        }
        if (c.out_sensitive) SecureZero(c.out.data(), c.out.size());
        c.out.clear();
        c.sent = 0;
        if (c.after_write == Connection::AfterWrite::kClose) return Next::kClose;
        c.phase = Connection::Phase::kReading;
        if (c.after_write == Connection::AfterWrite::kBody) continue;
        if (stopping.load(std::memory_order_relaxed)) return Next::kClose;
        if (c.buffered() > 0) {
          c.deadline_ns.store(NowNs() + request_timeout_ns(), std::memory_order_relaxed);
          if (++served >= kRequestsPerTurn) return Next::kYield;
          continue;  // a pipelined request is already here
        }
        c.deadline_ns.store(NowNs() + idle_timeout_ns(), std::memory_order_relaxed);
        if (c.HasInput()) {  // inside OpenSSL, invisible to epoll
          if (++served >= kRequestsPerTurn) return Next::kYield;
          continue;
        }
        return Next::kWaitReadable;
      }
      case Connection::Phase::kDiscarding: {
        const std::size_t drop = std::min(c.discard, c.buffered());
        SecureZero(c.in.data() + c.begin, drop);
        c.begin += drop;
        c.discard -= drop;
        if (c.begin == c.end) c.begin = c.end = 0;
        if (c.discard == 0) {
          Respond(c, Refuse(c.refused_request, c.refused.status, c.refused.code, c.refused.message),
                  /*keep_alive=*/false, 1, false);
          continue;
        }
        IoResult r = ReadMore(c);
        if (r.io != Io::kDone) return WaitFor(r.io);
        c.end += r.bytes;
        continue;
      }
      case Connection::Phase::kReading: {
        if (c.buffered() > 0) {
          std::string_view data(c.in.data() + c.begin, c.buffered());
          switch (c.parser.Parse(data)) {
            case HttpRequestParser::State::kComplete:
              HandleRequest(c);
              continue;
            case HttpRequestParser::State::kError: {
              c.refused = c.parser.error();
              WipeRequest(c.refused_request);
              c.refused_request.method = c.parser.request().method;
              c.refused_request.target = c.parser.request().target;
              c.refused_request.remote_addr = c.remote_addr;
              const std::size_t head = c.parser.consumed();
              SecureZero(c.in.data() + c.begin, head);
              c.begin += head;
              c.discard = c.refused.discard;
              if (c.discard > 0) {
                c.phase = Connection::Phase::kDiscarding;
                c.deadline_ns.store(NowNs() + request_timeout_ns(), std::memory_order_relaxed);
                continue;
              }
              Respond(
                  c, Refuse(c.refused_request, c.refused.status, c.refused.code, c.refused.message),
                  /*keep_alive=*/false, 1, false);
              continue;
            }
            case HttpRequestParser::State::kNeedMore:
              if (c.parser.expects_continue() && !c.continue_sent) {
                c.continue_sent = true;
                c.out.assign("HTTP/1.1 100 Continue\r\n\r\n");
                c.sent = 0;
                c.out_sensitive = false;
                c.after_write = Connection::AfterWrite::kBody;
                c.phase = Connection::Phase::kWriting;
                continue;
              }
              break;
          }
        } else if (stopping.load(std::memory_order_relaxed)) {
          return Next::kClose;
        }
        const bool starts_request = c.buffered() == 0;
        IoResult r = ReadMore(c);
        if (r.io != Io::kDone) return WaitFor(r.io);
        if (starts_request) {
          c.deadline_ns.store(NowNs() + request_timeout_ns(), std::memory_order_relaxed);
        }
        c.end += r.bytes;
        continue;
      }
    }
  }
}

}  // namespace pgcmk::vault_http
