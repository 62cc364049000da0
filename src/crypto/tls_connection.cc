#include "crypto/tls_connection.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "crypto/openssl_handles.h"

namespace pgcmk::crypto {

Result<std::unique_ptr<TlsServerConnection>> TlsServerConnection::Create(
    const TlsServerContext& context, int fd) {
  SSL* ssl = SSL_new(context.ssl_context());
  if (ssl == nullptr) return Err(internal::OpenSslError(StatusCode::kInternal, "SSL_new"));
  if (SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    return Err(internal::OpenSslError(StatusCode::kInternal, "SSL_set_fd"));
  }
  SSL_set_accept_state(ssl);
  // A retried write may come from a buffer that has moved (Write's contract).
  SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // One read(2) per burst of records instead of one for each record's header and one for its
  // body; HasBufferedInput() tells the caller what epoll cannot see.
  SSL_set_read_ahead(ssl, 1);
  return std::unique_ptr<TlsServerConnection>(new TlsServerConnection(ssl));
}

TlsServerConnection::~TlsServerConnection() { SSL_free(ssl_); }

TlsServerConnection::Io TlsServerConnection::Failed(int ret) {
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
      return Io::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return Io::kWantWrite;
    default:
      // Closed by the peer, reset, or a protocol error: the connection is over either way, and
      // the reason must not stay on this thread's error queue for the next connection's calls.
      ERR_clear_error();
      failed_ = true;
      return Io::kClosed;
  }
}

TlsServerConnection::Io TlsServerConnection::Handshake() {
  int ret = SSL_do_handshake(ssl_);
  return ret == 1 ? Io::kDone : Failed(ret);
}

TlsServerConnection::IoResult TlsServerConnection::Read(MutableByteView out) {
  std::size_t n = 0;
  int ret = SSL_read_ex(ssl_, out.data(), out.size(), &n);
  if (ret == 1) return {Io::kDone, n};
  return {Failed(ret), 0};
}

TlsServerConnection::IoResult TlsServerConnection::Write(ByteView data) {
  std::size_t n = 0;
  int ret = SSL_write_ex(ssl_, data.data(), data.size(), &n);
  if (ret == 1) return {Io::kDone, n};
  return {Failed(ret), 0};
}

bool TlsServerConnection::HasBufferedInput() const { return SSL_has_pending(ssl_) == 1; }

void TlsServerConnection::Shutdown() {
  // Only after a completed handshake; a failure (the socket is full, the peer is gone) is
  // ignored because the descriptor is closed next anyway.
  if (!failed_ && SSL_is_init_finished(ssl_) && SSL_shutdown(ssl_) < 0) ERR_clear_error();
}

}  // namespace pgcmk::crypto
