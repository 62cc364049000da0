// TlsServerConnection: the server side of TLS on a nonblocking socket, driven by readiness
// (epoll) instead of by blocking calls, for the key vault's HTTPS server.
//
// Every operation returns at once: kDone, or what the socket must become (readable, writable)
// before the same operation can make progress, or kClosed when the peer closed the session or
// the session failed (handshake rejected, bad record, reset). The context's settings apply
// (TLS 1.2 or 1.3, no renegotiation; tls_server.h).
//
// Reads use OpenSSL's read-ahead: one read(2) may pull several records (a request's header and
// body records, pipelined requests) into OpenSSL's buffer, where epoll cannot see them. A caller
// must therefore not wait for readability while HasBufferedInput() is true; Read() returning
// kWantRead guarantees that nothing is buffered.
//
// Write() is all or nothing: kDone means every byte was taken; after kWantRead/kWantWrite the
// caller must call Write() again with the same bytes (they may have moved in memory).
//
// A write to a peer that went away raises SIGPIPE in the writing thread unless the process
// ignores it or the thread blocks it (the vault's server threads block it).
// The destructor frees the session without sending close_notify and does not close the
// descriptor. Thread safety: one thread at a time per connection; connections on different
// threads may share one context.
#pragma once

#include <cstddef>
#include <memory>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/tls_server.h"

struct ssl_st;  // OpenSSL's SSL

namespace pgcmk::crypto {

class TlsServerConnection {
 public:
  enum class Io { kDone, kWantRead, kWantWrite, kClosed };
  struct IoResult {
    Io io = Io::kDone;
    std::size_t bytes = 0;  // with kDone: bytes read or written
  };

  // A session on the connected, nonblocking socket `fd`, in the accepting state.
  static Result<std::unique_ptr<TlsServerConnection>> Create(const TlsServerContext& context,
                                                             int fd);
  ~TlsServerConnection();
  TlsServerConnection(const TlsServerConnection&) = delete;
  TlsServerConnection& operator=(const TlsServerConnection&) = delete;

  // Advances the handshake; kDone once it is complete.
  Io Handshake();
  // Reads up to out.size() bytes of application data (kDone with bytes > 0).
  IoResult Read(MutableByteView out);
  // Writes all of `data` as application data (see above).
  IoResult Write(ByteView data);
  // True if OpenSSL holds received bytes (decrypted or not) that Read() has not returned yet.
  bool HasBufferedInput() const;
  // Sends close_notify if the socket takes it now; never waits.
  void Shutdown();

 private:
  explicit TlsServerConnection(ssl_st* ssl) : ssl_(ssl) {}
  Io Failed(int ret);

  ssl_st* ssl_;
  bool failed_ = false;  // a fatal error or the peer's close: no close_notify any more
};

}  // namespace pgcmk::crypto
