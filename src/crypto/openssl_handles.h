// Internal to the crypto library: RAII owners for OpenSSL objects and the one place that turns the
// OpenSSL error queue into a Status. Never included outside src/crypto/.
//
// OpenSSL error strings name the failing routine, never key bytes, so they are safe in messages;
// callers that must not reveal *why* (decrypt/unwrap, tag checks) use a fixed message instead and
// call DiscardOpenSslErrors().
#pragma once

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/x509.h>

#include <memory>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"

namespace pgcmk::crypto::internal {

struct EvpCipherCtxFree {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct EvpPkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct EvpMdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct EvpKdfFree {
  void operator()(EVP_KDF* p) const { EVP_KDF_free(p); }
};
struct EvpKdfCtxFree {
  void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct MacFree {
  void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
};
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
struct BnClearFree {
  void operator()(BIGNUM* p) const { BN_clear_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};

using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, EvpCipherCtxFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, EvpPkeyCtxFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree>;
using KdfPtr = std::unique_ptr<EVP_KDF, EvpKdfFree>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, EvpKdfCtxFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
using SecretBnPtr = std::unique_ptr<BIGNUM, BnClearFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using MacPtr = std::unique_ptr<EVP_MAC, MacFree>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;

// A fresh HMAC-SHA256 context keyed with `key` (an empty key is allowed). `mac` is the fetched
// HMAC implementation (EVP_MAC_fetch(nullptr, "HMAC", nullptr)).
Result<MacCtxPtr> KeyedHmacSha256(const EVP_MAC* mac, ByteView key);

// `what` plus the first queued OpenSSL error reason; clears the queue.
Status OpenSslError(StatusCode code, std::string_view what);
// Clears the thread's OpenSSL error queue without looking at it.
void DiscardOpenSslErrors();

}  // namespace pgcmk::crypto::internal

// Like PGCMK_RETURN_IF_ERROR, for functions returning Result<T>.
#define PGCMK_RETURN_IF_ERROR_R(expr)                                       \
  do {                                                                      \
    ::pgcmk::Status pgcmk_status_ = (expr);                                 \
    if (!pgcmk_status_.ok()) return ::pgcmk::Err(std::move(pgcmk_status_)); \
  } while (0)
