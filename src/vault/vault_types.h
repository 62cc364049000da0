// The key vault's vocabulary: permissions and roles, key versions and their attributes,
// identities, policies, rotation policies, and the per-request context used for auditing.
// Plain data; validation lives in the factories/parsers declared here and in VaultService.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace pgcmk::vault {

// ---- Permissions (Azure Key Vault access-policy key permissions) ----
enum class KeyPermission : std::uint32_t {
  kGet,
  kList,
  kCreate,
  kUpdate,
  kImport,
  kDelete,
  kRecover,
  kBackup,
  kRestore,
  kPurge,
  kRotate,
  kGetRotationPolicy,
  kSetRotationPolicy,
  kWrapKey,
  kUnwrapKey,
  kEncrypt,
  kDecrypt,
  kSign,
  kVerify,
};
inline constexpr int kKeyPermissionCount = 19;

// A set of KeyPermission values as bits (bit i = permission i).
class PermissionSet {
 public:
  PermissionSet() = default;
  static PermissionSet All() { return PermissionSet((1u << kKeyPermissionCount) - 1); }
  static PermissionSet FromBits(std::uint32_t bits) { return PermissionSet(bits & All().bits_); }
  bool Has(KeyPermission p) const { return (bits_ >> static_cast<std::uint32_t>(p)) & 1u; }
  void Add(KeyPermission p) { bits_ |= 1u << static_cast<std::uint32_t>(p); }
  PermissionSet Union(PermissionSet o) const { return PermissionSet(bits_ | o.bits_); }
  std::uint32_t bits() const { return bits_; }
  std::vector<std::string> Names() const;  // Azure spelling, e.g. "wrapKey"
  bool operator==(const PermissionSet&) const = default;

 private:
  explicit PermissionSet(std::uint32_t bits) : bits_(bits) {}
  std::uint32_t bits_ = 0;
};

std::string_view KeyPermissionName(KeyPermission p);
// Case-insensitive; "all" is handled by ParsePermissionList.
std::optional<KeyPermission> ParseKeyPermission(std::string_view name);
// A list of names (or "all"); kInvalidArgument names the first unknown entry.
Result<PermissionSet> ParsePermissionList(const std::vector<std::string>& names);

// Built-in roles (case-insensitive names), e.g. "Key Vault Crypto Service Encryption User".
std::optional<PermissionSet> RolePermissions(std::string_view role);
// Canonical spelling of a role name, or nullopt if unknown.
std::optional<std::string> CanonicalRoleName(std::string_view role);

// ---- Names and identifiers ----
// ^[0-9a-zA-Z-]{1,127}$
bool IsValidKeyName(std::string_view name);
// 32 lower- or upper-case hex digits.
bool IsValidKeyVersion(std::string_view version);
std::string ToLower(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// ---- Keys ----
// JWK key operations.
inline constexpr std::string_view kAllKeyOps[] = {"encrypt", "decrypt",   "sign",   "verify",
                                                  "wrapKey", "unwrapKey", "import", "export"};
// Validates and canonicalises a key_ops list (case-insensitive input, Azure spelling out).
Result<std::vector<std::string>> CanonicalKeyOps(const std::vector<std::string>& ops);

struct KeyAttributes {
  bool enabled = true;
  std::optional<std::int64_t> nbf;
  std::optional<std::int64_t> exp;
  std::int64_t created = 0;
  std::int64_t updated = 0;
  bool exportable = false;
};

// Public parts of one key version plus its metadata. Never holds private key material.
struct KeyVersion {
  std::string name;     // as first created (display spelling)
  std::string version;  // 32 lower-case hex digits
  std::string kty;      // "RSA" or "EC"
  int key_size = 0;     // RSA modulus bits
  std::string crv;      // EC curve name
  Bytes n, e;           // RSA public key (JWK)
  Bytes x, y;           // EC public key (JWK)
  std::vector<std::string> key_ops;
  KeyAttributes attributes;
  std::map<std::string, std::string> tags;
};

struct DeletionInfo {
  std::int64_t deleted_date = 0;
  std::int64_t scheduled_purge_date = 0;
};

// A key (all versions) as seen in lists: its latest version, and deletion info if soft-deleted.
struct KeyItem {
  KeyVersion latest;
  std::optional<DeletionInfo> deletion;
};

struct KeyPage {
  std::vector<KeyItem> items;
  std::optional<std::string> next_skiptoken;  // opaque; present when more items exist
};

// Rotation policy (ISO 8601 durations kept as given, validated on set).
struct LifetimeAction {
  std::string type;  // "Rotate" or "Notify"
  std::optional<std::string> time_after_create;
  std::optional<std::string> time_before_expiry;
};
struct RotationPolicy {
  std::vector<LifetimeAction> lifetime_actions;
  std::optional<std::string> expiry_time;
  std::int64_t created = 0;  // 0 = no policy has been set
  std::int64_t updated = 0;
};

// Parses PnYnMnWnDTnHnMnS (Y = 365 days, M = 30 days) into seconds.
Result<std::int64_t> ParseIsoDuration(std::string_view text);

// ---- Identities and policies ----
struct Identity {
  std::string name;
  std::string client_id;  // UUID
  std::string object_id;  // UUID
  bool enabled = true;
  bool admin = false;  // the bootstrap administrator; the only caller of the admin API
  std::int64_t created = 0;
  std::int64_t secret_generation = 1;
};

struct AccessPolicy {
  std::string identity_name;
  std::string object_id;
  PermissionSet key_permissions;
  std::vector<std::string> roles;  // canonical role names
  PermissionSet Effective() const;
};

// The authenticated caller of one request.
struct Principal {
  Identity identity;
  PermissionSet permissions;  // effective, as of authentication
};

struct VaultSettings {
  std::string tenant_id;
  std::string resource;  // token audience, e.g. https://vault.pgcmk.local
  int retention_days = 90;
  bool purge_protection = false;
  std::string RecoveryLevel() const;
};

// ---- Request context (filled by the adapter; used for audit records and identifiers) ----
struct RequestContext {
  std::string origin;          // client-visible scheme://host[:port], no trailing slash
  std::string operation_name;  // Azure AuditEvent operationName, e.g. "KeyUnwrap"
  std::string api_version;
  std::string caller_ip;
  std::string correlation_id;  // x-ms-client-request-id
  std::string request_id;      // ours, echoed as x-ms-request-id
  std::string client_info;     // user agent
  std::string request_uri;     // path and query as received (never carries secrets)
  std::int64_t start_ns = 0;   // steady clock at request start
  // Set when the HTTP layer refused the request itself (malformed, too large, ...): the audit
  // record carries this status and reason instead of ones derived from the Status.
  int transport_status = 0;
  std::string transport_reason;
};

}  // namespace pgcmk::vault
