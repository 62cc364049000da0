#include "vault/vault_service.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "common/durable_file.h"
#include "crypto/jwt.h"
#include "crypto/rsa_key.h"
#include "vault/sqlite_db.h"

namespace pgcmk::vault {
namespace {

using nlohmann::json;

constexpr char kVersion0[] = "00000000000000000000000000000000";

class VaultServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vault-service-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    dir_ /= "vault";
    options_.now = [this] { return now_.load(); };
    InitOptions init;
    init.retention_days = 7;
    auto r = VaultService::Initialize(dir_, init, options_);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    Reopen();
    auto cred = ReadWholeFile(dir_ / kAdminCredentialFile);
    ASSERT_TRUE(cred.has_value());
    admin_cred_ = json::parse(AsStringView(*cred));
    admin_ = Login(admin_cred_["clientId"], admin_cred_["clientSecret"]);
  }
  void TearDown() override { std::filesystem::remove_all(dir_.parent_path()); }

  void Reopen() {
    service_.reset();
    auto s = VaultService::Open(dir_, options_);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    service_ = std::move(*s);
  }

  RequestContext Ctx(std::string op = "Test") {
    RequestContext ctx;
    ctx.origin = "https://vault.test:8443";
    ctx.operation_name = std::move(op);
    ctx.caller_ip = "127.0.0.1";
    ctx.request_id = "r1";
    return ctx;
  }

  Result<std::string> Token(const std::string& client_id, const std::string& secret,
                            std::string scope = "https://vault.pgcmk.local/.default") {
    TokenRequest req;
    req.tenant = service_->settings().tenant_id;
    req.grant_type = "client_credentials";
    req.client_id = client_id;
    req.client_secret = SecretBytes::CopyFrom(AsBytes(secret));
    req.scope = std::move(scope);
    auto t = service_->IssueToken(Ctx("Authentication"), req);
    if (!t) return Err(t.error());
    return t->access_token;
  }

  Principal Login(const std::string& client_id, const std::string& secret) {
    auto token = Token(client_id, secret);
    EXPECT_TRUE(token.has_value()) << token.error().ToString();
    auto p = service_->Authenticate(Ctx(), *token);
    EXPECT_TRUE(p.has_value()) << p.error().ToString();
    return *p;
  }

  // Creates an identity with the given permissions and returns its principal.
  Principal NewCaller(const std::string& name, std::vector<std::string> perms,
                      std::vector<std::string> roles = {}) {
    auto id = service_->CreateIdentity(Ctx(), admin_, name);
    EXPECT_TRUE(id.has_value()) << id.error().ToString();
    auto pol = service_->SetPolicy(Ctx(), admin_, name, perms, roles);
    EXPECT_TRUE(pol.has_value()) << pol.error().ToString();
    secrets_[name] = std::string(AsStringView(id->client_secret.reveal()));
    client_ids_[name] = id->identity.client_id;
    return Login(id->identity.client_id, secrets_[name]);
  }

  KeyVersion MakeKey(const std::string& name, CreateKeyParams p = {}) {
    if (p.kty.empty()) p.kty = "RSA";
    if (p.key_size == 0) p.key_size = 2048;
    auto k = service_->CreateKey(Ctx("KeyCreate"), admin_, name, p);
    EXPECT_TRUE(k.has_value()) << k.error().ToString();
    return *k;
  }

  std::filesystem::path dir_;
  std::atomic<std::int64_t> now_{1'800'000'000};
  VaultServiceOptions options_;
  std::unique_ptr<VaultService> service_;
  json admin_cred_;
  Principal admin_;
  std::map<std::string, std::string> secrets_, client_ids_;
};

TEST_F(VaultServiceTest, InitializeWritesPrivateCredentialAndRefusesSecondInit) {
  EXPECT_EQ(std::filesystem::status(dir_ / kAdminCredentialFile).permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_EQ(VaultService::Initialize(dir_, {}, options_).error().code(),
            StatusCode::kAlreadyExists);
  EXPECT_TRUE(admin_.identity.admin);
  EXPECT_EQ(service_->settings().retention_days, 7);
}

TEST_F(VaultServiceTest, TokenEndpointRejectsBadRequestsWithEntraCodes) {
  auto bad_secret = Token(admin_cred_["clientId"], "wrong");
  ASSERT_FALSE(bad_secret.has_value());
  EXPECT_EQ(bad_secret.error().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(bad_secret.error().message().starts_with("AADSTS7000215"));
  auto bad_scope =
      Token(admin_cred_["clientId"], admin_cred_["clientSecret"], "https://other/.default");
  EXPECT_TRUE(bad_scope.error().message().starts_with("AADSTS70011"));
  auto unknown = Token("6f1f0000-0000-4000-8000-000000000000", "x");
  EXPECT_TRUE(unknown.error().message().starts_with("AADSTS700016"));
}

TEST_F(VaultServiceTest, AuthenticateRejectsForgedExpiredAndMissingTokens) {
  EXPECT_EQ(service_->Authenticate(Ctx(), "").error().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(service_->Authenticate(Ctx(), "a.b.c").error().code(), StatusCode::kUnauthenticated);
  // Forged: signed by another key.
  auto other = crypto::RsaPrivateKey::Generate(2048);
  ASSERT_TRUE(other.has_value());
  json claims = {{"aud", "https://vault.pgcmk.local"},
                 {"oid", admin_.identity.object_id},
                 {"tid", service_->settings().tenant_id},
                 {"exp", now_ + 100},
                 {"nbf", now_.load()}};
  auto forged = crypto::SignJwt(*other, "x", claims.dump());
  ASSERT_TRUE(forged.has_value());
  EXPECT_EQ(service_->Authenticate(Ctx(), *forged).error().code(), StatusCode::kUnauthenticated);
  // Expired.
  auto token = Token(admin_cred_["clientId"], admin_cred_["clientSecret"]);
  ASSERT_TRUE(token.has_value());
  now_ += 3600 + 61;
  auto expired = service_->Authenticate(Ctx(), *token);
  ASSERT_FALSE(expired.has_value());
  EXPECT_NE(expired.error().message().find("expired"), std::string::npos);
}

TEST_F(VaultServiceTest, DeletingOrRotatingAnIdentityRevokesItsTokensImmediately) {
  NewCaller("app1", {"get"});
  auto token = Token(client_ids_["app1"], secrets_["app1"]);
  ASSERT_TRUE(token.has_value());
  ASSERT_TRUE(service_->Authenticate(Ctx(), *token).has_value());
  auto rotated = service_->RotateIdentitySecret(Ctx(), admin_, "app1");
  ASSERT_TRUE(rotated.has_value());
  EXPECT_EQ(service_->Authenticate(Ctx(), *token).error().code(), StatusCode::kUnauthenticated);
  EXPECT_FALSE(Token(client_ids_["app1"], secrets_["app1"]).has_value());
  std::string new_secret(AsStringView(rotated->client_secret.reveal()));
  auto token2 = Token(client_ids_["app1"], new_secret);
  ASSERT_TRUE(token2.has_value());
  ASSERT_TRUE(service_->Authenticate(Ctx(), *token2).has_value());
  ASSERT_TRUE(service_->DeleteIdentity(Ctx(), admin_, "app1").has_value());
  EXPECT_EQ(service_->Authenticate(Ctx(), *token2).error().code(), StatusCode::kUnauthenticated);
}

TEST_F(VaultServiceTest, PoliciesDenyByDefaultAndGrantThroughTheEncryptionUserRole) {
  MakeKey("kek");
  Principal nobody = NewCaller("nobody", {});
  EXPECT_EQ(service_->GetKey(Ctx(), nobody, "kek", "").error().code(),
            StatusCode::kPermissionDenied);
  Principal svc = NewCaller("svc", {}, {"Key Vault Crypto Service Encryption User"});
  EXPECT_TRUE(service_->GetKey(Ctx(), svc, "kek", "").has_value());
  Bytes dek(32, 0x42);
  auto wrapped = service_->WrapKey(Ctx(), svc, "kek", "", "RSA-OAEP-256", dek);
  ASSERT_TRUE(wrapped.has_value());
  auto unwrapped =
      service_->UnwrapKey(Ctx(), svc, "kek", wrapped->version, "RSA-OAEP-256", wrapped->value);
  ASSERT_TRUE(unwrapped.has_value());
  EXPECT_TRUE(ConstantTimeEquals(unwrapped->value.reveal(), dek));
  EXPECT_EQ(service_->Encrypt(Ctx(), svc, "kek", "", "RSA-OAEP", dek).error().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(service_->ListKeys(Ctx(), svc, 25, "").error().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(service_->CreateIdentity(Ctx(), svc, "x").error().code(),
            StatusCode::kPermissionDenied);
}

TEST_F(VaultServiceTest, WrapUnwrapRoundTripsForEveryAlgorithmAndInteroperatesWithPublicKey) {
  KeyVersion k = MakeKey("Kek1");
  auto pub = crypto::RsaPublicKey::FromJwk({k.n, k.e});
  ASSERT_TRUE(pub.has_value());
  Bytes dek(32, 0x11);
  for (const char* alg : {"RSA-OAEP", "RSA-OAEP-256", "RSA1_5"}) {
    auto w = service_->WrapKey(Ctx(), admin_, "kek1", "", alg, dek);
    ASSERT_TRUE(w.has_value()) << alg;
    EXPECT_EQ(w->version, k.version);
    auto u = service_->UnwrapKey(Ctx(), admin_, "KEK1", k.version, alg, w->value);
    ASSERT_TRUE(u.has_value()) << alg;
    EXPECT_TRUE(ConstantTimeEquals(u->value.reveal(), dek));
  }
  // Local OAEP (SHA-1) wrap, as the Azure SDK does it, unwraps remotely.
  auto local = pub->Encrypt(crypto::RsaEncryptionPadding::kOaepSha1, dek);
  ASSERT_TRUE(local.has_value());
  auto u = service_->UnwrapKey(Ctx(), admin_, "kek1", "", "RSA-OAEP", *local);
  ASSERT_TRUE(u.has_value());
  EXPECT_TRUE(ConstantTimeEquals(u->value.reveal(), dek));
  EXPECT_EQ(service_->UnwrapKey(Ctx(), admin_, "kek1", "", "RSA-OAEP-256", *local).error().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->WrapKey(Ctx(), admin_, "kek1", "", "A256KW", dek).error().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->WrapKey(Ctx(), admin_, "kek1", "", "RSA-OAEP", Bytes(215, 1)).error().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(service_->WrapKey(Ctx(), admin_, "kek1", "", "RSA-OAEP", Bytes(214, 1)).has_value());
  EXPECT_EQ(service_->WrapKey(Ctx(), admin_, "kek1", kVersion0, "RSA-OAEP", dek).error().code(),
            StatusCode::kNotFound);
}

TEST_F(VaultServiceTest, SignAndVerifyDigests) {
  MakeKey("signer");
  Bytes digest = crypto::Sha256(AsBytes("message"));
  for (const char* alg : {"RS256", "PS256"}) {
    auto sig = service_->Sign(Ctx(), admin_, "signer", "", alg, digest);
    ASSERT_TRUE(sig.has_value()) << alg;
    auto ok = service_->Verify(Ctx(), admin_, "signer", "", alg, digest, sig->value);
    ASSERT_TRUE(ok.has_value());
    EXPECT_TRUE(ok->second);
    Bytes other = crypto::Sha256(AsBytes("other"));
    EXPECT_FALSE(service_->Verify(Ctx(), admin_, "signer", "", alg, other, sig->value)->second);
  }
  EXPECT_EQ(service_->Sign(Ctx(), admin_, "signer", "", "RS384", digest).error().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->Sign(Ctx(), admin_, "signer", "", "ES256", digest).error().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(VaultServiceTest, EcKeysSignAndVerifyOnTheirCurveOnly) {
  CreateKeyParams p;
  p.kty = "EC";
  p.crv = "P-256";
  auto k = service_->CreateKey(Ctx(), admin_, "ec1", p);
  ASSERT_TRUE(k.has_value()) << k.error().ToString();
  EXPECT_EQ(k->kty, "EC");
  EXPECT_EQ(k->crv, "P-256");
  EXPECT_EQ(k->x.size(), 32u);
  EXPECT_EQ(k->key_ops, (std::vector<std::string>{"sign", "verify"}));
  Bytes digest = crypto::Sha256(AsBytes("m"));
  auto sig = service_->Sign(Ctx(), admin_, "ec1", "", "ES256", digest);
  ASSERT_TRUE(sig.has_value()) << sig.error().ToString();
  EXPECT_EQ(sig->value.size(), 64u);
  EXPECT_TRUE(service_->Verify(Ctx(), admin_, "ec1", "", "ES256", digest, sig->value)->second);
  EXPECT_EQ(service_->Sign(Ctx(), admin_, "ec1", "", "ES384", crypto::Sha384(AsBytes("m")))
                .error()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->Sign(Ctx(), admin_, "ec1", "", "RS256", digest).error().code(),
            StatusCode::kInvalidArgument);
  // Not in key_ops, and EC cannot wrap anyway.
  EXPECT_EQ(service_->WrapKey(Ctx(), admin_, "ec1", "", "RSA-OAEP", Bytes(32)).error().code(),
            StatusCode::kFailedPrecondition);
  p.crv = "P-999";
  EXPECT_EQ(service_->CreateKey(Ctx(), admin_, "ec2", p).error().code(),
            StatusCode::kInvalidArgument);
  p.kty = "EC-HSM";
  p.crv = "P-256";
  EXPECT_EQ(service_->CreateKey(Ctx(), admin_, "ec2", p).error().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(VaultServiceTest, DisabledKeysRefuseEverythingAndExpiredKeysStillUnwrap) {
  MakeKey("k");
  Bytes dek(32, 3);
  auto w = service_->WrapKey(Ctx(), admin_, "k", "", "RSA-OAEP-256", dek);
  ASSERT_TRUE(w.has_value());
  KeyUpdate disable;
  disable.enabled = false;
  ASSERT_TRUE(service_->UpdateKey(Ctx(), admin_, "k", "", disable).has_value());
  EXPECT_EQ(service_->UnwrapKey(Ctx(), admin_, "k", "", "RSA-OAEP-256", w->value).error().code(),
            StatusCode::kFailedPrecondition);
  auto got = service_->GetKey(Ctx(), admin_, "k", "");
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->attributes.enabled);
  KeyUpdate enable_and_expire;
  enable_and_expire.enabled = true;
  enable_and_expire.exp = std::optional<std::int64_t>(now_ - 1000);
  ASSERT_TRUE(service_->UpdateKey(Ctx(), admin_, "k", "", enable_and_expire).has_value());
  EXPECT_EQ(service_->WrapKey(Ctx(), admin_, "k", "", "RSA-OAEP-256", dek).error().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(service_->UnwrapKey(Ctx(), admin_, "k", "", "RSA-OAEP-256", w->value).has_value());
  KeyUpdate ops;
  ops.exp = std::optional<std::int64_t>();
  ops.key_ops = std::vector<std::string>{"wrapKey"};
  ASSERT_TRUE(service_->UpdateKey(Ctx(), admin_, "k", "", ops).has_value());
  EXPECT_TRUE(service_->WrapKey(Ctx(), admin_, "k", "", "RSA-OAEP-256", dek).has_value());
  EXPECT_EQ(service_->UnwrapKey(Ctx(), admin_, "k", "", "RSA-OAEP-256", w->value).error().code(),
            StatusCode::kFailedPrecondition);
}

// The service caches identities, policies and key versions between requests (vault_store.h,
// access generation). Revocation must still take effect on the very next request.
class VaultAccessCacheTest : public VaultServiceTest {
 protected:
  void SetUp() override {
    VaultServiceTest::SetUp();
    MakeKey("kek");
    NewCaller("app", {"unwrapKey", "wrapKey"});
    auto t = Token(client_ids_["app"], secrets_["app"]);
    ASSERT_TRUE(t.has_value());
    token_ = *t;
    auto w = service_->WrapKey(Ctx(), admin_, "kek", "", "RSA-OAEP-256", Bytes(32, 9));
    ASSERT_TRUE(w.has_value());
    wrapped_ = w->value;
    // Warm every cache: several full requests succeed.
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(Request().ok());
  }
  // One request as the HTTP adapter makes it: authenticate, then unwrap.
  Status Request(std::string_view version = "") {
    auto who = service_->Authenticate(Ctx(), token_);
    if (!who) return who.error();
    auto r = service_->UnwrapKey(Ctx(), *who, "kek", version, "RSA-OAEP-256", wrapped_);
    return r ? Status::Ok() : r.error();
  }
  // Another connection to the database, as another process (or the sqlite3 shell) would have.
  void ExecElsewhere(const std::string& sql) {
    auto db = SqliteDb::Open(dir_ / kDatabaseFile);
    ASSERT_TRUE(db.has_value());
    ASSERT_TRUE(db->Exec(sql).ok()) << sql;
  }
  std::string token_;
  Bytes wrapped_;
};

TEST_F(VaultAccessCacheTest, PolicyRevokeTakesEffectOnTheNextRequest) {
  ASSERT_TRUE(service_->SetPolicy(Ctx(), admin_, "app", {"wrapKey"}, {}).has_value());
  EXPECT_EQ(Request().code(), StatusCode::kPermissionDenied);
  ASSERT_TRUE(service_->SetPolicy(Ctx(), admin_, "app", {"unwrapKey"}, {}).has_value());
  EXPECT_TRUE(Request().ok());
  ASSERT_TRUE(service_->DeletePolicy(Ctx(), admin_, "app").ok());
  EXPECT_EQ(Request().code(), StatusCode::kPermissionDenied);
}

TEST_F(VaultAccessCacheTest, IdentityDeleteAndSecretRotationTakeEffectOnTheNextRequest) {
  ASSERT_TRUE(service_->RotateIdentitySecret(Ctx(), admin_, "app").has_value());
  EXPECT_EQ(Request().code(), StatusCode::kUnauthenticated);
  auto t = Token(client_ids_["app"], secrets_["app"]);
  EXPECT_FALSE(t.has_value());
}

TEST_F(VaultAccessCacheTest, KeyDisableDeleteAndKeyOpsTakeEffectOnTheNextRequest) {
  KeyUpdate disable;
  disable.enabled = false;
  ASSERT_TRUE(service_->UpdateKey(Ctx(), admin_, "kek", "", disable).has_value());
  EXPECT_EQ(Request().code(), StatusCode::kFailedPrecondition);
  KeyUpdate enable;
  enable.enabled = true;
  ASSERT_TRUE(service_->UpdateKey(Ctx(), admin_, "kek", "", enable).has_value());
  EXPECT_TRUE(Request().ok());
  KeyUpdate ops;
  ops.key_ops = std::vector<std::string>{"wrapKey"};
  ASSERT_TRUE(service_->UpdateKey(Ctx(), admin_, "kek", "", ops).has_value());
  EXPECT_EQ(Request().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(service_->DeleteKey(Ctx(), admin_, "kek").has_value());
  EXPECT_EQ(Request().code(), StatusCode::kNotFound);
}

TEST_F(VaultAccessCacheTest, ANewVersionIsTheLatestOnTheNextRequest) {
  auto before = service_->WrapKey(Ctx(), admin_, "kek", "", "RSA-OAEP-256", Bytes(32, 1));
  ASSERT_TRUE(before.has_value());
  KeyVersion rotated = MakeKey("kek");
  auto after = service_->WrapKey(Ctx(), admin_, "kek", "", "RSA-OAEP-256", Bytes(32, 1));
  ASSERT_TRUE(after.has_value());
  EXPECT_NE(before->version, after->version);
  EXPECT_EQ(after->version, rotated.version);
}

TEST_F(VaultAccessCacheTest, ChangesByAnotherConnectionTakeEffectOnTheNextRequest) {
  ExecElsewhere("UPDATE policies SET key_permissions = 0");
  EXPECT_EQ(Request().code(), StatusCode::kPermissionDenied);
  ExecElsewhere("UPDATE policies SET key_permissions = " +
                std::to_string(PermissionSet::All().bits()));
  EXPECT_TRUE(Request().ok());
  ExecElsewhere(
      "UPDATE key_versions SET public_json = json_set(public_json, '$.attributes.enabled', "
      "json('false'))");
  EXPECT_EQ(Request().code(), StatusCode::kFailedPrecondition);
  ExecElsewhere(
      "UPDATE key_versions SET public_json = json_set(public_json, '$.attributes.enabled', "
      "json('true'))");
  EXPECT_TRUE(Request().ok());
  ExecElsewhere("UPDATE keys SET deleted_date = 1, scheduled_purge_date = 2");
  EXPECT_EQ(Request().code(), StatusCode::kNotFound);
  ExecElsewhere("UPDATE keys SET deleted_date = NULL, scheduled_purge_date = NULL");
  EXPECT_TRUE(Request().ok());
  ExecElsewhere("UPDATE identities SET enabled = 0 WHERE name_lc = 'app'");
  EXPECT_EQ(Request().code(), StatusCode::kUnauthenticated);
}

TEST_F(VaultServiceTest, CreateAddsVersionsAndNamesAreCaseInsensitive) {
  KeyVersion v1 = MakeKey("MyKey");
  KeyVersion v2 = MakeKey("mykey");
  EXPECT_NE(v1.version, v2.version);
  EXPECT_EQ(v2.name, "MyKey");
  auto latest = service_->GetKey(Ctx(), admin_, "MYKEY", "");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->version, v2.version);
  auto old = service_->GetKey(Ctx(), admin_, "mykey", v1.version);
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->n, v1.n);
  CreateKeyParams bad;
  bad.kty = "RSA-HSM";
  EXPECT_EQ(service_->CreateKey(Ctx(), admin_, "h", bad).error().code(),
            StatusCode::kInvalidArgument);
  bad.kty = "RSA";
  bad.key_size = 1024;
  EXPECT_EQ(service_->CreateKey(Ctx(), admin_, "h", bad).error().code(),
            StatusCode::kInvalidArgument);
  bad.key_size = 2048;
  EXPECT_EQ(service_->CreateKey(Ctx(), admin_, "bad_name", bad).error().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->CreateKey(Ctx(), admin_, "", bad).error().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(VaultServiceTest, ListsPageThroughKeysAndVersions) {
  // Versions are cheap to add by rotation; keys by restore would need generation, so use 3 keys.
  MakeKey("a");
  MakeKey("b");
  MakeKey("c");
  auto p1 = service_->ListKeys(Ctx(), admin_, 2, "");
  ASSERT_TRUE(p1.has_value());
  ASSERT_EQ(p1->items.size(), 2u);
  ASSERT_TRUE(p1->next_skiptoken.has_value());
  auto p2 = service_->ListKeys(Ctx(), admin_, 2, *p1->next_skiptoken);
  ASSERT_TRUE(p2.has_value());
  ASSERT_EQ(p2->items.size(), 1u);
  EXPECT_EQ(p2->items[0].latest.name, "c");
  EXPECT_FALSE(p2->next_skiptoken.has_value());
  ASSERT_TRUE(service_->RotateKey(Ctx(), admin_, "a").has_value());
  std::optional<std::string> next;
  auto v1 = service_->ListKeyVersions(Ctx(), admin_, "a", 1, "", &next);
  ASSERT_TRUE(v1.has_value());
  ASSERT_EQ(v1->size(), 1u);
  ASSERT_TRUE(next.has_value());
  std::optional<std::string> next2;
  auto v2 = service_->ListKeyVersions(Ctx(), admin_, "a", 1, *next, &next2);
  ASSERT_TRUE(v2.has_value());
  ASSERT_EQ(v2->size(), 1u);
  EXPECT_NE((*v1)[0].version, (*v2)[0].version);
  EXPECT_FALSE(next2.has_value());
}

TEST_F(VaultServiceTest, SoftDeleteRecoverPurgeAndConflicts) {
  MakeKey("gone");
  auto del = service_->DeleteKey(Ctx(), admin_, "gone");
  ASSERT_TRUE(del.has_value());
  EXPECT_EQ(del->deletion.scheduled_purge_date - del->deletion.deleted_date, 7 * 86400);
  EXPECT_EQ(service_->GetKey(Ctx(), admin_, "gone", "").error().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->WrapKey(Ctx(), admin_, "gone", "", "RSA-OAEP", Bytes(32)).error().code(),
            StatusCode::kNotFound);
  CreateKeyParams p;
  p.kty = "RSA";
  EXPECT_EQ(service_->CreateKey(Ctx(), admin_, "GONE", p).error().code(), StatusCode::kConflict);
  EXPECT_EQ(service_->DeleteKey(Ctx(), admin_, "gone").error().code(), StatusCode::kNotFound);
  EXPECT_TRUE(service_->GetDeletedKey(Ctx(), admin_, "gone").has_value());
  auto listed = service_->ListDeletedKeys(Ctx(), admin_, 25, "");
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(listed->items.size(), 1u);
  ASSERT_TRUE(service_->RecoverDeletedKey(Ctx(), admin_, "gone").has_value());
  EXPECT_TRUE(service_->GetKey(Ctx(), admin_, "gone", "").has_value());
  EXPECT_EQ(service_->PurgeDeletedKey(Ctx(), admin_, "gone").code(), StatusCode::kNotFound);
  ASSERT_TRUE(service_->DeleteKey(Ctx(), admin_, "gone").has_value());
  EXPECT_TRUE(service_->PurgeDeletedKey(Ctx(), admin_, "gone").ok());
  EXPECT_EQ(service_->GetDeletedKey(Ctx(), admin_, "gone").error().code(), StatusCode::kNotFound);
}

TEST_F(VaultServiceTest, PurgeProtectionForbidsPurgeButRetentionStillPurges) {
  MakeKey("p");
  ASSERT_TRUE(service_->EnablePurgeProtection(Ctx(), admin_).has_value());
  ASSERT_TRUE(service_->DeleteKey(Ctx(), admin_, "p").has_value());
  EXPECT_EQ(service_->PurgeDeletedKey(Ctx(), admin_, "p").code(), StatusCode::kFailedPrecondition);
  now_ += 7 * 86400 - 10;
  EXPECT_EQ(*service_->RunScheduledWork(), 0);
  now_ += 20;
  EXPECT_EQ(*service_->RunScheduledWork(), 1);
  EXPECT_EQ(service_->GetDeletedKey(Ctx(), admin_, "p").error().code(), StatusCode::kNotFound);
  Reopen();
  EXPECT_TRUE(service_->settings().purge_protection);
}

// A key whose scheduled purge fails (here a trigger, written behind the vault's back, refuses to
// delete its versions) does not stop the scheduler from purging the others; the failure is
// reported.
TEST_F(VaultServiceTest, ScheduledWorkCarriesOnPastOneFailingKey) {
  for (const char* name : {"a-bad", "b-good", "c-good"}) {
    MakeKey(name);
    ASSERT_TRUE(service_->DeleteKey(Ctx(), admin_, name).has_value());
  }
  {
    auto db = SqliteDb::Open(dir_ / kDatabaseFile);
    ASSERT_TRUE(db.has_value());
    ASSERT_TRUE(db->Exec("CREATE TRIGGER refuse BEFORE DELETE ON key_versions WHEN "
                         "old.name_lc = 'a-bad' BEGIN SELECT RAISE(ABORT, 'injected'); END;")
                    .ok());
  }
  now_ += 7 * 86400 + 10;
  auto r = service_->RunScheduledWork();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("1 of 3 scheduled actions failed"), std::string::npos)
      << r.error().ToString();
  EXPECT_NE(r.error().message().find("a-bad"), std::string::npos);
  EXPECT_TRUE(service_->GetDeletedKey(Ctx(), admin_, "a-bad").has_value());
  EXPECT_EQ(service_->GetDeletedKey(Ctx(), admin_, "b-good").error().code(), StatusCode::kNotFound);
  EXPECT_EQ(service_->GetDeletedKey(Ctx(), admin_, "c-good").error().code(), StatusCode::kNotFound);
}

TEST_F(VaultServiceTest, BackupRestoresAllVersionsUnderTheSameIds) {
  KeyVersion v1 = MakeKey("bk");
  auto v2 = service_->RotateKey(Ctx(), admin_, "bk");
  ASSERT_TRUE(v2.has_value());
  Bytes dek(32, 9);
  auto w1 = service_->WrapKey(Ctx(), admin_, "bk", v1.version, "RSA-OAEP-256", dek);
  ASSERT_TRUE(w1.has_value());
  auto blob = service_->BackupKey(Ctx(), admin_, "bk");
  ASSERT_TRUE(blob.has_value());
  EXPECT_EQ(service_->RestoreKey(Ctx(), admin_, *blob).error().code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(service_->DeleteKey(Ctx(), admin_, "bk").has_value());
  EXPECT_EQ(service_->RestoreKey(Ctx(), admin_, *blob).error().code(), StatusCode::kConflict);
  ASSERT_TRUE(service_->PurgeDeletedKey(Ctx(), admin_, "bk").ok());
  auto restored = service_->RestoreKey(Ctx(), admin_, *blob);
  ASSERT_TRUE(restored.has_value()) << restored.error().ToString();
  EXPECT_EQ(restored->version, v2->version);
  auto u = service_->UnwrapKey(Ctx(), admin_, "bk", v1.version, "RSA-OAEP-256", w1->value);
  ASSERT_TRUE(u.has_value());
  EXPECT_TRUE(ConstantTimeEquals(u->value.reveal(), dek));
  Bytes tampered = *blob;
  tampered[tampered.size() / 2] ^= 1;
  ASSERT_TRUE(service_->DeleteKey(Ctx(), admin_, "bk").has_value());
  ASSERT_TRUE(service_->PurgeDeletedKey(Ctx(), admin_, "bk").ok());
  EXPECT_EQ(service_->RestoreKey(Ctx(), admin_, tampered).error().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(VaultServiceTest, RotationPolicyRotatesAndNotifiesOnSchedule) {
  KeyVersion v1 = MakeKey("rot");
  RotationPolicy bad;
  bad.lifetime_actions.push_back({"Explode", "P30D", std::nullopt});
  EXPECT_EQ(service_->SetRotationPolicy(Ctx(), admin_, "rot", bad).error().code(),
            StatusCode::kInvalidArgument);
  RotationPolicy short_expiry;
  short_expiry.expiry_time = "P10D";
  EXPECT_EQ(service_->SetRotationPolicy(Ctx(), admin_, "rot", short_expiry).error().code(),
            StatusCode::kInvalidArgument);
  auto none = service_->GetRotationPolicy(Ctx(), admin_, "rot");
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->created, 0);
  RotationPolicy p;
  p.lifetime_actions.push_back({"rotate", "P30D", std::nullopt});
  p.expiry_time = "P90D";
  auto set = service_->SetRotationPolicy(Ctx(), admin_, "rot", p);
  ASSERT_TRUE(set.has_value()) << set.error().ToString();
  EXPECT_EQ(set->lifetime_actions[0].type, "Rotate");
  now_ += 29 * 86400;
  EXPECT_EQ(*service_->RunScheduledWork(), 0);
  now_ += 2 * 86400;
  EXPECT_EQ(*service_->RunScheduledWork(), 1);
  auto latest = service_->GetKey(Ctx(), admin_, "rot", "");
  ASSERT_TRUE(latest.has_value());
  EXPECT_NE(latest->version, v1.version);
  ASSERT_TRUE(latest->attributes.exp.has_value());
  EXPECT_EQ(*latest->attributes.exp, now_ + 90 * 86400);
  EXPECT_EQ(*service_->RunScheduledWork(), 0);

  // Notify fires once per version.
  RotationPolicy notify;
  notify.lifetime_actions.push_back({"Notify", std::nullopt, "P30D"});
  notify.expiry_time = "P90D";
  ASSERT_TRUE(service_->SetRotationPolicy(Ctx(), admin_, "rot", notify).has_value());
  now_ += 61 * 86400;
  EXPECT_EQ(*service_->RunScheduledWork(), 1);
  EXPECT_EQ(*service_->RunScheduledWork(), 0);
  AuditQuery q;
  q.operation = "KeyNearExpiryEventGridNotification";
  auto records = service_->QueryAudit(Ctx(), admin_, q);
  ASSERT_TRUE(records.has_value());
  EXPECT_EQ(records->size(), 1u);
}

TEST_F(VaultServiceTest, EveryRequestIsAuditedWithoutSecretsAndTheChainVerifies) {
  MakeKey("audited");
  Principal nobody = NewCaller("nobody", {});
  Bytes dek(32, 0x5a);
  auto w = service_->WrapKey(Ctx("KeyWrap"), admin_, "audited", "", "RSA-OAEP-256", dek);
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE(service_->UnwrapKey(Ctx("KeyUnwrap"), admin_, "audited", "", "RSA-OAEP-256", w->value)
                  .has_value());
  EXPECT_FALSE(
      service_->UnwrapKey(Ctx("KeyUnwrap"), nobody, "audited", "", "RSA-OAEP-256", w->value)
          .has_value());
  EXPECT_FALSE(service_->Authenticate(Ctx("KeyUnwrap"), "garbage").has_value());
  AuditQuery q;
  q.operation = "keyunwrap";
  q.limit = 1000;
  auto records = service_->QueryAudit(Ctx(), admin_, q);
  ASSERT_TRUE(records.has_value());
  ASSERT_EQ(records->size(), 3u);
  json ok = json::parse((*records)[0]);
  EXPECT_EQ(ok["resultType"], "Success");
  EXPECT_EQ(ok["properties"]["httpStatusCode"], 200);
  EXPECT_EQ(ok["identity"]["name"], "admin");
  EXPECT_NE(ok["properties"]["id"].get<std::string>().find("/keys/audited/" + w->version),
            std::string::npos);
  EXPECT_EQ(json::parse((*records)[1])["properties"]["httpStatusCode"], 403);
  EXPECT_EQ(json::parse((*records)[2])["properties"]["httpStatusCode"], 401);
  // No secret material anywhere in the log.
  AuditQuery all;
  all.limit = 10000;
  auto everything = service_->QueryAudit(Ctx(), admin_, all);
  ASSERT_TRUE(everything.has_value());
  std::string b64_dek = "Wlpa";  // base64 of 0x5a5a5a
  for (const auto& r : *everything) {
    EXPECT_EQ(r.find(b64_dek), std::string::npos);
    EXPECT_EQ(r.find(secrets_["nobody"]), std::string::npos);
    EXPECT_EQ(r.find(admin_cred_["clientSecret"].get<std::string>()), std::string::npos);
  }
  q = {};
  q.key = "AUDITED";
  EXPECT_GE(service_->QueryAudit(Ctx(), admin_, q)->size(), 4u);
  auto v = service_->VerifyAudit(Ctx(), admin_);
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->ok) << v->problem;
}

TEST_F(VaultServiceTest, AuditQueryFiltersATimeWindowInclusive) {
  // Audit times are the real clock's (not the service's test clock).
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(
        service_->GetKey(Ctx("KeyGet"), admin_, "absent-" + std::to_string(i), "").has_value());
  }
  AuditQuery q;
  q.operation = "KeyGet";
  auto all = service_->QueryAudit(Ctx(), admin_, q);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 3u);
  const std::int64_t first = json::parse(all->front())["timeUnix"];
  const std::int64_t last = json::parse(all->back())["timeUnix"];
  q.since = first;
  q.until = last;
  EXPECT_EQ(service_->QueryAudit(Ctx(), admin_, q)->size(), 3u);  // both ends inclusive
  q.since = last + 1;
  q.until = std::nullopt;
  EXPECT_EQ(service_->QueryAudit(Ctx(), admin_, q)->size(), 0u);
  q.since = std::nullopt;
  q.until = first - 1;
  EXPECT_EQ(service_->QueryAudit(Ctx(), admin_, q)->size(), 0u);
}

TEST_F(VaultServiceTest, FailsClosedWhenTheAuditRecordCannotBeWritten) {
  MakeKey("fc");
  Bytes dek(32, 1);
  auto w = service_->WrapKey(Ctx(), admin_, "fc", "", "RSA-OAEP-256", dek);
  ASSERT_TRUE(w.has_value());
  service_->store_for_testing().InjectAuditFailureForTesting(true);
  EXPECT_EQ(service_->UnwrapKey(Ctx(), admin_, "fc", "", "RSA-OAEP-256", w->value).error().code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(service_->DeleteKey(Ctx(), admin_, "fc").error().code(), StatusCode::kUnavailable);
  CreateKeyParams p;
  p.kty = "RSA";
  EXPECT_EQ(service_->CreateKey(Ctx(), admin_, "fc2", p).error().code(), StatusCode::kUnavailable);
  service_->store_for_testing().InjectAuditFailureForTesting(false);
  EXPECT_TRUE(service_->GetKey(Ctx(), admin_, "fc", "").has_value());  // delete had no effect
  EXPECT_EQ(service_->GetKey(Ctx(), admin_, "fc2", "").error().code(), StatusCode::kNotFound);
}

TEST_F(VaultServiceTest, KeysSurviveReopen) {
  KeyVersion k = MakeKey("durable");
  Reopen();
  admin_ = Login(admin_cred_["clientId"], admin_cred_["clientSecret"]);
  auto got = service_->GetKey(Ctx(), admin_, "durable", k.version);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->n, k.n);
}

TEST_F(VaultServiceTest, ImportRejectsInvalidPrivatePartsAndHsmKeys) {
  auto rsa = crypto::RsaPrivateKey::Generate(2048);
  ASSERT_TRUE(rsa.has_value());
  ImportKeyParams p;
  p.kty = "RSA";
  p.public_key = rsa->PublicKey().ToJwk();
  p.d = SecretBytes::CopyFrom(Bytes(256, 1));
  p.p = SecretBytes::CopyFrom(Bytes(128, 1));
  p.q = SecretBytes::CopyFrom(Bytes(128, 1));
  p.dp = SecretBytes::CopyFrom(Bytes(128, 1));
  p.dq = SecretBytes::CopyFrom(Bytes(128, 1));
  p.qi = SecretBytes::CopyFrom(Bytes(128, 1));
  EXPECT_EQ(service_->ImportKey(Ctx(), admin_, "imp", p).error().code(),
            StatusCode::kInvalidArgument);
  p.kty = "RSA-HSM";
  EXPECT_EQ(service_->ImportKey(Ctx(), admin_, "imp", p).error().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pgcmk::vault
