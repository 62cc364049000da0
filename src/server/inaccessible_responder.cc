#include "server/inaccessible_responder.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "common/log.h"

namespace pgcmk::server {
namespace {

constexpr std::uint32_t kSslRequestCode = 80877103;
constexpr std::uint32_t kGssEncRequestCode = 80877104;
constexpr std::uint32_t kProtocol3 = 196608;

void PutInt32(Bytes& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 24));
  out.push_back(static_cast<std::uint8_t>(v >> 16));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

std::uint32_t GetInt32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

bool ReadExactly(int fd, std::uint8_t* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd, buf + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

void SendAll(int fd, ByteView data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t r = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;  // a client that went away needs no answer
    sent += static_cast<size_t>(r);
  }
}

}  // namespace

Bytes BuildFatalErrorResponse(std::string_view sqlstate, std::string_view message,
                              std::string_view hint) {
  Bytes fields;
  auto field = [&](char type, std::string_view value) {
    fields.push_back(static_cast<std::uint8_t>(type));
    fields.insert(fields.end(), value.begin(), value.end());
    fields.push_back(0);
  };
  field('S', "FATAL");
  field('V', "FATAL");
  field('C', sqlstate);
  field('M', message);
  if (!hint.empty()) field('H', hint);
  fields.push_back(0);
  Bytes out;
  out.push_back('E');
  PutInt32(out, static_cast<std::uint32_t>(fields.size() + 4));
  out.insert(out.end(), fields.begin(), fields.end());
  return out;
}

InaccessibleResponder::InaccessibleResponder(UniqueFd listener, std::string reason,
                                             std::string hint,
                                             std::shared_ptr<const crypto::TlsServerContext> tls)
    : listener_(std::move(listener)),
      reason_(std::move(reason)),
      hint_(std::move(hint)),
      tls_(std::move(tls)) {
  thread_ = std::thread([this] { Loop(); });
}

InaccessibleResponder::~InaccessibleResponder() { Stop(); }

Result<std::unique_ptr<InaccessibleResponder>> InaccessibleResponder::Start(
    const std::string& address, int port, std::string reason, std::string hint,
    std::shared_ptr<const crypto::TlsServerContext> tls) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
    return Err(StatusCode::kInvalidArgument, "bad listen address " + address);
  }
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Err(Status::FromErrno(errno, "socket"));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EADDRINUSE || std::chrono::steady_clock::now() > deadline) {
      return Err(Status::FromErrno(errno, "bind " + address + ":" + std::to_string(port) +
                                              " for the inaccessible responder"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (::listen(fd.get(), 64) != 0) return Err(Status::FromErrno(errno, "listen"));
  return std::unique_ptr<InaccessibleResponder>(
      new InaccessibleResponder(std::move(fd), std::move(reason), std::move(hint), std::move(tls)));
}

void InaccessibleResponder::SetReason(std::string reason) {
  std::lock_guard lock(mu_);
  reason_ = std::move(reason);
}

void InaccessibleResponder::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  listener_.Reset();
}

void InaccessibleResponder::Loop() {
  while (!stop_) {
    pollfd p{listener_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, 100);
    if (r <= 0) continue;
    UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) continue;
    timeval tv{2, 0};
    ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(conn.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    Serve(conn.get());
  }
}

void InaccessibleResponder::Serve(int fd) {
  std::unique_ptr<crypto::TlsServerSession> tls;  // set once TLS is negotiated
  auto read_exactly = [&](std::uint8_t* buf, size_t n) {
    return tls ? tls->ReadExactly(MutableByteView(buf, n)).ok() : ReadExactly(fd, buf, n);
  };
  auto send = [&](ByteView data) {
    if (tls) {
      (void)tls->WriteAll(data);  // a client that went away needs no answer
    } else {
      SendAll(fd, data);
    }
  };
  // At most: one SSLRequest/GSSENCRequest, then the StartupMessage.
  for (int packet = 0; packet < 3; ++packet) {
    std::uint8_t header[8];
    if (!read_exactly(header, sizeof header)) return;
    const std::uint32_t length = GetInt32(header);
    const std::uint32_t code = GetInt32(header + 4);
    if (length < 8 || length > 10000) return;
    std::vector<std::uint8_t> rest(length - 8);
    if (!rest.empty() && !read_exactly(rest.data(), rest.size())) return;
    if (code == kSslRequestCode && tls_ && !tls) {
      const std::uint8_t yes = 'S';
      SendAll(fd, ByteView(&yes, 1));
      auto session = tls_->Accept(fd);
      if (!session) return;  // e.g. the client does not trust the certificate
      tls = std::move(*session);
      continue;
    }
    if (code == kSslRequestCode || code == kGssEncRequestCode) {
      const std::uint8_t no = 'N';
      send(ByteView(&no, 1));
      continue;
    }
    if (code != kProtocol3) return;
    std::string message;
    {
      std::lock_guard lock(mu_);
      message = std::string(kInaccessiblePrefix) + reason_;
    }
    ++answered_;  // before the reply, so a client that has read it sees the count
    send(BuildFatalErrorResponse(kInaccessibleSqlState, message, hint_));
    tls.reset();  // close_notify before the TCP shutdown
    ::shutdown(fd, SHUT_WR);
    return;
  }
}

}  // namespace pgcmk::server
