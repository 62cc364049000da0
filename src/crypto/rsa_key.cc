#include "crypto/rsa_key.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>

#include "crypto/openssl_handles.h"
#include "crypto/pkey_codec.h"

namespace pgcmk::crypto {
namespace {

using internal::BnPtr;
using internal::PkeyCtxPtr;
using internal::PkeyPtr;
using internal::SecretBnPtr;

constexpr int kMinBits = 2048;
constexpr int kLegacyMinBits = 1024;
constexpr int kMaxBits = 16384;

const EVP_MD* Md(HashAlgorithm h) {
  switch (h) {
    case HashAlgorithm::kSha1:
      return EVP_sha1();
    case HashAlgorithm::kSha224:
      return EVP_sha224();
    case HashAlgorithm::kSha256:
      return EVP_sha256();
    case HashAlgorithm::kSha384:
      return EVP_sha384();
    case HashAlgorithm::kSha512:
      return EVP_sha512();
  }
  return nullptr;
}

OaepParams OaepFor(RsaEncryptionPadding padding) {
  OaepParams p;
  if (padding == RsaEncryptionPadding::kOaepSha1) {
    p.hash = p.mgf1_hash = HashAlgorithm::kSha1;
  }
  return p;
}

struct SchemeInfo {
  const EVP_MD* md;
  bool pss;
};

SchemeInfo Scheme(RsaSignatureScheme scheme) {
  switch (scheme) {
    case RsaSignatureScheme::kPkcs1Sha256:
      return {EVP_sha256(), false};
    case RsaSignatureScheme::kPkcs1Sha384:
      return {EVP_sha384(), false};
    case RsaSignatureScheme::kPkcs1Sha512:
      return {EVP_sha512(), false};
    case RsaSignatureScheme::kPssSha256:
      return {EVP_sha256(), true};
    case RsaSignatureScheme::kPssSha384:
      return {EVP_sha384(), true};
    case RsaSignatureScheme::kPssSha512:
      return {EVP_sha512(), true};
  }
  return {nullptr, false};
}

size_t ModulusBytes(const EVP_PKEY* pkey) { return static_cast<size_t>(EVP_PKEY_get_size(pkey)); }

// Shared checks for every key we accept, imported or generated.
Status CheckKeyShape(const EVP_PKEY* pkey, RsaKeySizePolicy policy) {
  if (!EVP_PKEY_is_a(pkey, "RSA")) {
    return Status(StatusCode::kInvalidArgument, "not an RSA key");
  }
  const int bits = EVP_PKEY_get_bits(pkey);
  const int min_bits = policy == RsaKeySizePolicy::kDefault ? kMinBits : kLegacyMinBits;
  if (bits < min_bits || bits > kMaxBits) {
    return Status(StatusCode::kInvalidArgument, "RSA key size must be 2048..16384 bits");
  }
  BIGNUM* e = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
    return internal::OpenSslError(StatusCode::kInvalidArgument, "RSA key has no exponent");
  }
  BnPtr e_owner(e);
  if (!BN_is_odd(e) || BN_is_one(e)) {
    return Status(StatusCode::kInvalidArgument, "RSA public exponent must be odd and > 1");
  }
  return Status::Ok();
}

Result<BnPtr> ToBn(ByteView b) {
  BnPtr bn(BN_bin2bn(b.data(), static_cast<int>(b.size()), nullptr));
  if (!bn) return Err(internal::OpenSslError(StatusCode::kInternal, "bignum allocation failed"));
  return bn;
}

Result<SecretBnPtr> ToSecretBn(const SecretBytes& b) {
  const ByteView v = b.reveal();
  SecretBnPtr bn(BN_secure_new());
  if (!bn || BN_bin2bn(v.data(), static_cast<int>(v.size()), bn.get()) == nullptr) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "bignum allocation failed"));
  }
  BN_set_flags(bn.get(), BN_FLG_CONSTTIME);
  return bn;
}

Bytes BnParam(const EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) {
    internal::DiscardOpenSslErrors();
    return {};
  }
  Bytes out(static_cast<size_t>(BN_num_bytes(bn)));
  BN_bn2bin(bn, out.data());
  BN_free(bn);
  return out;
}

Status SetOaep(EVP_PKEY_CTX* ctx, const OaepParams& params) {
  if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx, Md(params.hash)) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, Md(params.mgf1_hash)) != 1) {
    return internal::OpenSslError(StatusCode::kInternal, "RSA-OAEP setup failed");
  }
  if (!params.label.empty()) {
    // OpenSSL takes ownership of the label buffer.
    void* label = OPENSSL_memdup(params.label.data(), params.label.size());
    if (label == nullptr ||
        EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, static_cast<int>(params.label.size())) != 1) {
      OPENSSL_free(label);
      return internal::OpenSslError(StatusCode::kInternal, "RSA-OAEP label setup failed");
    }
  }
  return Status::Ok();
}

Status SetSignature(EVP_PKEY_CTX* ctx, const SchemeInfo& s) {
  if (EVP_PKEY_CTX_set_signature_md(ctx, s.md) != 1) {
    return internal::OpenSslError(StatusCode::kInternal, "RSA signature setup failed");
  }
  if (s.pss) {
    if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, s.md) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) != 1) {
      return internal::OpenSslError(StatusCode::kInternal, "RSA-PSS setup failed");
    }
  } else if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1) {
    return internal::OpenSslError(StatusCode::kInternal, "RSA signature setup failed");
  }
  return Status::Ok();
}

Result<Bytes> EncryptWith(EVP_PKEY* pkey, bool oaep, const OaepParams& params, ByteView plaintext) {
  const size_t k = ModulusBytes(pkey);
  const size_t overhead = oaep ? 2 * static_cast<size_t>(EVP_MD_get_size(Md(params.hash))) + 2 : 11;
  if (k < overhead || plaintext.size() > k - overhead) {
    return Err(StatusCode::kInvalidArgument, "plaintext too long for the RSA key");
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) != 1) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "RSA encryption setup failed"));
  }
  if (oaep) {
    PGCMK_RETURN_IF_ERROR_R(SetOaep(ctx.get(), params));
  } else if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "RSA encryption setup failed"));
  }
  Bytes out(k);
  size_t out_len = k;
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &out_len, plaintext.data(), plaintext.size()) != 1) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "RSA encryption failed"));
  }
  out.resize(out_len);
  return out;
}

// OAEP decryption (PKCS#1 v1.5 is DecryptPkcs1ImplicitRejection below).
Result<SecretBytes> DecryptWith(EVP_PKEY* pkey, const OaepParams& params, ByteView ciphertext) {
  // One message for every failure (length, padding, label): no padding oracle in messages. (OAEP's
  // check is constant time in OpenSSL and, unlike PKCS#1 v1.5, an error does not help an attacker
  // who cannot also time the decryption precisely: Manger's attack needs the error to come early.)
  auto failed = [] {
    internal::DiscardOpenSslErrors();
    return Err(StatusCode::kInvalidArgument, "decryption failed");
  };
  const size_t k = ModulusBytes(pkey);
  if (ciphertext.size() != k) return failed();
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1) return failed();
  if (!SetOaep(ctx.get(), params).ok()) return failed();
  SecretBytes out(k);
  size_t out_len = k;
  if (EVP_PKEY_decrypt(ctx.get(), out.reveal_mutable().data(), &out_len, ciphertext.data(),
                       ciphertext.size()) != 1) {
    return failed();
  }
  out.Truncate(out_len);
  return out;
}

// ---- PKCS#1 v1.5 decryption with implicit rejection -----------------------------------------
// OpenSSL 3.0 (Debian 12's) answers a bad PKCS#1 v1.5 padding with an error, which over an API is
// a Bleichenbacher padding oracle. OpenSSL 3.2+ instead returns a synthetic message derived from
// the private key and the ciphertext ("implicit rejection", the algorithm of the IRTF draft
// draft-irtf-cfrg-rsa-guidance), so that a caller cannot tell a bad padding from a good one. This
// is that algorithm over OpenSSL 3.0's raw RSA operation, HMAC and SHA-256, bit for bit the same
// output as OpenSSL 3.2+ (checked against vectors made with OpenSSL 3.5, testdata/), so an
// OpenSSL upgrade does not reveal which messages were synthetic:
//   KDK = HMAC-SHA256(key = SHA-256(d as k big-endian bytes), ciphertext)
//   PRF(label, n bits) = HMAC-SHA256(KDK, be16(i) | label | be16(n)) for i = 0, 1, ... concatenated
//   synthetic = PRF("message", 8k); length = the last of 128 candidates from PRF("length", 2048)
//   (each 16 bits masked to the bit length of k - 10) that is below k - 10, else 0
// and the padding check and the choice between real and synthetic message run in constant time.

// All-ones when the condition holds, else zero; no data-dependent branches. The empty asm is a
// value barrier (as OpenSSL's value_barrier): without it a compiler may prove a mask is 0 or ~0
// and turn a select into a branch or a pointer choice (clang 14 -O2 did, reading only one of the
// two buffers in the output copy below).
std::uint32_t CtBarrier(std::uint32_t a) {
  __asm__("" : "+r"(a));
  return a;
}
std::uint32_t CtMsb(std::uint32_t a) { return CtBarrier(0u - (a >> 31)); }
std::uint32_t CtIsZero(std::uint32_t a) { return CtMsb(~a & (a - 1)); }
std::uint32_t CtEq(std::uint32_t a, std::uint32_t b) { return CtIsZero(a ^ b); }
std::uint32_t CtLt(std::uint32_t a, std::uint32_t b) {
  return CtMsb(a ^ ((a ^ b) | ((a - b) ^ b)));
}
std::uint32_t CtGe(std::uint32_t a, std::uint32_t b) { return ~CtLt(a, b); }
std::uint32_t CtSelect(std::uint32_t mask, std::uint32_t a, std::uint32_t b) {
  mask = CtBarrier(mask);
  return (mask & a) | (~mask & b);
}

const EVP_MAC* Hmac() {
  static internal::MacPtr mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  return mac.get();
}

// PRF(label, out.size() * 8 bits) under `kdk`.
bool ImplicitRejectionPrf(ByteView kdk, std::string_view label, std::span<std::uint8_t> out) {
  const std::size_t bits = out.size() * 8;
  if (bits > 0xffff || Hmac() == nullptr) return false;
  auto keyed = internal::KeyedHmacSha256(Hmac(), kdk);
  if (!keyed) return false;
  const std::uint8_t be_bits[2] = {static_cast<std::uint8_t>(bits >> 8),
                                   static_cast<std::uint8_t>(bits)};
  std::uint8_t block[32];
  struct Cleanse {
    std::uint8_t* p;
    ~Cleanse() { OPENSSL_cleanse(p, 32); }
  } cleanse{block};
  for (std::size_t pos = 0, i = 0; pos < out.size(); pos += 32, ++i) {
    internal::MacCtxPtr ctx(EVP_MAC_CTX_dup(keyed->get()));
    const std::uint8_t be_i[2] = {static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)};
    std::size_t len = 0;
    if (!ctx || EVP_MAC_update(ctx.get(), be_i, 2) != 1 ||
        EVP_MAC_update(ctx.get(), reinterpret_cast<const std::uint8_t*>(label.data()),
                       label.size()) != 1 ||
        EVP_MAC_update(ctx.get(), be_bits, 2) != 1 ||
        EVP_MAC_final(ctx.get(), block, &len, sizeof block) != 1 || len != sizeof block) {
      return false;
    }
    std::copy_n(block, std::min<std::size_t>(32, out.size() - pos), out.begin() + pos);
  }
  return true;
}

Result<SecretBytes> DecryptPkcs1ImplicitRejection(EVP_PKEY* pkey, ByteView ciphertext) {
  // Only publicly visible failures (wrong length, not below the modulus, an internal error) are
  // errors; a bad padding is never one.
  auto failed = [] {
    internal::DiscardOpenSslErrors();
    return Err(StatusCode::kInvalidArgument, "decryption failed");
  };
  const std::size_t k = ModulusBytes(pkey);
  if (ciphertext.size() != k || k < 11 + 2 || k > 0x1fff) return failed();
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_NO_PADDING) != 1) {
    return failed();
  }
  SecretBytes em(k);
  std::size_t em_len = k;
  if (EVP_PKEY_decrypt(ctx.get(), em.reveal_mutable().data(), &em_len, ciphertext.data(),
                       ciphertext.size()) != 1 ||
      em_len != k) {
    return failed();
  }

  // KDK = HMAC-SHA256(SHA-256(d padded to k bytes), ciphertext).
  BIGNUM* d_raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_D, &d_raw) != 1) return failed();
  SecretBnPtr d(d_raw);
  SecretBytes d_bytes(k);
  SecretBytes d_hash(32);
  SecretBytes kdk(32);
  unsigned int hash_len = 0;
  std::size_t kdk_len = 0;
  if (BN_bn2binpad(d.get(), d_bytes.reveal_mutable().data(), static_cast<int>(k)) < 0 ||
      EVP_Digest(d_bytes.reveal().data(), k, d_hash.reveal_mutable().data(), &hash_len,
                 EVP_sha256(), nullptr) != 1 ||
      Hmac() == nullptr) {
    return failed();
  }
  auto kdk_ctx = internal::KeyedHmacSha256(Hmac(), d_hash.reveal());
  if (!kdk_ctx || EVP_MAC_update(kdk_ctx->get(), ciphertext.data(), k) != 1 ||
      EVP_MAC_final(kdk_ctx->get(), kdk.reveal_mutable().data(), &kdk_len, 32) != 1 ||
      kdk_len != 32) {
    return failed();
  }

  SecretBytes synthetic(k);
  std::uint8_t candidates[128 * 2];
  if (!ImplicitRejectionPrf(kdk.reveal(), "message", synthetic.reveal_mutable()) ||
      !ImplicitRejectionPrf(kdk.reveal(), "length", candidates)) {
    return failed();
  }
  const std::uint32_t max_sep_offset = static_cast<std::uint32_t>(k - 2 - 8);
  std::uint32_t len_mask = max_sep_offset;
  len_mask |= len_mask >> 1;
  len_mask |= len_mask >> 2;
  len_mask |= len_mask >> 4;
  len_mask |= len_mask >> 8;
  std::uint32_t synthetic_length = 0;
  for (std::size_t i = 0; i < sizeof candidates; i += 2) {
    const std::uint32_t candidate =
        ((std::uint32_t{candidates[i]} << 8) | candidates[i + 1]) & len_mask;
    synthetic_length = CtSelect(CtLt(candidate, max_sep_offset), candidate, synthetic_length);
  }
  OPENSSL_cleanse(candidates, sizeof candidates);
  const std::uint32_t synthetic_index = static_cast<std::uint32_t>(k) - synthetic_length;

  // The real message: 00 02 PS(>= 8 non-zero bytes) 00 M.
  const std::uint8_t* from = em.reveal().data();
  std::uint32_t good = CtIsZero(from[0]) & CtEq(from[1], 2);
  std::uint32_t found_zero = 0;
  std::uint32_t zero_index = 0;
  for (std::uint32_t i = 2; i < k; ++i) {
    const std::uint32_t is_zero = CtIsZero(from[i]);
    zero_index = CtSelect(~found_zero & is_zero, i, zero_index);
    found_zero |= is_zero;
  }
  good &= CtGe(zero_index, 2 + 8);
  const std::uint32_t msg_index = CtSelect(good, zero_index + 1, synthetic_index);

  // The output length is not secret by itself (a synthetic message has a random length too), but
  // both buffers are read at every position so that cache access does not reveal `good`.
  const std::size_t out_len = k - msg_index;
  SecretBytes out(out_len);
  std::uint8_t* to = out.reveal_mutable().data();
  const std::uint8_t* synth = synthetic.reveal().data();
  for (std::size_t i = msg_index, j = 0; i < k; ++i, ++j) {
    to[j] = static_cast<std::uint8_t>(CtSelect(good, from[i], synth[i]));
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// RsaPublicKey

struct RsaPublicKey::Impl {
  PkeyPtr pkey;
};

RsaPublicKey::RsaPublicKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RsaPublicKey::RsaPublicKey(RsaPublicKey&&) noexcept = default;
RsaPublicKey& RsaPublicKey::operator=(RsaPublicKey&&) noexcept = default;
RsaPublicKey::~RsaPublicKey() = default;

Result<RsaPublicKey> RsaPublicKey::FromJwk(const RsaJwk& jwk) {
  return FromJwk(jwk, RsaKeySizePolicy::kDefault);
}

Result<RsaPublicKey> RsaPublicKey::FromJwk(const RsaJwk& jwk, RsaKeySizePolicy policy) {
  if (jwk.n.empty() || jwk.e.empty() || jwk.n.size() > kMaxBits / 8 + 1 || jwk.e.size() > 64) {
    return Err(StatusCode::kInvalidArgument, "invalid RSA JWK");
  }
  PGCMK_ASSIGN_OR_RETURN(BnPtr n, ToBn(jwk.n));
  PGCMK_ASSIGN_OR_RETURN(BnPtr e, ToBn(jwk.e));
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  if (bld == nullptr || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    OSSL_PARAM_BLD_free(bld);
    return Err(internal::OpenSslError(StatusCode::kInternal, "RSA parameter build failed"));
  }
  auto pkey = internal::KeyFromParams(bld, "RSA", EVP_PKEY_PUBLIC_KEY, "RSA key parameters");
  OSSL_PARAM_BLD_free(bld);
  if (!pkey) return Err(pkey.error());
  PGCMK_RETURN_IF_ERROR_R(CheckKeyShape(pkey->get(), policy));
  return RsaPublicKey(std::make_unique<Impl>(Impl{std::move(*pkey)}));
}

Result<RsaPublicKey> RsaPublicKey::FromDer(ByteView der) {
  return FromDer(der, RsaKeySizePolicy::kDefault);
}

Result<RsaPublicKey> RsaPublicKey::FromDer(ByteView der, RsaKeySizePolicy policy) {
  PGCMK_ASSIGN_OR_RETURN(PkeyPtr pkey,
                         internal::DecodeKey(der, "DER", "RSA", EVP_PKEY_PUBLIC_KEY, "RSA key"));
  PGCMK_RETURN_IF_ERROR_R(CheckKeyShape(pkey.get(), policy));
  return RsaPublicKey(std::make_unique<Impl>(Impl{std::move(pkey)}));
}

Result<RsaPublicKey> RsaPublicKey::FromPem(std::string_view pem) {
  PGCMK_ASSIGN_OR_RETURN(PkeyPtr pkey, internal::DecodeKey(AsBytes(pem), "PEM", "RSA",
                                                           EVP_PKEY_PUBLIC_KEY, "RSA key"));
  PGCMK_RETURN_IF_ERROR_R(CheckKeyShape(pkey.get(), RsaKeySizePolicy::kDefault));
  return RsaPublicKey(std::make_unique<Impl>(Impl{std::move(pkey)}));
}

int RsaPublicKey::bits() const { return EVP_PKEY_get_bits(impl_->pkey.get()); }

RsaJwk RsaPublicKey::ToJwk() const {
  return RsaJwk{BnParam(impl_->pkey.get(), OSSL_PKEY_PARAM_RSA_N),
                BnParam(impl_->pkey.get(), OSSL_PKEY_PARAM_RSA_E)};
}

Bytes RsaPublicKey::ToDer() const { return internal::PublicKeyDer(impl_->pkey.get()); }

std::string RsaPublicKey::ToPem() const { return internal::PublicKeyPem(impl_->pkey.get()); }

Result<Bytes> RsaPublicKey::Encrypt(RsaEncryptionPadding padding, ByteView plaintext) const {
  return EncryptWith(impl_->pkey.get(), padding != RsaEncryptionPadding::kPkcs1v15,
                     OaepFor(padding), plaintext);
}

Result<Bytes> RsaPublicKey::EncryptOaep(const OaepParams& params, ByteView plaintext) const {
  return EncryptWith(impl_->pkey.get(), /*oaep=*/true, params, plaintext);
}

Status RsaPublicKey::VerifyDigest(RsaSignatureScheme scheme, ByteView digest,
                                  ByteView signature) const {
  const SchemeInfo s = Scheme(scheme);
  const Status bad(StatusCode::kInvalidArgument, "signature does not verify");
  if (digest.size() != static_cast<size_t>(EVP_MD_get_size(s.md))) {
    return Status(StatusCode::kInvalidArgument, "digest length does not match the scheme");
  }
  if (signature.size() != ModulusBytes(impl_->pkey.get())) return bad;
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, impl_->pkey.get(), nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) {
    return internal::OpenSslError(StatusCode::kInternal, "RSA verify setup failed");
  }
  PGCMK_RETURN_IF_ERROR(SetSignature(ctx.get(), s));
  if (EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(), digest.data(),
                      digest.size()) != 1) {
    internal::DiscardOpenSslErrors();
    return bad;
  }
  return Status::Ok();
}

Status RsaPublicKey::Verify(RsaSignatureScheme scheme, ByteView message, ByteView signature) const {
  return VerifyDigest(scheme, internal::Digest(Scheme(scheme).md, message), signature);
}

// ---------------------------------------------------------------------------------------------
// RsaPrivateKey

struct RsaPrivateKey::Impl {
  PkeyPtr pkey;
};

RsaPrivateKey::RsaPrivateKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RsaPrivateKey::RsaPrivateKey(RsaPrivateKey&&) noexcept = default;
RsaPrivateKey& RsaPrivateKey::operator=(RsaPrivateKey&&) noexcept = default;
RsaPrivateKey::~RsaPrivateKey() = default;

namespace {
// Imported private keys must work: a pairwise-consistency test (sign a fixed digest with the
// private key, verify with the public half) catches mismatched n/e/d/CRT values. OpenSSL's own
// EVP_PKEY_check/pairwise_check also run Miller-Rabin on p and q, which costs about a second per
// 2048-bit key and far more at 8192 bits; the importer vouches for its primes.
//
// The self-test alone is not enough: when a CRT result fails OpenSSL's internal check, OpenSSL
// silently recomputes it with d, so wrong p, q, dp, dq or qi pass it, and so does a wrong d (never
// used while the CRT values are right). CheckCrtValues compares them arithmetically first.
// A private-key bignum (nullptr if absent), flagged constant-time and freed with BN_clear_free.
SecretBnPtr SecretParam(const EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1 || bn == nullptr) {
    internal::DiscardOpenSslErrors();
    return nullptr;
  }
  BN_set_flags(bn, BN_FLG_CONSTTIME);
  return SecretBnPtr(bn);
}

// Two-prime keys only (as Key Vault): n = p*q, q*qi = 1 mod p, and for r in {p, q} with its
// exponent d_r: d_r = d mod (r-1) and e*d_r = 1 mod (r-1) (so d inverts e modulo lcm(p-1, q-1)).
// Messages never name the failing value.
Status CheckCrtValues(const EVP_PKEY* pkey) {
  const Status inconsistent(StatusCode::kInvalidArgument, "inconsistent RSA private key");
  BIGNUM* extra = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_FACTOR3, &extra) == 1) {
    BN_clear_free(extra);
    return Status(StatusCode::kInvalidArgument, "multi-prime RSA keys are not supported");
  }
  internal::DiscardOpenSslErrors();
  const SecretBnPtr n = SecretParam(pkey, OSSL_PKEY_PARAM_RSA_N);
  const SecretBnPtr e = SecretParam(pkey, OSSL_PKEY_PARAM_RSA_E);
  const SecretBnPtr d = SecretParam(pkey, OSSL_PKEY_PARAM_RSA_D);
  const SecretBnPtr p = SecretParam(pkey, OSSL_PKEY_PARAM_RSA_FACTOR1);
  const SecretBnPtr q = SecretParam(pkey, OSSL_PKEY_PARAM_RSA_FACTOR2);
  const SecretBnPtr dp = SecretParam(pkey, OSSL_PKEY_PARAM_RSA_EXPONENT1);
  const SecretBnPtr dq = SecretParam(pkey, OSSL_PKEY_PARAM_RSA_EXPONENT2);
  const SecretBnPtr qi = SecretParam(pkey, OSSL_PKEY_PARAM_RSA_COEFFICIENT1);
  if (!n || !e || !d || !p || !q || !dp || !dq || !qi) return inconsistent;
  struct BnCtxFree {
    void operator()(BN_CTX* c) const { BN_CTX_free(c); }
  };
  std::unique_ptr<BN_CTX, BnCtxFree> ctx(BN_CTX_secure_new());
  SecretBnPtr t(BN_secure_new());
  SecretBnPtr r1(BN_secure_new());
  if (!ctx || !t || !r1) {
    return internal::OpenSslError(StatusCode::kInternal, "bignum allocation failed");
  }
  BN_set_flags(t.get(), BN_FLG_CONSTTIME);
  BN_set_flags(r1.get(), BN_FLG_CONSTTIME);
  // Factors must be > 1 (BN_sub_word below and the moduli need it).
  if (BN_cmp(p.get(), BN_value_one()) <= 0 || BN_cmp(q.get(), BN_value_one()) <= 0) {
    return inconsistent;
  }
  // n = p * q
  if (BN_mul(t.get(), p.get(), q.get(), ctx.get()) != 1) {
    return internal::OpenSslError(StatusCode::kInternal, "bignum arithmetic failed");
  }
  bool ok = BN_cmp(t.get(), n.get()) == 0;
  // q * qi = 1 (mod p)
  if (BN_mod_mul(t.get(), q.get(), qi.get(), p.get(), ctx.get()) != 1) {
    return internal::OpenSslError(StatusCode::kInternal, "bignum arithmetic failed");
  }
  ok = ok && BN_is_one(t.get());
  for (auto [r, dr] : {std::pair{p.get(), dp.get()}, std::pair{q.get(), dq.get()}}) {
    if (BN_copy(r1.get(), r) == nullptr || BN_sub_word(r1.get(), 1) != 1 ||
        BN_nnmod(t.get(), d.get(), r1.get(), ctx.get()) != 1) {
      return internal::OpenSslError(StatusCode::kInternal, "bignum arithmetic failed");
    }
    ok = ok && BN_cmp(t.get(), dr) == 0;  // d_r = d mod (r-1)
    if (BN_mod_mul(t.get(), e.get(), dr, r1.get(), ctx.get()) != 1) {
      return internal::OpenSslError(StatusCode::kInternal, "bignum arithmetic failed");
    }
    ok = ok && BN_is_one(t.get());  // e * d_r = 1 (mod r-1)
  }
  return ok ? Status::Ok() : inconsistent;
}

Status CheckPrivateKey(EVP_PKEY* pkey, RsaKeySizePolicy policy) {
  PGCMK_RETURN_IF_ERROR(CheckKeyShape(pkey, policy));
  PGCMK_RETURN_IF_ERROR(CheckCrtValues(pkey));
  const Status inconsistent(StatusCode::kInvalidArgument, "inconsistent RSA private key");
  static constexpr std::uint8_t kDigest[32] = {'p', 'g', 'c', 'm', 'k', ' ', 'p', 'c', 't'};
  PkeyCtxPtr sctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  const SchemeInfo scheme{EVP_sha256(), false};
  size_t len = ModulusBytes(pkey);
  Bytes sig(len);
  if (!sctx || EVP_PKEY_sign_init(sctx.get()) != 1 || !SetSignature(sctx.get(), scheme).ok() ||
      EVP_PKEY_sign(sctx.get(), sig.data(), &len, kDigest, sizeof(kDigest)) != 1) {
    internal::DiscardOpenSslErrors();
    return inconsistent;
  }
  PkeyCtxPtr vctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!vctx || EVP_PKEY_verify_init(vctx.get()) != 1 || !SetSignature(vctx.get(), scheme).ok() ||
      EVP_PKEY_verify(vctx.get(), sig.data(), len, kDigest, sizeof(kDigest)) != 1) {
    internal::DiscardOpenSslErrors();
    return inconsistent;
  }
  return Status::Ok();
}
}  // namespace

Result<RsaPrivateKey> RsaPrivateKey::Generate(int bits) {
  if (bits != 2048 && bits != 3072 && bits != 4096) {
    return Err(StatusCode::kInvalidArgument, "RSA key size must be 2048, 3072 or 4096");
  }
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  if (pkey == nullptr) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "RSA key generation failed"));
  }
  return RsaPrivateKey(std::make_unique<Impl>(Impl{PkeyPtr(pkey)}));
}

Result<RsaPrivateKey> RsaPrivateKey::FromPkcs8Der(const SecretBytes& der) {
  return FromPkcs8Der(der, RsaKeySizePolicy::kDefault);
}

Result<RsaPrivateKey> RsaPrivateKey::FromPkcs8Der(const SecretBytes& der, RsaKeySizePolicy policy) {
  PGCMK_ASSIGN_OR_RETURN(
      PkeyPtr pkey, internal::DecodeKey(der.reveal(), "DER", "RSA", EVP_PKEY_KEYPAIR, "RSA key"));
  PGCMK_RETURN_IF_ERROR_R(CheckPrivateKey(pkey.get(), policy));
  return RsaPrivateKey(std::make_unique<Impl>(Impl{std::move(pkey)}));
}

Result<RsaPrivateKey> RsaPrivateKey::FromPem(const SecretBytes& pem) {
  PGCMK_ASSIGN_OR_RETURN(
      PkeyPtr pkey, internal::DecodeKey(pem.reveal(), "PEM", "RSA", EVP_PKEY_KEYPAIR, "RSA key"));
  PGCMK_RETURN_IF_ERROR_R(CheckPrivateKey(pkey.get(), RsaKeySizePolicy::kDefault));
  return RsaPrivateKey(std::make_unique<Impl>(Impl{std::move(pkey)}));
}

Result<RsaPrivateKey> RsaPrivateKey::FromJwk(const RsaJwk& pub, const SecretBytes& d,
                                             const SecretBytes& p, const SecretBytes& q,
                                             const SecretBytes& dp, const SecretBytes& dq,
                                             const SecretBytes& qi) {
  return FromJwk(pub, d, p, q, dp, dq, qi, RsaKeySizePolicy::kDefault);
}

Result<RsaPrivateKey> RsaPrivateKey::FromJwk(const RsaJwk& pub, const SecretBytes& d,
                                             const SecretBytes& p, const SecretBytes& q,
                                             const SecretBytes& dp, const SecretBytes& dq,
                                             const SecretBytes& qi, RsaKeySizePolicy policy) {
  if (pub.n.empty() || pub.e.empty() || pub.n.size() > kMaxBits / 8 + 1 || pub.e.size() > 64 ||
      d.empty() || p.empty() || q.empty() || dp.empty() || dq.empty() || qi.empty()) {
    return Err(StatusCode::kInvalidArgument, "invalid RSA JWK");
  }
  PGCMK_ASSIGN_OR_RETURN(BnPtr n, ToBn(pub.n));
  PGCMK_ASSIGN_OR_RETURN(BnPtr e, ToBn(pub.e));
  PGCMK_ASSIGN_OR_RETURN(SecretBnPtr bd, ToSecretBn(d));
  PGCMK_ASSIGN_OR_RETURN(SecretBnPtr bp, ToSecretBn(p));
  PGCMK_ASSIGN_OR_RETURN(SecretBnPtr bq, ToSecretBn(q));
  PGCMK_ASSIGN_OR_RETURN(SecretBnPtr bdp, ToSecretBn(dp));
  PGCMK_ASSIGN_OR_RETURN(SecretBnPtr bdq, ToSecretBn(dq));
  PGCMK_ASSIGN_OR_RETURN(SecretBnPtr bqi, ToSecretBn(qi));
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  const bool pushed = bld != nullptr &&
                      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n.get()) == 1 &&
                      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e.get()) == 1 &&
                      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, bd.get()) == 1 &&
                      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, bp.get()) == 1 &&
                      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, bq.get()) == 1 &&
                      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, bdp.get()) == 1 &&
                      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, bdq.get()) == 1 &&
                      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, bqi.get()) == 1;
  if (!pushed) {
    OSSL_PARAM_BLD_free(bld);
    return Err(internal::OpenSslError(StatusCode::kInternal, "RSA parameter build failed"));
  }
  auto pkey = internal::KeyFromParams(bld, "RSA", EVP_PKEY_KEYPAIR, "RSA key parameters");
  OSSL_PARAM_BLD_free(bld);
  if (!pkey) return Err(pkey.error());
  PGCMK_RETURN_IF_ERROR_R(CheckPrivateKey(pkey->get(), policy));
  return RsaPrivateKey(std::make_unique<Impl>(Impl{std::move(*pkey)}));
}

int RsaPrivateKey::bits() const { return EVP_PKEY_get_bits(impl_->pkey.get()); }

RsaPublicKey RsaPrivateKey::PublicKey() const {
  return RsaPublicKey(std::make_unique<RsaPublicKey::Impl>(
      RsaPublicKey::Impl{internal::PublicOnlyCopy(impl_->pkey.get(), "RSA")}));
}

Result<SecretBytes> RsaPrivateKey::ToPkcs8Der() const {
  return internal::EncodePrivateKeyPkcs8(impl_->pkey.get(), "DER");
}

Result<SecretBytes> RsaPrivateKey::ToPem() const {
  return internal::EncodePrivateKeyPkcs8(impl_->pkey.get(), "PEM");
}

Result<SecretBytes> RsaPrivateKey::Decrypt(RsaEncryptionPadding padding,
                                           ByteView ciphertext) const {
  if (padding == RsaEncryptionPadding::kPkcs1v15) {
    return DecryptPkcs1ImplicitRejection(impl_->pkey.get(), ciphertext);
  }
  return DecryptWith(impl_->pkey.get(), OaepFor(padding), ciphertext);
}

Result<SecretBytes> RsaPrivateKey::DecryptOaep(const OaepParams& params,
                                               ByteView ciphertext) const {
  return DecryptWith(impl_->pkey.get(), params, ciphertext);
}

Result<Bytes> RsaPrivateKey::SignDigest(RsaSignatureScheme scheme, ByteView digest) const {
  const SchemeInfo s = Scheme(scheme);
  if (digest.size() != static_cast<size_t>(EVP_MD_get_size(s.md))) {
    return Err(StatusCode::kInvalidArgument, "digest length does not match the scheme");
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, impl_->pkey.get(), nullptr));
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "RSA sign setup failed"));
  }
  PGCMK_RETURN_IF_ERROR_R(SetSignature(ctx.get(), s));
  size_t len = ModulusBytes(impl_->pkey.get());
  Bytes sig(len);
  if (EVP_PKEY_sign(ctx.get(), sig.data(), &len, digest.data(), digest.size()) != 1) {
    return Err(internal::OpenSslError(StatusCode::kInternal, "RSA signing failed"));
  }
  sig.resize(len);
  return sig;
}

Result<Bytes> RsaPrivateKey::Sign(RsaSignatureScheme scheme, ByteView message) const {
  return SignDigest(scheme, internal::Digest(Scheme(scheme).md, message));
}

// Fetched once (OpenSSL 3 otherwise looks the algorithm up in its locked store on every call);
// never freed, like OpenSSL's own built-in tables.
namespace {
const EVP_MD* Fetched(const char* name, const EVP_MD* fallback) {
  const EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  return md != nullptr ? md : fallback;
}
}  // namespace

Bytes Sha256(ByteView message) {
  static const EVP_MD* md = Fetched("SHA2-256", EVP_sha256());
  return internal::Digest(md, message);
}
Bytes Sha384(ByteView message) {
  static const EVP_MD* md = Fetched("SHA2-384", EVP_sha384());
  return internal::Digest(md, message);
}
Bytes Sha512(ByteView message) {
  static const EVP_MD* md = Fetched("SHA2-512", EVP_sha512());
  return internal::Digest(md, message);
}

}  // namespace pgcmk::crypto
