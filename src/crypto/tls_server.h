// TLS on an already-accepted socket, server side: for protocols that negotiate TLS in-band, such as
// PostgreSQL's SSLRequest (the server's inaccessible responder answers TLS clients with it).
//
// TlsServerContext holds a certificate chain and its private key (PEM; the key is read from
// SecretBytes and lives only inside OpenSSL's structures). It accepts TLS 1.2 and 1.3 only.
// TlsServerSession runs the handshake on a connected, blocking socket (the caller sets socket
// timeouts), then reads and writes; the destructor sends close_notify and frees the session (it
// does not close the descriptor). A write to a peer that went away raises SIGPIPE unless the
// process ignores it (the server supervisor does).
// Thread safety: a context may be shared by sessions on different threads; a session may not.
#pragma once

#include <memory>
#include <string_view>

#include "common/bytes.h"
#include "common/secret_bytes.h"
#include "common/status.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace pgcmk::crypto {

class TlsServerSession;
class TlsServerConnection;

class TlsServerContext {
 public:
  // `certificate_chain_pem`: the server certificate first, then any intermediates.
  static Result<std::shared_ptr<TlsServerContext>> Create(std::string_view certificate_chain_pem,
                                                          const SecretBytes& private_key_pem);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  // Runs the server handshake on `fd`. kUnavailable if it fails (the message says why, e.g. the
  // client rejected the certificate).
  Result<std::unique_ptr<TlsServerSession>> Accept(int fd) const;

 private:
  friend class TlsServerConnection;  // nonblocking sessions on this context (tls_connection.h)
  struct Impl;
  explicit TlsServerContext(std::unique_ptr<Impl> impl);
  ssl_ctx_st* ssl_context() const;
  std::unique_ptr<Impl> impl_;
};

class TlsServerSession {
 public:
  ~TlsServerSession();
  TlsServerSession(const TlsServerSession&) = delete;
  TlsServerSession& operator=(const TlsServerSession&) = delete;

  // Reads exactly out.size() bytes; kUnavailable on EOF, timeout or TLS error.
  Status ReadExactly(MutableByteView out);
  Status WriteAll(ByteView data);

 private:
  friend class TlsServerContext;
  struct Impl;
  explicit TlsServerSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgcmk::crypto
