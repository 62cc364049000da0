#include "crypto/pkey_codec.h"

#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace pgcmk::crypto::internal {

Result<PkeyPtr> DecodeKey(ByteView data, const char* input_type, const char* key_type,
                          int selection, std::string_view what) {
  EVP_PKEY* pkey = nullptr;
  OSSL_DECODER_CTX* dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, input_type, nullptr, key_type,
                                                         selection, nullptr, nullptr);
  if (dctx == nullptr) {
    return Err(OpenSslError(StatusCode::kInternal, "key decoder unavailable"));
  }
  const unsigned char* p = data.data();
  size_t len = data.size();
  const int ok = OSSL_DECODER_from_data(dctx, &p, &len);
  OSSL_DECODER_CTX_free(dctx);
  if (ok != 1 || pkey == nullptr) {
    EVP_PKEY_free(pkey);
    DiscardOpenSslErrors();
    return Err(StatusCode::kInvalidArgument, "cannot parse " + std::string(what));
  }
  PkeyPtr owned(pkey);
  if (len != 0) {
    return Err(StatusCode::kInvalidArgument, "trailing data after " + std::string(what));
  }
  return owned;
}

Result<PkeyPtr> KeyFromParams(OSSL_PARAM_BLD* bld, const char* key_type, int selection,
                              std::string_view what) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  if (params == nullptr) {
    return Err(OpenSslError(StatusCode::kInternal, "key parameter build failed"));
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, key_type, nullptr));
  EVP_PKEY* pkey = nullptr;
  const bool ok = ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
                  EVP_PKEY_fromdata(ctx.get(), &pkey, selection, params) == 1;
  OSSL_PARAM_free(params);  // secure-flagged bignums land in a block freed with clear_free
  if (!ok) {
    EVP_PKEY_free(pkey);
    DiscardOpenSslErrors();
    return Err(StatusCode::kInvalidArgument, "invalid " + std::string(what));
  }
  return PkeyPtr(pkey);
}

Result<SecretBytes> EncodePrivateKeyPkcs8(const EVP_PKEY* pkey, const char* output_type) {
  OSSL_ENCODER_CTX* ectx =
      OSSL_ENCODER_CTX_new_for_pkey(pkey, EVP_PKEY_KEYPAIR, output_type, "PrivateKeyInfo", nullptr);
  if (ectx == nullptr) return Err(OpenSslError(StatusCode::kInternal, "key encoder unavailable"));
  unsigned char* data = nullptr;
  size_t len = 0;
  const int ok = OSSL_ENCODER_to_data(ectx, &data, &len);
  OSSL_ENCODER_CTX_free(ectx);
  if (ok != 1) return Err(OpenSslError(StatusCode::kInternal, "key encoding failed"));
  SecretBytes out = SecretBytes::CopyFrom(ByteView(data, len));
  OPENSSL_clear_free(data, len);
  return out;
}

Bytes PublicKeyDer(const EVP_PKEY* pkey) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(pkey, &der);
  if (len <= 0) {
    DiscardOpenSslErrors();
    return {};
  }
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

std::string PublicKeyPem(const EVP_PKEY* pkey) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey) != 1) {
    DiscardOpenSslErrors();
    return {};
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

PkeyPtr PublicOnlyCopy(EVP_PKEY* pkey, const char* key_type) {
  EVP_PKEY* pub = nullptr;
  OSSL_PARAM* params = nullptr;
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, key_type, nullptr));
  if (EVP_PKEY_todata(pkey, EVP_PKEY_PUBLIC_KEY, &params) != 1 || !ctx ||
      EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pub, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    // Only allocation failure gets here; sharing the key object is still correct (read-only use).
    DiscardOpenSslErrors();
    EVP_PKEY_free(pub);
    EVP_PKEY_up_ref(pkey);
    pub = pkey;
  }
  OSSL_PARAM_free(params);
  return PkeyPtr(pub);
}

Bytes Digest(const EVP_MD* md, ByteView message) {
  Bytes out(static_cast<size_t>(EVP_MD_get_size(md)));
  unsigned int len = 0;
  if (EVP_Digest(message.data(), message.size(), out.data(), &len, md, nullptr) != 1) {
    DiscardOpenSslErrors();
    return {};
  }
  out.resize(len);
  return out;
}

}  // namespace pgcmk::crypto::internal
