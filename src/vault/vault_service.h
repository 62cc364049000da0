// VaultService: the key vault's use cases. Each one authorises its caller (deny by default),
// validates its input, acts, and writes exactly one audit record (denials and failures included)
// before it returns; an adapter cannot skip either. State changes commit together with their
// audit record; read-only operations return their result only after their record is durable
// (fail closed: kUnavailable otherwise, and the result is discarded).
//
// Identifiers: the service deals in key names and versions; the adapter builds kid URLs from
// RequestContext::origin. Names compare case-insensitively; the first spelling is kept.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "crypto/rsa_key.h"
#include "vault/client_assertion.h"
#include "vault/key_material.h"
#include "vault/vault_store.h"
#include "vault/vault_types.h"

namespace pgcmk::vault {

// How a Status appears on the wire; injected by the adapter so audit records carry the HTTP
// status the client sees (the mapping itself lives in the adapter, in one switch).
struct AuditOutcome {
  int http_status = 0;
  std::string signature;  // e.g. "OK", "Forbidden"
};

struct VaultServiceOptions {
  std::function<std::int64_t()> now;  // Unix seconds; default: system clock
  // (operation name, status) -> wire outcome; default: a generic mapping.
  std::function<AuditOutcome(std::string_view, const Status&)> audit_outcome;
  std::int64_t token_lifetime_seconds = 3600;
  std::int64_t clock_skew_seconds = 60;
};

struct InitOptions {
  int retention_days = 90;
  bool purge_protection = false;
  std::string resource = "https://vault.pgcmk.local";
};

// File names inside the data directory.
inline constexpr std::string_view kMasterKeyFile = "master.key";
inline constexpr std::string_view kDatabaseFile = "vault.db";
inline constexpr std::string_view kAdminCredentialFile = "admin.credential";

struct CreateKeyParams {
  std::string kty;
  int key_size = 0;
  std::string crv;
  std::optional<std::int64_t> public_exponent;
  std::optional<std::vector<std::string>> key_ops;
  std::optional<bool> enabled;
  std::optional<std::int64_t> nbf, exp;
  std::optional<bool> exportable;
  std::map<std::string, std::string> tags;
};

struct ImportKeyParams {
  std::string kty;  // "RSA" or "EC" ("RSA-HSM"/"EC-HSM": rejected)
  crypto::RsaJwk public_key;
  SecretBytes d, p, q, dp, dq, qi;  // RSA private parts; for EC only d is used
  std::string crv;                  // EC
  Bytes x, y;                       // EC
  std::optional<std::vector<std::string>> key_ops;
  std::optional<bool> enabled;
  std::optional<std::int64_t> nbf, exp;
  std::map<std::string, std::string> tags;
};

struct KeyUpdate {
  std::optional<bool> enabled;
  std::optional<std::optional<std::int64_t>> nbf, exp;  // set, or explicitly cleared
  std::optional<std::vector<std::string>> key_ops;
  std::optional<std::map<std::string, std::string>> tags;
};

struct DeletedKey {
  KeyVersion latest;
  DeletionInfo deletion;
};

struct CryptoResult {
  std::string name;
  std::string version;  // the version actually used
  Bytes value;
};
struct UnwrapResult {
  std::string name;
  std::string version;
  SecretBytes value;
};

struct TokenRequest {
  std::string tenant;
  std::string grant_type;
  std::string client_id;
  SecretBytes client_secret;
  std::string scope;
  // Certificate credential (instead of client_secret): a signed JWT, single use; never logged.
  std::string client_assertion_type;
  std::string client_assertion;
  // The token endpoint URL the client posted to (origin + path): the assertion's audience.
  std::string token_endpoint;
};
struct IssuedToken {
  std::string access_token;  // a credential: never log it
  std::int64_t expires_in = 0;
};

struct NewIdentity {
  Identity identity;
  SecretBytes client_secret;  // base64url text of 32 random bytes
};

struct AuditQuery {
  std::string key;                    // key name (case-insensitive)
  std::string identity;               // identity name, object id or client id
  std::string operation;              // operationName (case-insensitive)
  std::optional<std::int64_t> since;  // Unix seconds, inclusive
  std::optional<std::int64_t> until;  // Unix seconds, inclusive
  int limit = 100;
};

struct InitResult {
  VaultSettings settings;
  Identity admin;
};

class VaultService {
 public:
  // Creates a new vault in `data_dir` (mode 0700): master key, database, tenant, token-signing
  // key, the bootstrap `admin` identity with every key permission, and its credential file
  // (data_dir/admin.credential, 0600, JSON {"tenantId","clientId","clientSecret","objectId"}).
  // kAlreadyExists if the directory already holds a vault.
  static Result<InitResult> Initialize(const std::filesystem::path& data_dir,
                                       const InitOptions& options,
                                       VaultServiceOptions service_options = {});
  static bool IsInitialized(const std::filesystem::path& data_dir);
  static Result<std::unique_ptr<VaultService>> Open(const std::filesystem::path& data_dir,
                                                    VaultServiceOptions options = {});

  VaultService(const VaultService&) = delete;
  VaultService& operator=(const VaultService&) = delete;
  ~VaultService();

  VaultSettings settings() const;
  // The audit chain's head, for publishing outside the vault (an anchor for `audit verify`).
  AuditAnchor AuditHead() const;
  VaultStore& store_for_testing() { return *store_; }

  // ---- Tokens ----
  Result<IssuedToken> IssueToken(const RequestContext& ctx, const TokenRequest& request);
  // Checks a bearer token (the part after "Bearer "). Writes the audit record itself only on
  // failure (kUnauthenticated); on success the following use case writes the request's record.
  Result<Principal> Authenticate(const RequestContext& ctx, std::string_view bearer_token);
  // Records a request that failed before reaching a use case (bad route, malformed body).
  Status RecordRejectedRequest(const RequestContext& ctx, const Principal* who,
                               const Status& failure);

  // ---- Keys ----
  Result<KeyVersion> CreateKey(const RequestContext& ctx, const Principal& who,
                               std::string_view name, const CreateKeyParams& params);
  Result<KeyVersion> ImportKey(const RequestContext& ctx, const Principal& who,
                               std::string_view name, const ImportKeyParams& params);
  // Empty version = latest.
  Result<KeyVersion> GetKey(const RequestContext& ctx, const Principal& who, std::string_view name,
                            std::string_view version);
  Result<KeyPage> ListKeys(const RequestContext& ctx, const Principal& who, int max_results,
                           std::string_view skiptoken);
  Result<std::vector<KeyVersion>> ListKeyVersions(const RequestContext& ctx, const Principal& who,
                                                  std::string_view name, int max_results,
                                                  std::string_view skiptoken,
                                                  std::optional<std::string>* next_skiptoken);
  Result<KeyVersion> UpdateKey(const RequestContext& ctx, const Principal& who,
                               std::string_view name, std::string_view version,
                               const KeyUpdate& update);
  Result<DeletedKey> DeleteKey(const RequestContext& ctx, const Principal& who,
                               std::string_view name);
  Result<DeletedKey> GetDeletedKey(const RequestContext& ctx, const Principal& who,
                                   std::string_view name);
  Result<KeyPage> ListDeletedKeys(const RequestContext& ctx, const Principal& who, int max_results,
                                  std::string_view skiptoken);
  Result<KeyVersion> RecoverDeletedKey(const RequestContext& ctx, const Principal& who,
                                       std::string_view name);
  Status PurgeDeletedKey(const RequestContext& ctx, const Principal& who, std::string_view name);
  Result<Bytes> BackupKey(const RequestContext& ctx, const Principal& who, std::string_view name);
  Result<KeyVersion> RestoreKey(const RequestContext& ctx, const Principal& who, ByteView blob);
  Result<KeyVersion> RotateKey(const RequestContext& ctx, const Principal& who,
                               std::string_view name);
  Result<RotationPolicy> GetRotationPolicy(const RequestContext& ctx, const Principal& who,
                                           std::string_view name);
  Result<RotationPolicy> SetRotationPolicy(const RequestContext& ctx, const Principal& who,
                                           std::string_view name, const RotationPolicy& policy);

  Result<CryptoResult> Encrypt(const RequestContext& ctx, const Principal& who,
                               std::string_view name, std::string_view version,
                               std::string_view alg, ByteView plaintext);
  Result<UnwrapResult> Decrypt(const RequestContext& ctx, const Principal& who,
                               std::string_view name, std::string_view version,
                               std::string_view alg, ByteView ciphertext);
  Result<CryptoResult> WrapKey(const RequestContext& ctx, const Principal& who,
                               std::string_view name, std::string_view version,
                               std::string_view alg, ByteView key);
  Result<UnwrapResult> UnwrapKey(const RequestContext& ctx, const Principal& who,
                                 std::string_view name, std::string_view version,
                                 std::string_view alg, ByteView wrapped);
  Result<CryptoResult> Sign(const RequestContext& ctx, const Principal& who, std::string_view name,
                            std::string_view version, std::string_view alg, ByteView digest);
  Result<std::pair<std::string, bool>> Verify(const RequestContext& ctx, const Principal& who,
                                              std::string_view name, std::string_view version,
                                              std::string_view alg, ByteView digest,
                                              ByteView signature);

  // ---- Administration (admin identity only) ----
  Result<VaultSettings> GetSettings(const RequestContext& ctx, const Principal& who);
  Result<VaultSettings> EnablePurgeProtection(const RequestContext& ctx, const Principal& who);
  Result<NewIdentity> CreateIdentity(const RequestContext& ctx, const Principal& who,
                                     std::string_view name);
  Result<std::vector<Identity>> ListIdentities(const RequestContext& ctx, const Principal& who);
  Result<Identity> GetIdentity(const RequestContext& ctx, const Principal& who,
                               std::string_view name);
  Result<Identity> DeleteIdentity(const RequestContext& ctx, const Principal& who,
                                  std::string_view name);
  Result<NewIdentity> RotateIdentitySecret(const RequestContext& ctx, const Principal& who,
                                           std::string_view name);
  // Certificate credentials (public certificates only; see client_assertion.h). Add rejects
  // certificates that are not RSA >= 2048, already expired, or already registered (kAlreadyExists),
  // and more than kMaxCertificatesPerIdentity per identity. Remove takes the key id or the SHA-1
  // thumbprint (hex) and bumps the identity's secret generation, which revokes every access token
  // the identity holds (clients fetch new ones with their remaining credentials).
  static constexpr int kMaxCertificatesPerIdentity = 20;
  Result<CertificateCredential> AddIdentityCertificate(const RequestContext& ctx,
                                                       const Principal& who, std::string_view name,
                                                       std::string_view certificate_pem);
  Result<std::vector<CertificateCredential>> ListIdentityCertificates(const RequestContext& ctx,
                                                                      const Principal& who,
                                                                      std::string_view name);
  Result<CertificateCredential> RemoveIdentityCertificate(const RequestContext& ctx,
                                                          const Principal& who,
                                                          std::string_view name,
                                                          std::string_view key_id_or_thumbprint);
  Result<AccessPolicy> SetPolicy(const RequestContext& ctx, const Principal& who,
                                 std::string_view identity, const std::vector<std::string>& perms,
                                 const std::vector<std::string>& roles);
  Result<AccessPolicy> GetPolicy(const RequestContext& ctx, const Principal& who,
                                 std::string_view identity);
  Status DeletePolicy(const RequestContext& ctx, const Principal& who, std::string_view identity);
  Result<std::vector<std::string>> QueryAudit(const RequestContext& ctx, const Principal& who,
                                              const AuditQuery& query);
  Result<AuditVerification> VerifyAudit(const RequestContext& ctx, const Principal& who,
                                        const std::vector<AuditAnchor>& anchors = {});

  // ---- TLS ----
  // The vault's HTTPS identity: a private CA (created on first use) and a server certificate
  // covering `dns_names` and `ip_addresses` (reissued when a name is missing or it expires within
  // 30 days). Private keys are sealed in the database; the public certificates are also written to
  // data_dir/tls/ca.pem and data_dir/tls/server.pem (server certificate followed by the CA).
  struct TlsMaterial {
    std::string certificate_chain_pem;
    SecretBytes private_key_pem;
    std::filesystem::path ca_file;
  };
  Result<TlsMaterial> ServerTlsMaterial(const std::vector<std::string>& dns_names,
                                        const std::vector<std::string>& ip_addresses);

  // ---- Scheduler ----
  // Purges soft-deleted keys whose retention has passed and runs rotation-policy actions
  // (Rotate: new version; Notify: an audit record KeyNearExpiryEventGridNotification).
  // Returns the number of actions taken.
  Result<int> RunScheduledWork();

 private:
  struct Impl;
  explicit VaultService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  VaultStore* store_;
};

}  // namespace pgcmk::vault
