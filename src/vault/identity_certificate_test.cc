// Certificate credentials through VaultService: registration, the token endpoint's
// client-assertion path, revocation, and opening a vault created before the feature existed.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/base64url.h"
#include "common/durable_file.h"
#include "crypto/client_certificate.h"
#include "crypto/jwt.h"
#include "crypto/rsa_key.h"
#include "vault/sqlite_db.h"
#include "vault/vault_service.h"

namespace pgcmk::vault {
namespace {

using nlohmann::json;

constexpr char kOrigin[] = "https://vault.test:8443";

std::int64_t RealNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct ClientCert {
  crypto::CertifiedKey pem;
  crypto::RsaPrivateKey key;
  crypto::ClientCertificate cert;
};

ClientCert NewClientCert(std::string cn) {
  auto pem =
      crypto::CreateSelfSignedClientCertificate({std::move(cn), 2048, std::chrono::days(30)});
  EXPECT_TRUE(pem.has_value());
  auto key = crypto::RsaPrivateKey::FromPem(pem->private_key_pem);
  auto cert = crypto::ParseClientCertificatePem(pem->certificate_pem);
  EXPECT_TRUE(key.has_value() && cert.has_value());
  return ClientCert{std::move(*pem), std::move(*key), std::move(*cert)};
}

class IdentityCertificateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vault-idcert-test-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    dir_ = root_ / "vault";
    options_.now = [this] { return now_.load(); };
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  void InitFresh() {
    InitOptions init;
    init.retention_days = 7;
    auto r = VaultService::Initialize(dir_, init, options_);
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    Open();
    auto cred = ReadWholeFile(dir_ / kAdminCredentialFile);
    ASSERT_TRUE(cred.has_value());
    json admin = json::parse(AsStringView(*cred));
    admin_ = Login(admin["clientId"], admin["clientSecret"]);
  }

  void Open() {
    service_.reset();
    auto s = VaultService::Open(dir_, options_);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    service_ = std::move(*s);
  }

  RequestContext Ctx(std::string op = "Test") {
    RequestContext ctx;
    ctx.origin = kOrigin;
    ctx.operation_name = std::move(op);
    ctx.caller_ip = "127.0.0.1";
    ctx.request_id = "r1";
    return ctx;
  }
  std::string TokenEndpoint() {
    return std::string(kOrigin) + "/" + service_->settings().tenant_id + "/oauth2/v2.0/token";
  }
  TokenRequest BaseRequest(const std::string& client_id) {
    TokenRequest req;
    req.tenant = service_->settings().tenant_id;
    req.grant_type = "client_credentials";
    req.client_id = client_id;
    req.scope = service_->settings().resource + "/.default";
    req.token_endpoint = TokenEndpoint();
    return req;
  }
  Principal Login(const std::string& client_id, const std::string& secret) {
    TokenRequest req = BaseRequest(client_id);
    req.client_secret = SecretBytes::CopyFrom(AsBytes(secret));
    auto t = service_->IssueToken(Ctx("Authentication"), req);
    EXPECT_TRUE(t.has_value()) << t.error().ToString();
    auto p = service_->Authenticate(Ctx(), t ? t->access_token : "");
    EXPECT_TRUE(p.has_value()) << p.error().ToString();
    return p ? *p : Principal{};
  }
  std::string Assertion(const ClientCert& c, const std::string& client_id, std::string jti = "",
                        std::string audience = "") {
    if (jti.empty()) jti = "jti-" + std::to_string(++jti_counter_);
    json header = {{"typ", "JWT"},
                   {"x5t#S256", Base64UrlEncode(c.cert.sha256)},
                   {"x5t", Base64UrlEncode(c.cert.sha1)}};
    json claims = {{"aud", audience.empty() ? TokenEndpoint() : audience},
                   {"iss", client_id},
                   {"sub", client_id},
                   {"jti", jti},
                   {"iat", now_.load()},
                   {"nbf", now_.load()},
                   {"exp", now_.load() + 600}};
    auto t = crypto::SignJws(c.key, crypto::JwsAlgorithm::kPs256, header.dump(), claims.dump());
    EXPECT_TRUE(t.has_value());
    return *t;
  }
  Result<IssuedToken> TokenWithAssertion(const std::string& client_id, std::string assertion) {
    TokenRequest req = BaseRequest(client_id);
    req.client_assertion_type = std::string(kJwtBearerAssertionType);
    req.client_assertion = std::move(assertion);
    return service_->IssueToken(Ctx("Authentication"), req);
  }
  NewIdentity CreateApp(const std::string& name) {
    auto id = service_->CreateIdentity(Ctx(), admin_, name);
    EXPECT_TRUE(id.has_value()) << id.error().ToString();
    return std::move(*id);
  }
  std::vector<std::string> Audit(const std::string& operation) {
    AuditQuery q;
    q.operation = operation;
    q.limit = 1000;
    auto r = service_->QueryAudit(Ctx(), admin_, q);
    EXPECT_TRUE(r.has_value());
    return r ? *r : std::vector<std::string>{};
  }

  std::filesystem::path root_, dir_;
  std::atomic<std::int64_t> now_{RealNow()};
  VaultServiceOptions options_;
  std::unique_ptr<VaultService> service_;
  Principal admin_;
  int jti_counter_ = 0;
};

TEST_F(IdentityCertificateTest, AddListAndRemoveCertificates) {
  InitFresh();
  NewIdentity app = CreateApp("app1");
  ClientCert c = NewClientCert("app1");
  auto added = service_->AddIdentityCertificate(Ctx(), admin_, "APP1", c.pem.certificate_pem);
  ASSERT_TRUE(added.has_value()) << added.error().ToString();
  EXPECT_EQ(added->certificate.sha256, c.cert.sha256);
  EXPECT_EQ(added->Thumbprint().size(), 40u);
  EXPECT_EQ(
      service_->AddIdentityCertificate(Ctx(), admin_, "app1", c.pem.certificate_pem).error().code(),
      StatusCode::kAlreadyExists);
  EXPECT_EQ(service_->AddIdentityCertificate(Ctx(), admin_, "nobody", c.pem.certificate_pem)
                .error()
                .code(),
            StatusCode::kNotFound);
  auto ec_ca = crypto::CreateCertificateAuthority({});
  ASSERT_TRUE(ec_ca.has_value());
  EXPECT_EQ(service_->AddIdentityCertificate(Ctx(), admin_, "app1", ec_ca->certificate_pem)
                .error()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->AddIdentityCertificate(Ctx(), admin_, "app1", "junk").error().code(),
            StatusCode::kInvalidArgument);
  Principal app_principal =
      Login(app.identity.client_id, std::string(AsStringView(app.client_secret.reveal())));
  EXPECT_EQ(service_->AddIdentityCertificate(Ctx(), app_principal, "app1", c.pem.certificate_pem)
                .error()
                .code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(service_->ListIdentityCertificates(Ctx(), app_principal, "app1").error().code(),
            StatusCode::kPermissionDenied);

  auto list = service_->ListIdentityCertificates(Ctx(), admin_, "app1");
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].key_id, added->key_id);

  auto removed =
      service_->RemoveIdentityCertificate(Ctx(), admin_, "app1", ToLower(added->Thumbprint()));
  ASSERT_TRUE(removed.has_value()) << removed.error().ToString();
  EXPECT_EQ(removed->key_id, added->key_id);
  EXPECT_TRUE(service_->ListIdentityCertificates(Ctx(), admin_, "app1")->empty());
  EXPECT_EQ(
      service_->RemoveIdentityCertificate(Ctx(), admin_, "app1", added->key_id).error().code(),
      StatusCode::kNotFound);
  // Every call, denials included, was audited.
  EXPECT_GE(Audit("Test").size(), 10u);
}

TEST_F(IdentityCertificateTest, RejectsExpiredCertificateAtRegistration) {
  InitFresh();
  CreateApp("app1");
  ClientCert c = NewClientCert("app1");
  now_ = c.cert.not_after + 1;
  EXPECT_EQ(
      service_->AddIdentityCertificate(Ctx(), admin_, "app1", c.pem.certificate_pem).error().code(),
      StatusCode::kInvalidArgument);
}

TEST_F(IdentityCertificateTest, CertificateAssertionGetsTokenOnceAndIsAudited) {
  InitFresh();
  NewIdentity app = CreateApp("app1");
  ClientCert c = NewClientCert("app1");
  ASSERT_TRUE(service_->AddIdentityCertificate(Ctx(), admin_, "app1", c.pem.certificate_pem));
  const std::string assertion = Assertion(c, app.identity.client_id, "jti-once");
  auto token = TokenWithAssertion(app.identity.client_id, assertion);
  ASSERT_TRUE(token.has_value()) << token.error().ToString();
  auto who = service_->Authenticate(Ctx(), token->access_token);
  ASSERT_TRUE(who.has_value()) << who.error().ToString();
  EXPECT_EQ(who->identity.name, "app1");

  auto replay = TokenWithAssertion(app.identity.client_id, assertion);
  ASSERT_FALSE(replay.has_value());
  EXPECT_EQ(replay.error().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(replay.error().message().starts_with("AADSTS700029"));

  auto records = Audit("Authentication");
  std::string all;
  for (const auto& r : records) all += r + "\n";
  std::string thumbprint = ToHex(c.cert.sha1);
  for (char& ch : thumbprint) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_NE(all.find("certificates/" + thumbprint), std::string::npos);
  EXPECT_EQ(all.find(assertion.substr(assertion.rfind('.') + 1, 30)), std::string::npos);
  EXPECT_EQ(all.find(assertion.substr(0, 30)), std::string::npos);
  EXPECT_NE(all.find("\"Failure\""), std::string::npos);  // the replay
}

TEST_F(IdentityCertificateTest, SingleUseSurvivesRestartUntilTheAssertionExpires) {
  InitFresh();
  NewIdentity app = CreateApp("app1");
  ClientCert c = NewClientCert("app1");
  ASSERT_TRUE(service_->AddIdentityCertificate(Ctx(), admin_, "app1", c.pem.certificate_pem));
  const std::string assertion = Assertion(c, app.identity.client_id, "jti-restart");
  ASSERT_TRUE(TokenWithAssertion(app.identity.client_id, assertion).has_value());

  Open();  // a restart: the in-memory cache is gone, the store remembers
  auto replay = TokenWithAssertion(app.identity.client_id, assertion);
  ASSERT_FALSE(replay.has_value());
  EXPECT_EQ(replay.error().code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(replay.error().message().starts_with("AADSTS700029"));
  // Another jti of the same client is fine after the restart.
  EXPECT_TRUE(
      TokenWithAssertion(app.identity.client_id, Assertion(c, app.identity.client_id)).has_value());

  // Once the assertion and the skew have passed, its row is gone (and a resent copy would fail
  // on exp anyway): the same jti in a new assertion is accepted again.
  now_ += 600 + 61;
  Open();
  EXPECT_TRUE(TokenWithAssertion(app.identity.client_id,
                                 Assertion(c, app.identity.client_id, "jti-restart"))
                  .has_value());
  auto rows = SqliteDb::Open(dir_ / kDatabaseFile);
  ASSERT_TRUE(rows.has_value());
  auto st = rows->Prepare("SELECT count(*) FROM used_assertions");
  ASSERT_TRUE(st.has_value());
  ASSERT_TRUE(*st->Step());
  EXPECT_EQ(st->ColumnInt(0), 1);  // the two expired rows were deleted, the new one kept
}

TEST_F(IdentityCertificateTest, SecretStillWorksAndBothOrBadParametersAreRefused) {
  InitFresh();
  NewIdentity app = CreateApp("app1");
  ClientCert c = NewClientCert("app1");
  ASSERT_TRUE(service_->AddIdentityCertificate(Ctx(), admin_, "app1", c.pem.certificate_pem));
  Login(app.identity.client_id, std::string(AsStringView(app.client_secret.reveal())));

  TokenRequest both = BaseRequest(app.identity.client_id);
  both.client_secret = app.client_secret.Clone();
  both.client_assertion_type = std::string(kJwtBearerAssertionType);
  both.client_assertion = Assertion(c, app.identity.client_id);
  EXPECT_EQ(service_->IssueToken(Ctx("Authentication"), both).error().code(),
            StatusCode::kInvalidArgument);

  TokenRequest wrong_type = BaseRequest(app.identity.client_id);
  wrong_type.client_assertion_type = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer";
  wrong_type.client_assertion = Assertion(c, app.identity.client_id);
  EXPECT_EQ(service_->IssueToken(Ctx("Authentication"), wrong_type).error().code(),
            StatusCode::kInvalidArgument);

  TokenRequest no_assertion = BaseRequest(app.identity.client_id);
  no_assertion.client_assertion_type = std::string(kJwtBearerAssertionType);
  EXPECT_TRUE(service_->IssueToken(Ctx("Authentication"), no_assertion)
                  .error()
                  .message()
                  .starts_with("AADSTS900144"));

  // Another identity's certificate, or an assertion for another client id, is refused.
  NewIdentity other = CreateApp("app2");
  auto cross = TokenWithAssertion(other.identity.client_id, Assertion(c, other.identity.client_id));
  EXPECT_EQ(cross.error().code(), StatusCode::kUnauthenticated);
  auto mismatched =
      TokenWithAssertion(app.identity.client_id, Assertion(c, other.identity.client_id));
  EXPECT_TRUE(mismatched.error().message().starts_with("AADSTS700021"));
  auto wrong_aud = TokenWithAssertion(
      app.identity.client_id, Assertion(c, app.identity.client_id, "",
                                        "https://login.microsoftonline.com/x/oauth2/v2.0/token"));
  EXPECT_TRUE(wrong_aud.error().message().starts_with("AADSTS700023"));
}

TEST_F(IdentityCertificateTest, RemovingCertificateRevokesTokensAndRefusesItsAssertions) {
  InitFresh();
  NewIdentity app = CreateApp("app1");
  ClientCert c = NewClientCert("app1");
  auto added = service_->AddIdentityCertificate(Ctx(), admin_, "app1", c.pem.certificate_pem);
  ASSERT_TRUE(added.has_value());
  auto token = TokenWithAssertion(app.identity.client_id, Assertion(c, app.identity.client_id));
  ASSERT_TRUE(token.has_value());
  ASSERT_TRUE(service_->Authenticate(Ctx(), token->access_token).has_value());
  ASSERT_TRUE(service_->RemoveIdentityCertificate(Ctx(), admin_, "app1", added->key_id));
  EXPECT_EQ(service_->Authenticate(Ctx(), token->access_token).error().code(),
            StatusCode::kUnauthenticated);
  auto again = TokenWithAssertion(app.identity.client_id, Assertion(c, app.identity.client_id));
  ASSERT_FALSE(again.has_value());
  EXPECT_TRUE(again.error().message().starts_with("AADSTS700027"));
  // The certificate expiring has the same effect on new assertions.
  ASSERT_TRUE(service_->AddIdentityCertificate(Ctx(), admin_, "app1", c.pem.certificate_pem));
  now_ = c.cert.not_after + 1;
  auto expired = TokenWithAssertion(app.identity.client_id, Assertion(c, app.identity.client_id));
  EXPECT_TRUE(expired.error().message().starts_with("AADSTS700027"));
}

TEST_F(IdentityCertificateTest, DeletingIdentityDeletesItsCertificates) {
  InitFresh();
  CreateApp("app1");
  ClientCert c = NewClientCert("app1");
  ASSERT_TRUE(service_->AddIdentityCertificate(Ctx(), admin_, "app1", c.pem.certificate_pem));
  ASSERT_TRUE(service_->DeleteIdentity(Ctx(), admin_, "app1"));
  CreateApp("app1");
  EXPECT_TRUE(service_->ListIdentityCertificates(Ctx(), admin_, "app1")->empty());
  // The same certificate can be registered for the new identity.
  EXPECT_TRUE(service_->AddIdentityCertificate(Ctx(), admin_, "app1", c.pem.certificate_pem));
}

// A vault written by the code before certificate credentials (format 1 without the
// identity_certificates table) opens, keeps working, and gains the table.
TEST_F(IdentityCertificateTest, OpensVaultCreatedBeforeCertificatesExisted) {
  const std::filesystem::path data = "src/vault/testdata/vault_format1";
  std::ifstream meta_in(data / "vault.json");
  ASSERT_TRUE(meta_in.good()) << "run from the source directory";
  json meta = json::parse(meta_in);
  std::ifstream sql_in(data / "vault.sql");
  std::stringstream sql;
  sql << sql_in.rdbuf();
  std::ifstream hex_in(data / "master.key.hex");
  std::string hex;
  hex_in >> hex;
  Bytes master;
  ASSERT_TRUE(FromHex(hex, &master));
  ASSERT_TRUE(CreateDirectoryDurably(dir_, 0700).ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ / kMasterKeyFile, master, 0600).ok());
  {
    auto db = SqliteDb::Open(dir_ / kDatabaseFile);
    ASSERT_TRUE(db.has_value());
    ASSERT_TRUE(db->Exec(sql.str()).ok());
    auto st = db->Prepare("SELECT count(*) FROM sqlite_master WHERE name='identity_certificates'");
    ASSERT_TRUE(st.has_value());
    ASSERT_TRUE(*st->Step());
    ASSERT_EQ(st->ColumnInt(0), 0);  // really the old schema
  }
  Open();
  EXPECT_EQ(service_->settings().tenant_id, meta["tenantId"].get<std::string>());
  admin_ = Login(meta["adminClientId"], meta["adminClientSecret"]);
  ASSERT_TRUE(admin_.identity.admin);
  Principal app = Login(meta["app1ClientId"], meta["app1ClientSecret"]);
  EXPECT_EQ(app.identity.name, "app1");
  EXPECT_TRUE(service_->ListIdentityCertificates(Ctx(), admin_, "app1")->empty());
  ClientCert c = NewClientCert("app1");
  ASSERT_TRUE(service_->AddIdentityCertificate(Ctx(), admin_, "app1", c.pem.certificate_pem));
  auto token = TokenWithAssertion(meta["app1ClientId"], Assertion(c, meta["app1ClientId"]));
  ASSERT_TRUE(token.has_value()) << token.error().ToString();
  auto who = service_->Authenticate(Ctx(), token->access_token);
  ASSERT_TRUE(who.has_value());
  auto unwrap_key = service_->GetKey(Ctx(), *who, "kek1", "");
  EXPECT_TRUE(unwrap_key.has_value()) << unwrap_key.error().ToString();
  // Reopening (the table now exists) is fine, and the audit chain continues the old one.
  Open();
  EXPECT_EQ(service_->ListIdentityCertificates(Ctx(), admin_, "app1")->size(), 1u);
  auto verified = service_->VerifyAudit(Ctx(), admin_);
  ASSERT_TRUE(verified.has_value());
  EXPECT_TRUE(verified->ok) << verified->problem;
}

}  // namespace
}  // namespace pgcmk::vault
