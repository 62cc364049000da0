#include "crypto/tls_server.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "crypto/openssl_handles.h"

namespace pgcmk::crypto {

using internal::BioPtr;
using internal::OpenSslError;
using internal::PkeyPtr;

struct TlsServerContext::Impl {
  SSL_CTX* ctx = nullptr;
  ~Impl() { SSL_CTX_free(ctx); }
};

struct TlsServerSession::Impl {
  SSL* ssl = nullptr;
  ~Impl() {
    if (ssl != nullptr) {
      SSL_shutdown(ssl);
      SSL_free(ssl);
    }
    internal::DiscardOpenSslErrors();
  }
};

TlsServerContext::TlsServerContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsServerContext::~TlsServerContext() = default;
SSL_CTX* TlsServerContext::ssl_context() const { return impl_->ctx; }
TlsServerSession::TlsServerSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsServerSession::~TlsServerSession() = default;

Result<std::shared_ptr<TlsServerContext>> TlsServerContext::Create(
    std::string_view certificate_chain_pem, const SecretBytes& private_key_pem) {
  auto impl = std::make_unique<Impl>();
  impl->ctx = SSL_CTX_new(TLS_server_method());
  if (impl->ctx == nullptr) return Err(OpenSslError(StatusCode::kInternal, "SSL_CTX_new"));
  SSL_CTX_set_min_proto_version(impl->ctx, TLS1_2_VERSION);
  // CLEANSE_PLAINTEXT: OpenSSL decrypts records in place in its read buffer and would otherwise
  // leave request bodies (client secrets, keys to wrap) and bearer tokens in freed memory.
  SSL_CTX_set_options(impl->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CLEANSE_PLAINTEXT);
  BioPtr certs(BIO_new_mem_buf(certificate_chain_pem.data(),
                               static_cast<int>(certificate_chain_pem.size())));
  X509* leaf = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr);
  if (leaf == nullptr) {
    return Err(OpenSslError(StatusCode::kInvalidArgument, "reading the TLS certificate"));
  }
  int ok = SSL_CTX_use_certificate(impl->ctx, leaf);
  X509_free(leaf);
  if (ok != 1) return Err(OpenSslError(StatusCode::kInvalidArgument, "using the certificate"));
  while (X509* extra = PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add_extra_chain_cert(impl->ctx, extra) != 1) {  // takes ownership on success
      X509_free(extra);
      return Err(OpenSslError(StatusCode::kInvalidArgument, "adding a chain certificate"));
    }
  }
  internal::DiscardOpenSslErrors();  // the loop ends on a "no start line" error
  ByteView key = private_key_pem.reveal();
  BioPtr key_bio(BIO_new_mem_buf(key.data(), static_cast<int>(key.size())));
  PkeyPtr pkey(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) return Err(OpenSslError(StatusCode::kInvalidArgument, "reading the TLS key"));
  if (SSL_CTX_use_PrivateKey(impl->ctx, pkey.get()) != 1 ||
      SSL_CTX_check_private_key(impl->ctx) != 1) {
    return Err(
        OpenSslError(StatusCode::kInvalidArgument, "the key does not match the certificate"));
  }
  return std::shared_ptr<TlsServerContext>(new TlsServerContext(std::move(impl)));
}

Result<std::unique_ptr<TlsServerSession>> TlsServerContext::Accept(int fd) const {
  auto impl = std::make_unique<TlsServerSession::Impl>();
  impl->ssl = SSL_new(impl_->ctx);
  if (impl->ssl == nullptr) return Err(OpenSslError(StatusCode::kInternal, "SSL_new"));
  SSL_set_fd(impl->ssl, fd);
  if (SSL_accept(impl->ssl) != 1) {
    Status s = OpenSslError(StatusCode::kUnavailable, "TLS handshake");
    SSL_free(impl->ssl);
    impl->ssl = nullptr;
    return Err(s);
  }
  return std::unique_ptr<TlsServerSession>(new TlsServerSession(std::move(impl)));
}

Status TlsServerSession::ReadExactly(MutableByteView out) {
  size_t got = 0;
  while (got < out.size()) {
    int n = SSL_read(impl_->ssl, out.data() + got, static_cast<int>(out.size() - got));
    if (n <= 0) return OpenSslError(StatusCode::kUnavailable, "TLS read");
    got += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status TlsServerSession::WriteAll(ByteView data) {
  size_t sent = 0;
  while (sent < data.size()) {
    int n = SSL_write(impl_->ssl, data.data() + sent, static_cast<int>(data.size() - sent));
    if (n <= 0) return OpenSslError(StatusCode::kUnavailable, "TLS write");
    sent += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace pgcmk::crypto
