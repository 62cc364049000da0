// Compact JWS (JWT) with RS256, for the vault's access tokens.
//
// Sign: header {"alg":"RS256","typ":"JWT","kid":<kid>} + the given claims JSON (already
// serialised by the caller), base64url without padding, signature RSASSA-PKCS1-v1_5-SHA256.
// Verify: strict — exactly three segments, header alg must be "RS256" (no "none", no HS*),
// signature must verify; returns the decoded header and claims JSON text. Claim checks (exp, nbf,
// aud, iss) belong to the caller, which knows its policy.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/rsa_key.h"

namespace pgcmk::crypto {

struct VerifiedJwt {
  std::string header_json;
  std::string claims_json;
  std::string kid;  // from the header; empty if absent
};

Result<std::string> SignJwt(const RsaPrivateKey& key, std::string_view kid,
                            std::string_view claims_json);

// Returns kUnauthenticated for any malformed or badly signed token.
Result<VerifiedJwt> VerifyJwt(const RsaPublicKey& key, std::string_view token);

// Splits without verifying (to pick the key by kid); kUnauthenticated if malformed.
Result<VerifiedJwt> DecodeJwtUnverified(std::string_view token);

}  // namespace pgcmk::crypto
