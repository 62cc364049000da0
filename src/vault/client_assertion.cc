#include "vault/client_assertion.h"

#include <nlohmann/json.hpp>

#include "common/base64url.h"
#include "crypto/jwt.h"
#include "crypto/rsa_key.h"
#include "vault/vault_types.h"

namespace pgcmk::vault {

using nlohmann::json;

std::string CertificateCredential::Thumbprint() const {
  std::string hex = ToHex(certificate.sha1);
  for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return hex;
}
std::string CertificateCredential::X5t() const { return Base64UrlEncode(certificate.sha1); }
std::string CertificateCredential::X5tS256() const { return Base64UrlEncode(certificate.sha256); }

namespace {

Status Malformed() {
  return Status(StatusCode::kInvalidArgument, "AADSTS50027: JWT token is invalid or malformed.");
}

Status Invalid(std::string message) {
  return Status(StatusCode::kUnauthenticated, std::move(message));
}

std::string Clip(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    if (c >= 0x20 && c < 0x7f) out.push_back(c);
  }
  return out;
}

// An optional integer claim: absent, or a JSON integer (a number with a fraction is malformed).
Result<std::optional<std::int64_t>> OptionalTime(const json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::optional<std::int64_t>();
  if (it->is_number_integer()) return std::optional<std::int64_t>(it->get<std::int64_t>());
  if (it->is_number_float()) {
    const double d = it->get<double>();
    if (d > -1e15 && d < 1e15) return std::optional<std::int64_t>(static_cast<std::int64_t>(d));
  }
  return Err(Malformed());
}

// Header x5t / x5t#S256: optional strings of base64url; a wrong length names no certificate.
Result<std::optional<Bytes>> OptionalThumbprint(const json& header, const char* name) {
  auto it = header.find(name);
  if (it == header.end()) return std::optional<Bytes>();
  if (!it->is_string()) return Err(Malformed());
  auto decoded = Base64UrlDecode(it->get<std::string>());
  if (!decoded) return Err(Malformed());
  return std::optional<Bytes>(std::move(*decoded));
}

}  // namespace

Result<ValidatedAssertion> ValidateClientAssertion(
    std::string_view assertion, const AssertionExpectations& expect,
    const std::vector<CertificateCredential>& registered) {
  if (assertion.size() > 64 * 1024) return Err(Malformed());
  auto parsed = crypto::ParseJws(assertion);
  if (!parsed) {
    if (parsed.error().code() == StatusCode::kInvalidArgument) return Err(Malformed());
    return Err(Invalid("AADSTS5002738: Invalid JWT token. " + parsed.error().message() + "."));
  }
  const json header = json::parse(parsed->header_json, nullptr, false);
  const json claims = json::parse(parsed->claims_json, nullptr, false);
  if (!header.is_object() || !claims.is_object()) return Err(Malformed());
  if (auto typ = header.find("typ"); typ != header.end()) {
    if (!typ->is_string() || !EqualsIgnoreCase(typ->get<std::string>(), "JWT")) {
      return Err(Invalid("AADSTS5002727: Invalid JWT header type specified. Allowed type: 'JWT'."));
    }
  }

  // ---- Which certificate: x5t and/or x5t#S256, optionally confirmed by x5c ----
  PGCMK_ASSIGN_OR_RETURN(auto x5t, OptionalThumbprint(header, "x5t"));
  PGCMK_ASSIGN_OR_RETURN(auto x5t256, OptionalThumbprint(header, "x5t#S256"));
  if (!x5t && !x5t256) {
    return Err(
        Invalid("AADSTS5002723: Invalid JWT token. No certificate thumbprint specified in token "
                "header."));
  }
  const CertificateCredential* cert = nullptr;
  for (const auto& c : registered) {
    const bool sha1_ok = !x5t || *x5t == c.certificate.sha1;
    const bool sha256_ok = !x5t256 || *x5t256 == c.certificate.sha256;
    if (sha1_ok && sha256_ok) {
      cert = &c;
      break;
    }
  }
  const std::string presented = x5t256 ? Base64UrlEncode(*x5t256) : Base64UrlEncode(*x5t);
  if (cert == nullptr) {
    return Err(Invalid(
        "AADSTS700027: The certificate with identifier used to sign the client assertion is not "
        "registered on application. [Reason - The key was not found., Thumbprint of key used by "
        "client: '" +
        Clip(presented) + "']"));
  }
  if (auto x5c = header.find("x5c"); x5c != header.end()) {
    if (!x5c->is_array() || x5c->empty() || !(*x5c)[0].is_string()) return Err(Malformed());
    auto der = Base64UrlDecode((*x5c)[0].get<std::string>());
    if (!der) return Err(Malformed());
    if (*der != cert->certificate.der) {
      return Err(
          Invalid("AADSTS700027: Client assertion failed signature validation. [Reason - The "
                  "certificate in x5c does not match the thumbprint in the header.]"));
    }
  }
  if (expect.now < cert->certificate.not_before || expect.now >= cert->certificate.not_after) {
    return Err(Invalid(
        "AADSTS700027: Client assertion failed signature validation. [Reason - The key used is "
        "expired or not yet valid., Thumbprint of key used by client: '" +
        cert->Thumbprint() + "']"));
  }

  // ---- Signature ----
  auto key = crypto::RsaPublicKey::FromDer(cert->certificate.public_key_der);
  if (!key) return Err(key.error());
  if (!crypto::VerifyJwsSignature(*key, *parsed).ok()) {
    return Err(Invalid(
        "AADSTS700027: Client assertion failed signature validation. [Reason - The provided "
        "signature value did not match the expected signature value., Thumbprint of key used by "
        "client: '" +
        cert->Thumbprint() + "']"));
  }

  // ---- Claims ----
  auto string_claim = [&](const char* name) -> std::optional<std::string> {
    auto it = claims.find(name);
    if (it == claims.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  const auto iss = string_claim("iss");
  const auto sub = string_claim("sub");
  if (!iss || !sub || !EqualsIgnoreCase(*iss, expect.client_id) ||
      !EqualsIgnoreCase(*sub, expect.client_id)) {
    return Err(
        Invalid("AADSTS700021: Client assertion application identifier doesn't match 'client_id' "
                "parameter. Review the documentation at "
                "https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."));
  }
  if (expect.audience.empty()) {
    // The request reached the vault under a name it is not known by (not its certificate's names
    // or --public-url): no audience can be bound to this vault.
    return Err(
        Invalid("AADSTS700023: Client assertion audience claim does not match Realm issuer: the "
                "token endpoint was addressed by a host name this vault is not known by; use the "
                "vault's own address."));
  }
  bool audience_ok = false;
  if (auto aud = claims.find("aud"); aud != claims.end()) {
    if (aud->is_string()) {
      audience_ok = aud->get<std::string>() == expect.audience;
    } else if (aud->is_array() && aud->size() == 1 && (*aud)[0].is_string()) {
      audience_ok = (*aud)[0].get<std::string>() == expect.audience;
    }
  }
  if (!audience_ok) {
    return Err(
        Invalid("AADSTS700023: Client assertion audience claim does not match Realm "
                "issuer. Expected audience: '" +
                expect.audience + "'."));
  }
  PGCMK_ASSIGN_OR_RETURN(auto exp, OptionalTime(claims, "exp"));
  PGCMK_ASSIGN_OR_RETURN(auto nbf, OptionalTime(claims, "nbf"));
  PGCMK_ASSIGN_OR_RETURN(auto iat, OptionalTime(claims, "iat"));
  const std::int64_t now = expect.now;
  const std::int64_t skew = expect.clock_skew_seconds;
  auto window = [&] {
    return " Current time: " + std::to_string(now) + ", assertion valid from " +
           (nbf ? std::to_string(*nbf) : std::string("-")) + ", expiry time of assertion " +
           (exp ? std::to_string(*exp) : std::string("-")) + ".";
  };
  if (!exp) {
    return Err(
        Invalid("AADSTS700024: Client assertion is not within its valid time range: it "
                "has no 'exp' claim."));
  }
  // Every time is bounded before any arithmetic (int64 claims could overflow it): nbf and iat no
  // earlier than one maximum lifetime ago, exp no later than one maximum lifetime ahead.
  const std::int64_t earliest = now - expect.max_lifetime_seconds - skew;
  const std::int64_t latest = now + expect.max_lifetime_seconds + skew;
  if (*exp <= now - skew || *exp > latest || (nbf && (*nbf > now + skew || *nbf < earliest)) ||
      (iat && (*iat > now + skew || *iat < earliest))) {
    return Err(Invalid(
        "AADSTS700024: Client assertion is not within its valid time range (at most " +
        std::to_string(expect.max_lifetime_seconds) + " seconds long, starting now)." + window()));
  }
  const std::int64_t start = nbf ? *nbf : iat ? *iat : now;
  if (*exp - start > expect.max_lifetime_seconds) {
    return Err(Invalid("AADSTS700024: Client assertion lifetime exceeds the allowed maximum of " +
                       std::to_string(expect.max_lifetime_seconds) + " seconds." + window()));
  }
  const auto jti = string_claim("jti");
  if (!jti || jti->empty() || jti->size() > 256) {
    return Err(Invalid(
        "AADSTS700025: Client assertion must contain a 'jti' claim (1 to 256 characters)."));
  }
  return ValidatedAssertion{*jti, *exp, cert->key_id, cert->Thumbprint()};
}

void AssertionReplayCache::EvictExpired(std::int64_t now) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first < now) {
    auto it = seen_.find(by_expiry_.begin()->second);
    if (it != seen_.end() && it->second.until == by_expiry_.begin()->first) {
      if (auto c = per_client_count_.find(it->second.client);
          c != per_client_count_.end() && --c->second == 0) {
        per_client_count_.erase(c);
      }
      seen_.erase(it);
    }
    by_expiry_.erase(by_expiry_.begin());
  }
}

Status AssertionReplayCache::Remember(std::string_view client_id, std::string_view jti,
                                      std::int64_t until, std::int64_t now) {
  std::string client = ToLower(client_id);
  std::string key = client;
  key += '\n';
  key += jti;
  std::lock_guard lock(mu_);
  EvictExpired(now);
  if (seen_.contains(key)) {
    return Status(StatusCode::kUnauthenticated, std::string(kAssertionReplayedMessage));
  }
  if (seen_.size() >= capacity_ || per_client_count_[client] >= per_client_capacity_) {
    if (per_client_count_[client] == 0) per_client_count_.erase(client);
    return Status(StatusCode::kResourceExhausted,
                  "AADSTS90033: Too many client assertions in flight; retry shortly.");
  }
  ++per_client_count_[client];
  by_expiry_.emplace(until, key);
  seen_.emplace(std::move(key), Entry{std::move(client), until});
  return Status::Ok();
}

size_t AssertionReplayCache::size() const {
  std::lock_guard lock(mu_);
  return seen_.size();
}

}  // namespace pgcmk::vault
