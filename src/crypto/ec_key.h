// Elliptic-curve keys (ECDSA) over OpenSSL 3 EVP_PKEY, as Azure Key Vault uses them: key type "EC"
// on P-256, P-384, P-521 and secp256k1 ("P-256K"), public keys as JWK (crv, x, y), signatures in
// the JWS form: raw r || s, each left-padded to the curve's coordinate size (32, 48, 66, 32 bytes).
//
// Algorithms and their (only) curves, as Key Vault pairs them:
//   ES256 -> P-256 + SHA-256   ES384 -> P-384 + SHA-384   ES512 -> P-521 + SHA-512
//   ES256K -> secp256k1 + SHA-256
// Thread safety: const methods may be called concurrently.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/secret_bytes.h"
#include "common/status.h"

namespace pgcmk::crypto {

enum class EcCurve { kP256, kP384, kP521, kSecp256k1 };
enum class EcSignatureAlgorithm { kEs256, kEs384, kEs512, kEs256k };

// "P-256", "P-384", "P-521", "P-256K" (the JWK "crv" names; "SECP256K1" is accepted on input).
std::string_view EcCurveJwkName(EcCurve curve);
std::optional<EcCurve> EcCurveFromJwkName(std::string_view name);
// Bytes per coordinate (and per r, s): 32, 48, 66, 32.
size_t EcCoordinateSize(EcCurve curve);
// The curve an algorithm requires.
EcCurve EcCurveFor(EcSignatureAlgorithm alg);

// Public key as JWK fields; x and y are big-endian, exactly EcCoordinateSize(curve) bytes.
struct EcJwk {
  EcCurve curve = EcCurve::kP256;
  Bytes x;
  Bytes y;
};

class EcPublicKey {
 public:
  // Fails with kInvalidArgument unless (x, y) is a point on the curve (and not the identity).
  static Result<EcPublicKey> FromJwk(const EcJwk& jwk);
  // DER/PEM imports (public and private) accept named curves only: explicit curve parameters are
  // refused even when they spell out one of the four curves.
  static Result<EcPublicKey> FromDer(ByteView subject_public_key_info_der);
  static Result<EcPublicKey> FromPem(std::string_view pem);

  EcPublicKey(EcPublicKey&&) noexcept;
  EcPublicKey& operator=(EcPublicKey&&) noexcept;
  ~EcPublicKey();

  EcCurve curve() const;
  EcJwk ToJwk() const;
  Bytes ToDer() const;  // SubjectPublicKeyInfo
  std::string ToPem() const;

  // `signature` is raw r || s. OK if valid; kInvalidArgument ("signature does not verify") for a
  // bad signature, a wrong length, or an algorithm that does not match the key's curve.
  Status VerifyDigest(EcSignatureAlgorithm alg, ByteView digest, ByteView signature) const;
  Status Verify(EcSignatureAlgorithm alg, ByteView message, ByteView signature) const;
  // The same with a DER ECDSA-Sig-Value signature (X.509/TLS form); non-DER encodings are rejected.
  Status VerifyDerSignature(EcSignatureAlgorithm alg, ByteView message,
                            ByteView der_signature) const;

 private:
  friend class EcPrivateKey;
  struct Impl;
  explicit EcPublicKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class EcPrivateKey {
 public:
  static Result<EcPrivateKey> Generate(EcCurve curve);
  // PKCS#8 PrivateKeyInfo DER, or PEM ("BEGIN PRIVATE KEY" / "BEGIN EC PRIVATE KEY").
  static Result<EcPrivateKey> FromPkcs8Der(const SecretBytes& der);
  static Result<EcPrivateKey> FromPem(const SecretBytes& pem);
  // From JWK (crv, x, y, d), as Key Vault import sends it; d must match (x, y).
  static Result<EcPrivateKey> FromJwk(const EcJwk& pub, const SecretBytes& d);

  EcPrivateKey(EcPrivateKey&&) noexcept;
  EcPrivateKey& operator=(EcPrivateKey&&) noexcept;
  ~EcPrivateKey();

  EcCurve curve() const;
  EcPublicKey PublicKey() const;
  Result<SecretBytes> ToPkcs8Der() const;
  Result<SecretBytes> ToPem() const;  // PKCS#8 PEM

  // Raw r || s signatures (randomised ECDSA). The digest length must match the algorithm's hash
  // and the algorithm must match the key's curve (kInvalidArgument otherwise).
  Result<Bytes> SignDigest(EcSignatureAlgorithm alg, ByteView digest) const;
  Result<Bytes> Sign(EcSignatureAlgorithm alg, ByteView message) const;

 private:
  struct Impl;
  explicit EcPrivateKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgcmk::crypto
