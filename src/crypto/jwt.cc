#include "crypto/jwt.h"

#include <nlohmann/json.hpp>

#include "common/base64url.h"
#include "crypto/random.h"

namespace pgcmk::crypto {
namespace {

Status Malformed() { return Status(StatusCode::kUnauthenticated, "malformed token"); }

// JWS segments are base64url without padding; anything else (padding, '+', '/') is rejected
// rather than tolerated, so that one token has exactly one spelling.
bool IsStrictBase64Url(std::string_view s) {
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

struct Segments {
  std::string_view header;
  std::string_view claims;
  std::string_view signature;
  std::string_view signing_input;  // header '.' claims
};

Result<Segments> Split(std::string_view token) {
  const size_t first = token.find('.');
  if (first == std::string_view::npos) return Err(Malformed());
  const size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos) return Err(Malformed());
  if (token.find('.', second + 1) != std::string_view::npos) return Err(Malformed());
  Segments s{token.substr(0, first), token.substr(first + 1, second - first - 1),
             token.substr(second + 1), token.substr(0, second)};
  if (s.header.empty() || s.claims.empty() || !IsStrictBase64Url(s.header) ||
      !IsStrictBase64Url(s.claims) || !IsStrictBase64Url(s.signature)) {
    return Err(Malformed());
  }
  return s;
}

Result<std::string> DecodeSegment(std::string_view segment) {
  std::optional<Bytes> bytes = Base64UrlDecode(segment);
  if (!bytes) return Err(Malformed());
  return std::string(bytes->begin(), bytes->end());
}

// Parses header and claims; the header must be an RS256 JWS header with no critical extensions.
Result<VerifiedJwt> Decode(const Segments& s) {
  PGCMK_ASSIGN_OR_RETURN(std::string header_json, DecodeSegment(s.header));
  PGCMK_ASSIGN_OR_RETURN(std::string claims_json, DecodeSegment(s.claims));
  const nlohmann::json header =
      nlohmann::json::parse(header_json, nullptr, /*allow_exceptions=*/false);
  const nlohmann::json claims = nlohmann::json::parse(claims_json, nullptr, false);
  if (!header.is_object() || !claims.is_object()) return Err(Malformed());
  const auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string() || alg->get<std::string>() != "RS256") {
    return Err(StatusCode::kUnauthenticated, "token algorithm must be RS256");
  }
  if (header.contains("crit")) {
    return Err(StatusCode::kUnauthenticated, "token has unsupported critical header parameters");
  }
  const auto typ = header.find("typ");
  if (typ != header.end() && (!typ->is_string() || typ->get<std::string>() != "JWT")) {
    return Err(StatusCode::kUnauthenticated, "token type must be JWT");
  }
  std::string kid;
  if (const auto k = header.find("kid"); k != header.end()) {
    if (!k->is_string()) return Err(Malformed());
    kid = k->get<std::string>();
  }
  return VerifiedJwt{std::move(header_json), std::move(claims_json), std::move(kid)};
}

}  // namespace

Result<std::string> SignJwt(const RsaPrivateKey& key, std::string_view kid,
                            std::string_view claims_json) {
  const nlohmann::json claims = nlohmann::json::parse(claims_json, nullptr, false);
  if (!claims.is_object()) {
    return Err(StatusCode::kInvalidArgument, "JWT claims must be a JSON object");
  }
  nlohmann::ordered_json header;
  header["alg"] = "RS256";
  header["typ"] = "JWT";
  if (!kid.empty()) header["kid"] = std::string(kid);
  std::string token = Base64UrlEncode(AsBytes(header.dump()));
  token += '.';
  token += Base64UrlEncode(AsBytes(claims_json));
  PGCMK_ASSIGN_OR_RETURN(Bytes signature,
                         key.Sign(RsaSignatureScheme::kPkcs1Sha256, AsBytes(token)));
  token += '.';
  token += Base64UrlEncode(signature);
  return token;
}

Result<VerifiedJwt> VerifyJwt(const RsaPublicKey& key, std::string_view token) {
  PGCMK_ASSIGN_OR_RETURN(Segments s, Split(token));
  PGCMK_ASSIGN_OR_RETURN(VerifiedJwt jwt, Decode(s));
  std::optional<Bytes> signature = Base64UrlDecode(s.signature);
  if (!signature || signature->empty()) return Err(Malformed());
  if (!key.Verify(RsaSignatureScheme::kPkcs1Sha256, AsBytes(s.signing_input), *signature).ok()) {
    return Err(StatusCode::kUnauthenticated, "token signature does not verify");
  }
  return jwt;
}

Result<VerifiedJwt> DecodeJwtUnverified(std::string_view token) {
  PGCMK_ASSIGN_OR_RETURN(Segments s, Split(token));
  return Decode(s);
}

std::string_view JwsAlgorithmName(JwsAlgorithm alg) {
  return alg == JwsAlgorithm::kPs256 ? "PS256" : "RS256";
}

namespace {
RsaSignatureScheme SchemeFor(JwsAlgorithm alg) {
  return alg == JwsAlgorithm::kPs256 ? RsaSignatureScheme::kPssSha256
                                     : RsaSignatureScheme::kPkcs1Sha256;
}
}  // namespace

Result<std::string> SignJws(const RsaPrivateKey& key, JwsAlgorithm alg,
                            std::string_view header_json, std::string_view claims_json) {
  nlohmann::ordered_json header = nlohmann::ordered_json::parse(header_json, nullptr, false);
  const nlohmann::json claims = nlohmann::json::parse(claims_json, nullptr, false);
  if (!header.is_object() || !claims.is_object()) {
    return Err(StatusCode::kInvalidArgument, "JWS header and claims must be JSON objects");
  }
  header["alg"] = std::string(JwsAlgorithmName(alg));
  std::string token = Base64UrlEncode(AsBytes(header.dump()));
  token += '.';
  token += Base64UrlEncode(AsBytes(claims_json));
  PGCMK_ASSIGN_OR_RETURN(Bytes signature, key.Sign(SchemeFor(alg), AsBytes(token)));
  token += '.';
  token += Base64UrlEncode(signature);
  return token;
}

Result<std::string> MakeClientAssertion(const RsaPrivateKey& key, std::string_view x5t_s256,
                                        std::string_view client_id, std::string_view token_endpoint,
                                        std::int64_t now) {
  PGCMK_ASSIGN_OR_RETURN(Bytes jti, RandomBytes(16));
  const nlohmann::json header = {{"typ", "JWT"}, {"x5t#S256", x5t_s256}};
  const nlohmann::json claims = {{"aud", token_endpoint}, {"iss", client_id}, {"sub", client_id},
                                 {"jti", ToHex(jti)},     {"nbf", now},       {"iat", now},
                                 {"exp", now + 300}};
  return SignJws(key, JwsAlgorithm::kPs256, header.dump(), claims.dump());
}

Result<ParsedJws> ParseJws(std::string_view token) {
  const Status malformed(StatusCode::kInvalidArgument, "malformed JWT");
  auto segments = Split(token);
  if (!segments) return Err(malformed);
  auto header_json = DecodeSegment(segments->header);
  auto claims_json = DecodeSegment(segments->claims);
  auto signature = Base64UrlDecode(segments->signature);
  if (!header_json || !claims_json || !signature) return Err(malformed);
  const nlohmann::json header = nlohmann::json::parse(*header_json, nullptr, false);
  const nlohmann::json claims = nlohmann::json::parse(*claims_json, nullptr, false);
  if (!header.is_object() || !claims.is_object()) return Err(malformed);
  const auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) return Err(malformed);
  ParsedJws out;
  const std::string name = alg->get<std::string>();
  if (name == "RS256") {
    out.alg = JwsAlgorithm::kRs256;
  } else if (name == "PS256") {
    out.alg = JwsAlgorithm::kPs256;
  } else {
    return Err(StatusCode::kUnauthenticated,
               "the JWT algorithm must be RS256 or PS256, not '" + name.substr(0, 16) + "'");
  }
  if (header.contains("crit")) {
    return Err(StatusCode::kUnauthenticated, "the JWT has unsupported critical header parameters");
  }
  if (signature->empty()) return Err(malformed);
  out.header_json = std::move(*header_json);
  out.claims_json = std::move(*claims_json);
  out.signing_input = std::string(segments->signing_input);
  out.signature = std::move(*signature);
  return out;
}

Status VerifyJwsSignature(const RsaPublicKey& key, const ParsedJws& jws) {
  if (!key.Verify(SchemeFor(jws.alg), AsBytes(jws.signing_input), jws.signature).ok()) {
    return Status(StatusCode::kUnauthenticated, "the JWT signature does not verify");
  }
  return Status::Ok();
}

}  // namespace pgcmk::crypto
