#include "vault/vault_service.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "common/base64url.h"
#include "common/durable_file.h"
#include "common/status.h"
#include "crypto/client_certificate.h"
#include "crypto/jwt.h"
#include "crypto/random.h"
#include "crypto/x509.h"
#include "vault/audit_record.h"

namespace pgcmk::vault {

using nlohmann::json;

namespace {

constexpr std::string_view kBackupMagic = "PGCMKBK";
constexpr std::uint8_t kBackupFormatVersion = 0x01;
constexpr std::string_view kVaultDisplayName = "pgcmk;location=local";

std::int64_t SystemNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Rfc3339Now() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(micros));
  return buf;
}

AuditOutcome DefaultOutcome(std::string_view /*operation*/, const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return {200, "OK"};
    case StatusCode::kInvalidArgument:
    case StatusCode::kUnimplemented:
      return {400, "BadRequest"};
    case StatusCode::kUnauthenticated:
      return {401, "Unauthorized"};
    case StatusCode::kPermissionDenied:
    case StatusCode::kFailedPrecondition:
      return {403, "Forbidden"};
    case StatusCode::kNotFound:
      return {404, "NotFound"};
    case StatusCode::kAlreadyExists:
    case StatusCode::kConflict:
      return {409, "Conflict"};
    case StatusCode::kResourceExhausted:
      return {429, "TooManyRequests"};
    case StatusCode::kUnavailable:
      return {503, "ServiceUnavailable"};
    case StatusCode::kDeadlineExceeded:
      return {504, "GatewayTimeout"};
    case StatusCode::kDataLoss:
    case StatusCode::kIoError:
    case StatusCode::kInternal:
      return {500, "InternalServerError"};
  }
  return {500, "InternalServerError"};
}

Result<std::string> NewUuid() {
  PGCMK_ASSIGN_OR_RETURN(Bytes b, crypto::RandomBytes(16));
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);
  std::string hex = ToHex(b);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

Result<std::string> NewVersion() {
  PGCMK_ASSIGN_OR_RETURN(Bytes b, crypto::RandomBytes(16));
  return ToHex(b);
}

bool IsValidIdentityName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

Status KeyNotFound(std::string_view name) {
  return Status(StatusCode::kNotFound,
                "A key with (name/id) " + std::string(name) +
                    " was not found in this key vault. If you recently deleted this key you may be "
                    "able to recover it using the correct recovery command. For help resolving "
                    "this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182");
}

Status DeletedKeyNotFound(std::string_view name) {
  return Status(StatusCode::kNotFound, "Deleted Key not found: " + std::string(name));
}

Status DeletedButRecoverable(std::string_view name) {
  return Status(StatusCode::kConflict,
                "Key " + std::string(name) +
                    " is currently in a deleted but recoverable state, and its name cannot be "
                    "reused; in this state, the key can only be recovered or purged.");
}

Status CheckKeyName(std::string_view name) {
  if (name.empty()) return Status(StatusCode::kInvalidArgument, "Operation not specified");
  if (!IsValidKeyName(name)) {
    return Status(StatusCode::kInvalidArgument,
                  "The request URI contains an invalid name: " + std::string(name.substr(0, 130)) +
                      ". Key names are 1-127 characters of 0-9, a-z, A-Z and '-'.");
  }
  return Status::Ok();
}

Status CheckVersion(std::string_view version) {
  if (!version.empty() && !IsValidKeyVersion(version)) {
    return Status(StatusCode::kInvalidArgument, "Invalid key version: it must be 32 hex digits");
  }
  return Status::Ok();
}

Status CheckTags(const std::map<std::string, std::string>& tags) {
  if (tags.size() > 15) return Status(StatusCode::kInvalidArgument, "At most 15 tags are allowed");
  for (const auto& [k, v] : tags) {
    if (k.empty() || k.size() > 256 || v.size() > 256) {
      return Status(StatusCode::kInvalidArgument, "Tag names and values are 1-256 characters");
    }
  }
  return Status::Ok();
}

json VersionToJson(const KeyVersion& v) {
  json j;
  j["kty"] = v.kty;
  if (v.key_size) j["key_size"] = v.key_size;
  if (!v.crv.empty()) j["crv"] = v.crv;
  if (!v.n.empty()) j["n"] = Base64UrlEncode(v.n);
  if (!v.e.empty()) j["e"] = Base64UrlEncode(v.e);
  if (!v.x.empty()) j["x"] = Base64UrlEncode(v.x);
  if (!v.y.empty()) j["y"] = Base64UrlEncode(v.y);
  j["key_ops"] = v.key_ops;
  json a;
  a["enabled"] = v.attributes.enabled;
  if (v.attributes.nbf) a["nbf"] = *v.attributes.nbf;
  if (v.attributes.exp) a["exp"] = *v.attributes.exp;
  a["created"] = v.attributes.created;
  a["updated"] = v.attributes.updated;
  a["exportable"] = v.attributes.exportable;
  j["attributes"] = a;
  j["tags"] = v.tags;
  return j;
}

Result<KeyVersion> VersionFromJson(std::string_view name, std::string_view version,
                                   std::string_view text) {
  try {
    json j = json::parse(text);
    KeyVersion v;
    v.name = name;
    v.version = version;
    v.kty = j.at("kty").get<std::string>();
    v.key_size = j.value("key_size", 0);
    v.crv = j.value("crv", "");
    auto dec = [&](const char* f) {
      if (!j.contains(f)) return Bytes{};
      return Base64UrlDecode(j[f].get<std::string>()).value_or(Bytes{});
    };
    v.n = dec("n");
    v.e = dec("e");
    v.x = dec("x");
    v.y = dec("y");
    v.key_ops = j.at("key_ops").get<std::vector<std::string>>();
    const json& a = j.at("attributes");
    v.attributes.enabled = a.at("enabled").get<bool>();
    if (a.contains("nbf")) v.attributes.nbf = a["nbf"].get<std::int64_t>();
    if (a.contains("exp")) v.attributes.exp = a["exp"].get<std::int64_t>();
    v.attributes.created = a.at("created").get<std::int64_t>();
    v.attributes.updated = a.at("updated").get<std::int64_t>();
    v.attributes.exportable = a.value("exportable", false);
    v.tags = j.at("tags").get<std::map<std::string, std::string>>();
    return v;
  } catch (const json::exception&) {
    return Err(StatusCode::kDataLoss, "stored key metadata is corrupt");
  }
}

json PolicyToJson(const RotationPolicy& p) {
  json j;
  json actions = json::array();
  for (const auto& a : p.lifetime_actions) {
    json t = json::object();
    if (a.time_after_create) t["timeAfterCreate"] = *a.time_after_create;
    if (a.time_before_expiry) t["timeBeforeExpiry"] = *a.time_before_expiry;
    actions.push_back({{"trigger", t}, {"action", {{"type", a.type}}}});
  }
  j["lifetimeActions"] = actions;
  if (p.expiry_time) j["expiryTime"] = *p.expiry_time;
  j["created"] = p.created;
  j["updated"] = p.updated;
  return j;
}

RotationPolicy PolicyFromJson(std::string_view text) {
  RotationPolicy p;
  try {
    json j = json::parse(text);
    for (const auto& a : j.at("lifetimeActions")) {
      LifetimeAction la;
      la.type = a.at("action").at("type").get<std::string>();
      const json& t = a.at("trigger");
      if (t.contains("timeAfterCreate"))
        la.time_after_create = t["timeAfterCreate"].get<std::string>();
      if (t.contains("timeBeforeExpiry"))
        la.time_before_expiry = t["timeBeforeExpiry"].get<std::string>();
      p.lifetime_actions.push_back(la);
    }
    if (j.contains("expiryTime")) p.expiry_time = j["expiryTime"].get<std::string>();
    p.created = j.value("created", std::int64_t{0});
    p.updated = j.value("updated", std::int64_t{0});
  } catch (const json::exception&) {
    // A corrupt stored policy reads as "no policy"; it can be set again.
    return RotationPolicy{};
  }
  return p;
}

struct KeyRow {
  std::string name;
  std::optional<DeletionInfo> deletion;
  std::optional<std::string> rotation_policy;
  std::optional<std::int64_t> last_notify;
};

Result<std::optional<KeyRow>> LoadKeyRow(SqliteDb& db, std::string_view name) {
  PGCMK_ASSIGN_OR_RETURN(auto st,
                         db.Prepare("SELECT name, deleted_date, scheduled_purge_date, "
                                    "rotation_policy, last_notify FROM keys WHERE name_lc=?"));
  st.Bind(1, ToLower(name));
  PGCMK_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<KeyRow>();
  KeyRow r;
  r.name = st.ColumnText(0);
  if (!st.ColumnIsNull(1)) r.deletion = DeletionInfo{st.ColumnInt(1), st.ColumnInt(2)};
  if (!st.ColumnIsNull(3)) r.rotation_policy = st.ColumnText(3);
  r.last_notify = st.ColumnOptionalInt(4);
  return std::optional<KeyRow>(std::move(r));
}

struct StoredVersion {
  KeyVersion meta;
  Bytes sealed;
  std::int64_t seq = 0;
};

// Empty version = latest.
Result<std::optional<StoredVersion>> LoadVersion(SqliteDb& db, std::string_view display_name,
                                                 std::string_view version) {
  std::string sql =
      "SELECT version, seq, public_json, sealed_private FROM key_versions WHERE name_lc=?";
  sql += version.empty() ? " ORDER BY seq DESC LIMIT 1" : " AND version=?";
  PGCMK_ASSIGN_OR_RETURN(auto st, db.Prepare(sql));
  st.Bind(1, ToLower(display_name));
  if (!version.empty()) st.Bind(2, ToLower(version));
  PGCMK_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<StoredVersion>();
  StoredVersion sv;
  PGCMK_ASSIGN_OR_RETURN(sv.meta,
                         VersionFromJson(display_name, st.ColumnText(0), st.ColumnText(2)));
  sv.seq = st.ColumnInt(1);
  sv.sealed = st.ColumnBlob(3);
  return std::optional<StoredVersion>(std::move(sv));
}

Status InsertVersion(SqliteDb& db, const KeyVersion& v, std::int64_t seq, ByteView sealed) {
  PGCMK_ASSIGN_OR_RETURN(auto st, db.Prepare("INSERT INTO key_versions(name_lc, version, seq, "
                                             "public_json, sealed_private) VALUES(?,?,?,?,?)"));
  st.Bind(1, ToLower(v.name)).Bind(2, v.version).Bind(3, seq).Bind(4, VersionToJson(v).dump());
  st.BindBlob(5, sealed);
  return st.Run();
}

Status UpdateVersionMeta(SqliteDb& db, const KeyVersion& v) {
  PGCMK_ASSIGN_OR_RETURN(auto st, db.Prepare("UPDATE key_versions SET public_json=? WHERE "
                                             "name_lc=? AND version=?"));
  st.Bind(1, VersionToJson(v).dump()).Bind(2, ToLower(v.name)).Bind(3, v.version);
  return st.Run();
}

Result<std::int64_t> NextSeq(SqliteDb& db, std::string_view name) {
  PGCMK_ASSIGN_OR_RETURN(
      auto st, db.Prepare("SELECT COALESCE(MAX(seq),0)+1 FROM key_versions WHERE name_lc=?"));
  st.Bind(1, ToLower(name));
  PGCMK_ASSIGN_OR_RETURN(bool row, st.Step());
  (void)row;  // an aggregate always returns one row
  return st.ColumnInt(0);
}

Result<std::string> GetMeta(SqliteDb& db, std::string_view key) {
  PGCMK_ASSIGN_OR_RETURN(auto st, db.Prepare("SELECT v FROM meta WHERE k=?"));
  st.Bind(1, key);
  PGCMK_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Err(StatusCode::kNotFound, "vault setting " + std::string(key) + " missing");
  return st.ColumnText(0);
}

Status PutMeta(SqliteDb& db, std::string_view key, std::string_view value) {
  PGCMK_ASSIGN_OR_RETURN(auto st, db.Prepare("INSERT OR REPLACE INTO meta(k, v) VALUES(?,?)"));
  st.Bind(1, key).Bind(2, value);
  return st.Run();
}

struct IdentityRow {
  Identity identity;
  Bytes secret_hash;
};

// The identities columns an IdentityRow is made of, in the order ReadIdentityRow reads them from
// column `first` of a statement on.
constexpr std::string_view kIdentityColumns =
    "name, client_id, object_id, secret_hash, enabled, admin, created, secret_generation";
IdentityRow ReadIdentityRow(const SqliteStatement& st, int first) {
  IdentityRow r;
  r.identity.name = st.ColumnText(first);
  r.identity.client_id = st.ColumnText(first + 1);
  r.identity.object_id = st.ColumnText(first + 2);
  r.secret_hash = st.ColumnBlob(first + 3);
  r.identity.enabled = st.ColumnInt(first + 4) != 0;
  r.identity.admin = st.ColumnInt(first + 5) != 0;
  r.identity.created = st.ColumnInt(first + 6);
  r.identity.secret_generation = st.ColumnInt(first + 7);
  return r;
}

Result<std::optional<IdentityRow>> LoadIdentity(SqliteDb& db, std::string_view column,
                                                std::string_view value) {
  const std::string sql = "SELECT " + std::string(kIdentityColumns) + " FROM identities WHERE " +
                          std::string(column) + "=?";
  PGCMK_ASSIGN_OR_RETURN(auto st, db.Prepare(sql));
  st.Bind(1, ToLower(value));  // every lookup column holds lower case
  PGCMK_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<IdentityRow>();
  return std::optional<IdentityRow>(ReadIdentityRow(st, 0));
}

// NotFound naming the identity when a lookup by name found none.
Status RequireIdentity(const std::optional<IdentityRow>& row, std::string_view name) {
  if (row) return Status::Ok();
  return Status(StatusCode::kNotFound,
                "Identity '" + std::string(name.substr(0, 64)) + "' not found");
}

Result<AccessPolicy> LoadPolicy(SqliteDb& db, const Identity& id) {
  AccessPolicy p;
  p.identity_name = id.name;
  p.object_id = id.object_id;
  PGCMK_ASSIGN_OR_RETURN(
      auto st, db.Prepare("SELECT key_permissions, roles FROM policies WHERE object_id=?"));
  st.Bind(1, id.object_id);
  PGCMK_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return p;
  p.key_permissions = PermissionSet::FromBits(static_cast<std::uint32_t>(st.ColumnInt(0)));
  try {
    p.roles = json::parse(st.ColumnText(1)).get<std::vector<std::string>>();
  } catch (const json::exception&) {
    return Err(StatusCode::kDataLoss, "stored policy is corrupt");
  }
  return p;
}

// The access generation (vault_store.h): equal values mean identities, policies, keys and
// key_versions are unchanged.
Result<std::int64_t> LoadAccessGeneration(SqliteDb& db) {
  PGCMK_ASSIGN_OR_RETURN(auto st, db.Prepare("SELECT n FROM access_generation WHERE id=1"));
  PGCMK_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Err(StatusCode::kDataLoss, "the access generation row is missing");
  return st.ColumnInt(0);
}

// An identity and its policy as of one access generation, read in one statement (one snapshot).
struct PrincipalRow {
  std::int64_t generation = 0;
  std::optional<IdentityRow> identity;  // nullopt: no such identity
  std::optional<AccessPolicy> policy;   // nullopt: no policy row (or the administrator)
};

Result<PrincipalRow> LoadPrincipalRow(SqliteDb& db, std::string_view object_id) {
  PGCMK_ASSIGN_OR_RETURN(
      auto st, db.Prepare("SELECT g.n, i.name, i.client_id, i.object_id, i.secret_hash, i.enabled, "
                          "i.admin, i.created, i.secret_generation, p.key_permissions, p.roles "
                          "FROM access_generation g LEFT JOIN identities i ON i.object_id = ? "
                          "LEFT JOIN policies p ON p.object_id = i.object_id WHERE g.id = 1"));
  st.Bind(1, ToLower(object_id));
  PGCMK_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Err(StatusCode::kDataLoss, "the access generation row is missing");
  PrincipalRow out;
  out.generation = st.ColumnInt(0);
  if (st.ColumnIsNull(1)) return out;
  IdentityRow r = ReadIdentityRow(st, 1);
  if (!r.identity.admin && !st.ColumnIsNull(9)) {
    AccessPolicy p;
    p.identity_name = r.identity.name;
    p.object_id = r.identity.object_id;
    p.key_permissions = PermissionSet::FromBits(static_cast<std::uint32_t>(st.ColumnInt(9)));
    try {
      p.roles = json::parse(st.ColumnText(10)).get<std::vector<std::string>>();
    } catch (const json::exception&) {
      return Err(StatusCode::kDataLoss, "stored policy is corrupt");
    }
    out.policy = std::move(p);
  }
  out.identity = std::move(r);
  return out;
}

// Builds the client secret: base64url of 32 random bytes, in locked memory.
Result<SecretBytes> NewClientSecret() {
  PGCMK_ASSIGN_OR_RETURN(SecretBytes raw, crypto::RandomSecret(32));
  std::string text = Base64UrlEncode(raw.reveal());
  SecretBytes secret = SecretBytes::CopyFrom(AsBytes(text));
  SecureZero(text.data(), text.size());
  return secret;
}

// ---- Certificate credentials ----

Result<std::vector<CertificateCredential>> LoadCertificates(SqliteDb& db,
                                                            std::string_view object_id) {
  PGCMK_ASSIGN_OR_RETURN(auto st, db.Prepare("SELECT key_id, certificate_der, added FROM "
                                             "identity_certificates WHERE object_id=? ORDER BY "
                                             "added, key_id"));
  st.Bind(1, object_id);
  std::vector<CertificateCredential> out;
  while (true) {
    PGCMK_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    CertificateCredential c;
    c.key_id = st.ColumnText(0);
    auto parsed = crypto::ParseClientCertificateDer(st.ColumnBlob(1));
    if (!parsed) return Err(StatusCode::kDataLoss, "stored identity certificate is corrupt");
    c.certificate = std::move(*parsed);
    c.added = st.ColumnInt(2);
    out.push_back(std::move(c));
  }
  return out;
}

// The form parameters of a certificate credential, before anything is looked up.
Status CheckAssertionParameters(const TokenRequest& req) {
  if (!req.client_secret.empty()) {
    return Status(StatusCode::kInvalidArgument,
                  "AADSTS9002313: Invalid request. Send either client_secret or "
                  "client_assertion, not both.");
  }
  if (req.client_assertion_type.empty()) {
    return Status(StatusCode::kInvalidArgument,
                  "AADSTS900144: The request body must contain the following parameter: "
                  "'client_assertion_type'.");
  }
  if (req.client_assertion_type != kJwtBearerAssertionType) {
    return Status(StatusCode::kInvalidArgument,
                  "AADSTS9002313: Invalid request. The client_assertion_type must be '" +
                      std::string(kJwtBearerAssertionType) + "'.");
  }
  if (req.client_assertion.empty()) {
    return Status(StatusCode::kInvalidArgument,
                  "AADSTS900144: The request body must contain the following parameter: "
                  "'client_assertion'.");
  }
  return Status::Ok();
}

}  // namespace

// ============================================================================================
struct VaultService::Impl {
  std::filesystem::path dir;
  VaultServiceOptions opt;
  std::optional<MasterKey> master;
  std::optional<Sealer> key_sealer;
  std::optional<Sealer> backup_sealer;
  std::unique_ptr<VaultStore> store;

  mutable std::mutex settings_mu;
  VaultSettings settings;

  std::string token_kid;
  std::optional<crypto::RsaPrivateKey> token_key;
  std::optional<crypto::RsaPublicKey> token_pub;

  std::mutex cache_mu;
  std::map<std::string, std::shared_ptr<const VaultKeyPair>> key_cache;

  // Identities with their policies (by object id) and active key versions (by "name/version",
  // lower case, empty version = latest), each as read at one access generation (vault_store.h).
  // An entry is used only while the database's current generation, read on every request, still
  // equals the entry's: any change to identities, policies, keys or key_versions, by any writer,
  // makes every entry stale for the requests that start after it commits. Both maps are cleared
  // when they grow past 10000 entries.
  struct CachedVersion {
    std::int64_t generation = 0;
    StoredVersion version;
  };
  std::mutex access_cache_mu;
  std::unordered_map<std::string, std::shared_ptr<const PrincipalRow>> principal_cache;
  std::unordered_map<std::string, std::shared_ptr<const CachedVersion>> version_cache;

  // Tokens whose signature, audience and tenant have been verified, by SHA-256 of the token.
  // Expiry and the identity (existence, enabled, secret generation) are still checked on every
  // request; only the signature verification and parsing are saved.
  struct VerifiedToken {
    std::string oid;
    std::int64_t exp = 0, nbf = 0, generation = 0;
  };
  std::mutex token_cache_mu;
  std::unordered_map<std::string, VerifiedToken> token_cache;

  // jti values of accepted client assertions (certificate credentials), until they expire.
  AssertionReplayCache assertion_replay;

  std::int64_t Now() const { return opt.now(); }

  VaultSettings Settings() const {
    std::lock_guard l(settings_mu);
    return settings;
  }

  std::string Kid(const RequestContext& ctx, std::string_view name,
                  std::string_view version) const {
    std::string kid = ctx.origin + "/keys/" + std::string(name);
    if (!version.empty()) kid += "/" + std::string(version);
    return kid;
  }

  std::string Issuer(const RequestContext& ctx) const {
    return ctx.origin + "/" + Settings().tenant_id + "/v2.0";
  }

  std::string Record(const RequestContext& ctx, const Identity* who, const Status& s,
                     std::string_view object_id) const {
    const AuditOutcome outcome = ctx.transport_status != 0
                                     ? AuditOutcome{ctx.transport_status, ctx.transport_reason}
                                     : opt.audit_outcome(ctx.operation_name, s);
    const std::string time = Rfc3339Now();
    AuditRecord r;
    r.time = time;
    r.time_unix = SystemNow();
    r.operation_name = ctx.operation_name;
    r.operation_version = ctx.api_version;
    r.result_type = s.ok() ? "Success" : "Failure";
    r.result_signature = outcome.signature;
    r.result_code = StatusCodeName(s.code());
    r.duration_ms = ctx.start_ns ? (SteadyNowNs() - ctx.start_ns) / 1000000 : 0;
    r.caller_ip = ctx.caller_ip;
    r.correlation_id = ctx.correlation_id;
    r.request_id = ctx.request_id;
    if (who != nullptr) {
      r.has_identity = true;
      r.identity_oid = who->object_id;
      r.identity_appid = who->client_id;
      r.identity_name = who->name;
    }
    r.client_info = ctx.client_info;
    r.request_uri = ctx.request_uri;
    if (!object_id.empty()) r.id = object_id;
    r.http_status_code = outcome.http_status;
    return r.ToJson();
  }

  // Commits the audit record of a read-only request or a failure. kUnavailable on failure.
  Status Audit(const RequestContext& ctx, const Identity* who, const Status& s,
               std::string_view object_id) {
    return store->AppendAudit(Record(ctx, who, s, object_id));
  }

  template <typename T>
  Result<T> Finish(const RequestContext& ctx, const Identity* who, Result<T> result,
                   std::string_view object_id) {
    Status s = result ? Status::Ok() : result.error();
    Status audited = Audit(ctx, who, s, object_id);
    if (!audited.ok()) return Err(audited);
    return result;
  }

  Status Authorize(const RequestContext& ctx, const Principal& who, KeyPermission p) const {
    if (who.permissions.Has(p)) return Status::Ok();
    return Status(StatusCode::kPermissionDenied,
                  "The user, group or application 'appid=" + who.identity.client_id +
                      ";oid=" + who.identity.object_id + ";iss=" + Issuer(ctx) +
                      "' does not have keys " + std::string(KeyPermissionName(p)) +
                      " permission on key vault '" + std::string(kVaultDisplayName) +
                      "'. For help resolving this issue, please see "
                      "https://go.microsoft.com/fwlink/?linkid=2125287");
  }

  Status AuthorizeAdmin(const Principal& who) const {
    if (who.identity.admin) return Status::Ok();
    return Status(StatusCode::kPermissionDenied,
                  "The identity '" + who.identity.name + "' is not the vault administrator");
  }

  // Runs a mutation with its audit record in one transaction.
  template <typename T, typename F>
  Result<T> Mutate(const RequestContext& ctx, const Identity* who, std::string* object_id,
                   F&& change) {
    std::optional<T> out;
    Status s = store->Mutate(
        [&](SqliteDb& db) -> Status {
          Result<T> r = change(db);
          if (!r) return r.error();
          out.emplace(std::move(*r));
          return Status::Ok();
        },
        [&](const Status& st) { return Record(ctx, who, st, *object_id); });
    if (!s.ok()) return Err(s);
    return std::move(*out);
  }

  // Parsed private keys are cached per thread: OpenSSL's RSA blinding state is per key object and
  // shared use from many threads serialises on its lock (measured: ~2x CPU per unwrap).
  Result<std::shared_ptr<const VaultKeyPair>> PrivateKey(const StoredVersion& sv) {
    std::string cache_key =
        ToLower(sv.meta.name) + "/" + sv.meta.version + "#" +
        std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()));
    {
      std::lock_guard l(cache_mu);
      auto it = key_cache.find(cache_key);
      if (it != key_cache.end()) return it->second;
    }
    PGCMK_ASSIGN_OR_RETURN(
        SecretBytes der, key_sealer->Open(sv.sealed, KeyVersionAad(sv.meta.name, sv.meta.version)));
    PGCMK_ASSIGN_OR_RETURN(VaultKeyPair kp, VaultKeyPair::FromPkcs8(sv.meta.kty, der));
    auto shared = std::make_shared<const VaultKeyPair>(std::move(kp));
    std::lock_guard l(cache_mu);
    if (key_cache.size() > 4096) key_cache.clear();
    key_cache[cache_key] = shared;
    return shared;
  }

  void ForgetKey(std::string_view name) {
    std::lock_guard l(cache_mu);
    std::string prefix = ToLower(name) + "/";
    for (auto it = key_cache.begin(); it != key_cache.end();) {
      it = it->first.starts_with(prefix) ? key_cache.erase(it) : std::next(it);
    }
  }

  // Loads an active (not soft-deleted) key version; kNotFound otherwise.
  // One query: the key must exist, not be soft-deleted, and have the version (empty = latest).
  // Also returns the access generation of the snapshot it read (same statement).
  Result<std::pair<StoredVersion, std::int64_t>> LoadActive(SqliteDb& db, std::string_view name,
                                                            std::string_view version) {
    std::string sql =
        "SELECT k.name, v.version, v.seq, v.public_json, v.sealed_private, "
        "(SELECT n FROM access_generation WHERE id = 1) FROM keys k JOIN "
        "key_versions v ON v.name_lc = k.name_lc WHERE k.name_lc = ? AND k.deleted_date IS NULL";
    sql += version.empty() ? " ORDER BY v.seq DESC LIMIT 1" : " AND v.version = ?";
    PGCMK_ASSIGN_OR_RETURN(auto st, db.Prepare(sql));
    st.Bind(1, ToLower(name));
    if (!version.empty()) st.Bind(2, ToLower(version));
    PGCMK_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Err(KeyNotFound(name));
    StoredVersion sv;
    PGCMK_ASSIGN_OR_RETURN(sv.meta,
                           VersionFromJson(st.ColumnText(0), st.ColumnText(1), st.ColumnText(3)));
    sv.seq = st.ColumnInt(2);
    sv.sealed = st.ColumnBlob(4);
    return std::make_pair(std::move(sv), st.ColumnInt(5));
  }

  Result<StoredVersion> ReadActive(std::string_view name, std::string_view version) {
    return store->Read([&](SqliteDb& db) -> Result<StoredVersion> {
      PGCMK_ASSIGN_OR_RETURN(auto found, LoadActive(db, name, version));
      return std::move(found.first);
    });
  }

  // The identity (with policy) `object_id` as of the current access generation.
  Result<std::shared_ptr<const PrincipalRow>> CurrentPrincipal(std::string_view object_id) {
    const std::string cache_key = ToLower(object_id);
    return store->Read([&](SqliteDb& db) -> Result<std::shared_ptr<const PrincipalRow>> {
      PGCMK_ASSIGN_OR_RETURN(std::int64_t generation, LoadAccessGeneration(db));
      {
        std::lock_guard l(access_cache_mu);
        auto it = principal_cache.find(cache_key);
        if (it != principal_cache.end() && it->second->generation == generation) return it->second;
      }
      PGCMK_ASSIGN_OR_RETURN(PrincipalRow row, LoadPrincipalRow(db, object_id));
      auto shared = std::make_shared<const PrincipalRow>(std::move(row));
      if (shared->identity) {
        std::lock_guard l(access_cache_mu);
        if (principal_cache.size() >= 10000) principal_cache.clear();
        principal_cache[cache_key] = shared;
      }
      return shared;
    });
  }

  // ReadActive as of the current access generation (for the cryptographic operations).
  Result<std::shared_ptr<const CachedVersion>> CurrentActive(std::string_view name,
                                                             std::string_view version) {
    std::string cache_key = ToLower(name);
    cache_key += '/';
    cache_key += ToLower(version);
    return store->Read([&](SqliteDb& db) -> Result<std::shared_ptr<const CachedVersion>> {
      PGCMK_ASSIGN_OR_RETURN(std::int64_t generation, LoadAccessGeneration(db));
      {
        std::lock_guard l(access_cache_mu);
        auto it = version_cache.find(cache_key);
        if (it != version_cache.end() && it->second->generation == generation) return it->second;
      }
      PGCMK_ASSIGN_OR_RETURN(auto found, LoadActive(db, name, version));
      auto shared = std::make_shared<const CachedVersion>(
          CachedVersion{found.second, std::move(found.first)});
      std::lock_guard l(access_cache_mu);
      if (version_cache.size() >= 10000) version_cache.clear();
      version_cache[cache_key] = shared;
      return shared;
    });
  }

  // The enabled / key_ops / nbf-exp rules of the contract.
  Status CheckUsable(const KeyVersion& v, std::string_view op, bool allowed_outside_window) const {
    if (!v.attributes.enabled) {
      return Status(StatusCode::kFailedPrecondition,
                    "Operation " + std::string(op) + " is not allowed on a disabled key.");
    }
    if (std::find(v.key_ops.begin(), v.key_ops.end(), op) == v.key_ops.end()) {
      return Status(StatusCode::kFailedPrecondition,
                    "Operation " + std::string(op) + " is not permitted on this key.");
    }
    if (!allowed_outside_window) {
      std::int64_t now = Now();
      if (v.attributes.nbf && now + opt.clock_skew_seconds < *v.attributes.nbf) {
        return Status(
            StatusCode::kFailedPrecondition,
            "Operation " + std::string(op) + " is not allowed before the key's activation date.");
      }
      if (v.attributes.exp && now - opt.clock_skew_seconds > *v.attributes.exp) {
        return Status(StatusCode::kFailedPrecondition,
                      "Operation " + std::string(op) + " is not allowed on an expired key.");
      }
    }
    return Status::Ok();
  }

  // Creates a new version of `name` from an existing key pair (sealed here).
  Result<KeyVersion> InsertNewVersion(SqliteDb& db, const std::string& display_name,
                                      const VaultKeyPair& kp, const KeyVersion& templ,
                                      std::string_view version, const SecretBytes& pkcs8) {
    KeyVersion v = templ;
    v.name = display_name;
    v.version = version;
    kp.FillPublic(&v);
    std::int64_t now = Now();
    v.attributes.created = now;
    v.attributes.updated = now;
    PGCMK_ASSIGN_OR_RETURN(Bytes sealed,
                           key_sealer->Seal(pkcs8, KeyVersionAad(display_name, version)));
    PGCMK_ASSIGN_OR_RETURN(std::int64_t seq, NextSeq(db, display_name));
    PGCMK_RETURN_IF_ERROR(InsertVersion(db, v, seq, sealed));
    return v;
  }

  // Creates or adds a version to `name` (which must not be soft-deleted).
  Result<KeyVersion> AddVersion(SqliteDb& db, std::string_view name, const VaultKeyPair& kp,
                                const KeyVersion& templ, std::string_view version,
                                const SecretBytes& pkcs8) {
    PGCMK_ASSIGN_OR_RETURN(auto row, LoadKeyRow(db, name));
    std::string display = std::string(name);
    if (row) {
      if (row->deletion) return Err(DeletedButRecoverable(row->name));
      display = row->name;
    } else {
      PGCMK_ASSIGN_OR_RETURN(auto st, db.Prepare("INSERT INTO keys(name_lc, name) VALUES(?,?)"));
      st.Bind(1, ToLower(name)).Bind(2, name);
      PGCMK_RETURN_IF_ERROR(st.Run());
    }
    return InsertNewVersion(db, display, kp, templ, version, pkcs8);
  }

  Result<KeyVersion> RotateLocked(const RequestContext& ctx, const Identity* who,
                                  std::string_view name) {
    // Generate outside the write lock (RSA key generation takes up to seconds).
    PGCMK_ASSIGN_OR_RETURN(StoredVersion cur, ReadActive(name, ""));
    PGCMK_ASSIGN_OR_RETURN(VaultKeyPair kp,
                           VaultKeyPair::Generate(cur.meta.kty, cur.meta.key_size, cur.meta.crv));
    PGCMK_ASSIGN_OR_RETURN(SecretBytes pkcs8, kp.ToPkcs8());
    PGCMK_ASSIGN_OR_RETURN(std::string version, NewVersion());
    std::string object_id = Kid(ctx, cur.meta.name, version);
    return Mutate<KeyVersion>(ctx, who, &object_id, [&](SqliteDb& db) -> Result<KeyVersion> {
      PGCMK_ASSIGN_OR_RETURN(auto row, LoadKeyRow(db, name));
      if (!row || row->deletion) return Err(KeyNotFound(name));
      KeyVersion templ;
      templ.key_ops = cur.meta.key_ops;
      templ.tags = cur.meta.tags;
      templ.attributes.enabled = true;
      if (row->rotation_policy) {
        RotationPolicy p = PolicyFromJson(*row->rotation_policy);
        if (p.expiry_time) {
          auto secs = ParseIsoDuration(*p.expiry_time);
          if (secs) templ.attributes.exp = Now() + *secs;
        }
      }
      return InsertNewVersion(db, row->name, kp, templ, version, pkcs8);
    });
  }

  Status PurgeLocked(SqliteDb& db, std::string_view name) {
    PGCMK_ASSIGN_OR_RETURN(auto st, db.Prepare("DELETE FROM keys WHERE name_lc=?"));
    st.Bind(1, ToLower(name));
    return st.Run();
  }

  Result<KeyPage> ListKeyItems(bool deleted, int max_results, std::string_view skiptoken) {
    if (max_results <= 0 || max_results > 25) max_results = 25;
    std::string after;
    if (!skiptoken.empty()) {
      auto raw = Base64UrlDecode(skiptoken);
      if (!raw) return Err(StatusCode::kInvalidArgument, "Invalid $skiptoken");
      after = std::string(AsStringView(*raw));
    }
    return store->Read([&](SqliteDb& db) -> Result<KeyPage> {
      std::string sql =
          "SELECT k.name, k.deleted_date, k.scheduled_purge_date, v.version, v.public_json "
          "FROM keys k JOIN key_versions v ON v.name_lc = k.name_lc AND v.seq = "
          "(SELECT MAX(seq) FROM key_versions WHERE name_lc = k.name_lc) WHERE ";
      sql += deleted ? "k.deleted_date IS NOT NULL" : "k.deleted_date IS NULL";
      sql += " AND k.name_lc > ? ORDER BY k.name_lc LIMIT ?";
      PGCMK_ASSIGN_OR_RETURN(auto st, db.Prepare(sql));
      st.Bind(1, after).Bind(2, static_cast<std::int64_t>(max_results + 1));
      KeyPage page;
      while (true) {
        PGCMK_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        if (static_cast<int>(page.items.size()) == max_results) {
          page.next_skiptoken = Base64UrlEncode(AsBytes(ToLower(page.items.back().latest.name)));
          break;
        }
        KeyItem item;
        PGCMK_ASSIGN_OR_RETURN(
            item.latest, VersionFromJson(st.ColumnText(0), st.ColumnText(3), st.ColumnText(4)));
        if (!st.ColumnIsNull(1)) item.deletion = DeletionInfo{st.ColumnInt(1), st.ColumnInt(2)};
        page.items.push_back(std::move(item));
      }
      return page;
    });
  }

  template <typename T, typename Op>
  Result<T> RunCrypto(const RequestContext& ctx, const Principal& who, KeyPermission perm,
                      std::string_view op_name, bool allowed_outside_window, std::string_view name,
                      std::string_view version, Op&& op) {
    Impl& m = *this;
    std::string object_id = m.Kid(ctx, name, version);
    auto r = [&]() -> Result<T> {
      PGCMK_RETURN_IF_ERROR(m.Authorize(ctx, who, perm));
      PGCMK_RETURN_IF_ERROR(CheckKeyName(name));
      PGCMK_RETURN_IF_ERROR(CheckVersion(version));
      PGCMK_ASSIGN_OR_RETURN(auto cached, m.CurrentActive(name, version));
      const StoredVersion& sv = cached->version;
      object_id = m.Kid(ctx, sv.meta.name, sv.meta.version);
      PGCMK_RETURN_IF_ERROR(m.CheckUsable(sv.meta, op_name, allowed_outside_window));
      PGCMK_ASSIGN_OR_RETURN(auto kp, m.PrivateKey(sv));
      return op(*kp, sv.meta);
    }();
    return m.Finish(ctx, &who.identity, std::move(r), object_id);
  }

  Result<SecretBytes> SerializeBackup(SqliteDb& db, const KeyRow& row) {
    PGCMK_ASSIGN_OR_RETURN(auto st,
                           db.Prepare("SELECT version, seq, public_json, sealed_private FROM "
                                      "key_versions WHERE name_lc=? ORDER BY seq"));
    st.Bind(1, ToLower(row.name));
    json j;
    j["name"] = row.name;
    if (row.rotation_policy) j["rotationPolicy"] = *row.rotation_policy;
    j["versions"] = json::array();
    while (true) {
      PGCMK_ASSIGN_OR_RETURN(bool r, st.Step());
      if (!r) break;
      std::string version = st.ColumnText(0);
      PGCMK_ASSIGN_OR_RETURN(SecretBytes der,
                             key_sealer->Open(st.ColumnBlob(3), KeyVersionAad(row.name, version)));
      json v;
      v["version"] = version;
      v["seq"] = st.ColumnInt(1);
      v["public"] = st.ColumnText(2);
      // XXX the private key passes through nlohmann's std::string, which cannot be wiped; the
      // serialised text itself is wiped below.
      v["private"] = Base64UrlEncode(der.reveal());
      j["versions"].push_back(std::move(v));
    }
    std::string text = j.dump();
    SecretBytes out = SecretBytes::CopyFrom(AsBytes(text));
    SecureZero(text.data(), text.size());
    return out;
  }
};

// ============================================================================================

VaultService::VaultService(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)), store_(impl_->store.get()) {}
VaultService::~VaultService() = default;

namespace {
void FillDefaults(VaultServiceOptions* o) {
  if (!o->now) o->now = SystemNow;
  if (!o->audit_outcome) o->audit_outcome = DefaultOutcome;
}
}  // namespace

bool VaultService::IsInitialized(const std::filesystem::path& data_dir) {
  std::error_code ec;
  return std::filesystem::exists(data_dir / kMasterKeyFile, ec) &&
         std::filesystem::exists(data_dir / kDatabaseFile, ec);
}

Result<InitResult> VaultService::Initialize(const std::filesystem::path& data_dir,
                                            const InitOptions& options,
                                            VaultServiceOptions service_options) {
  FillDefaults(&service_options);
  if (options.retention_days < 7 || options.retention_days > 90) {
    return Err(StatusCode::kInvalidArgument, "retention must be 7 to 90 days");
  }
  if (!options.resource.starts_with("https://") && !options.resource.starts_with("http://")) {
    return Err(StatusCode::kInvalidArgument, "resource must be an http(s) URL");
  }
  if (options.resource.ends_with("/")) {
    return Err(StatusCode::kInvalidArgument, "resource must not end with '/'");
  }
  std::error_code ec;
  if (std::filesystem::exists(data_dir / kMasterKeyFile, ec)) {
    return Err(StatusCode::kAlreadyExists, "a vault already exists in " + data_dir.string());
  }
  PGCMK_RETURN_IF_ERROR(CreateDirectoryDurably(data_dir, 0700));
  PGCMK_ASSIGN_OR_RETURN(MasterKey master, MasterKey::CreateFile(data_dir / kMasterKeyFile));
  PGCMK_ASSIGN_OR_RETURN(SecretBytes audit_key, master.Derive(kLabelAuditChain));
  PGCMK_ASSIGN_OR_RETURN(auto store,
                         VaultStore::Open(data_dir / kDatabaseFile, std::move(audit_key)));
  PGCMK_ASSIGN_OR_RETURN(Sealer key_sealer, Sealer::Create(master, kLabelKeyMaterial));

  InitResult result;
  PGCMK_ASSIGN_OR_RETURN(result.settings.tenant_id, NewUuid());
  result.settings.resource = options.resource;
  result.settings.retention_days = options.retention_days;
  result.settings.purge_protection = options.purge_protection;

  PGCMK_ASSIGN_OR_RETURN(crypto::RsaPrivateKey token_key, crypto::RsaPrivateKey::Generate(2048));
  PGCMK_ASSIGN_OR_RETURN(SecretBytes token_der, token_key.ToPkcs8Der());
  PGCMK_ASSIGN_OR_RETURN(Bytes kid_raw, crypto::RandomBytes(16));
  std::string kid = ToHex(kid_raw);
  PGCMK_ASSIGN_OR_RETURN(Bytes token_sealed, key_sealer.Seal(token_der, TokenKeyAad(kid)));

  Identity admin;
  admin.name = "admin";
  PGCMK_ASSIGN_OR_RETURN(admin.client_id, NewUuid());
  PGCMK_ASSIGN_OR_RETURN(admin.object_id, NewUuid());
  admin.admin = true;
  admin.created = service_options.now();
  PGCMK_ASSIGN_OR_RETURN(SecretBytes secret, NewClientSecret());
  Bytes secret_hash = crypto::Sha256(secret.reveal());

  RequestContext ctx;
  ctx.operation_name = "VaultInitialize";
  ctx.client_info = "pgcmk vault init";
  Status s = store->Mutate(
      [&](SqliteDb& db) -> Status {
        const auto& st = result.settings;
        PGCMK_RETURN_IF_ERROR(PutMeta(db, "format_version", "1"));
        PGCMK_RETURN_IF_ERROR(PutMeta(db, "tenant_id", st.tenant_id));
        PGCMK_RETURN_IF_ERROR(PutMeta(db, "resource", st.resource));
        PGCMK_RETURN_IF_ERROR(PutMeta(db, "retention_days", std::to_string(st.retention_days)));
        PGCMK_RETURN_IF_ERROR(PutMeta(db, "purge_protection", st.purge_protection ? "1" : "0"));
        PGCMK_RETURN_IF_ERROR(PutMeta(db, "token_kid", kid));
        PGCMK_ASSIGN_OR_RETURN(
            auto tk,
            db.Prepare("INSERT INTO token_keys(kid, sealed_private, created) VALUES(?,?,?)"));
        tk.Bind(1, kid).BindBlob(2, token_sealed).Bind(3, admin.created);
        PGCMK_RETURN_IF_ERROR(tk.Run());
        PGCMK_ASSIGN_OR_RETURN(auto id,
                               db.Prepare("INSERT INTO identities(name_lc, name, client_id, "
                                          "object_id, secret_hash, enabled, admin, "
                                          "created, secret_generation) VALUES(?,?,?,?,?,1,1,?,1)"));
        id.Bind(1, ToLower(admin.name)).Bind(2, admin.name).Bind(3, admin.client_id);
        id.Bind(4, admin.object_id).BindBlob(5, secret_hash).Bind(6, admin.created);
        PGCMK_RETURN_IF_ERROR(id.Run());
        return Status::Ok();
      },
      [&](const Status& st) {
        json r = {{"time", Rfc3339Now()},
                  {"timeUnix", SystemNow()},
                  {"operationName", "VaultInitialize"},
                  {"category", "AuditEvent"},
                  {"resultType", st.ok() ? "Success" : "Failure"},
                  {"resultCode", std::string(StatusCodeName(st.code()))},
                  {"identity",
                   {{"oid", admin.object_id}, {"appid", admin.client_id}, {"name", admin.name}}},
                  {"properties", {{"clientInfo", ctx.client_info}}}};
        return r.dump();
      });
  PGCMK_RETURN_IF_ERROR(s);

  json cred = {{"tenantId", result.settings.tenant_id},
               {"clientId", admin.client_id},
               {"objectId", admin.object_id},
               {"resource", result.settings.resource},
               {"clientSecret", std::string(AsStringView(secret.reveal()))}};
  std::string cred_text = cred.dump(2);
  Status w = WriteFileAtomically(data_dir / kAdminCredentialFile, AsBytes(cred_text), 0600);
  SecureZero(cred_text.data(), cred_text.size());
  PGCMK_RETURN_IF_ERROR(w);
  result.admin = admin;
  return result;
}

Result<std::unique_ptr<VaultService>> VaultService::Open(const std::filesystem::path& data_dir,
                                                         VaultServiceOptions options) {
  FillDefaults(&options);
  auto impl = std::make_unique<Impl>();
  impl->dir = data_dir;
  impl->opt = options;
  PGCMK_ASSIGN_OR_RETURN(MasterKey master, MasterKey::LoadFile(data_dir / kMasterKeyFile));
  PGCMK_ASSIGN_OR_RETURN(SecretBytes audit_key, master.Derive(kLabelAuditChain));
  PGCMK_ASSIGN_OR_RETURN(impl->store,
                         VaultStore::Open(data_dir / kDatabaseFile, std::move(audit_key)));
  PGCMK_ASSIGN_OR_RETURN(Sealer ks, Sealer::Create(master, kLabelKeyMaterial));
  PGCMK_ASSIGN_OR_RETURN(Sealer bs, Sealer::Create(master, kLabelBackup));
  impl->key_sealer.emplace(std::move(ks));
  impl->backup_sealer.emplace(std::move(bs));
  impl->master.emplace(std::move(master));

  Status loaded = impl->store->Read([&](SqliteDb& db) -> Status {
    auto& st = impl->settings;
    PGCMK_ASSIGN_OR_RETURN(st.tenant_id, GetMeta(db, "tenant_id"));
    PGCMK_ASSIGN_OR_RETURN(st.resource, GetMeta(db, "resource"));
    PGCMK_ASSIGN_OR_RETURN(std::string days, GetMeta(db, "retention_days"));
    st.retention_days = std::atoi(days.c_str());
    PGCMK_ASSIGN_OR_RETURN(std::string pp, GetMeta(db, "purge_protection"));
    st.purge_protection = pp == "1";
    PGCMK_ASSIGN_OR_RETURN(impl->token_kid, GetMeta(db, "token_kid"));
    PGCMK_ASSIGN_OR_RETURN(auto tk,
                           db.Prepare("SELECT sealed_private FROM token_keys WHERE kid=?"));
    tk.Bind(1, impl->token_kid);
    PGCMK_ASSIGN_OR_RETURN(bool row, tk.Step());
    if (!row) return Status(StatusCode::kDataLoss, "token signing key missing");
    PGCMK_ASSIGN_OR_RETURN(SecretBytes der,
                           impl->key_sealer->Open(tk.ColumnBlob(0), TokenKeyAad(impl->token_kid)));
    PGCMK_ASSIGN_OR_RETURN(crypto::RsaPrivateKey key, crypto::RsaPrivateKey::FromPkcs8Der(der));
    impl->token_pub.emplace(key.PublicKey());
    impl->token_key.emplace(std::move(key));
    return Status::Ok();
  });
  if (!loaded.ok()) return Err(loaded.WithContext("opening vault " + data_dir.string()));
  return std::unique_ptr<VaultService>(new VaultService(std::move(impl)));
}

VaultSettings VaultService::settings() const { return impl_->Settings(); }

// ---- Tokens ---------------------------------------------------------------------------------

Result<IssuedToken> VaultService::IssueToken(const RequestContext& ctx, const TokenRequest& req) {
  Impl& m = *impl_;
  VaultSettings settings = m.Settings();
  std::optional<Identity> who;
  std::string credential;  // the audit record's id: which certificate signed, if one did
  auto issue = [&]() -> Result<IssuedToken> {
    if (!EqualsIgnoreCase(req.tenant, settings.tenant_id)) {
      return Err(StatusCode::kNotFound,
                 "AADSTS90002: Tenant '" + req.tenant.substr(0, 64) +
                     "' not found. Check to make sure you have the correct tenant ID and are "
                     "signing into the correct cloud.");
    }
    auto missing = [](std::string_view p) {
      return Err(StatusCode::kInvalidArgument,
                 "AADSTS900144: The request body must contain the following parameter: '" +
                     std::string(p) + "'.");
    };
    if (req.grant_type.empty()) return missing("grant_type");
    if (req.grant_type != "client_credentials") {
      return Err(StatusCode::kInvalidArgument,
                 "AADSTS70003: The app requested an unsupported grant type '" +
                     req.grant_type.substr(0, 64) + "'.");
    }
    if (req.client_id.empty()) return missing("client_id");
    if (req.scope.empty()) return missing("scope");
    const bool use_assertion = !req.client_assertion.empty() || !req.client_assertion_type.empty();
    if (req.client_secret.empty() && !use_assertion) {
      return missing("client_assertion' or 'client_secret");
    }
    if (use_assertion) PGCMK_RETURN_IF_ERROR(CheckAssertionParameters(req));
    if (req.scope != settings.resource + "/.default") {
      return Err(StatusCode::kInvalidArgument,
                 "AADSTS70011: The provided request must include a 'scope' input parameter. The "
                 "provided value for the input parameter 'scope' is not valid. The scope " +
                     req.scope.substr(0, 200) + " is not valid.");
    }
    PGCMK_ASSIGN_OR_RETURN(auto row, m.store->Read([&](SqliteDb& db) {
      return LoadIdentity(db, "client_id", req.client_id);
    }));
    if (!row || !row->identity.enabled) {
      return Err(StatusCode::kFailedPrecondition,
                 "AADSTS700016: Application with identifier '" + req.client_id.substr(0, 64) +
                     "' was not found in the directory '" + settings.tenant_id + "'.");
    }
    who = row->identity;
    if (use_assertion) {
      PGCMK_ASSIGN_OR_RETURN(auto certificates, m.store->Read([&](SqliteDb& db) {
        return LoadCertificates(db, row->identity.object_id);
      }));
      AssertionExpectations expect;
      expect.client_id = row->identity.client_id;
      expect.audience = req.token_endpoint;
      expect.now = m.Now();
      expect.clock_skew_seconds = m.opt.clock_skew_seconds;
      PGCMK_ASSIGN_OR_RETURN(ValidatedAssertion assertion,
                             ValidateClientAssertion(req.client_assertion, expect, certificates));
      credential = "certificates/" + assertion.thumbprint;
      const std::int64_t remember_until = assertion.exp + expect.clock_skew_seconds;
      PGCMK_RETURN_IF_ERROR(m.assertion_replay.Remember(row->identity.client_id, assertion.jti,
                                                        remember_until, expect.now));
      // The memory above bounds each client and answers fast; the store makes single use hold
      // across restarts (durable before the token exists).
      Status recorded = m.store->RecordAssertionUse(row->identity.client_id,
                                                    crypto::Sha256(AsBytes(assertion.jti)),
                                                    remember_until, expect.now);
      if (recorded.code() == StatusCode::kAlreadyExists) {
        return Err(StatusCode::kUnauthenticated, std::string(kAssertionReplayedMessage));
      }
      PGCMK_RETURN_IF_ERROR(recorded);
    } else if (Bytes presented = crypto::Sha256(req.client_secret.reveal());
               !ConstantTimeEquals(presented, row->secret_hash)) {
      return Err(StatusCode::kUnauthenticated,
                 "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in "
                 "the request is the client secret value, not the client secret ID, for a secret "
                 "added to app '" +
                     row->identity.client_id + "'.");
    }
    std::int64_t now = m.Now();
    json claims = {{"aud", settings.resource},
                   {"iss", m.Issuer(ctx)},
                   {"sub", row->identity.object_id},
                   {"oid", row->identity.object_id},
                   {"appid", row->identity.client_id},
                   {"tid", settings.tenant_id},
                   {"iat", now},
                   {"nbf", now},
                   {"exp", now + m.opt.token_lifetime_seconds},
                   {"ver", "2.0"},
                   {"pgcmk_gen", row->identity.secret_generation}};
    PGCMK_ASSIGN_OR_RETURN(std::string token,
                           crypto::SignJwt(*m.token_key, m.token_kid, claims.dump()));
    return IssuedToken{std::move(token), m.opt.token_lifetime_seconds - 1};
  };
  Result<IssuedToken> r = issue();
  return m.Finish(ctx, who ? &*who : nullptr, std::move(r), credential);
}

Result<Principal> VaultService::Authenticate(const RequestContext& ctx,
                                             std::string_view bearer_token) {
  Impl& m = *impl_;
  VaultSettings settings = m.Settings();
  std::optional<Identity> who;
  auto check = [&]() -> Result<Principal> {
    auto invalid = [](std::string msg) {
      return Err(StatusCode::kUnauthenticated, std::move(msg));
    };
    if (bearer_token.empty()) return invalid("AKV10000: Request is missing a Bearer or PoP token.");
    const std::string cache_key = ToHex(crypto::Sha256(AsBytes(bearer_token)));
    Impl::VerifiedToken vt;
    bool cached = false;
    {
      std::lock_guard l(m.token_cache_mu);
      auto it = m.token_cache.find(cache_key);
      if (it != m.token_cache.end()) {
        vt = it->second;
        cached = true;
      }
    }
    if (!cached) {
      auto verified = crypto::VerifyJwt(*m.token_pub, bearer_token);
      if (!verified) return invalid("AKV10021: Invalid token: the signature does not verify.");
      if (verified->kid != m.token_kid) {
        return invalid("AKV10021: Invalid token: unknown signing key.");
      }
      json c = json::parse(verified->claims_json, nullptr, false);
      if (!c.is_object() || !c.contains("exp") || !c["exp"].is_number_integer() ||
          !c.contains("oid") || !c["oid"].is_string() ||
          (c.contains("nbf") && !c["nbf"].is_number_integer()) ||
          (c.contains("pgcmk_gen") && !c["pgcmk_gen"].is_number_integer()) ||
          (c.contains("aud") && !c["aud"].is_string()) ||
          (c.contains("tid") && !c["tid"].is_string())) {
        return invalid("AKV10021: Invalid token.");
      }
      std::string aud = c.value("aud", "");
      if (aud != settings.resource && aud != settings.resource + "/") {
        return invalid("AKV10022: Invalid audience. Expected " + settings.resource +
                       ", found: " + aud.substr(0, 100) + ".");
      }
      if (c.value("tid", "") != settings.tenant_id) {
        return invalid("AKV10032: Invalid issuer. Expected tenant " + settings.tenant_id + ".");
      }
      vt.oid = c["oid"].get<std::string>();
      vt.exp = c["exp"].get<std::int64_t>();
      vt.nbf = c.value("nbf", std::int64_t{0});
      vt.generation = c.value("pgcmk_gen", std::int64_t{0});
      std::lock_guard l(m.token_cache_mu);
      if (m.token_cache.size() >= 10000) m.token_cache.clear();
      m.token_cache.emplace(cache_key, vt);
    }
    std::int64_t now = m.Now();
    if (now - m.opt.clock_skew_seconds >= vt.exp) return invalid("AKV10022: The token is expired.");
    if (now + m.opt.clock_skew_seconds < vt.nbf) {
      return invalid("AKV10022: The token is not yet valid.");
    }
    // Identity and policy as of the current access generation: both must be current for this
    // very request.
    PGCMK_ASSIGN_OR_RETURN(auto current, m.CurrentPrincipal(vt.oid));
    const std::optional<IdentityRow>& row = current->identity;
    const std::optional<AccessPolicy>& policy = current->policy;
    if (!row || !row->identity.enabled)
      return invalid("AKV10021: The identity of the token no longer exists.");
    if (vt.generation != row->identity.secret_generation) {
      who = row->identity;
      return invalid("AKV10021: The token was issued for a client secret that has been rotated.");
    }
    Principal p;
    p.identity = row->identity;
    if (p.identity.admin) {
      p.permissions = PermissionSet::All();
    } else {
      p.permissions = policy ? policy->Effective() : PermissionSet();
    }
    return p;
  };
  Result<Principal> r = check();
  if (r) return r;
  Status audited = m.Audit(ctx, who ? &*who : nullptr, r.error(), "");
  if (!audited.ok()) return Err(audited);
  return r;
}

Status VaultService::RecordRejectedRequest(const RequestContext& ctx, const Principal* who,
                                           const Status& failure) {
  Status audited = impl_->Audit(ctx, who ? &who->identity : nullptr, failure, "");
  return audited.ok() ? failure : audited;
}

// ---- Keys -----------------------------------------------------------------------------------

Result<KeyVersion> VaultService::CreateKey(const RequestContext& ctx, const Principal& who,
                                           std::string_view name, const CreateKeyParams& params) {
  Impl& m = *impl_;
  std::string object_id = m.Kid(ctx, name, "");
  auto prepare = [&]() -> Result<KeyVersion> {
    PGCMK_RETURN_IF_ERROR(m.Authorize(ctx, who, KeyPermission::kCreate));
    PGCMK_RETURN_IF_ERROR(CheckKeyName(name));
    PGCMK_RETURN_IF_ERROR(CheckTags(params.tags));
    if (params.public_exponent && *params.public_exponent != 65537) {
      return Err(StatusCode::kInvalidArgument, "Only the public exponent 65537 is supported");
    }
    KeyVersion templ;
    if (params.key_ops) {
      PGCMK_ASSIGN_OR_RETURN(templ.key_ops, CanonicalKeyOps(*params.key_ops));
    } else if (params.kty == "EC") {
      templ.key_ops = {"sign", "verify"};
    } else {
      templ.key_ops = {"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"};
    }
    templ.attributes.enabled = params.enabled.value_or(true);
    templ.attributes.nbf = params.nbf;
    templ.attributes.exp = params.exp;
    templ.attributes.exportable = params.exportable.value_or(false);
    templ.tags = params.tags;
    // The name must not be soft-deleted: check before the expensive generation.
    PGCMK_ASSIGN_OR_RETURN(auto row,
                           m.store->Read([&](SqliteDb& db) { return LoadKeyRow(db, name); }));
    if (row && row->deletion) return Err(DeletedButRecoverable(row->name));
    return templ;
  };
  auto templ = prepare();
  if (!templ)
    return m.Finish(ctx, &who.identity, Result<KeyVersion>(Err(templ.error())), object_id);
  auto kp = VaultKeyPair::Generate(params.kty, params.key_size, params.crv);
  if (!kp) return m.Finish(ctx, &who.identity, Result<KeyVersion>(Err(kp.error())), object_id);
  auto pkcs8 = kp->ToPkcs8();
  auto version = NewVersion();
  if (!pkcs8 || !version) {
    return m.Finish(ctx, &who.identity,
                    Result<KeyVersion>(Err(StatusCode::kInternal, "key generation failed")),
                    object_id);
  }
  object_id = m.Kid(ctx, name, *version);
  return m.Mutate<KeyVersion>(ctx, &who.identity, &object_id, [&](SqliteDb& db) {
    return m.AddVersion(db, name, *kp, *templ, *version, *pkcs8);
  });
}

Result<KeyVersion> VaultService::ImportKey(const RequestContext& ctx, const Principal& who,
                                           std::string_view name, const ImportKeyParams& params) {
  Impl& m = *impl_;
  std::string object_id = m.Kid(ctx, name, "");
  std::optional<VaultKeyPair> kp;
  KeyVersion templ;
  auto prepare = [&]() -> Status {
    PGCMK_RETURN_IF_ERROR(m.Authorize(ctx, who, KeyPermission::kImport));
    PGCMK_RETURN_IF_ERROR(CheckKeyName(name));
    PGCMK_RETURN_IF_ERROR(CheckTags(params.tags));
    if (params.kty == "RSA-HSM" || params.kty == "EC-HSM") {
      return Status(StatusCode::kInvalidArgument,
                    "HSM-protected import needs an HSM, and this vault has none");
    }
    if (params.kty == "EC") {
      auto curve = crypto::EcCurveFromJwkName(params.crv);
      if (!curve) return Status(StatusCode::kInvalidArgument, "Invalid or missing curve (crv)");
      if (params.d.empty()) {
        return Status(StatusCode::kInvalidArgument,
                      "The imported key must contain its private part (d)");
      }
      auto ec = crypto::EcPrivateKey::FromJwk({*curve, params.x, params.y}, params.d);
      if (!ec) return Status(StatusCode::kInvalidArgument, "The imported EC key is invalid");
      kp.emplace(VaultKeyPair::FromEc(std::move(*ec)));
    } else if (params.kty != "RSA") {
      return Status(StatusCode::kInvalidArgument,
                    "Only RSA and EC keys can be imported into this vault");
    } else {
      if (params.d.empty() || params.p.empty() || params.q.empty() || params.dp.empty() ||
          params.dq.empty() || params.qi.empty()) {
        return Status(StatusCode::kInvalidArgument,
                      "The imported key must contain its private parts (d, p, q, dp, dq, qi)");
      }
      auto rsa = crypto::RsaPrivateKey::FromJwk(params.public_key, params.d, params.p, params.q,
                                                params.dp, params.dq, params.qi);
      if (!rsa) return Status(StatusCode::kInvalidArgument, "The imported RSA key is invalid");
      int bits = rsa->bits();
      if (bits != 2048 && bits != 3072 && bits != 4096) {
        return Status(StatusCode::kInvalidArgument, "RSA keys are 2048, 3072 or 4096 bits");
      }
      kp.emplace(VaultKeyPair::FromRsa(std::move(*rsa)));
    }
    if (params.key_ops) {
      PGCMK_ASSIGN_OR_RETURN(templ.key_ops, CanonicalKeyOps(*params.key_ops));
    } else if (params.kty == "EC") {
      templ.key_ops = {"sign", "verify"};
    } else {
      templ.key_ops = {"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"};
    }
    templ.attributes.enabled = params.enabled.value_or(true);
    templ.attributes.nbf = params.nbf;
    templ.attributes.exp = params.exp;
    templ.tags = params.tags;
    return Status::Ok();
  };
  Status prep = prepare();
  if (!prep.ok()) return m.Finish(ctx, &who.identity, Result<KeyVersion>(Err(prep)), object_id);
  auto pkcs8 = kp->ToPkcs8();
  auto version = NewVersion();
  if (!pkcs8 || !version) {
    return m.Finish(ctx, &who.identity,
                    Result<KeyVersion>(Err(StatusCode::kInternal, "import failed")), object_id);
  }
  object_id = m.Kid(ctx, name, *version);
  return m.Mutate<KeyVersion>(ctx, &who.identity, &object_id, [&](SqliteDb& db) {
    return m.AddVersion(db, name, *kp, templ, *version, *pkcs8);
  });
}

Result<KeyVersion> VaultService::GetKey(const RequestContext& ctx, const Principal& who,
                                        std::string_view name, std::string_view version) {
  Impl& m = *impl_;
  std::string object_id = m.Kid(ctx, name, version);
  auto r = [&]() -> Result<KeyVersion> {
    PGCMK_RETURN_IF_ERROR(m.Authorize(ctx, who, KeyPermission::kGet));
    PGCMK_RETURN_IF_ERROR(CheckKeyName(name));
    PGCMK_RETURN_IF_ERROR(CheckVersion(version));
    PGCMK_ASSIGN_OR_RETURN(StoredVersion sv, m.ReadActive(name, version));
    object_id = m.Kid(ctx, sv.meta.name, sv.meta.version);
    return std::move(sv.meta);
  }();
  return m.Finish(ctx, &who.identity, std::move(r), object_id);
}

Result<KeyPage> VaultService::ListKeys(const RequestContext& ctx, const Principal& who,
                                       int max_results, std::string_view skiptoken) {
  Impl& m = *impl_;
  auto r = [&]() -> Result<KeyPage> {
    PGCMK_RETURN_IF_ERROR(m.Authorize(ctx, who, KeyPermission::kList));
    return m.ListKeyItems(false, max_results, skiptoken);
  }();
  return m.Finish(ctx, &who.identity, std::move(r), ctx.origin + "/keys");
}

Result<std::vector<KeyVersion>> VaultService::ListKeyVersions(
    const RequestContext& ctx, const Principal& who, std::string_view name, int max_results,
    std::string_view skiptoken, std::optional<std::string>* next_skiptoken) {
  Impl& m = *impl_;
  std::string object_id = m.Kid(ctx, name, "");
  auto r = [&]() -> Result<std::vector<KeyVersion>> {
    PGCMK_RETURN_IF_ERROR(m.Authorize(ctx, who, KeyPermission::kList));
    PGCMK_RETURN_IF_ERROR(CheckKeyName(name));
    if (max_results <= 0 || max_results > 25) max_results = 25;
    std::int64_t after = 0;
    if (!skiptoken.empty()) {
      auto raw = Base64UrlDecode(skiptoken);
      if (!raw) return Err(StatusCode::kInvalidArgument, "Invalid $skiptoken");
      const std::string_view text = AsStringView(*raw);
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), after);
      if (ec != std::errc() || end != text.data() + text.size() || after < 0) {
        return Err(StatusCode::kInvalidArgument, "Invalid $skiptoken");
      }
    }
    return m.store->Read([&](SqliteDb& db) -> Result<std::vector<KeyVersion>> {
      PGCMK_ASSIGN_OR_RETURN(auto row, LoadKeyRow(db, name));
      if (!row || row->deletion) return Err(KeyNotFound(name));
      PGCMK_ASSIGN_OR_RETURN(auto st,
                             db.Prepare("SELECT version, seq, public_json FROM key_versions "
                                        "WHERE name_lc=? AND seq>? ORDER BY seq LIMIT ?"));
      st.Bind(1, ToLower(name)).Bind(2, after).Bind(3, static_cast<std::int64_t>(max_results + 1));
      std::vector<KeyVersion> out;
      std::int64_t last_seq = 0;
      while (true) {
        PGCMK_ASSIGN_OR_RETURN(bool more, st.Step());
        if (!more) break;
        if (static_cast<int>(out.size()) == max_results) {
          *next_skiptoken = Base64UrlEncode(AsBytes(std::to_string(last_seq)));
          break;
        }
        PGCMK_ASSIGN_OR_RETURN(KeyVersion v,
                               VersionFromJson(row->name, st.ColumnText(0), st.ColumnText(2)));
        last_seq = st.ColumnInt(1);
        out.push_back(std::move(v));
      }
      return out;
    });
  }();
  return m.Finish(ctx, &who.identity, std::move(r), object_id);
}

Result<KeyVersion> VaultService::UpdateKey(const RequestContext& ctx, const Principal& who,
                                           std::string_view name, std::string_view version,
                                           const KeyUpdate& update) {
  Impl& m = *impl_;
  std::string object_id = m.Kid(ctx, name, version);
  auto pre = [&]() -> Status {
    PGCMK_RETURN_IF_ERROR(m.Authorize(ctx, who, KeyPermission::kUpdate));
    PGCMK_RETURN_IF_ERROR(CheckKeyName(name));
    PGCMK_RETURN_IF_ERROR(CheckVersion(version));
    if (update.tags) PGCMK_RETURN_IF_ERROR(CheckTags(*update.tags));
    if (update.key_ops) {
      auto ops = CanonicalKeyOps(*update.key_ops);
      if (!ops) return ops.error();
    }
    return Status::Ok();
  }();
  if (!pre.ok()) return m.Finish(ctx, &who.identity, Result<KeyVersion>(Err(pre)), object_id);
  return m.Mutate<KeyVersion>(ctx, &who.identity, &object_id,
                              [&](SqliteDb& db) -> Result<KeyVersion> {
                                PGCMK_ASSIGN_OR_RETURN(auto found, m.LoadActive(db, name, version));
                                StoredVersion sv = std::move(found.first);
                                object_id = m.Kid(ctx, sv.meta.name, sv.meta.version);
                                KeyVersion& v = sv.meta;
                                if (update.enabled) v.attributes.enabled = *update.enabled;
                                if (update.nbf) v.attributes.nbf = *update.nbf;
                                if (update.exp) v.attributes.exp = *update.exp;
                                if (update.key_ops) v.key_ops = *CanonicalKeyOps(*update.key_ops);
                                if (update.tags) v.tags = *update.tags;
                                v.attributes.updated = m.Now();
                                PGCMK_RETURN_IF_ERROR(UpdateVersionMeta(db, v));
                                return v;
                              });
}

Result<DeletedKey> VaultService::DeleteKey(const RequestContext& ctx, const Principal& who,
                                           std::string_view name) {
  Impl& m = *impl_;
  std::string object_id = m.Kid(ctx, name, "");
  Status pre = m.Authorize(ctx, who, KeyPermission::kDelete);
  if (pre.ok()) pre = CheckKeyName(name);
  if (!pre.ok()) return m.Finish(ctx, &who.identity, Result<DeletedKey>(Err(pre)), object_id);
  int retention = m.Settings().retention_days;
  return m.Mutate<DeletedKey>(
      ctx, &who.identity, &object_id, [&](SqliteDb& db) -> Result<DeletedKey> {
        PGCMK_ASSIGN_OR_RETURN(auto found, m.LoadActive(db, name, ""));
        const StoredVersion& sv = found.first;
        object_id = m.Kid(ctx, sv.meta.name, sv.meta.version);
        DeletedKey out;
        out.deletion.deleted_date = m.Now();
        out.deletion.scheduled_purge_date =
            out.deletion.deleted_date + std::int64_t{retention} * 86400;
        PGCMK_ASSIGN_OR_RETURN(
            auto st,
            db.Prepare("UPDATE keys SET deleted_date=?, scheduled_purge_date=? WHERE name_lc=?"));
        st.Bind(1, out.deletion.deleted_date)
            .Bind(2, out.deletion.scheduled_purge_date)
            .Bind(3, ToLower(name));
        PGCMK_RETURN_IF_ERROR(st.Run());
        out.latest = std::move(sv.meta);
        return out;
      });
}

Result<DeletedKey> VaultService::GetDeletedKey(const RequestContext& ctx, const Principal& who,
                                               std::string_view name) {
  Impl& m = *impl_;
  std::string object_id = ctx.origin + "/deletedkeys/" + std::string(name);
  auto r = [&]() -> Result<DeletedKey> {
    PGCMK_RETURN_IF_ERROR(m.Authorize(ctx, who, KeyPermission::kGet));
    PGCMK_RETURN_IF_ERROR(CheckKeyName(name));
    return m.store->Read([&](SqliteDb& db) -> Result<DeletedKey> {
      PGCMK_ASSIGN_OR_RETURN(auto row, LoadKeyRow(db, name));
      if (!row || !row->deletion) return Err(DeletedKeyNotFound(name));
      PGCMK_ASSIGN_OR_RETURN(auto sv, LoadVersion(db, row->name, ""));
      if (!sv) return Err(DeletedKeyNotFound(name));
      return DeletedKey{std::move(sv->meta), *row->deletion};
    });
  }();
  return m.Finish(ctx, &who.identity, std::move(r), object_id);
}

Result<KeyPage> VaultService::ListDeletedKeys(const RequestContext& ctx, const Principal& who,
                                              int max_results, std::string_view skiptoken) {
  Impl& m = *impl_;
  auto r = [&]() -> Result<KeyPage> {
    PGCMK_RETURN_IF_ERROR(m.Authorize(ctx, who, KeyPermission::kList));
    return m.ListKeyItems(true, max_results, skiptoken);
  }();
  return m.Finish(ctx, &who.identity, std::move(r), ctx.origin + "/deletedkeys");
}

Result<KeyVersion> VaultService::RecoverDeletedKey(const RequestContext& ctx, const Principal& who,
                                                   std::string_view name) {
  Impl& m = *impl_;
  std::string object_id = ctx.origin + "/deletedkeys/" + std::string(name);
  Status pre = m.Authorize(ctx, who, KeyPermission::kRecover);
  if (pre.ok()) pre = CheckKeyName(name);
  if (!pre.ok()) return m.Finish(ctx, &who.identity, Result<KeyVersion>(Err(pre)), object_id);
  return m.Mutate<KeyVersion>(
      ctx, &who.identity, &object_id, [&](SqliteDb& db) -> Result<KeyVersion> {
        PGCMK_ASSIGN_OR_RETURN(auto row, LoadKeyRow(db, name));
        if (!row || !row->deletion) return Err(DeletedKeyNotFound(name));
        PGCMK_ASSIGN_OR_RETURN(
            auto st,
            db.Prepare(
                "UPDATE keys SET deleted_date=NULL, scheduled_purge_date=NULL WHERE name_lc=?"));
        st.Bind(1, ToLower(name));
        PGCMK_RETURN_IF_ERROR(st.Run());
        PGCMK_ASSIGN_OR_RETURN(auto sv, LoadVersion(db, row->name, ""));
        if (!sv) return Err(KeyNotFound(name));
        object_id = m.Kid(ctx, sv->meta.name, sv->meta.version);
        return std::move(sv->meta);
      });
}

Status VaultService::PurgeDeletedKey(const RequestContext& ctx, const Principal& who,
                                     std::string_view name) {
  Impl& m = *impl_;
  std::string object_id = ctx.origin + "/deletedkeys/" + std::string(name);
  Status pre = m.Authorize(ctx, who, KeyPermission::kPurge);
  if (pre.ok()) pre = CheckKeyName(name);
  if (pre.ok() && m.Settings().purge_protection) {
    // Checked after existence below would leak nothing extra; Azure checks protection first.
    pre = Status(StatusCode::kFailedPrecondition,
                 "Operation \"purge\" is not allowed because purge protection is enabled for this "
                 "vault. Key Vault service will automatically purge it after the retention period "
                 "has passed. Vault: " +
                     std::string(kVaultDisplayName));
  }
  if (!pre.ok()) {
    auto r = m.Finish(ctx, &who.identity, Result<int>(Err(pre)), object_id);
    return r ? Status::Ok() : r.error();
  }
  auto r = m.Mutate<int>(ctx, &who.identity, &object_id, [&](SqliteDb& db) -> Result<int> {
    PGCMK_ASSIGN_OR_RETURN(auto row, LoadKeyRow(db, name));
    if (!row || !row->deletion) return Err(DeletedKeyNotFound(name));
    PGCMK_RETURN_IF_ERROR(m.PurgeLocked(db, name));
    return 0;
  });
  if (!r) return r.error();
  m.ForgetKey(name);
  return Status::Ok();
}

Result<Bytes> VaultService::BackupKey(const RequestContext& ctx, const Principal& who,
                                      std::string_view name) {
  Impl& m = *impl_;
  std::string object_id = m.Kid(ctx, name, "");
  auto r = [&]() -> Result<Bytes> {
    PGCMK_RETURN_IF_ERROR(m.Authorize(ctx, who, KeyPermission::kBackup));
    PGCMK_RETURN_IF_ERROR(CheckKeyName(name));
    PGCMK_ASSIGN_OR_RETURN(SecretBytes plain,
                           m.store->Read([&](SqliteDb& db) -> Result<SecretBytes> {
                             PGCMK_ASSIGN_OR_RETURN(auto row, LoadKeyRow(db, name));
                             if (!row || row->deletion) return Err(KeyNotFound(name));
                             return m.SerializeBackup(db, *row);
                           }));
    Bytes header = ToBytes(kBackupMagic);
    header.push_back(kBackupFormatVersion);
    PGCMK_ASSIGN_OR_RETURN(Bytes sealed, m.backup_sealer->Seal(plain, header));
    header.insert(header.end(), sealed.begin(), sealed.end());
    return header;
  }();
  return m.Finish(ctx, &who.identity, std::move(r), object_id);
}

Result<KeyVersion> VaultService::RestoreKey(const RequestContext& ctx, const Principal& who,
                                            ByteView blob) {
  Impl& m = *impl_;
  std::string object_id;
  Status pre = m.Authorize(ctx, who, KeyPermission::kRestore);
  Bytes header = ToBytes(kBackupMagic);
  header.push_back(kBackupFormatVersion);
  json j;
  if (pre.ok()) {
    if (blob.size() < header.size() || !std::equal(header.begin(), header.end(), blob.begin())) {
      pre = Status(StatusCode::kInvalidArgument,
                   "Backup blob is corrupt or was made by another kind of vault");
    }
  }
  if (pre.ok()) {
    auto plain = m.backup_sealer->Open(blob.subspan(header.size()), header);
    if (!plain) {
      pre = Status(StatusCode::kInvalidArgument,
                   "Backup blob is corrupt or belongs to another vault");
    } else {
      try {
        j = json::parse(AsStringView(plain->reveal()));
        if (!IsValidKeyName(j.at("name").get<std::string>()) || j.at("versions").empty()) {
          pre = Status(StatusCode::kInvalidArgument, "Backup blob has no valid key");
        }
      } catch (const json::exception&) {
        pre = Status(StatusCode::kInvalidArgument, "Backup blob is corrupt");
      }
    }
  }
  if (!pre.ok()) return m.Finish(ctx, &who.identity, Result<KeyVersion>(Err(pre)), object_id);
  std::string name = j["name"].get<std::string>();
  object_id = m.Kid(ctx, name, "");
  return m.Mutate<KeyVersion>(
      ctx, &who.identity, &object_id, [&](SqliteDb& db) -> Result<KeyVersion> {
        PGCMK_ASSIGN_OR_RETURN(auto row, LoadKeyRow(db, name));
        if (row && row->deletion) return Err(DeletedButRecoverable(row->name));
        if (row)
          return Err(StatusCode::kAlreadyExists,
                     "Key " + row->name + " already exists; restore needs an unused name.");
        PGCMK_ASSIGN_OR_RETURN(
            auto st, db.Prepare("INSERT INTO keys(name_lc, name, rotation_policy) VALUES(?,?,?)"));
        st.Bind(1, ToLower(name)).Bind(2, name);
        if (j.contains("rotationPolicy")) {
          st.Bind(3, j["rotationPolicy"].get<std::string>());
        } else {
          st.BindNull(3);
        }
        PGCMK_RETURN_IF_ERROR(st.Run());
        KeyVersion last;
        try {
          for (const auto& v : j["versions"]) {
            std::string version = v.at("version").get<std::string>();
            if (!IsValidKeyVersion(version))
              return Err(StatusCode::kInvalidArgument, "Backup blob is corrupt");
            PGCMK_ASSIGN_OR_RETURN(
                KeyVersion meta, VersionFromJson(name, version, v.at("public").get<std::string>()));
            auto der = Base64UrlDecode(v.at("private").get<std::string>());
            if (!der) return Err(StatusCode::kInvalidArgument, "Backup blob is corrupt");
            SecretBytes secret = SecretBytes::CopyFrom(*der);
            SecureZero(der->data(), der->size());
            PGCMK_ASSIGN_OR_RETURN(Bytes sealed,
                                   m.key_sealer->Seal(secret, KeyVersionAad(name, version)));
            PGCMK_RETURN_IF_ERROR(InsertVersion(db, meta, v.at("seq").get<std::int64_t>(), sealed));
            last = std::move(meta);
          }
        } catch (const json::exception&) {
          return Err(StatusCode::kInvalidArgument, "Backup blob is corrupt");
        }
        object_id = m.Kid(ctx, name, last.version);
        return last;
      });
}

Result<KeyVersion> VaultService::RotateKey(const RequestContext& ctx, const Principal& who,
                                           std::string_view name) {
  Impl& m = *impl_;
  std::string object_id = m.Kid(ctx, name, "");
  Status pre = m.Authorize(ctx, who, KeyPermission::kRotate);
  if (pre.ok()) pre = CheckKeyName(name);
  if (!pre.ok()) return m.Finish(ctx, &who.identity, Result<KeyVersion>(Err(pre)), object_id);
  auto r = m.RotateLocked(ctx, &who.identity, name);
  if (!r && r.error().code() == StatusCode::kNotFound) {
    // RotateLocked fails before its transaction when the key is missing: audit that here.
    return m.Finish(ctx, &who.identity, std::move(r), object_id);
  }
  return r;
}

Result<RotationPolicy> VaultService::GetRotationPolicy(const RequestContext& ctx,
                                                       const Principal& who,
                                                       std::string_view name) {
  Impl& m = *impl_;
  std::string object_id = m.Kid(ctx, name, "") + "/rotationpolicy";
  auto r = [&]() -> Result<RotationPolicy> {
    PGCMK_RETURN_IF_ERROR(m.Authorize(ctx, who, KeyPermission::kGetRotationPolicy));
    PGCMK_RETURN_IF_ERROR(CheckKeyName(name));
    return m.store->Read([&](SqliteDb& db) -> Result<RotationPolicy> {
      PGCMK_ASSIGN_OR_RETURN(auto row, LoadKeyRow(db, name));
      if (!row || row->deletion) return Err(KeyNotFound(name));
      if (!row->rotation_policy) return RotationPolicy{};
      return PolicyFromJson(*row->rotation_policy);
    });
  }();
  return m.Finish(ctx, &who.identity, std::move(r), object_id);
}

Result<RotationPolicy> VaultService::SetRotationPolicy(const RequestContext& ctx,
                                                       const Principal& who, std::string_view name,
                                                       const RotationPolicy& policy) {
  Impl& m = *impl_;
  std::string object_id = m.Kid(ctx, name, "") + "/rotationpolicy";
  RotationPolicy p = policy;
  auto validate = [&]() -> Status {
    PGCMK_RETURN_IF_ERROR(m.Authorize(ctx, who, KeyPermission::kSetRotationPolicy));
    PGCMK_RETURN_IF_ERROR(CheckKeyName(name));
    std::optional<std::int64_t> expiry;
    if (p.expiry_time) {
      PGCMK_ASSIGN_OR_RETURN(std::int64_t e, ParseIsoDuration(*p.expiry_time));
      if (e < 28 * 86400)
        return Status(StatusCode::kInvalidArgument, "expiryTime must be at least 28 days (P28D)");
      expiry = e;
    }
    int rotates = 0, notifies = 0;
    for (auto& a : p.lifetime_actions) {
      if (EqualsIgnoreCase(a.type, "rotate")) {
        a.type = "Rotate";
        ++rotates;
      } else if (EqualsIgnoreCase(a.type, "notify")) {
        a.type = "Notify";
        ++notifies;
      } else {
        return Status(StatusCode::kInvalidArgument,
                      "Lifetime action type must be Rotate or Notify");
      }
      if (a.time_after_create.has_value() == a.time_before_expiry.has_value()) {
        return Status(
            StatusCode::kInvalidArgument,
            "Each lifetime action needs exactly one trigger: timeAfterCreate or timeBeforeExpiry");
      }
      if (a.time_after_create) {
        PGCMK_ASSIGN_OR_RETURN(std::int64_t t, ParseIsoDuration(*a.time_after_create));
        if (t < 7 * 86400)
          return Status(StatusCode::kInvalidArgument, "timeAfterCreate must be at least 7 days");
        if (a.type == "Notify")
          return Status(StatusCode::kInvalidArgument, "Notify actions use timeBeforeExpiry");
      }
      if (a.time_before_expiry) {
        PGCMK_ASSIGN_OR_RETURN(std::int64_t t, ParseIsoDuration(*a.time_before_expiry));
        if (!expiry)
          return Status(StatusCode::kInvalidArgument,
                        "timeBeforeExpiry needs the policy's expiryTime");
        if (t < 7 * 86400 || *expiry - t < 7 * 86400) {
          return Status(
              StatusCode::kInvalidArgument,
              "timeBeforeExpiry must be at least 7 days and at least 7 days before expiryTime");
        }
      }
    }
    if (rotates > 1 || notifies > 1) {
      return Status(StatusCode::kInvalidArgument,
                    "At most one Rotate and one Notify action are allowed");
    }
    return Status::Ok();
  }();
  if (!validate.ok())
    return m.Finish(ctx, &who.identity, Result<RotationPolicy>(Err(validate)), object_id);
  return m.Mutate<RotationPolicy>(
      ctx, &who.identity, &object_id, [&](SqliteDb& db) -> Result<RotationPolicy> {
        PGCMK_ASSIGN_OR_RETURN(auto row, LoadKeyRow(db, name));
        if (!row || row->deletion) return Err(KeyNotFound(name));
        std::int64_t now = m.Now();
        p.created = now;
        if (row->rotation_policy) {
          RotationPolicy old = PolicyFromJson(*row->rotation_policy);
          if (old.created) p.created = old.created;
        }
        p.updated = now;
        PGCMK_ASSIGN_OR_RETURN(auto st,
                               db.Prepare("UPDATE keys SET rotation_policy=? WHERE name_lc=?"));
        st.Bind(1, PolicyToJson(p).dump()).Bind(2, ToLower(name));
        PGCMK_RETURN_IF_ERROR(st.Run());
        return p;
      });
}

// ---- Cryptographic operations -----------------------------------------------------------------

Result<CryptoResult> VaultService::Encrypt(const RequestContext& ctx, const Principal& who,
                                           std::string_view name, std::string_view version,
                                           std::string_view alg, ByteView plaintext) {
  return impl_->RunCrypto<CryptoResult>(
      ctx, who, KeyPermission::kEncrypt, "encrypt", false, name, version,
      [&](const VaultKeyPair& kp, const KeyVersion& v) -> Result<CryptoResult> {
        PGCMK_ASSIGN_OR_RETURN(auto a, ParseEncryptionAlgorithm(alg));
        PGCMK_ASSIGN_OR_RETURN(Bytes out, kp.Encrypt(a, plaintext));
        return CryptoResult{v.name, v.version, std::move(out)};
      });
}

Result<UnwrapResult> VaultService::Decrypt(const RequestContext& ctx, const Principal& who,
                                           std::string_view name, std::string_view version,
                                           std::string_view alg, ByteView ciphertext) {
  return impl_->RunCrypto<UnwrapResult>(
      ctx, who, KeyPermission::kDecrypt, "decrypt", true, name, version,
      [&](const VaultKeyPair& kp, const KeyVersion& v) -> Result<UnwrapResult> {
        PGCMK_ASSIGN_OR_RETURN(auto a, ParseEncryptionAlgorithm(alg));
        PGCMK_ASSIGN_OR_RETURN(SecretBytes out, kp.Decrypt(a, ciphertext));
        return UnwrapResult{v.name, v.version, std::move(out)};
      });
}

Result<CryptoResult> VaultService::WrapKey(const RequestContext& ctx, const Principal& who,
                                           std::string_view name, std::string_view version,
                                           std::string_view alg, ByteView key) {
  return impl_->RunCrypto<CryptoResult>(
      ctx, who, KeyPermission::kWrapKey, "wrapKey", false, name, version,
      [&](const VaultKeyPair& kp, const KeyVersion& v) -> Result<CryptoResult> {
        PGCMK_ASSIGN_OR_RETURN(auto a, ParseEncryptionAlgorithm(alg));
        PGCMK_ASSIGN_OR_RETURN(Bytes out, kp.Encrypt(a, key));
        return CryptoResult{v.name, v.version, std::move(out)};
      });
}

Result<UnwrapResult> VaultService::UnwrapKey(const RequestContext& ctx, const Principal& who,
                                             std::string_view name, std::string_view version,
                                             std::string_view alg, ByteView wrapped) {
  return impl_->RunCrypto<UnwrapResult>(
      ctx, who, KeyPermission::kUnwrapKey, "unwrapKey", true, name, version,
      [&](const VaultKeyPair& kp, const KeyVersion& v) -> Result<UnwrapResult> {
        PGCMK_ASSIGN_OR_RETURN(auto a, ParseEncryptionAlgorithm(alg));
        PGCMK_ASSIGN_OR_RETURN(SecretBytes out, kp.Decrypt(a, wrapped));
        return UnwrapResult{v.name, v.version, std::move(out)};
      });
}

Result<CryptoResult> VaultService::Sign(const RequestContext& ctx, const Principal& who,
                                        std::string_view name, std::string_view version,
                                        std::string_view alg, ByteView digest) {
  return impl_->RunCrypto<CryptoResult>(
      ctx, who, KeyPermission::kSign, "sign", false, name, version,
      [&](const VaultKeyPair& kp, const KeyVersion& v) -> Result<CryptoResult> {
        PGCMK_ASSIGN_OR_RETURN(auto a, ParseSignatureAlgorithm(alg));
        PGCMK_ASSIGN_OR_RETURN(Bytes out, kp.SignDigest(a, digest));
        return CryptoResult{v.name, v.version, std::move(out)};
      });
}

Result<std::pair<std::string, bool>> VaultService::Verify(
    const RequestContext& ctx, const Principal& who, std::string_view name,
    std::string_view version, std::string_view alg, ByteView digest, ByteView signature) {
  using R = std::pair<std::string, bool>;
  return impl_->RunCrypto<R>(ctx, who, KeyPermission::kVerify, "verify", true, name, version,
                             [&](const VaultKeyPair& kp, const KeyVersion& v) -> Result<R> {
                               PGCMK_ASSIGN_OR_RETURN(auto a, ParseSignatureAlgorithm(alg));
                               PGCMK_ASSIGN_OR_RETURN(bool ok,
                                                      kp.VerifyDigest(a, digest, signature));
                               return R{v.version, ok};
                             });
}

// ---- Administration ---------------------------------------------------------------------------

Result<VaultSettings> VaultService::GetSettings(const RequestContext& ctx, const Principal& who) {
  Impl& m = *impl_;
  Result<VaultSettings> r = m.AuthorizeAdmin(who).ok()
                                ? Result<VaultSettings>(m.Settings())
                                : Result<VaultSettings>(Err(m.AuthorizeAdmin(who)));
  return m.Finish(ctx, &who.identity, std::move(r), "");
}

Result<VaultSettings> VaultService::EnablePurgeProtection(const RequestContext& ctx,
                                                          const Principal& who) {
  Impl& m = *impl_;
  std::string object_id;
  Status pre = m.AuthorizeAdmin(who);
  if (!pre.ok()) return m.Finish(ctx, &who.identity, Result<VaultSettings>(Err(pre)), object_id);
  auto r = m.Mutate<int>(ctx, &who.identity, &object_id, [&](SqliteDb& db) -> Result<int> {
    PGCMK_RETURN_IF_ERROR(PutMeta(db, "purge_protection", "1"));
    return 0;
  });
  if (!r) return Err(r.error());
  std::lock_guard l(m.settings_mu);
  m.settings.purge_protection = true;
  return m.settings;
}

Result<NewIdentity> VaultService::CreateIdentity(const RequestContext& ctx, const Principal& who,
                                                 std::string_view name) {
  Impl& m = *impl_;
  std::string object_id = "identities/" + std::string(name);
  Status pre = m.AuthorizeAdmin(who);
  if (pre.ok() && !IsValidIdentityName(name)) {
    pre = Status(StatusCode::kInvalidArgument,
                 "Identity names are 1-64 characters of 0-9, a-z, A-Z, '-', '_' and '.'");
  }
  if (!pre.ok()) return m.Finish(ctx, &who.identity, Result<NewIdentity>(Err(pre)), object_id);
  NewIdentity out;
  out.identity.name = name;
  auto cid = NewUuid();
  auto oid = NewUuid();
  auto secret = NewClientSecret();
  if (!cid || !oid || !secret) return Err(StatusCode::kInternal, "random generator failed");
  out.identity.client_id = *cid;
  out.identity.object_id = *oid;
  out.identity.created = m.Now();
  out.client_secret = std::move(*secret);
  Bytes hash = crypto::Sha256(out.client_secret.reveal());
  auto r = m.Mutate<int>(ctx, &who.identity, &object_id, [&](SqliteDb& db) -> Result<int> {
    PGCMK_ASSIGN_OR_RETURN(auto existing, LoadIdentity(db, "name_lc", name));
    if (existing)
      return Err(StatusCode::kAlreadyExists,
                 "An identity named '" + existing->identity.name + "' already exists");
    PGCMK_ASSIGN_OR_RETURN(auto st,
                           db.Prepare("INSERT INTO identities(name_lc, name, client_id, object_id, "
                                      "secret_hash, enabled, admin, "
                                      "created, secret_generation) VALUES(?,?,?,?,?,1,0,?,1)"));
    st.Bind(1, ToLower(name))
        .Bind(2, name)
        .Bind(3, out.identity.client_id)
        .Bind(4, out.identity.object_id);
    st.BindBlob(5, hash).Bind(6, out.identity.created);
    PGCMK_RETURN_IF_ERROR(st.Run());
    return 0;
  });
  if (!r) return Err(r.error());
  return out;
}

Result<std::vector<Identity>> VaultService::ListIdentities(const RequestContext& ctx,
                                                           const Principal& who) {
  Impl& m = *impl_;
  auto r = [&]() -> Result<std::vector<Identity>> {
    PGCMK_RETURN_IF_ERROR(m.AuthorizeAdmin(who));
    return m.store->Read([&](SqliteDb& db) -> Result<std::vector<Identity>> {
      PGCMK_ASSIGN_OR_RETURN(auto st,
                             db.Prepare("SELECT name_lc FROM identities ORDER BY name_lc"));
      std::vector<std::string> names;
      while (true) {
        PGCMK_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        names.push_back(st.ColumnText(0));
      }
      std::vector<Identity> out;
      for (const auto& n : names) {
        PGCMK_ASSIGN_OR_RETURN(auto id, LoadIdentity(db, "name_lc", n));
        if (id) out.push_back(id->identity);
      }
      return out;
    });
  }();
  return m.Finish(ctx, &who.identity, std::move(r), "identities");
}

Result<Identity> VaultService::GetIdentity(const RequestContext& ctx, const Principal& who,
                                           std::string_view name) {
  Impl& m = *impl_;
  auto r = [&]() -> Result<Identity> {
    PGCMK_RETURN_IF_ERROR(m.AuthorizeAdmin(who));
    PGCMK_ASSIGN_OR_RETURN(
        auto row, m.store->Read([&](SqliteDb& db) { return LoadIdentity(db, "name_lc", name); }));
    PGCMK_RETURN_IF_ERROR(RequireIdentity(row, name));
    return row->identity;
  }();
  return m.Finish(ctx, &who.identity, std::move(r),
                  "identities/" + std::string(name.substr(0, 64)));
}

Result<Identity> VaultService::DeleteIdentity(const RequestContext& ctx, const Principal& who,
                                              std::string_view name) {
  Impl& m = *impl_;
  std::string object_id = "identities/" + std::string(name.substr(0, 64));
  Status pre = m.AuthorizeAdmin(who);
  if (!pre.ok()) return m.Finish(ctx, &who.identity, Result<Identity>(Err(pre)), object_id);
  return m.Mutate<Identity>(ctx, &who.identity, &object_id, [&](SqliteDb& db) -> Result<Identity> {
    PGCMK_ASSIGN_OR_RETURN(auto row, LoadIdentity(db, "name_lc", name));
    PGCMK_RETURN_IF_ERROR(RequireIdentity(row, name));
    if (row->identity.admin)
      return Err(StatusCode::kFailedPrecondition, "The bootstrap administrator cannot be deleted");
    PGCMK_ASSIGN_OR_RETURN(auto pol, db.Prepare("DELETE FROM policies WHERE object_id=?"));
    pol.Bind(1, row->identity.object_id);
    PGCMK_RETURN_IF_ERROR(pol.Run());
    PGCMK_ASSIGN_OR_RETURN(auto st, db.Prepare("DELETE FROM identities WHERE name_lc=?"));
    st.Bind(1, ToLower(name));
    PGCMK_RETURN_IF_ERROR(st.Run());
    return row->identity;
  });
}

Result<NewIdentity> VaultService::RotateIdentitySecret(const RequestContext& ctx,
                                                       const Principal& who,
                                                       std::string_view name) {
  Impl& m = *impl_;
  std::string object_id = "identities/" + std::string(name.substr(0, 64));
  Status pre = m.AuthorizeAdmin(who);
  if (!pre.ok()) return m.Finish(ctx, &who.identity, Result<NewIdentity>(Err(pre)), object_id);
  auto secret = NewClientSecret();
  if (!secret) return Err(secret.error());
  Bytes hash = crypto::Sha256(secret->reveal());
  auto r =
      m.Mutate<Identity>(ctx, &who.identity, &object_id, [&](SqliteDb& db) -> Result<Identity> {
        PGCMK_ASSIGN_OR_RETURN(auto row, LoadIdentity(db, "name_lc", name));
        PGCMK_RETURN_IF_ERROR(RequireIdentity(row, name));
        PGCMK_ASSIGN_OR_RETURN(auto st,
                               db.Prepare("UPDATE identities SET secret_hash=?, "
                                          "secret_generation=secret_generation+1 WHERE name_lc=?"));
        st.BindBlob(1, hash).Bind(2, ToLower(name));
        PGCMK_RETURN_IF_ERROR(st.Run());
        row->identity.secret_generation += 1;
        return row->identity;
      });
  if (!r) return Err(r.error());
  return NewIdentity{std::move(*r), std::move(*secret)};
}

Result<AccessPolicy> VaultService::SetPolicy(const RequestContext& ctx, const Principal& who,
                                             std::string_view identity,
                                             const std::vector<std::string>& perms,
                                             const std::vector<std::string>& roles) {
  Impl& m = *impl_;
  std::string object_id = "policies/" + std::string(identity.substr(0, 64));
  AccessPolicy policy;
  Status pre = m.AuthorizeAdmin(who);
  if (pre.ok()) {
    auto set = ParsePermissionList(perms);
    if (!set) {
      pre = set.error();
    } else {
      policy.key_permissions = *set;
    }
  }
  for (const auto& r : roles) {
    if (!pre.ok()) break;
    auto canonical = CanonicalRoleName(r);
    if (!canonical) {
      pre = Status(StatusCode::kInvalidArgument, "unknown role '" + r.substr(0, 80) + "'");
    } else if (std::find(policy.roles.begin(), policy.roles.end(), *canonical) ==
               policy.roles.end()) {
      policy.roles.push_back(*canonical);
    }
  }
  if (!pre.ok()) return m.Finish(ctx, &who.identity, Result<AccessPolicy>(Err(pre)), object_id);
  return m.Mutate<
      AccessPolicy>(ctx, &who.identity, &object_id, [&](SqliteDb& db) -> Result<AccessPolicy> {
    PGCMK_ASSIGN_OR_RETURN(auto row, LoadIdentity(db, "name_lc", identity));
    PGCMK_RETURN_IF_ERROR(RequireIdentity(row, identity));
    if (row->identity.admin)
      return Err(StatusCode::kFailedPrecondition, "The administrator always has every permission");
    policy.identity_name = row->identity.name;
    policy.object_id = row->identity.object_id;
    PGCMK_ASSIGN_OR_RETURN(
        auto st,
        db.Prepare(
            "INSERT OR REPLACE INTO policies(object_id, key_permissions, roles) VALUES(?,?,?)"));
    st.Bind(1, policy.object_id).Bind(2, static_cast<std::int64_t>(policy.key_permissions.bits()));
    st.Bind(3, json(policy.roles).dump());
    PGCMK_RETURN_IF_ERROR(st.Run());
    return policy;
  });
}

Result<AccessPolicy> VaultService::GetPolicy(const RequestContext& ctx, const Principal& who,
                                             std::string_view identity) {
  Impl& m = *impl_;
  auto r = [&]() -> Result<AccessPolicy> {
    PGCMK_RETURN_IF_ERROR(m.AuthorizeAdmin(who));
    return m.store->Read([&](SqliteDb& db) -> Result<AccessPolicy> {
      PGCMK_ASSIGN_OR_RETURN(auto row, LoadIdentity(db, "name_lc", identity));
      PGCMK_RETURN_IF_ERROR(RequireIdentity(row, identity));
      if (row->identity.admin) {
        AccessPolicy p;
        p.identity_name = row->identity.name;
        p.object_id = row->identity.object_id;
        p.key_permissions = PermissionSet::All();
        return p;
      }
      return LoadPolicy(db, row->identity);
    });
  }();
  return m.Finish(ctx, &who.identity, std::move(r),
                  "policies/" + std::string(identity.substr(0, 64)));
}

Status VaultService::DeletePolicy(const RequestContext& ctx, const Principal& who,
                                  std::string_view identity) {
  Impl& m = *impl_;
  std::string object_id = "policies/" + std::string(identity.substr(0, 64));
  Status pre = m.AuthorizeAdmin(who);
  if (!pre.ok()) {
    auto r = m.Finish(ctx, &who.identity, Result<int>(Err(pre)), object_id);
    return r ? Status::Ok() : r.error();
  }
  auto r = m.Mutate<int>(ctx, &who.identity, &object_id, [&](SqliteDb& db) -> Result<int> {
    PGCMK_ASSIGN_OR_RETURN(auto row, LoadIdentity(db, "name_lc", identity));
    PGCMK_RETURN_IF_ERROR(RequireIdentity(row, identity));
    PGCMK_ASSIGN_OR_RETURN(auto st, db.Prepare("DELETE FROM policies WHERE object_id=?"));
    st.Bind(1, row->identity.object_id);
    PGCMK_RETURN_IF_ERROR(st.Run());
    return 0;
  });
  return r ? Status::Ok() : r.error();
}

Result<std::vector<std::string>> VaultService::QueryAudit(const RequestContext& ctx,
                                                          const Principal& who,
                                                          const AuditQuery& q) {
  Impl& m = *impl_;
  auto r = [&]() -> Result<std::vector<std::string>> {
    PGCMK_RETURN_IF_ERROR(m.AuthorizeAdmin(who));
    int limit = q.limit <= 0 || q.limit > 10000 ? 100 : q.limit;
    return m.store->Read([&](SqliteDb& db) -> Result<std::vector<std::string>> {
      std::string sql = "SELECT record FROM (SELECT seq, record FROM audit WHERE 1=1";
      if (!q.key.empty()) {
        sql +=
            " AND (lower(json_extract(record,'$.properties.id')) LIKE '%/keys/' || ?1 || '/%'"
            " OR lower(json_extract(record,'$.properties.id')) LIKE '%/keys/' || ?1"
            " OR lower(json_extract(record,'$.properties.id')) LIKE '%/deletedkeys/' || ?1)";
      }
      if (!q.identity.empty()) {
        sql +=
            " AND (lower(json_extract(record,'$.identity.name')) = ?2 OR "
            "lower(json_extract(record,'$.identity.oid')) = ?2 OR "
            "lower(json_extract(record,'$.identity.appid')) = ?2)";
      }
      if (!q.operation.empty()) sql += " AND lower(json_extract(record,'$.operationName')) = ?3";
      if (q.since) sql += " AND json_extract(record,'$.timeUnix') >= ?4";
      if (q.until) sql += " AND json_extract(record,'$.timeUnix') <= ?6";
      sql += " ORDER BY seq DESC LIMIT ?5) ORDER BY seq";
      PGCMK_ASSIGN_OR_RETURN(auto st, db.Prepare(sql));
      if (!q.key.empty()) st.Bind(1, ToLower(q.key));
      if (!q.identity.empty()) st.Bind(2, ToLower(q.identity));
      if (!q.operation.empty()) st.Bind(3, ToLower(q.operation));
      if (q.since) st.Bind(4, *q.since);
      if (q.until) st.Bind(6, *q.until);
      st.Bind(5, static_cast<std::int64_t>(limit));
      std::vector<std::string> out;
      while (true) {
        PGCMK_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        out.push_back(st.ColumnText(0));
      }
      return out;
    });
  }();
  return m.Finish(ctx, &who.identity, std::move(r), "audit");
}

AuditAnchor VaultService::AuditHead() const { return store_->AuditHead(); }

Result<AuditVerification> VaultService::VerifyAudit(const RequestContext& ctx, const Principal& who,
                                                    const std::vector<AuditAnchor>& anchors) {
  Impl& m = *impl_;
  auto r = [&]() -> Result<AuditVerification> {
    PGCMK_RETURN_IF_ERROR(m.AuthorizeAdmin(who));
    return m.store->VerifyAudit(anchors);
  }();
  return m.Finish(ctx, &who.identity, std::move(r), "audit");
}

// ---- TLS ------------------------------------------------------------------------------------

Result<VaultService::TlsMaterial> VaultService::ServerTlsMaterial(
    const std::vector<std::string>& dns_names, const std::vector<std::string>& ip_addresses) {
  Impl& m = *impl_;
  auto load = [&](std::string_view name) -> Result<std::optional<crypto::CertifiedKey>> {
    return m.store->Read([&](SqliteDb& db) -> Result<std::optional<crypto::CertifiedKey>> {
      PGCMK_ASSIGN_OR_RETURN(
          auto st, db.Prepare("SELECT certificate_pem, sealed_key FROM tls_material WHERE name=?"));
      st.Bind(1, name);
      PGCMK_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return std::optional<crypto::CertifiedKey>();
      crypto::CertifiedKey ck;
      ck.certificate_pem = st.ColumnText(0);
      PGCMK_ASSIGN_OR_RETURN(
          ck.private_key_pem,
          m.key_sealer->Open(st.ColumnBlob(1), TokenKeyAad("tls/" + std::string(name))));
      return std::optional<crypto::CertifiedKey>(std::move(ck));
    });
  };
  auto save = [&](std::string_view name, const crypto::CertifiedKey& ck) -> Status {
    PGCMK_ASSIGN_OR_RETURN(
        Bytes sealed,
        m.key_sealer->Seal(ck.private_key_pem, TokenKeyAad("tls/" + std::string(name))));
    RequestContext ctx;
    ctx.operation_name = name == "ca" ? "VaultCertificateAuthorityCreate" : "VaultCertificateIssue";
    ctx.client_info = "pgcmk vault serve";
    std::string object_id = "tls/" + std::string(name);
    auto r = m.Mutate<int>(ctx, nullptr, &object_id, [&](SqliteDb& db) -> Result<int> {
      PGCMK_ASSIGN_OR_RETURN(auto st, db.Prepare("INSERT OR REPLACE INTO tls_material(name, "
                                                 "certificate_pem, sealed_key) VALUES(?,?,?)"));
      st.Bind(1, name).Bind(2, ck.certificate_pem).BindBlob(3, sealed);
      PGCMK_RETURN_IF_ERROR(st.Run());
      return 0;
    });
    return r ? Status::Ok() : r.error();
  };
  PGCMK_ASSIGN_OR_RETURN(auto ca, load("ca"));
  if (!ca) {
    crypto::CertificateAuthorityOptions o;
    o.common_name = "pgcmk vault CA " + m.Settings().tenant_id.substr(0, 8);
    PGCMK_ASSIGN_OR_RETURN(crypto::CertifiedKey created, crypto::CreateCertificateAuthority(o));
    PGCMK_RETURN_IF_ERROR(save("ca", created));
    ca = std::move(created);
  }
  PGCMK_ASSIGN_OR_RETURN(auto server, load("server"));
  bool reissue = !server.has_value();
  if (server) {
    auto info = crypto::InspectCertificate(server->certificate_pem);
    if (!info || info->not_after < std::chrono::system_clock::now() + std::chrono::days(30))
      reissue = true;
    for (const auto& n : dns_names) {
      if (info &&
          std::find(info->dns_names.begin(), info->dns_names.end(), n) == info->dns_names.end())
        reissue = true;
    }
    for (const auto& ip : ip_addresses) {
      if (info && std::find(info->ip_addresses.begin(), info->ip_addresses.end(), ip) ==
                      info->ip_addresses.end())
        reissue = true;
    }
  }
  if (reissue) {
    crypto::ServerCertificateOptions o;
    o.common_name = dns_names.empty() ? "localhost" : dns_names.front();
    o.dns_names = dns_names;
    o.ip_addresses = ip_addresses;
    PGCMK_ASSIGN_OR_RETURN(crypto::CertifiedKey issued, crypto::IssueServerCertificate(*ca, o));
    PGCMK_RETURN_IF_ERROR(save("server", issued));
    server = std::move(issued);
  }
  std::filesystem::path tls_dir = m.dir / "tls";
  PGCMK_RETURN_IF_ERROR(CreateDirectoryDurably(tls_dir, 0755));
  PGCMK_RETURN_IF_ERROR(
      WriteFileAtomically(tls_dir / "ca.pem", AsBytes(ca->certificate_pem), 0644));
  TlsMaterial out;
  out.certificate_chain_pem = server->certificate_pem + ca->certificate_pem;
  PGCMK_RETURN_IF_ERROR(
      WriteFileAtomically(tls_dir / "server.pem", AsBytes(out.certificate_chain_pem), 0644));
  out.private_key_pem = std::move(server->private_key_pem);
  out.ca_file = tls_dir / "ca.pem";
  return out;
}

// ---- Scheduler --------------------------------------------------------------------------------

Result<int> VaultService::RunScheduledWork() {
  Impl& m = *impl_;
  std::int64_t now = m.Now();
  RequestContext ctx;
  ctx.client_info = "pgcmk-vault-scheduler";
  ctx.request_id = "scheduler";
  Identity system;
  system.name = "system";
  int actions = 0;
  // One key's failure (audited like any failed request) must not hold up the others: remember
  // the first failure, carry on, and report it at the end.
  int failures = 0;
  Status first_failure;
  const auto failed = [&](const std::string& what, const Status& s) {
    if (failures++ == 0) first_failure = s.WithContext(what);
  };

  // 1. Purge soft-deleted keys whose retention has passed (purge protection does not stop this).
  PGCMK_ASSIGN_OR_RETURN(auto expired, m.store->Read([&](SqliteDb& db)
                                                         -> Result<std::vector<std::string>> {
    PGCMK_ASSIGN_OR_RETURN(
        auto st,
        db.Prepare(
            "SELECT name FROM keys WHERE deleted_date IS NOT NULL AND scheduled_purge_date <= ?"));
    st.Bind(1, now);
    std::vector<std::string> out;
    while (true) {
      PGCMK_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(st.ColumnText(0));
    }
    return out;
  }));
  for (const auto& name : expired) {
    ctx.operation_name = "KeyPurge";
    std::string object_id = ctx.origin + "/deletedkeys/" + name;
    auto r = m.Mutate<int>(ctx, &system, &object_id, [&](SqliteDb& db) -> Result<int> {
      PGCMK_RETURN_IF_ERROR(m.PurgeLocked(db, name));
      return 0;
    });
    if (!r) {
      failed("purging " + name, r.error());
      continue;
    }
    m.ForgetKey(name);
    ++actions;
  }

  // 2. Rotation policies.
  struct Candidate {
    std::string name;
    RotationPolicy policy;
    std::optional<std::int64_t> last_notify;
  };
  PGCMK_ASSIGN_OR_RETURN(auto candidates, m.store->Read([&](SqliteDb& db)
                                                            -> Result<std::vector<Candidate>> {
    PGCMK_ASSIGN_OR_RETURN(auto st,
                           db.Prepare("SELECT name, rotation_policy, last_notify FROM keys WHERE "
                                      "deleted_date IS NULL AND rotation_policy IS NOT NULL"));
    std::vector<Candidate> out;
    while (true) {
      PGCMK_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back({st.ColumnText(0), PolicyFromJson(st.ColumnText(1)), st.ColumnOptionalInt(2)});
    }
    return out;
  }));
  for (const auto& c : candidates) {
    auto latest = m.ReadActive(c.name, "");
    if (!latest) continue;
    const KeyVersion& v = latest->meta;
    for (const auto& a : c.policy.lifetime_actions) {
      std::optional<std::int64_t> due;
      if (a.time_after_create) {
        if (auto t = ParseIsoDuration(*a.time_after_create)) due = v.attributes.created + *t;
      } else if (a.time_before_expiry && v.attributes.exp) {
        if (auto t = ParseIsoDuration(*a.time_before_expiry)) due = *v.attributes.exp - *t;
      }
      if (!due || now < *due) continue;
      if (a.type == "Rotate") {
        ctx.operation_name = "KeyRotate";
        auto r = m.RotateLocked(ctx, &system, c.name);
        if (!r) {
          failed("rotating " + c.name, r.error());
          break;
        }
        ++actions;
        break;  // the new version restarts the clock
      }
      // Notify once per version.
      if (c.last_notify && *c.last_notify >= v.attributes.created) continue;
      ctx.operation_name = "KeyNearExpiryEventGridNotification";
      std::string object_id = m.Kid(ctx, v.name, v.version);
      auto r = m.Mutate<int>(ctx, &system, &object_id, [&](SqliteDb& db) -> Result<int> {
        PGCMK_ASSIGN_OR_RETURN(auto st,
                               db.Prepare("UPDATE keys SET last_notify=? WHERE name_lc=?"));
        st.Bind(1, now).Bind(2, ToLower(c.name));
        PGCMK_RETURN_IF_ERROR(st.Run());
        return 0;
      });
      if (!r) {
        failed("notifying for " + c.name, r.error());
        continue;
      }
      ++actions;
    }
  }
  if (failures > 0) {
    return Err(
        first_failure.code(),
        std::to_string(failures) + " of " + std::to_string(failures + actions) +
            " scheduled actions failed (the others were done); first: " + first_failure.message());
  }
  return actions;
}

// ---- Certificate credentials of identities ------------------------------------------------

Result<CertificateCredential> VaultService::AddIdentityCertificate(const RequestContext& ctx,
                                                                   const Principal& who,
                                                                   std::string_view name,
                                                                   std::string_view pem) {
  Impl& m = *impl_;
  std::string object_id = "identities/" + std::string(name.substr(0, 64)) + "/certificates";
  CertificateCredential cred;
  Status pre = m.AuthorizeAdmin(who);
  if (pre.ok()) {
    auto parsed = pem.size() > 64 * 1024
                      ? Result<crypto::ClientCertificate>(
                            Err(StatusCode::kInvalidArgument, "the certificate is too large"))
                      : crypto::ParseClientCertificatePem(pem);
    if (!parsed) {
      pre = parsed.error();
    } else {
      cred.certificate = std::move(*parsed);
      cred.added = m.Now();
      if (cred.certificate.not_after <= cred.added) {
        pre = Status(StatusCode::kInvalidArgument, "the certificate has expired");
      } else if (auto key_id = NewUuid(); !key_id) {
        pre = key_id.error();
      } else {
        cred.key_id = *key_id;
        object_id += "/" + cred.Thumbprint();
      }
    }
  }
  if (!pre.ok()) {
    return m.Finish(ctx, &who.identity, Result<CertificateCredential>(Err(pre)), object_id);
  }
  return m.Mutate<CertificateCredential>(
      ctx, &who.identity, &object_id, [&](SqliteDb& db) -> Result<CertificateCredential> {
        PGCMK_ASSIGN_OR_RETURN(auto row, LoadIdentity(db, "name_lc", name));
        PGCMK_RETURN_IF_ERROR(RequireIdentity(row, name));
        PGCMK_ASSIGN_OR_RETURN(auto existing, LoadCertificates(db, row->identity.object_id));
        for (const auto& c : existing) {
          if (c.certificate.sha256 == cred.certificate.sha256) {
            return Err(StatusCode::kAlreadyExists, "the certificate " + c.Thumbprint() +
                                                       " is already registered for identity '" +
                                                       row->identity.name + "'");
          }
        }
        if (existing.size() >= static_cast<size_t>(kMaxCertificatesPerIdentity)) {
          return Err(StatusCode::kFailedPrecondition,
                     "an identity may have at most " + std::to_string(kMaxCertificatesPerIdentity) +
                         " certificates");
        }
        PGCMK_ASSIGN_OR_RETURN(
            auto st, db.Prepare("INSERT INTO identity_certificates(object_id, key_id, sha1, "
                                "sha256, certificate_der, not_before, not_after, added) "
                                "VALUES(?,?,?,?,?,?,?,?)"));
        st.Bind(1, row->identity.object_id).Bind(2, cred.key_id);
        st.BindBlob(3, cred.certificate.sha1).BindBlob(4, cred.certificate.sha256);
        st.BindBlob(5, cred.certificate.der);
        st.Bind(6, cred.certificate.not_before).Bind(7, cred.certificate.not_after);
        st.Bind(8, cred.added);
        PGCMK_RETURN_IF_ERROR(st.Run());
        return cred;
      });
}

Result<std::vector<CertificateCredential>> VaultService::ListIdentityCertificates(
    const RequestContext& ctx, const Principal& who, std::string_view name) {
  Impl& m = *impl_;
  auto r = [&]() -> Result<std::vector<CertificateCredential>> {
    PGCMK_RETURN_IF_ERROR(m.AuthorizeAdmin(who));
    return m.store->Read([&](SqliteDb& db) -> Result<std::vector<CertificateCredential>> {
      PGCMK_ASSIGN_OR_RETURN(auto row, LoadIdentity(db, "name_lc", name));
      PGCMK_RETURN_IF_ERROR(RequireIdentity(row, name));
      return LoadCertificates(db, row->identity.object_id);
    });
  }();
  return m.Finish(ctx, &who.identity, std::move(r),
                  "identities/" + std::string(name.substr(0, 64)) + "/certificates");
}

Result<CertificateCredential> VaultService::RemoveIdentityCertificate(
    const RequestContext& ctx, const Principal& who, std::string_view name,
    std::string_view key_id_or_thumbprint) {
  Impl& m = *impl_;
  std::string object_id = "identities/" + std::string(name.substr(0, 64)) + "/certificates/" +
                          std::string(key_id_or_thumbprint.substr(0, 64));
  Status pre = m.AuthorizeAdmin(who);
  if (!pre.ok()) {
    return m.Finish(ctx, &who.identity, Result<CertificateCredential>(Err(pre)), object_id);
  }
  return m.Mutate<CertificateCredential>(
      ctx, &who.identity, &object_id, [&](SqliteDb& db) -> Result<CertificateCredential> {
        PGCMK_ASSIGN_OR_RETURN(auto row, LoadIdentity(db, "name_lc", name));
        PGCMK_RETURN_IF_ERROR(RequireIdentity(row, name));
        PGCMK_ASSIGN_OR_RETURN(auto certificates, LoadCertificates(db, row->identity.object_id));
        auto it = std::find_if(certificates.begin(), certificates.end(), [&](const auto& c) {
          return EqualsIgnoreCase(c.key_id, key_id_or_thumbprint) ||
                 EqualsIgnoreCase(c.Thumbprint(), key_id_or_thumbprint);
        });
        if (it == certificates.end()) {
          return Err(StatusCode::kNotFound, "identity '" + row->identity.name +
                                                "' has no certificate " +
                                                std::string(key_id_or_thumbprint.substr(0, 64)));
        }
        PGCMK_ASSIGN_OR_RETURN(
            auto del,
            db.Prepare("DELETE FROM identity_certificates WHERE object_id=? AND key_id=?"));
        del.Bind(1, row->identity.object_id).Bind(2, it->key_id);
        PGCMK_RETURN_IF_ERROR(del.Run());
        // Tokens obtained with the removed certificate must stop working now, as after a secret
        // rotation: the generation carried in every token of this identity moves on.
        PGCMK_ASSIGN_OR_RETURN(auto gen, db.Prepare("UPDATE identities SET "
                                                    "secret_generation=secret_generation+1 "
                                                    "WHERE object_id=?"));
        gen.Bind(1, row->identity.object_id);
        PGCMK_RETURN_IF_ERROR(gen.Run());
        return std::move(*it);
      });
}

}  // namespace pgcmk::vault
