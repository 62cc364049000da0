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

// ---- JWS with a caller-chosen header, for OAuth2 client assertions (RFC 7523) ----
// RS256 = RSASSA-PKCS1-v1_5 with SHA-256; PS256 = RSASSA-PSS with SHA-256, MGF1-SHA-256 and a
// 32-byte salt (RFC 7518 §3.5). No other algorithm exists here: "none", HS*, ES* are never
// accepted.
enum class JwsAlgorithm { kRs256, kPs256 };
std::string_view JwsAlgorithmName(JwsAlgorithm alg);

// Signs `claims_json` (a JSON object) under a header made of `header_json` (a JSON object; its
// "alg" is replaced by `alg`'s name).
Result<std::string> SignJws(const RsaPrivateKey& key, JwsAlgorithm alg,
                            std::string_view header_json, std::string_view claims_json);

// An OAuth2 client assertion as Entra ID accepts it (private_key_jwt, RFC 7523): PS256 under
// `key`, header {"typ":"JWT","x5t#S256":x5t_s256}, claims aud = token_endpoint, iss = sub =
// client_id, a random 128-bit jti, nbf = iat = now, exp = now + 300.
Result<std::string> MakeClientAssertion(const RsaPrivateKey& key, std::string_view x5t_s256,
                                        std::string_view client_id, std::string_view token_endpoint,
                                        std::int64_t now);

// A compact JWS split and decoded, its signature not yet checked (the header names the key).
// ParseJws fails with kInvalidArgument "malformed" for anything but three strict base64url
// segments holding two JSON objects, and with kUnauthenticated for an "alg" other than RS256 or
// PS256 (including "none" and HS256) or a "crit" header.
struct ParsedJws {
  std::string header_json;
  std::string claims_json;
  JwsAlgorithm alg = JwsAlgorithm::kRs256;
  std::string signing_input;  // header '.' claims, as sent
  Bytes signature;
};
Result<ParsedJws> ParseJws(std::string_view token);
// OK if `jws.signature` is a valid signature by `key` under `jws.alg`; kUnauthenticated otherwise.
Status VerifyJwsSignature(const RsaPublicKey& key, const ParsedJws& jws);

}  // namespace pgcmk::crypto
