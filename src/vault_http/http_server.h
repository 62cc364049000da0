// HttpServer: an event-driven HTTP/1.1 server over nonblocking sockets, with TLS
// (crypto/tls_connection.h) or plain HTTP (tests), serving one handler. The vault's VaultServer
// runs it around VaultApi; nothing here knows about the vault.
//
// Threads: `threads` workers wait on one epoll instance. Every connection is registered with
// EPOLLONESHOT, so exactly one worker at a time owns it: that worker advances the TLS handshake,
// reads, parses (http_codec.h), runs the handler (which may block, e.g. on the audit log's
// group-commit fsync: many requests in flight let one fsync cover many of them), writes the
// whole response with one write, and re-arms the connection as its last action. A request
// already received (pipelined, or buffered inside OpenSSL) is served without waiting for
// readiness; a response the socket does not take at once waits for EPOLLOUT. The listening
// socket is one more EPOLLONESHOT registration: whichever worker wakes for it accepts.
// One more thread enforces the timeouts by shutting the socket down (the owning worker then
// sees the end of the stream and closes it); a connection whose handler is running has none.
//
// Timeouts: a new connection must complete its handshake and each request must arrive
// completely within `request_timeout` of its first byte; a response must be taken by the peer
// within `request_timeout`; a keep-alive connection may be idle for `idle_timeout`.
// Beyond `max_connections` open connections, new ones are accepted and closed at once.
//
// Secrets: request bytes are wiped from the connection's buffers once the request is handled,
// the HttpRequest's body after the handler returns, and a sensitive response (its body and the
// serialized copy) once written.
//
// Lifecycle: Create, Bind (once), Serve (once; blocks until Stop), Stop (any thread, any time,
// idempotent; Serve then lets running handlers finish, closes every connection and the listening
// socket, and returns). Stop before Serve makes Serve return at once. The destructor stops but
// does not wait: Serve must have returned before the server is destroyed.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/tls_server.h"
#include "vault_http/http_codec.h"
#include "vault_http/vault_api.h"

namespace pgcmk::vault_http {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                                         // 0 = any free port
  std::shared_ptr<const crypto::TlsServerContext> tls;  // null: plain HTTP (tests only)
  int threads = 16;
  int max_connections = 1000;
  HttpLimits limits;
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds idle_timeout{30'000};
};

class HttpServer {
 public:
  // Runs on a worker thread for each complete request; may block. Exceptions become a 500 from
  // the ErrorResponder.
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // The response to a request refused below the handler (malformed, oversize, ...), sent with
  // `Connection: close`: e.g. a JSON error body. `partial` holds what was read of the request
  // line (method and target may be empty) and remote_addr; never headers or body.
  using ErrorResponder = std::function<HttpResponse(
      const HttpRequest& partial, int status, std::string_view code, std::string_view message)>;

  static Result<std::unique_ptr<HttpServer>> Create(HttpServerOptions options, Handler handler,
                                                    ErrorResponder error_responder);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; returns the port (the chosen one for port 0).
  Result<int> Bind();
  Status Serve();
  void Stop();

  // Connections currently open (for tests and diagnostics).
  std::size_t open_connections() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgcmk::vault_http
