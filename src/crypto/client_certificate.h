// X.509 certificate credentials of vault identities, the way Entra ID registers them for an
// application: only the public certificate is registered; the identity proves possession of the
// private key by signing a client assertion (crypto/jwt.h SignJws). This file parses what is
// registered, computes its thumbprints, generates self-signed credentials, and splits the
// "private key + certificate" PEM bundle a client holds (the format of `cert create` and of the
// Azure SDK's ClientCertificateCredential).
//
// Accepted certificates: X.509 with an RSA public key of 2048..16384 bits (Entra's minimum is
// 2048). Thumbprints are over the DER encoding: SHA-1 (JWS header "x5t", and the hex "thumbprint"
// Azure shows) and SHA-256 ("x5t#S256").
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/secret_bytes.h"
#include "common/status.h"
#include "crypto/x509.h"

namespace pgcmk::crypto {

inline constexpr int kMinClientCertificateRsaBits = 2048;

struct ClientCertificate {
  Bytes der;                    // the certificate
  Bytes sha1;                   // 20 bytes: x5t = base64url(sha1)
  Bytes sha256;                 // 32 bytes: x5t#S256 = base64url(sha256)
  Bytes public_key_der;         // SubjectPublicKeyInfo (RsaPublicKey::FromDer)
  int key_bits = 0;             // RSA modulus size
  std::string subject;          // RFC 2253 one-line form, for display
  std::int64_t not_before = 0;  // Unix seconds
  std::int64_t not_after = 0;
};

// The first "CERTIFICATE" block of `pem` (other blocks, e.g. a private key, are ignored and never
// copied). kInvalidArgument if there is none, it does not parse, or its key is not RSA >= 2048.
Result<ClientCertificate> ParseClientCertificatePem(std::string_view pem);
// Same checks, from DER (as stored by the vault).
Result<ClientCertificate> ParseClientCertificateDer(ByteView der);
// The certificate alone as PEM ("BEGIN CERTIFICATE", 64-character lines).
std::string ClientCertificatePem(const ClientCertificate& certificate);

struct SelfSignedClientCertificateOptions {
  std::string common_name;  // 1..64 bytes
  int rsa_bits = 2048;      // 2048, 3072 or 4096
  std::chrono::days validity{365};
};
// An RSA key and a self-signed certificate for client authentication (X.509 v3, CA:FALSE,
// keyUsage digitalSignature, extendedKeyUsage clientAuth, SHA-256 signature, notBefore 5 minutes
// in the past). The certificate is returned PEM; the key PKCS#8 PEM in SecretBytes.
Result<CertifiedKey> CreateSelfSignedClientCertificate(
    const SelfSignedClientCertificateOptions& options);

// A client's credential file split into its parts: the PKCS#8/traditional RSA private key block
// (copied into locked memory only) and the first certificate. kInvalidArgument if either is
// missing or the key does not belong to the certificate; messages never contain key bytes.
struct ClientCertificateCredential {
  SecretBytes private_key_pem;
  std::string certificate_pem;
  ClientCertificate certificate;
};
Result<ClientCertificateCredential> ParseClientCertificateCredential(const SecretBytes& pem_bundle);

}  // namespace pgcmk::crypto
