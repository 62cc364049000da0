#include "crypto/openssl_handles.h"

#include <openssl/err.h>

#include <string>

namespace pgcmk::crypto::internal {

Result<MacCtxPtr> KeyedHmacSha256(const EVP_MAC* mac, ByteView key) {
  MacCtxPtr ctx(EVP_MAC_CTX_new(const_cast<EVP_MAC*>(mac)));
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                         OSSL_PARAM_construct_end()};
  static std::uint8_t empty = 0;  // an empty key still needs a non-null pointer
  const std::uint8_t* k = key.empty() ? &empty : key.data();
  if (!ctx || EVP_MAC_init(ctx.get(), k, key.size(), params) != 1) {
    return Err(OpenSslError(StatusCode::kInternal, "HMAC-SHA256 setup failed"));
  }
  return ctx;
}

Status OpenSslError(StatusCode code, std::string_view what) {
  std::string message(what);
  const unsigned long err = ERR_get_error();
  if (err != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    message += " (";
    message += buf;
    message += ")";
  }
  ERR_clear_error();
  return Status(code, std::move(message));
}

void DiscardOpenSslErrors() { ERR_clear_error(); }

}  // namespace pgcmk::crypto::internal
