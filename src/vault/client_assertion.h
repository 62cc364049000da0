// Certificate credentials of identities and the validation of OAuth2 client assertions
// (RFC 7523 "private_key_jwt"), following what Entra ID accepts from a confidential client:
//
//   header  {"alg":"RS256"|"PS256", "typ":"JWT"?, "x5t":b64url(SHA-1(cert DER))?,
//            "x5t#S256":b64url(SHA-256(cert DER))?, "x5c":[b64(cert DER), ...]?}
//           at least one of x5t / x5t#S256, naming a certificate registered for the identity
//           (both, if given, must name the same one; x5c[0], if given, must be that certificate);
//   claims  {"aud": the token endpoint URL the client posted to, at an origin this vault is
//            known by (a string, or an array holding it; an empty expected audience refuses every
//            assertion), "iss" = "sub" = client_id, "exp", "nbf"?, "iat"?, "jti"}.
// Time rules (`skew` = VaultServiceOptions::clock_skew_seconds), all checked before any
// arithmetic: now - skew < exp <= now + max_lifetime + skew; nbf and iat within
// [now - max_lifetime - skew, now + skew]; exp - (nbf, else iat, else now) <= max_lifetime
// (10 minutes, what MSAL sends).
// The certificate must be inside its own validity window at `now`. A jti is accepted once per
// client until its exp (AssertionReplayCache).
//
// Failures carry Entra-style "AADSTSnnnn: ..." messages; codes: kInvalidArgument (400
// invalid_request) for a malformed JWT, kUnauthenticated (401 invalid_client) for everything the
// client failed to prove, kResourceExhausted when the replay cache is full. Messages never
// contain the assertion.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "crypto/client_certificate.h"

namespace pgcmk::vault {

inline constexpr std::string_view kJwtBearerAssertionType =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// One registered certificate of an identity (table identity_certificates).
struct CertificateCredential {
  std::string key_id;  // UUID assigned at registration
  crypto::ClientCertificate certificate;
  std::int64_t added = 0;
  // Upper-case hex SHA-1 (what Azure shows as the thumbprint), and the JWS header values.
  std::string Thumbprint() const;
  std::string X5t() const;
  std::string X5tS256() const;
};

struct AssertionExpectations {
  std::string client_id;
  std::string audience;  // the token endpoint URL the request was sent to
  std::int64_t now = 0;
  std::int64_t clock_skew_seconds = 60;
  std::int64_t max_lifetime_seconds = 600;
};

struct ValidatedAssertion {
  std::string jti;
  std::int64_t exp = 0;
  std::string key_id;      // the certificate that signed it
  std::string thumbprint;  // its SHA-1 thumbprint (hex), for the audit record
};

Result<ValidatedAssertion> ValidateClientAssertion(
    std::string_view assertion, const AssertionExpectations& expect,
    const std::vector<CertificateCredential>& registered);

inline constexpr std::string_view kAssertionReplayedMessage =
    "AADSTS700029: The client assertion has already been used (its 'jti' was seen before); every "
    "assertion may be used once.";

// Remembers (client_id, jti) pairs until their assertion expires, in memory. (The vault also
// records each use durably in its store, VaultStore::RecordAssertionUse, so that a restart does
// not reopen the window; this cache answers replays fast and bounds each client.) Bounded: at
// `capacity` live entries in all, or `per_client_capacity` for one client, new assertions are
// refused (kResourceExhausted) rather than older ones forgotten — so one busy client cannot lock
// every other client out. Expired entries leave in expiry order as time passes (no scans).
// Thread-safe.
class AssertionReplayCache {
 public:
  explicit AssertionReplayCache(size_t capacity = 100000, size_t per_client_capacity = 1000)
      : capacity_(capacity), per_client_capacity_(per_client_capacity) {}
  // OK the first time, and the pair is then remembered until `until` (the assertion's exp plus
  // the clock skew the validation allows); kUnauthenticated if the pair is still remembered.
  Status Remember(std::string_view client_id, std::string_view jti, std::int64_t until,
                  std::int64_t now);
  size_t size() const;

 private:
  struct Entry {
    std::string client;  // lower-case client id
    std::int64_t until;
  };
  // Drops every entry that expired before `now`. Requires mu_.
  void EvictExpired(std::int64_t now);

  const size_t capacity_;
  const size_t per_client_capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> seen_;               // client '\n' jti -> entry
  std::multimap<std::int64_t, std::string> by_expiry_;        // until -> key in seen_
  std::unordered_map<std::string, size_t> per_client_count_;  // client -> live entries
};

}  // namespace pgcmk::vault
