#include "crypto/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <cstring>

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

using internal::MacCtxPtr;
using internal::MacPtr;

struct HkdfSha256Expander::Impl {
  MacCtxPtr keyed;  // HMAC keyed with the pseudorandom key; duplicated per use
};

HkdfSha256Expander::HkdfSha256Expander(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HkdfSha256Expander::HkdfSha256Expander(HkdfSha256Expander&&) noexcept = default;
HkdfSha256Expander& HkdfSha256Expander::operator=(HkdfSha256Expander&&) noexcept = default;
HkdfSha256Expander::~HkdfSha256Expander() = default;

Result<HkdfSha256Expander> HkdfSha256Expander::Create(const SecretBytes& input_key, ByteView salt) {
  MacPtr mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) return Err(internal::OpenSslError(StatusCode::kInternal, "HMAC unavailable"));
  // Extract (RFC 5869 2.2): PRK = HMAC(salt, IKM); an absent salt is 32 zero bytes, which HMAC
  // treats exactly like an empty key.
  PGCMK_ASSIGN_OR_RETURN(MacCtxPtr extract, internal::KeyedHmacSha256(mac.get(), salt));
  const ByteView ikm = input_key.reveal();
  SecretBytes prk(32);
  size_t len = 0;
  if (EVP_MAC_update(extract.get(), ikm.data(), ikm.size()) != 1 ||
      EVP_MAC_final(extract.get(), prk.reveal_mutable().data(), &len, prk.size()) != 1 ||
      len != prk.size()) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "HKDF extract failed"));
  }
  auto impl = std::make_unique<Impl>();
  PGCMK_ASSIGN_OR_RETURN(impl->keyed, internal::KeyedHmacSha256(mac.get(), prk.reveal()));
  return HkdfSha256Expander(std::move(impl));
}

Status HkdfSha256Expander::Expand(std::initializer_list<ByteView> info, MutableByteView out) const {
  constexpr size_t kHashSize = 32;
  if (out.size() > 255 * kHashSize) {
    return Status(StatusCode::kInvalidArgument, "HKDF output length exceeds 255 * 32 bytes");
  }
  // Expand (RFC 5869 2.3): T(i) = HMAC(PRK, T(i-1) | info | i).
  std::uint8_t t[kHashSize];
  size_t t_len = 0;
  for (size_t done = 0, i = 1; done < out.size(); ++i) {
    MacCtxPtr ctx(EVP_MAC_CTX_dup(impl_->keyed.get()));
    const std::uint8_t counter = static_cast<std::uint8_t>(i);
    bool ok = ctx != nullptr && EVP_MAC_update(ctx.get(), t, t_len) == 1;
    for (ByteView part : info) ok = ok && EVP_MAC_update(ctx.get(), part.data(), part.size()) == 1;
    ok = ok && EVP_MAC_update(ctx.get(), &counter, 1) == 1 &&
         EVP_MAC_final(ctx.get(), t, &t_len, sizeof t) == 1 && t_len == kHashSize;
    if (!ok) {
      SecureZero(t, sizeof t);
      return internal::OpenSslError(StatusCode::kInternal, "HKDF expand failed");
    }
    const size_t n = std::min(kHashSize, out.size() - done);
    std::memcpy(out.data() + done, t, n);
    done += n;
  }
  SecureZero(t, sizeof t);
  return Status::Ok();
}

}  // namespace pgcmk::crypto
