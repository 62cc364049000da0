#include "crypto/ec_key.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "crypto/openssl_handles.h"
#include "crypto/pkey_codec.h"

namespace pgcmk::crypto {
namespace {

using internal::BnPtr;
using internal::PkeyCtxPtr;
using internal::PkeyPtr;
using internal::SecretBnPtr;

struct CurveInfo {
  EcCurve curve;
  const char* jwk_name;
  const char* group_name;  // OpenSSL's short name, as EVP_PKEY reports it
  size_t size;
};

constexpr CurveInfo kCurves[] = {
    {EcCurve::kP256, "P-256", "prime256v1", 32},
    {EcCurve::kP384, "P-384", "secp384r1", 48},
    {EcCurve::kP521, "P-521", "secp521r1", 66},
    {EcCurve::kSecp256k1, "P-256K", "secp256k1", 32},
};

const CurveInfo& Info(EcCurve curve) {
  for (const CurveInfo& c : kCurves) {
    if (c.curve == curve) return c;
  }
  return kCurves[0];  // unreachable: every enumerator is in the table
}

const EVP_MD* HashFor(EcSignatureAlgorithm alg) {
  switch (alg) {
    case EcSignatureAlgorithm::kEs256:
    case EcSignatureAlgorithm::kEs256k:
      return EVP_sha256();
    case EcSignatureAlgorithm::kEs384:
      return EVP_sha384();
    case EcSignatureAlgorithm::kEs512:
      return EVP_sha512();
  }
  return EVP_sha256();
}

// The named curve of an EC key, or an error for anything else (explicit parameters included).
Result<EcCurve> CurveOf(const EVP_PKEY* pkey) {
  if (!EVP_PKEY_is_a(pkey, "EC")) return Err(StatusCode::kInvalidArgument, "not an EC key");
  char name[64] = {};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &len) !=
      1) {
    internal::DiscardOpenSslErrors();
    return Err(StatusCode::kInvalidArgument, "EC key does not use a named curve");
  }
  // OpenSSL maps explicit parameters that equal a named curve to that curve's name but remembers
  // the explicit encoding; such keys are refused as well (named curves only).
  char encoding[32] = {};
  size_t encoding_len = 0;
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING, encoding, sizeof(encoding),
                                     &encoding_len) == 1 &&
      std::string_view(encoding, encoding_len) != OSSL_PKEY_EC_ENCODING_GROUP) {
    return Err(StatusCode::kInvalidArgument, "EC key does not use a named curve");
  }
  internal::DiscardOpenSslErrors();
  const std::string_view group(name, len);
  for (const CurveInfo& c : kCurves) {
    if (group == c.group_name) return c.curve;
  }
  return Err(StatusCode::kInvalidArgument, "unsupported EC curve");
}

// Public-key validity (on the curve, not the identity, right order) for imported keys.
Status CheckPublic(EVP_PKEY* pkey) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1) {
    internal::DiscardOpenSslErrors();
    return Status(StatusCode::kInvalidArgument, "invalid EC public key");
  }
  return Status::Ok();
}

Status CheckKeyPair(EVP_PKEY* pkey) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1 || EVP_PKEY_pairwise_check(ctx.get()) != 1) {
    internal::DiscardOpenSslErrors();
    return Status(StatusCode::kInvalidArgument, "inconsistent EC private key");
  }
  return Status::Ok();
}

// 0x04 || x || y
Result<Bytes> UncompressedPoint(const EcJwk& jwk) {
  const size_t size = Info(jwk.curve).size;
  if (jwk.x.size() != size || jwk.y.size() != size) {
    return Err(StatusCode::kInvalidArgument, "EC JWK coordinates have the wrong length");
  }
  Bytes point;
  point.reserve(1 + 2 * size);
  point.push_back(0x04);
  point.insert(point.end(), jwk.x.begin(), jwk.x.end());
  point.insert(point.end(), jwk.y.begin(), jwk.y.end());
  return point;
}

Result<PkeyPtr> FromJwkParams(const EcJwk& jwk, const SecretBytes* d) {
  PGCMK_ASSIGN_OR_RETURN(Bytes point, UncompressedPoint(jwk));
  SecretBnPtr priv;
  if (d != nullptr) {
    if (d->size() != Info(jwk.curve).size) {
      return Err(StatusCode::kInvalidArgument, "EC JWK private scalar has the wrong length");
    }
    priv.reset(BN_secure_new());
    if (!priv ||
        BN_bin2bn(d->reveal().data(), static_cast<int>(d->size()), priv.get()) == nullptr) {
      return Err(internal::OpenSslError(StatusCode::kInternal, "bignum allocation failed"));
    }
  }
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  const bool pushed =
      bld != nullptr &&
      OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, Info(jwk.curve).group_name,
                                      0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) ==
          1 &&
      (!priv || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv.get()) == 1);
  if (!pushed) {
    OSSL_PARAM_BLD_free(bld);
    return Err(internal::OpenSslError(StatusCode::kInternal, "EC parameter build failed"));
  }
  auto pkey = internal::KeyFromParams(bld, "EC", priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                                      "EC key parameters");
  OSSL_PARAM_BLD_free(bld);
  return pkey;
}

Bytes Coordinate(const EVP_PKEY* pkey, const char* name, size_t size) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) {
    internal::DiscardOpenSslErrors();
    return {};
  }
  Bytes out(size);
  BN_bn2binpad(bn, out.data(), static_cast<int>(size));
  BN_free(bn);
  return out;
}

// Raw r || s -> DER ECDSA-Sig-Value.
Result<Bytes> RawToDer(ByteView raw, size_t size) {
  if (raw.size() != 2 * size) return Err(StatusCode::kInvalidArgument, "signature does not verify");
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(raw.data(), static_cast<int>(size), nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + size, static_cast<int>(size), nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig, r, s) != 1) {
    ECDSA_SIG_free(sig);
    BN_free(r);
    BN_free(s);
    return Err(internal::OpenSslError(StatusCode::kInternal, "ECDSA signature encoding failed"));
  }
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (len <= 0) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "ECDSA signature encoding failed"));
  }
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

Result<Bytes> DerToRaw(ByteView der, size_t size) {
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (sig == nullptr) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "ECDSA signature decoding failed"));
  }
  Bytes out(2 * size);
  const bool ok =
      BN_bn2binpad(ECDSA_SIG_get0_r(sig), out.data(), static_cast<int>(size)) > 0 &&
      BN_bn2binpad(ECDSA_SIG_get0_s(sig), out.data() + size, static_cast<int>(size)) > 0;
  ECDSA_SIG_free(sig);
  if (!ok) return Err(StatusCode::kInternal, "ECDSA signature decoding failed");
  return out;
}

Status VerifyDer(EVP_PKEY* pkey, EcCurve curve, EcSignatureAlgorithm alg, ByteView digest,
                 ByteView der) {
  const Status bad(StatusCode::kInvalidArgument, "signature does not verify");
  if (EcCurveFor(alg) != curve) return bad;
  if (digest.size() != static_cast<size_t>(EVP_MD_get_size(HashFor(alg)))) {
    return Status(StatusCode::kInvalidArgument, "digest length does not match the algorithm");
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) {
    return internal::OpenSslError(StatusCode::kInternal, "ECDSA verify setup failed");
  }
  if (EVP_PKEY_verify(ctx.get(), der.data(), der.size(), digest.data(), digest.size()) != 1) {
    internal::DiscardOpenSslErrors();
    return bad;
  }
  return Status::Ok();
}

}  // namespace

std::string_view EcCurveJwkName(EcCurve curve) { return Info(curve).jwk_name; }

std::optional<EcCurve> EcCurveFromJwkName(std::string_view name) {
  for (const CurveInfo& c : kCurves) {
    if (name == c.jwk_name) return c.curve;
  }
  if (name == "SECP256K1") return EcCurve::kSecp256k1;
  return std::nullopt;
}

size_t EcCoordinateSize(EcCurve curve) { return Info(curve).size; }

EcCurve EcCurveFor(EcSignatureAlgorithm alg) {
  switch (alg) {
    case EcSignatureAlgorithm::kEs256:
      return EcCurve::kP256;
    case EcSignatureAlgorithm::kEs384:
      return EcCurve::kP384;
    case EcSignatureAlgorithm::kEs512:
      return EcCurve::kP521;
    case EcSignatureAlgorithm::kEs256k:
      return EcCurve::kSecp256k1;
  }
  return EcCurve::kP256;
}

// ---------------------------------------------------------------------------------------------
// EcPublicKey

struct EcPublicKey::Impl {
  PkeyPtr pkey;
  EcCurve curve;
};

EcPublicKey::EcPublicKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EcPublicKey::EcPublicKey(EcPublicKey&&) noexcept = default;
EcPublicKey& EcPublicKey::operator=(EcPublicKey&&) noexcept = default;
EcPublicKey::~EcPublicKey() = default;

Result<EcPublicKey> EcPublicKey::FromJwk(const EcJwk& jwk) {
  PGCMK_ASSIGN_OR_RETURN(PkeyPtr pkey, FromJwkParams(jwk, nullptr));
  PGCMK_RETURN_IF_ERROR_R(CheckPublic(pkey.get()));
  return EcPublicKey(std::make_unique<Impl>(Impl{std::move(pkey), jwk.curve}));
}

Result<EcPublicKey> EcPublicKey::FromDer(ByteView der) {
  PGCMK_ASSIGN_OR_RETURN(PkeyPtr pkey,
                         internal::DecodeKey(der, "DER", "EC", EVP_PKEY_PUBLIC_KEY, "EC key"));
  PGCMK_ASSIGN_OR_RETURN(EcCurve curve, CurveOf(pkey.get()));
  PGCMK_RETURN_IF_ERROR_R(CheckPublic(pkey.get()));
  return EcPublicKey(std::make_unique<Impl>(Impl{std::move(pkey), curve}));
}

Result<EcPublicKey> EcPublicKey::FromPem(std::string_view pem) {
  PGCMK_ASSIGN_OR_RETURN(
      PkeyPtr pkey, internal::DecodeKey(AsBytes(pem), "PEM", "EC", EVP_PKEY_PUBLIC_KEY, "EC key"));
  PGCMK_ASSIGN_OR_RETURN(EcCurve curve, CurveOf(pkey.get()));
  PGCMK_RETURN_IF_ERROR_R(CheckPublic(pkey.get()));
  return EcPublicKey(std::make_unique<Impl>(Impl{std::move(pkey), curve}));
}

EcCurve EcPublicKey::curve() const { return impl_->curve; }

EcJwk EcPublicKey::ToJwk() const {
  const size_t size = Info(impl_->curve).size;
  return EcJwk{impl_->curve, Coordinate(impl_->pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X, size),
               Coordinate(impl_->pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y, size)};
}

Bytes EcPublicKey::ToDer() const { return internal::PublicKeyDer(impl_->pkey.get()); }

std::string EcPublicKey::ToPem() const { return internal::PublicKeyPem(impl_->pkey.get()); }

Status EcPublicKey::VerifyDigest(EcSignatureAlgorithm alg, ByteView digest,
                                 ByteView signature) const {
  auto der = RawToDer(signature, Info(impl_->curve).size);
  if (!der) return der.error();
  return VerifyDer(impl_->pkey.get(), impl_->curve, alg, digest, *der);
}

Status EcPublicKey::Verify(EcSignatureAlgorithm alg, ByteView message, ByteView signature) const {
  return VerifyDigest(alg, internal::Digest(HashFor(alg), message), signature);
}

Status EcPublicKey::VerifyDerSignature(EcSignatureAlgorithm alg, ByteView message,
                                       ByteView der_signature) const {
  return VerifyDer(impl_->pkey.get(), impl_->curve, alg, internal::Digest(HashFor(alg), message),
                   der_signature);
}

// ---------------------------------------------------------------------------------------------
// EcPrivateKey

struct EcPrivateKey::Impl {
  PkeyPtr pkey;
  EcCurve curve;
};

EcPrivateKey::EcPrivateKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EcPrivateKey::EcPrivateKey(EcPrivateKey&&) noexcept = default;
EcPrivateKey& EcPrivateKey::operator=(EcPrivateKey&&) noexcept = default;
EcPrivateKey::~EcPrivateKey() = default;

Result<EcPrivateKey> EcPrivateKey::Generate(EcCurve curve) {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", Info(curve).group_name);
  if (pkey == nullptr) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "EC key generation failed"));
  }
  return EcPrivateKey(std::make_unique<Impl>(Impl{PkeyPtr(pkey), curve}));
}

Result<EcPrivateKey> EcPrivateKey::FromPkcs8Der(const SecretBytes& der) {
  PGCMK_ASSIGN_OR_RETURN(
      PkeyPtr pkey, internal::DecodeKey(der.reveal(), "DER", "EC", EVP_PKEY_KEYPAIR, "EC key"));
  PGCMK_ASSIGN_OR_RETURN(EcCurve curve, CurveOf(pkey.get()));
  PGCMK_RETURN_IF_ERROR_R(CheckKeyPair(pkey.get()));
  return EcPrivateKey(std::make_unique<Impl>(Impl{std::move(pkey), curve}));
}

Result<EcPrivateKey> EcPrivateKey::FromPem(const SecretBytes& pem) {
  PGCMK_ASSIGN_OR_RETURN(
      PkeyPtr pkey, internal::DecodeKey(pem.reveal(), "PEM", "EC", EVP_PKEY_KEYPAIR, "EC key"));
  PGCMK_ASSIGN_OR_RETURN(EcCurve curve, CurveOf(pkey.get()));
  PGCMK_RETURN_IF_ERROR_R(CheckKeyPair(pkey.get()));
  return EcPrivateKey(std::make_unique<Impl>(Impl{std::move(pkey), curve}));
}

Result<EcPrivateKey> EcPrivateKey::FromJwk(const EcJwk& pub, const SecretBytes& d) {
  PGCMK_ASSIGN_OR_RETURN(PkeyPtr pkey, FromJwkParams(pub, &d));
  PGCMK_RETURN_IF_ERROR_R(CheckKeyPair(pkey.get()));
  return EcPrivateKey(std::make_unique<Impl>(Impl{std::move(pkey), pub.curve}));
}

EcCurve EcPrivateKey::curve() const { return impl_->curve; }

EcPublicKey EcPrivateKey::PublicKey() const {
  return EcPublicKey(std::make_unique<EcPublicKey::Impl>(
      EcPublicKey::Impl{internal::PublicOnlyCopy(impl_->pkey.get(), "EC"), impl_->curve}));
}

Result<SecretBytes> EcPrivateKey::ToPkcs8Der() const {
  return internal::EncodePrivateKeyPkcs8(impl_->pkey.get(), "DER");
}

Result<SecretBytes> EcPrivateKey::ToPem() const {
  return internal::EncodePrivateKeyPkcs8(impl_->pkey.get(), "PEM");
}

Result<Bytes> EcPrivateKey::SignDigest(EcSignatureAlgorithm alg, ByteView digest) const {
  if (EcCurveFor(alg) != impl_->curve) {
    return Err(StatusCode::kInvalidArgument, "algorithm does not match the key's curve");
  }
  if (digest.size() != static_cast<size_t>(EVP_MD_get_size(HashFor(alg)))) {
    return Err(StatusCode::kInvalidArgument, "digest length does not match the algorithm");
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, impl_->pkey.get(), nullptr));
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "ECDSA sign setup failed"));
  }
  size_t len = static_cast<size_t>(EVP_PKEY_get_size(impl_->pkey.get()));
  Bytes der(len);
  if (EVP_PKEY_sign(ctx.get(), der.data(), &len, digest.data(), digest.size()) != 1) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "ECDSA signing failed"));
  }
  der.resize(len);
  return DerToRaw(der, Info(impl_->curve).size);
}

Result<Bytes> EcPrivateKey::Sign(EcSignatureAlgorithm alg, ByteView message) const {
  return SignDigest(alg, internal::Digest(HashFor(alg), message));
}

}  // namespace pgcmk::crypto
