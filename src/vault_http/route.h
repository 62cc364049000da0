// Request routing for the vault's HTTP surface, as a pure function of (method, request target):
// the Azure Key Vault keys API with the official SDK's URL quirks, the Entra-shaped token
// endpoint and the admin API. No sockets; unit-tested directly.
//
// Quirks handled (shared/docs/azure-keyvault-api.md §1.2, §8):
//  - query parameter names and values are percent-decoded (`api%2Dversion` = `api-version`);
//  - `/keys/{n}/` and `/keys/{n}` address the latest version;
//  - `/keys/{n}//{op}` (empty version) and `/keys/{n}/{op}` are the latest version for every
//    crypto operation; `/keys/{n}/{v}/{op}` a given version;
//  - a reserved word after the name is an operation, anything else a version;
//  - `POST /keys/restore` is restore (a key called "restore" is reached with GET/PATCH/DELETE);
//  - operation words compare case-insensitively; names are left as sent (the domain compares
//    them case-insensitively).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pgcmk::vault_http {

enum class Operation {
  kCreateKey,
  kImportKey,
  kGetKey,
  kListKeys,
  kListKeyVersions,
  kUpdateKey,
  kDeleteKey,
  kGetDeletedKey,
  kListDeletedKeys,
  kRecoverDeletedKey,
  kPurgeDeletedKey,
  kBackupKey,
  kRestoreKey,
  kRotateKey,
  kGetRotationPolicy,
  kSetRotationPolicy,
  kEncrypt,
  kDecrypt,
  kWrapKey,
  kUnwrapKey,
  kSign,
  kVerify,
  kToken,
  kOpenIdConfiguration,  // GET /{tenant}/v2.0/.well-known/openid-configuration (for MSAL)
  kAdminGetVault,
  kAdminEnablePurgeProtection,
  kAdminCreateIdentity,
  kAdminListIdentities,
  kAdminGetIdentity,
  kAdminDeleteIdentity,
  kAdminRotateIdentitySecret,
  kAdminAddIdentityCertificate,     // POST   /admin/identities/{name}/certificates
  kAdminListIdentityCertificates,   // GET    /admin/identities/{name}/certificates
  kAdminRemoveIdentityCertificate,  // DELETE /admin/identities/{name}/certificates/{id}
  kAdminSetPolicy,
  kAdminGetPolicy,
  kAdminDeletePolicy,
  kAdminQueryAudit,
  kAdminVerifyAudit,
  kUnsupported,  // known Key Vault operations this vault does not offer (release, rng, ...)
  kNoRoute,      // unknown path or method
};

// Azure AuditEvent operationName ("KeyUnwrap", "Authentication", "VaultAdmin...").
std::string_view AuditOperationName(Operation op);
// True for operations of the keys API (which require api-version).
bool IsKeysApi(Operation op);

struct Route {
  Operation op = Operation::kNoRoute;
  std::string name;                          // key or identity name, percent-decoded
  std::string version;                       // empty = latest
  std::string tenant;                        // token endpoint and OpenID configuration only
  std::string credential;                    // certificate key id or thumbprint (remove)
  std::map<std::string, std::string> query;  // decoded names and values
  std::string detail;                        // why kNoRoute/kUnsupported, for the error message
};

Route RouteRequest(std::string_view method, std::string_view target);

// Percent-decodes; `plus_is_space` for application/x-www-form-urlencoded. Invalid escapes are
// kept literally.
std::string PercentDecode(std::string_view s, bool plus_is_space);
// Parses a=b&c=d (form bodies and query strings).
std::map<std::string, std::string> ParseForm(std::string_view text);

// api-version "7.x" or "YYYY-MM-DD[-preview...]".
bool IsSupportedApiVersion(std::string_view v);

}  // namespace pgcmk::vault_http
