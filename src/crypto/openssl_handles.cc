#include "crypto/openssl_handles.h"

#include <openssl/err.h>

#include <string>

namespace pgcmk::crypto::internal {

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
