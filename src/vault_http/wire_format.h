// The vault's wire format: Status -> HTTP status and error body (the one exhaustive switch for
// the keys and admin APIs, and the one for the token endpoint), and the JSON shapes of the Key
// Vault REST API (KeyBundle, DeletedKeyBundle, KeyItem, rotation policy) built for a given
// client-visible origin.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"
#include "vault/vault_service.h"
#include "vault/vault_types.h"

namespace pgcmk::vault_http {

struct HttpError {
  int status = 500;
  std::string code;        // Key Vault error code, e.g. "KeyNotFound", "Forbidden"
  std::string inner_code;  // innererror.code, empty for none
  std::string reason;      // HTTP reason phrase for audit resultSignature
};

// Keys/admin API mapping. `operation` is the audit operation name (404s on keys say KeyNotFound).
HttpError ToHttpError(std::string_view operation, const Status& status);
// {"error":{"code","message"[,"innererror":{"code"}]}}
std::string ErrorBody(const HttpError& e, std::string_view message);

// Token endpoint (Entra shape).
struct TokenError {
  int status = 400;
  std::string error;  // invalid_request, invalid_client, ...
  long code = 0;      // AADSTS number, from the message prefix
};
TokenError ToTokenError(const Status& status);
std::string TokenErrorBody(const TokenError& e, std::string_view description,
                           std::string_view correlation_id);

// Audit outcome consistent with the two mappings above (the token endpoint's for "Authentication"
// and "OpenIdConfiguration").
vault::AuditOutcome AuditOutcomeFor(std::string_view operation, const Status& status);

std::string KeyId(std::string_view origin, std::string_view name, std::string_view version);

nlohmann::json KeyBundleJson(std::string_view origin, const vault::KeyVersion& v,
                             const vault::VaultSettings& settings);
nlohmann::json DeletedKeyBundleJson(std::string_view origin, const vault::DeletedKey& d,
                                    const vault::VaultSettings& settings);
// List item: versionless kid for key lists, versioned for version lists.
nlohmann::json KeyItemJson(std::string_view origin, const vault::KeyVersion& v, bool versioned,
                           const vault::VaultSettings& settings);
nlohmann::json DeletedKeyItemJson(std::string_view origin, const vault::KeyItem& item,
                                  const vault::VaultSettings& settings);
nlohmann::json RotationPolicyJson(std::string_view origin, std::string_view name,
                                  const vault::RotationPolicy& p);
nlohmann::json IdentityJson(const vault::Identity& id, std::string_view tenant_id);
nlohmann::json PolicyJson(const vault::AccessPolicy& p);
nlohmann::json SettingsJson(const vault::VaultSettings& s);
// {"keyId","type":"AsymmetricX509Cert","usage":"Verify","thumbprint","x5t","x5t#S256",
//  "subject","keySize","notBefore","notAfter","added","certificate":<base64 DER>}
nlohmann::json CertificateCredentialJson(const vault::CertificateCredential& c);
// The OpenID Connect discovery document of the tenant's authority <origin>/<tenant>/v2.0.
nlohmann::json OpenIdConfigurationJson(std::string_view origin, std::string_view tenant_id);

}  // namespace pgcmk::vault_http
