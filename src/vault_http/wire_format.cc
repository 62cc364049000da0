#include "vault_http/wire_format.h"

#include <chrono>
#include <cstdlib>

#include "common/base64url.h"

namespace pgcmk::vault_http {

using nlohmann::json;

HttpError ToHttpError(std::string_view operation, const Status& status) {
  const bool keys = operation.starts_with("Key");
  switch (status.code()) {
    case StatusCode::kOk:
      return {200, "", "", "OK"};
    case StatusCode::kInvalidArgument:
      return {400, "BadParameter", "", "BadRequest"};
    case StatusCode::kUnimplemented:
      return {400, "BadParameter", "NotSupported", "BadRequest"};
    case StatusCode::kUnauthenticated:
      return {401, "Unauthorized", "", "Unauthorized"};
    case StatusCode::kPermissionDenied:
      return {403, "Forbidden", "AccessDenied", "Forbidden"};
    case StatusCode::kFailedPrecondition:
      // The contract's disabled-key answer carries innererror KeyDisabled (the service's own
      // message, from VaultService's usability check, identifies the case).
      if (status.message().ends_with("is not allowed on a disabled key.")) {
        return {403, "Forbidden", "KeyDisabled", "Forbidden"};
      }
      return {403, "Forbidden", "", "Forbidden"};
    case StatusCode::kNotFound:
      return {404, keys ? "KeyNotFound" : "NotFound", "", "NotFound"};
    case StatusCode::kAlreadyExists:
      return {409, "Conflict", "", "Conflict"};
    case StatusCode::kConflict:
      return {409, "Conflict", "ObjectIsDeletedButRecoverable", "Conflict"};
    case StatusCode::kResourceExhausted:
      return {429, "Throttled", "", "TooManyRequests"};
    case StatusCode::kUnavailable:
      return {503, "ServiceUnavailable", "", "ServiceUnavailable"};
    case StatusCode::kDeadlineExceeded:
      return {504, "GatewayTimeout", "", "GatewayTimeout"};
    case StatusCode::kDataLoss:
    case StatusCode::kIoError:
    case StatusCode::kInternal:
      return {500, "InternalServerError", "", "InternalServerError"};
  }
  return {500, "InternalServerError", "", "InternalServerError"};
}

std::string ErrorBody(const HttpError& e, std::string_view message) {
  json err = {{"code", e.code}, {"message", message}};
  if (!e.inner_code.empty()) err["innererror"] = {{"code", e.inner_code}};
  // Messages may echo client input (a percent-decoded name): invalid UTF-8 becomes U+FFFD
  // instead of an exception.
  return json{{"error", err}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

TokenError ToTokenError(const Status& status) {
  TokenError e;
  const std::string& m = status.message();
  if (m.starts_with("AADSTS")) e.code = std::strtol(m.c_str() + 6, nullptr, 10);
  switch (status.code()) {
    case StatusCode::kOk:
      e.status = 200;
      break;
    case StatusCode::kNotFound:
      e.status = 400;
      e.error = "invalid_request";
      break;
    case StatusCode::kInvalidArgument:
      e.status = 400;
      e.error = e.code == 70003   ? "unsupported_grant_type"
                : e.code == 70011 ? "invalid_scope"
                                  : "invalid_request";
      break;
    case StatusCode::kFailedPrecondition:
      e.status = 400;
      e.error = "unauthorized_client";
      break;
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
      e.status = 401;
      e.error = "invalid_client";
      break;
    case StatusCode::kUnavailable:
    case StatusCode::kResourceExhausted:
    case StatusCode::kDeadlineExceeded:
      e.status = 503;
      e.error = "temporarily_unavailable";
      break;
    case StatusCode::kAlreadyExists:
    case StatusCode::kConflict:
    case StatusCode::kUnimplemented:
    case StatusCode::kDataLoss:
    case StatusCode::kIoError:
    case StatusCode::kInternal:
      e.status = 500;
      e.error = "server_error";
      break;
  }
  return e;
}

std::string TokenErrorBody(const TokenError& e, std::string_view description,
                           std::string_view correlation_id) {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%SZ", &tm);
  json body = {
      {"error", e.error}, {"error_description", description}, {"error_codes", json::array()},
      {"timestamp", ts},  {"trace_id", correlation_id},       {"correlation_id", correlation_id}};
  if (e.code != 0) body["error_codes"].push_back(e.code);
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

vault::AuditOutcome AuditOutcomeFor(std::string_view operation, const Status& status) {
  if (operation == "Authentication" || operation == "OpenIdConfiguration") {
    TokenError e = ToTokenError(status);
    return {e.status, status.ok() ? "OK" : e.error};
  }
  HttpError e = ToHttpError(operation, status);
  if (status.ok() && operation == "KeyPurge") return {204, "NoContent"};
  return {e.status, e.reason};
}

std::string KeyId(std::string_view origin, std::string_view name, std::string_view version) {
  std::string kid = std::string(origin) + "/keys/" + std::string(name);
  if (!version.empty()) kid += "/" + std::string(version);
  return kid;
}

namespace {
json AttributesJson(const vault::KeyAttributes& a, const vault::VaultSettings& s) {
  json j = {{"enabled", a.enabled},
            {"created", a.created},
            {"updated", a.updated},
            {"recoveryLevel", s.RecoveryLevel()},
            {"recoverableDays", s.retention_days}};
  if (a.nbf) j["nbf"] = *a.nbf;
  if (a.exp) j["exp"] = *a.exp;
  if (a.exportable) j["exportable"] = true;
  return j;
}
}  // namespace

json KeyBundleJson(std::string_view origin, const vault::KeyVersion& v,
                   const vault::VaultSettings& settings) {
  json key = {{"kid", KeyId(origin, v.name, v.version)}, {"kty", v.kty}, {"key_ops", v.key_ops}};
  if (!v.n.empty()) key["n"] = Base64UrlEncode(v.n);
  if (!v.e.empty()) key["e"] = Base64UrlEncode(v.e);
  if (!v.crv.empty()) key["crv"] = v.crv;
  if (!v.x.empty()) key["x"] = Base64UrlEncode(v.x);
  if (!v.y.empty()) key["y"] = Base64UrlEncode(v.y);
  json j = {{"key", key}, {"attributes", AttributesJson(v.attributes, settings)}};
  if (!v.tags.empty()) j["tags"] = v.tags;
  return j;
}

json DeletedKeyBundleJson(std::string_view origin, const vault::DeletedKey& d,
                          const vault::VaultSettings& settings) {
  json j = KeyBundleJson(origin, d.latest, settings);
  j["recoveryId"] = std::string(origin) + "/deletedkeys/" + d.latest.name;
  j["deletedDate"] = d.deletion.deleted_date;
  j["scheduledPurgeDate"] = d.deletion.scheduled_purge_date;
  return j;
}

json KeyItemJson(std::string_view origin, const vault::KeyVersion& v, bool versioned,
                 const vault::VaultSettings& settings) {
  json j = {{"kid", KeyId(origin, v.name, versioned ? v.version : "")},
            {"attributes", AttributesJson(v.attributes, settings)}};
  if (!v.tags.empty()) j["tags"] = v.tags;
  return j;
}

json DeletedKeyItemJson(std::string_view origin, const vault::KeyItem& item,
                        const vault::VaultSettings& settings) {
  json j = KeyItemJson(origin, item.latest, false, settings);
  if (item.deletion) {
    j["recoveryId"] = std::string(origin) + "/deletedkeys/" + item.latest.name;
    j["deletedDate"] = item.deletion->deleted_date;
    j["scheduledPurgeDate"] = item.deletion->scheduled_purge_date;
  }
  return j;
}

json RotationPolicyJson(std::string_view origin, std::string_view name,
                        const vault::RotationPolicy& p) {
  if (p.created == 0) return {{"lifetimeActions", nullptr}, {"attributes", nullptr}};
  json actions = json::array();
  for (const auto& a : p.lifetime_actions) {
    json trigger = json::object();
    if (a.time_after_create) trigger["timeAfterCreate"] = *a.time_after_create;
    if (a.time_before_expiry) trigger["timeBeforeExpiry"] = *a.time_before_expiry;
    actions.push_back({{"trigger", trigger}, {"action", {{"type", a.type}}}});
  }
  json attrs = {{"created", p.created}, {"updated", p.updated}};
  if (p.expiry_time) attrs["expiryTime"] = *p.expiry_time;
  return {{"id", KeyId(origin, name, "") + "/rotationpolicy"},
          {"lifetimeActions", actions},
          {"attributes", attrs}};
}

json IdentityJson(const vault::Identity& id, std::string_view tenant_id) {
  return {{"name", id.name},          {"clientId", id.client_id},
          {"objectId", id.object_id}, {"tenantId", tenant_id},
          {"enabled", id.enabled},    {"admin", id.admin},
          {"created", id.created},    {"secretGeneration", id.secret_generation}};
}

json PolicyJson(const vault::AccessPolicy& p) {
  return {{"identity", p.identity_name},
          {"objectId", p.object_id},
          {"keyPermissions", p.key_permissions.Names()},
          {"roles", p.roles},
          {"effectivePermissions", p.Effective().Names()}};
}

json SettingsJson(const vault::VaultSettings& s) {
  return {{"tenantId", s.tenant_id},
          {"resource", s.resource},
          {"retentionDays", s.retention_days},
          {"purgeProtection", s.purge_protection},
          {"recoveryLevel", s.RecoveryLevel()}};
}

json CertificateCredentialJson(const vault::CertificateCredential& c) {
  return {{"keyId", c.key_id},
          {"type", "AsymmetricX509Cert"},
          {"usage", "Verify"},
          {"thumbprint", c.Thumbprint()},
          {"x5t", c.X5t()},
          {"x5t#S256", c.X5tS256()},
          {"subject", c.certificate.subject},
          {"keySize", c.certificate.key_bits},
          {"notBefore", c.certificate.not_before},
          {"notAfter", c.certificate.not_after},
          {"added", c.added},
          {"certificate", Base64Encode(c.certificate.der)}};
}

json OpenIdConfigurationJson(std::string_view origin, std::string_view tenant_id) {
  const std::string authority = std::string(origin) + "/" + std::string(tenant_id);
  return {{"issuer", authority + "/v2.0"},
          {"token_endpoint", authority + "/oauth2/v2.0/token"},
          {"authorization_endpoint", authority + "/oauth2/v2.0/authorize"},
          {"jwks_uri", authority + "/discovery/v2.0/keys"},
          {"grant_types_supported", {"client_credentials"}},
          {"token_endpoint_auth_methods_supported", {"client_secret_post", "private_key_jwt"}},
          {"token_endpoint_auth_signing_alg_values_supported", {"RS256", "PS256"}},
          {"response_types_supported", {"token"}},
          {"scopes_supported", json::array()},
          {"subject_types_supported", {"pairwise"}},
          {"id_token_signing_alg_values_supported", {"RS256"}},
          {"tenant_region_scope", nullptr},
          {"cloud_instance_name", "pgcmk.local"}};
}

}  // namespace pgcmk::vault_http
