#include "crypto/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "crypto/openssl_handles.h"

namespace pgcmk::crypto {

Result<SecretBytes> HkdfSha256(const SecretBytes& input_key, ByteView salt, ByteView info,
                               size_t length) {
  constexpr size_t kHashSize = 32;
  if (length > 255 * kHashSize) {
    return Err(StatusCode::kInvalidArgument, "HKDF output length exceeds 255 * 32 bytes");
  }
  if (length == 0) return SecretBytes();

  internal::KdfPtr kdf(EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_HKDF, nullptr));
  if (!kdf) return Err(internal::OpenSslError(StatusCode::kInternal, "HKDF unavailable"));
  internal::KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return Err(internal::OpenSslError(StatusCode::kInternal, "HKDF setup failed"));

  // OSSL_PARAM wants non-const pointers but only reads them. An empty octet string needs a
  // non-null pointer, hence the dummy.
  static std::uint8_t empty = 0;
  auto octets = [](ByteView v) {
    return v.empty() ? static_cast<void*>(&empty)
                     : const_cast<void*>(static_cast<const void*>(v.data()));
  };
  char digest[] = "SHA256";
  const ByteView ikm = input_key.reveal();
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, octets(ikm), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, octets(salt), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, octets(info), info.size()),
      OSSL_PARAM_construct_end(),
  };
  SecretBytes out(length);
  if (EVP_KDF_derive(ctx.get(), out.reveal_mutable().data(), length, params) != 1) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "HKDF derivation failed"));
  }
  return out;
}

}  // namespace pgcmk::crypto
