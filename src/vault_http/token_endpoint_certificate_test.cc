// The token endpoint's certificate credentials over the HTTP protocol layer (in-process): the
// admin API that registers certificates, the form-encoded client-assertion request, the Entra
// error shapes, the OpenID discovery document, and audit records that never hold an assertion.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/base64url.h"
#include "common/durable_file.h"
#include "common/percent_encoding.h"
#include "crypto/client_certificate.h"
#include "crypto/jwt.h"
#include "crypto/rsa_key.h"
#include "vault_http/route.h"
#include "vault_http/vault_api.h"
#include "vault_http/wire_format.h"

namespace pgcmk::vault_http {
namespace {

using nlohmann::json;

constexpr char kHost[] = "vault.example:8443";

class TokenEndpointCertificateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vault-api-cert-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ASSERT_TRUE(vault::VaultService::Initialize(dir_ / "v", {}).has_value());
    vault::VaultServiceOptions o;
    o.audit_outcome = AuditOutcomeFor;
    auto s = vault::VaultService::Open(dir_ / "v", o);
    ASSERT_TRUE(s.has_value());
    service_ = std::move(*s);
    ApiOptions api_options;
    api_options.own_origins = {"https://" + std::string(kHost)};
    api_ = std::make_unique<VaultApi>(*service_, api_options);
    cred_ = json::parse(AsStringView(*ReadWholeFile(dir_ / "v" / "admin.credential")));
    tenant_ = cred_["tenantId"].get<std::string>();
    HttpResponse t = Token("client_id=" + cred_["clientId"].get<std::string>() +
                           "&client_secret=" + cred_["clientSecret"].get<std::string>());
    ASSERT_EQ(t.status, 200) << t.body;
    admin_token_ = json::parse(t.body)["access_token"];
    HttpResponse id = Call("POST", "/admin/identities", R"({"name":"app1"})", admin_token_);
    ASSERT_EQ(id.status, 200) << id.body;
    client_id_ = json::parse(id.body)["clientId"];
    auto ck = crypto::CreateSelfSignedClientCertificate({"app1", 2048, std::chrono::days(10)});
    ASSERT_TRUE(ck.has_value());
    cert_pem_ = ck->certificate_pem;
    key_.emplace(std::move(*crypto::RsaPrivateKey::FromPem(ck->private_key_pem)));
    cert_.emplace(std::move(*crypto::ParseClientCertificatePem(cert_pem_)));
  }
  void TearDown() override {
    api_.reset();
    service_.reset();
    std::filesystem::remove_all(dir_);
  }

  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& token = "",
                    const std::string& ctype = "application/json") {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.remote_addr = "127.0.0.1";
    r.headers["host"] = host_;
    if (!body.empty()) r.headers["content-type"] = ctype;
    if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
    return api_->Handle(r);
  }
  std::string TokenPath() { return "/" + tenant_ + "/oauth2/v2.0/token"; }
  HttpResponse Token(const std::string& credential_params) {
    return Call("POST", TokenPath(),
                "grant_type=client_credentials&" + credential_params +
                    "&scope=https%3A%2F%2Fvault.pgcmk.local%2F.default",
                "", "application/x-www-form-urlencoded");
  }
  static std::int64_t Now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::string Assertion(std::string jti, std::string audience = "",
                        crypto::JwsAlgorithm alg = crypto::JwsAlgorithm::kPs256) {
    const std::int64_t now = Now();
    return SignedAssertion({{"jti", jti}, {"nbf", now}, {"exp", now + 300}}, audience, alg);
  }
  // Signed with the registered key; `times` supplies jti and any of nbf/iat/exp verbatim.
  std::string SignedAssertion(const json& times, std::string audience = "",
                              crypto::JwsAlgorithm alg = crypto::JwsAlgorithm::kPs256) {
    json header = {{"typ", "JWT"}};
    header[alg == crypto::JwsAlgorithm::kPs256 ? "x5t#S256" : "x5t"] =
        Base64UrlEncode(alg == crypto::JwsAlgorithm::kPs256 ? cert_->sha256 : cert_->sha1);
    json claims = {
        {"aud", audience.empty() ? "https://" + std::string(kHost) + TokenPath() : audience},
        {"iss", client_id_},
        {"sub", client_id_}};
    claims.update(times);
    return *crypto::SignJws(*key_, alg, header.dump(), claims.dump());
  }
  HttpResponse AssertionToken(const std::string& assertion) {
    return Token("client_id=" + client_id_ + "&client_assertion_type=" +
                 PercentEncode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
                 "&client_assertion=" + PercentEncode(assertion));
  }
  void ExpectTokenError(const HttpResponse& r, int status, const std::string& error, long code) {
    EXPECT_EQ(r.status, status) << r.body;
    json b = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(b.is_object()) << r.body;
    EXPECT_EQ(b["error"], error) << r.body;
    ASSERT_EQ(b["error_codes"].size(), 1u) << r.body;
    EXPECT_EQ(b["error_codes"][0], code) << r.body;
    EXPECT_TRUE(b.contains("trace_id") && b.contains("correlation_id") && b.contains("timestamp"));
  }
  json AddCertificate() {
    HttpResponse r = Call("POST", "/admin/identities/app1/certificates",
                          json{{"certificate", cert_pem_}}.dump(), admin_token_);
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body);
  }

  std::string host_ = kHost;  // the Host header of requests
  std::filesystem::path dir_;
  std::unique_ptr<vault::VaultService> service_;
  std::unique_ptr<VaultApi> api_;
  json cred_;
  std::string tenant_, admin_token_, client_id_, cert_pem_;
  std::optional<crypto::RsaPrivateKey> key_;
  std::optional<crypto::ClientCertificate> cert_;
};

TEST(CertificateRouteTest, AdminCertificateRoutesAndDiscovery) {
  EXPECT_EQ(RouteRequest("POST", "/admin/identities/a/certificates").op,
            Operation::kAdminAddIdentityCertificate);
  EXPECT_EQ(RouteRequest("GET", "/admin/identities/a/certificates").op,
            Operation::kAdminListIdentityCertificates);
  Route del = RouteRequest("DELETE", "/admin/identities/a/certificates/ABCD");
  EXPECT_EQ(del.op, Operation::kAdminRemoveIdentityCertificate);
  EXPECT_EQ(del.name, "a");
  EXPECT_EQ(del.credential, "ABCD");
  EXPECT_EQ(RouteRequest("DELETE", "/admin/identities/a/certificates/").op, Operation::kNoRoute);
  Route oidc = RouteRequest("GET", "/t1/v2.0/.well-known/openid-configuration");
  EXPECT_EQ(oidc.op, Operation::kOpenIdConfiguration);
  EXPECT_EQ(oidc.tenant, "t1");
  EXPECT_EQ(RouteRequest("POST", "/t1/v2.0/.well-known/openid-configuration").op,
            Operation::kNoRoute);
}

TEST_F(TokenEndpointCertificateTest, AdminApiAddsListsAndRemovesCertificates) {
  json added = AddCertificate();
  EXPECT_EQ(added["type"], "AsymmetricX509Cert");
  EXPECT_EQ(added["x5t#S256"], Base64UrlEncode(cert_->sha256));
  EXPECT_EQ(added["keySize"], 2048);
  EXPECT_EQ(added["subject"], "CN=app1");
  HttpResponse dup = Call("POST", "/admin/identities/app1/certificates",
                          json{{"certificate", cert_pem_}}.dump(), admin_token_);
  EXPECT_EQ(dup.status, 409);
  HttpResponse bad = Call("POST", "/admin/identities/app1/certificates",
                          R"({"certificate":"nope"})", admin_token_);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(Call("POST", "/admin/identities/app1/certificates", "{}", admin_token_).status, 400);
  HttpResponse list = Call("GET", "/admin/identities/app1/certificates", "", admin_token_);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(json::parse(list.body)["value"].size(), 1u);
  EXPECT_EQ(Call("GET", "/admin/identities/app1/certificates").status, 401);
  HttpResponse del = Call(
      "DELETE", "/admin/identities/app1/certificates/" + added["thumbprint"].get<std::string>(), "",
      admin_token_);
  EXPECT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(
      Call("DELETE", "/admin/identities/app1/certificates/" + added["keyId"].get<std::string>(), "",
           admin_token_)
          .status,
      404);
}

TEST_F(TokenEndpointCertificateTest, ClientAssertionGetsATokenThatUnlocksTheKeysApi) {
  AddCertificate();
  for (auto alg : {crypto::JwsAlgorithm::kPs256, crypto::JwsAlgorithm::kRs256}) {
    HttpResponse r =
        AssertionToken(Assertion("jti-" + std::string(JwsAlgorithmName(alg)), "", alg));
    ASSERT_EQ(r.status, 200) << r.body;
    json b = json::parse(r.body);
    EXPECT_EQ(b["token_type"], "Bearer");
    HttpResponse keys = Call("GET", "/keys?api-version=7.6", "", b["access_token"]);
    EXPECT_EQ(keys.status, 403) << keys.body;  // authenticated; no policy yet
  }
}

TEST_F(TokenEndpointCertificateTest, RefusalsUseEntraErrorShapes) {
  AddCertificate();
  ExpectTokenError(AssertionToken("not-a-jwt"), 400, "invalid_request", 50027);
  std::string tampered = Assertion("j1");
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  ExpectTokenError(AssertionToken(tampered), 401, "invalid_client", 700027);
  ExpectTokenError(AssertionToken(Assertion("j2", "https://other.example/x/oauth2/v2.0/token")),
                   401, "invalid_client", 700023);
  const std::string once = Assertion("j3");
  EXPECT_EQ(AssertionToken(once).status, 200);
  ExpectTokenError(AssertionToken(once), 401, "invalid_client", 700029);
  ExpectTokenError(Token("client_id=6f1f0000-0000-4000-8000-000000000000&client_assertion_type=" +
                         PercentEncode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
                         "&client_assertion=" + PercentEncode(Assertion("j4"))),
                   400, "unauthorized_client", 700016);
  ExpectTokenError(
      Token("client_id=" + client_id_ + "&client_assertion=" + PercentEncode(Assertion("j5"))), 400,
      "invalid_request", 900144);
  // alg "none" with a registered thumbprint.
  json none_header = {{"alg", "none"}, {"x5t#S256", Base64UrlEncode(cert_->sha256)}};
  std::string none = Base64UrlEncode(AsBytes(none_header.dump())) + "." +
                     Assertion("j6").substr(Assertion("j6").find('.') + 1);
  none = none.substr(0, none.rfind('.') + 1);
  ExpectTokenError(AssertionToken(none), 401, "invalid_client", 5002738);
}

TEST_F(TokenEndpointCertificateTest, AuditRecordsEveryAttemptWithoutTheAssertion) {
  AddCertificate();
  const std::string good = Assertion("audit-1");
  ASSERT_EQ(AssertionToken(good).status, 200);
  ASSERT_EQ(AssertionToken(good).status, 401);
  ASSERT_EQ(AssertionToken("garbage.garbage.garbage").status, 400);
  HttpResponse audit =
      Call("GET", "/admin/audit?operation=Authentication&limit=100", "", admin_token_);
  ASSERT_EQ(audit.status, 200);
  json records = json::parse(audit.body)["value"];
  int successes = 0, failures = 0;
  for (const auto& r : records) {
    (r["resultType"] == "Success" ? successes : failures)++;
  }
  EXPECT_EQ(successes, 2);  // the admin's secret login and the first assertion
  EXPECT_EQ(failures, 2);
  EXPECT_EQ(audit.body.find(good.substr(0, 20)), std::string::npos);
  EXPECT_EQ(audit.body.find(good.substr(good.rfind('.') + 1, 20)), std::string::npos);
  EXPECT_EQ(audit.body.find("garbage"), std::string::npos);
  EXPECT_NE(audit.body.find("certificates/"), std::string::npos);
}

TEST_F(TokenEndpointCertificateTest, ExtremeTimesNeitherOverflowTheLifetimeCapNorEscapeReplay) {
  AddCertificate();
  const std::int64_t now = Now();
  const std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  const std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  const json cases[] = {
      {{"jti", "ovf-1"}, {"nbf", -1}, {"exp", kMax}},
      {{"jti", "ovf-2"}, {"nbf", kMin}, {"exp", now + 10 * 365 * 86400}},
      {{"jti", "ovf-3"}, {"iat", kMin}, {"exp", now + 300}},
      {{"jti", "ovf-4"}, {"exp", kMax}},
      {{"jti", "ovf-5"}, {"nbf", now - 3600}, {"exp", now + 60}},
      {{"jti", "ovf-6"}, {"nbf", now}, {"exp", std::numeric_limits<std::uint64_t>::max()}},
  };
  for (const json& times : cases) {
    SCOPED_TRACE(times.dump());
    const std::string assertion = SignedAssertion(times);
    for (int attempt = 0; attempt < 2; ++attempt) {
      HttpResponse r = AssertionToken(assertion);
      EXPECT_NE(r.status, 200) << r.body;
      EXPECT_NE(r.status, 500) << r.body;
    }
  }
  // The boundaries themselves: a 600-second assertion starting now is accepted once.
  const std::string longest = SignedAssertion({{"jti", "edge"}, {"nbf", now}, {"exp", now + 600}});
  EXPECT_EQ(AssertionToken(longest).status, 200);
  ExpectTokenError(AssertionToken(longest), 401, "invalid_client", 700029);
}

TEST_F(TokenEndpointCertificateTest, AudienceIsBoundToTheVaultNotToTheHostHeader) {
  AddCertificate();
  // A client that addresses the vault as attacker.example, with an assertion made for
  // attacker.example's token endpoint: refused, whatever the Host header claims.
  host_ = "attacker.example";
  ExpectTokenError(AssertionToken(Assertion("host-1", "https://attacker.example" + TokenPath())),
                   401, "invalid_client", 700023);
  // Even an assertion for the vault's own endpoint is refused at an unknown name.
  ExpectTokenError(AssertionToken(Assertion("host-2")), 401, "invalid_client", 700023);
  // Discovery names the vault's own endpoint, not the Host header's, and is not cacheable.
  HttpResponse d = Call("GET", "/" + tenant_ + "/v2.0/.well-known/openid-configuration");
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(json::parse(d.body)["token_endpoint"], "https://" + std::string(kHost) + TokenPath());
  bool no_store = false;
  for (const auto& [name, value] : d.headers)
    no_store |= name == "Cache-Control" && value == "no-store";
  EXPECT_TRUE(no_store);
  // The Host header's case does not matter; the vault's own name works.
  host_ = "VAULT.example:8443";
  EXPECT_EQ(AssertionToken(Assertion("host-3")).status, 200);
}

TEST_F(TokenEndpointCertificateTest, WithoutKnownOriginsCertificateLoginsAreRefused) {
  AddCertificate();
  VaultApi unconfigured(*service_, ApiOptions());
  HttpRequest r;
  r.method = "POST";
  r.target = TokenPath();
  r.remote_addr = "127.0.0.1";
  r.headers["host"] = kHost;
  r.headers["content-type"] = "application/x-www-form-urlencoded";
  r.body = "grant_type=client_credentials&client_id=" + client_id_ + "&client_assertion_type=" +
           PercentEncode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
           "&client_assertion=" + PercentEncode(Assertion("unconfigured")) +
           "&scope=https%3A%2F%2Fvault.pgcmk.local%2F.default";
  ExpectTokenError(unconfigured.Handle(r), 401, "invalid_client", 700023);
}

TEST_F(TokenEndpointCertificateTest, ServesOpenIdConfigurationForItsTenantOnly) {
  HttpResponse r = Call("GET", "/" + tenant_ + "/v2.0/.well-known/openid-configuration");
  ASSERT_EQ(r.status, 200) << r.body;
  json b = json::parse(r.body);
  EXPECT_EQ(b["token_endpoint"], "https://" + std::string(kHost) + TokenPath());
  EXPECT_EQ(b["issuer"], "https://" + std::string(kHost) + "/" + tenant_ + "/v2.0");
  HttpResponse other = Call("GET", "/someone-else/v2.0/.well-known/openid-configuration");
  EXPECT_EQ(other.status, 400);
  EXPECT_EQ(json::parse(other.body)["error_codes"][0], 90002);
}

}  // namespace
}  // namespace pgcmk::vault_http
