// InaccessibleResponder: while a server is Inaccessible (PostgreSQL stopped, storage unmounted),
// a listener on the server's own address and port answers PostgreSQL clients with a protocol-level
// error naming the cause, instead of a bare "connection refused".
//
// Wire behaviour (PostgreSQL frontend/backend protocol 3.0):
//   SSLRequest (80877103)     -> 'S' and a TLS handshake when a TLS context is available (then the
//                                rest happens over TLS), otherwise 'N'; keep reading
//   GSSENCRequest (80877104)  -> 'N', keep reading
//   StartupMessage (3.0)      -> ErrorResponse, close
//   CancelRequest or anything else -> close
// The ErrorResponse carries S/V=FATAL, C=08004 (server rejected the connection), M="the
// customer-managed key is not accessible: <reason>", and a hint naming `pgcmk server show`.
// Without TLS, clients that insist on it (sslmode=require/verify-*) stop at the 'N' with "server
// does not support SSL" (answering 'E' to the SSLRequest would not help: libpq since 15.9,
// CVE-2024-10977, no longer shows error text received before TLS is established). The
// supervisor therefore keeps the server's certificate and key in memory once it has mounted the
// volume, and hands them to the responder (docs/server.md).
// Nothing secret is ever in the reason.
// Thread safety: SetReason may be called from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/bytes.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "crypto/tls_server.h"

namespace pgcmk::server {

inline constexpr std::string_view kInaccessibleSqlState = "08004";
inline constexpr std::string_view kInaccessiblePrefix =
    "the customer-managed key is not accessible: ";

class InaccessibleResponder {
 public:
  // Binds address:port (SO_REUSEADDR; retries for up to `bind_wait` while the port is still
  // held, e.g. by a PostgreSQL that is shutting down) and starts answering.
  // With `tls` (the server's own certificate and key, kept in memory by the supervisor since the
  // last time the volume was mounted), an SSLRequest is answered 'S' and the error is sent over
  // TLS, so clients with sslmode=require/verify-full see it too; without it, 'N'.
  static Result<std::unique_ptr<InaccessibleResponder>> Start(
      const std::string& address, int port, std::string reason, std::string hint,
      std::shared_ptr<const crypto::TlsServerContext> tls = nullptr);
  ~InaccessibleResponder();
  InaccessibleResponder(const InaccessibleResponder&) = delete;
  InaccessibleResponder& operator=(const InaccessibleResponder&) = delete;

  void SetReason(std::string reason);
  // Closes the listener and joins the thread (idempotent).
  void Stop();
  int answered() const { return answered_.load(); }

 private:
  InaccessibleResponder(UniqueFd listener, std::string reason, std::string hint,
                        std::shared_ptr<const crypto::TlsServerContext> tls);
  void Loop();
  void Serve(int fd);

  UniqueFd listener_;
  std::mutex mu_;  // guards reason_
  std::string reason_;
  const std::string hint_;
  const std::shared_ptr<const crypto::TlsServerContext> tls_;
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0};
  std::thread thread_;
};

// The ErrorResponse message ('E' + length + fields), exposed for tests.
Bytes BuildFatalErrorResponse(std::string_view sqlstate, std::string_view message,
                              std::string_view hint);

}  // namespace pgcmk::server
