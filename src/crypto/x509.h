// X.509 certificates for TLS inside a pgcmk deployment: a private certificate authority that
// issues server certificates for the key vault (HTTPS) and the PostgreSQL servers (ssl=on).
//
// Everything travels as PEM: certificates as plain strings (public), private keys as PKCS#8 PEM
// ("BEGIN PRIVATE KEY") in SecretBytes. What gets issued:
//   CA:     self-signed, X.509 v3, basicConstraints critical CA:TRUE pathlen:0, keyUsage critical
//           keyCertSign+cRLSign, subject key identifier; signed with SHA-256.
//   server: basicConstraints critical CA:FALSE, keyUsage critical digitalSignature (+
//           keyEncipherment for RSA), extendedKeyUsage serverAuth, subjectAltName with the DNS
//           names and IP addresses given, authority/subject key identifiers; signed by the CA
//           with SHA-256. Serial numbers are 127-bit random; notBefore is 5 minutes in the past to
//           absorb clock skew.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/secret_bytes.h"
#include "common/status.h"

namespace pgcmk::crypto {

enum class CertificateKeyType { kEcdsaP256, kRsa3072 };

// A certificate and its private key.
struct CertifiedKey {
  std::string certificate_pem;
  SecretBytes private_key_pem;  // PKCS#8 PEM
};

struct CertificateAuthorityOptions {
  std::string common_name = "pgcmk private CA";
  CertificateKeyType key_type = CertificateKeyType::kEcdsaP256;
  std::chrono::days validity{3650};
};

struct ServerCertificateOptions {
  std::string common_name;                // also the first DNS name if dns_names is empty
  std::vector<std::string> dns_names;     // e.g. "localhost", "vault.example"; "*.x" allowed
  std::vector<std::string> ip_addresses;  // textual IPv4 or IPv6, e.g. "127.0.0.1", "::1"
  CertificateKeyType key_type = CertificateKeyType::kEcdsaP256;
  std::chrono::days validity{397};
};

Result<CertifiedKey> CreateCertificateAuthority(const CertificateAuthorityOptions& options);

// Fails with kInvalidArgument for a malformed DNS name or IP address, no names at all, or a CA
// whose key does not match its certificate or that is not a CA.
Result<CertifiedKey> IssueServerCertificate(const CertifiedKey& ca,
                                            const ServerCertificateOptions& options);

// OK if `certificate_pem` chains to `ca_pem` (the only trusted root), is valid now, may be used
// for TLS server authentication, and names `host` (a DNS name or an IP literal) in its
// subjectAltName. kFailedPrecondition otherwise, with OpenSSL's reason in the message.
Status VerifyServerCertificate(std::string_view ca_pem, std::string_view certificate_pem,
                               std::string_view host);

// What a certificate says, for display and tests.
struct CertificateInfo {
  std::string subject_common_name;
  std::string issuer_common_name;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  bool is_ca = false;
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  std::string sha256_fingerprint;  // lower-case hex of SHA-256 over the DER
};
Result<CertificateInfo> InspectCertificate(std::string_view certificate_pem);

}  // namespace pgcmk::crypto
