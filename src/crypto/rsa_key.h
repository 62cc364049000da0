// RSA keys over OpenSSL 3 EVP_PKEY. The private key stays inside the RsaPrivateKey object (and in
// SecretBytes when serialised); public keys travel as JWK (n, e as base64url, no padding).
//
// Algorithms, named as Azure Key Vault names them:
//   RSA-OAEP      OAEP, SHA-1 digest, MGF1 with SHA-1
//   RSA-OAEP-256  OAEP, SHA-256 digest, MGF1 with SHA-256
//   RSA1_5        RSAES-PKCS1-v1_5 (decrypt/unwrap only for new data; kept for compatibility)
//   RS256/384/512 RSASSA-PKCS1-v1_5 with SHA-256/384/512
//   PS256/384/512 RSASSA-PSS with SHA-256/384/512, MGF1 with the same hash, salt = hash length
// Thread safety: const methods may be called concurrently.
#pragma once

#include <memory>
#include <string>

#include "common/bytes.h"
#include "common/secret_bytes.h"
#include "common/status.h"

namespace pgcmk::crypto {

enum class RsaEncryptionPadding { kOaepSha1, kOaepSha256, kPkcs1v15 };
enum class RsaSignatureScheme {
  kPkcs1Sha256,
  kPkcs1Sha384,
  kPkcs1Sha512,
  kPssSha256,
  kPssSha384,
  kPssSha512
};

// Explicit OAEP parameters, for known-answer tests and peers that use other hashes or a label.
// The named paddings above are OaepParams{kSha1, kSha1} and OaepParams{kSha256, kSha256}.
enum class HashAlgorithm { kSha1, kSha224, kSha256, kSha384, kSha512 };
struct OaepParams {
  HashAlgorithm hash = HashAlgorithm::kSha256;
  HashAlgorithm mgf1_hash = HashAlgorithm::kSha256;
  ByteView label;  // borrowed; empty = no label
};

// Which modulus sizes an import accepts. Production code uses the default; the legacy policy exists
// only so that published known-answer vectors with 1024..2047-bit keys can run through this code.
enum class RsaKeySizePolicy {
  kDefault,           // 2048..16384 bits
  kLegacyTestVectors  // 1024..16384 bits: known-answer tests only, never for real keys
};

// Public key: JWK fields. `n` big-endian without leading zero bytes; `e` big-endian.
struct RsaJwk {
  Bytes n;
  Bytes e;
};

class RsaPublicKey {
 public:
  static Result<RsaPublicKey> FromJwk(const RsaJwk& jwk);
  static Result<RsaPublicKey> FromDer(ByteView subject_public_key_info_der);
  static Result<RsaPublicKey> FromJwk(const RsaJwk& jwk, RsaKeySizePolicy policy);
  static Result<RsaPublicKey> FromDer(ByteView subject_public_key_info_der,
                                      RsaKeySizePolicy policy);
  static Result<RsaPublicKey> FromPem(std::string_view pem);

  RsaPublicKey(RsaPublicKey&&) noexcept;
  RsaPublicKey& operator=(RsaPublicKey&&) noexcept;
  ~RsaPublicKey();

  int bits() const;
  RsaJwk ToJwk() const;
  Bytes ToDer() const;  // SubjectPublicKeyInfo
  std::string ToPem() const;

  // Encrypts (wraps) `plaintext`; fails with kInvalidArgument if it is too long for the key.
  Result<Bytes> Encrypt(RsaEncryptionPadding padding, ByteView plaintext) const;
  Result<Bytes> EncryptOaep(const OaepParams& params, ByteView plaintext) const;
  // `digest` is the hash of the message (its length must match the scheme's hash).
  // Returns OK for a valid signature, kInvalidArgument ("signature does not verify") otherwise.
  Status VerifyDigest(RsaSignatureScheme scheme, ByteView digest, ByteView signature) const;
  // Hashes `message` then verifies.
  Status Verify(RsaSignatureScheme scheme, ByteView message, ByteView signature) const;

 private:
  friend class RsaPrivateKey;
  struct Impl;
  explicit RsaPublicKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class RsaPrivateKey {
 public:
  // bits: 2048, 3072 or 4096; public exponent 65537.
  static Result<RsaPrivateKey> Generate(int bits);
  // Every import (PKCS#8, PEM, JWK) accepts two-prime keys only and checks them: n = p*q,
  // dp = d mod (p-1), dq = d mod (q-1), e*dp = 1 mod (p-1), e*dq = 1 mod (q-1), q*qi = 1 mod p,
  // then a sign/verify self-test. Any mismatch is kInvalidArgument "inconsistent RSA private key".
  // PKCS#8 PrivateKeyInfo DER (the vault's at-rest form, itself encrypted before storage).
  static Result<RsaPrivateKey> FromPkcs8Der(const SecretBytes& der);
  static Result<RsaPrivateKey> FromPkcs8Der(const SecretBytes& der, RsaKeySizePolicy policy);
  // PKCS#8 or traditional PEM ("BEGIN PRIVATE KEY" / "BEGIN RSA PRIVATE KEY").
  static Result<RsaPrivateKey> FromPem(const SecretBytes& pem);
  // From JWK private fields (n, e, d, p, q, dp, dq, qi), as Key Vault import sends them.
  static Result<RsaPrivateKey> FromJwk(const RsaJwk& pub, const SecretBytes& d,
                                       const SecretBytes& p, const SecretBytes& q,
                                       const SecretBytes& dp, const SecretBytes& dq,
                                       const SecretBytes& qi);
  static Result<RsaPrivateKey> FromJwk(const RsaJwk& pub, const SecretBytes& d,
                                       const SecretBytes& p, const SecretBytes& q,
                                       const SecretBytes& dp, const SecretBytes& dq,
                                       const SecretBytes& qi, RsaKeySizePolicy policy);

  RsaPrivateKey(RsaPrivateKey&&) noexcept;
  RsaPrivateKey& operator=(RsaPrivateKey&&) noexcept;
  ~RsaPrivateKey();

  int bits() const;
  RsaPublicKey PublicKey() const;
  Result<SecretBytes> ToPkcs8Der() const;
  Result<SecretBytes> ToPem() const;  // PKCS#8 PEM

  // Decrypts (unwraps). OAEP: every failure, padding failures included, is the same
  // kInvalidArgument "decryption failed". PKCS#1 v1.5: a bad padding is no failure but yields a
  // synthetic message (implicit rejection, as OpenSSL 3.2+; see docs/crypto.md); only a
  // ciphertext that is publicly invalid (length, not below the modulus) fails.
  Result<SecretBytes> Decrypt(RsaEncryptionPadding padding, ByteView ciphertext) const;
  Result<SecretBytes> DecryptOaep(const OaepParams& params, ByteView ciphertext) const;
  Result<Bytes> SignDigest(RsaSignatureScheme scheme, ByteView digest) const;
  Result<Bytes> Sign(RsaSignatureScheme scheme, ByteView message) const;

 private:
  struct Impl;
  explicit RsaPrivateKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Hash helpers for signatures: SHA-256/384/512 of `message`.
// Key sizes accepted by default (generate, import): 2048..16384 bits (see RsaKeySizePolicy);
// public exponent odd and > 1. Ciphertexts and signatures must be exactly the modulus length.
Bytes Sha256(ByteView message);
Bytes Sha384(ByteView message);
Bytes Sha512(ByteView message);

}  // namespace pgcmk::crypto
