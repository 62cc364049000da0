// ClientCredentialsTokenProvider with a certificate credential, against an in-process token
// endpoint that records the form (plain http, insecure by design): the request carries a PS256
// client assertion that verifies with the certificate, names it by x5t#S256, is bound to the
// endpoint, short-lived and unique per request, and no client_secret.
#include <gtest/gtest.h>
#include <httplib.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/base64url.h"
#include "crypto/client_certificate.h"
#include "crypto/jwt.h"
#include "crypto/rsa_key.h"
#include "kms/client_credentials_token_provider.h"

namespace pgcmk::kms {
namespace {

using Json = nlohmann::json;

class FakeTokenEndpoint {
 public:
  FakeTokenEndpoint() {
    server_.Post(
        "/tenant1/oauth2/v2.0/token", [this](const httplib::Request& req, httplib::Response& res) {
          std::lock_guard l(mu_);
          forms_.push_back(req.params);
          res.set_content(R"({"token_type":"Bearer","expires_in":3599,"access_token":"t"})",
                          "application/json");
        });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ~FakeTokenEndpoint() {
    server_.stop();
    thread_.join();
  }
  std::string origin() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<httplib::Params> forms() {
    std::lock_guard l(mu_);
    return forms_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<httplib::Params> forms_;
};

std::string Param(const httplib::Params& p, const std::string& name) {
  auto it = p.find(name);
  return it == p.end() ? std::string() : it->second;
}

SecretBytes Bundle(const crypto::CertifiedKey& c) {
  std::string text(AsStringView(c.private_key_pem.reveal()));
  text += c.certificate_pem;
  SecretBytes out = SecretBytes::CopyFrom(AsBytes(text));
  SecureZero(text.data(), text.size());
  return out;
}

TEST(CertificateTokenProviderTest, SendsAFreshSignedAssertionBoundToTheEndpoint) {
  auto ck = crypto::CreateSelfSignedClientCertificate({"client-1", 2048, std::chrono::days(2)});
  ASSERT_TRUE(ck.has_value());
  auto cert = crypto::ParseClientCertificatePem(ck->certificate_pem);
  ASSERT_TRUE(cert.has_value());
  FakeTokenEndpoint fake;
  HttpOptions http;
  http.allow_plain_http = true;
  auto provider = ClientCredentialsTokenProvider::WithCertificate("client-1", Bundle(*ck), http);
  ASSERT_TRUE(provider.has_value()) << provider.error().ToString();
  AuthChallenge challenge{fake.origin() + "/tenant1", "https://vault.test/.default"};
  ASSERT_TRUE((*provider)->GetToken(challenge, false).has_value());
  ASSERT_TRUE((*provider)->GetToken(challenge, /*force_refresh=*/true).has_value());

  auto forms = fake.forms();
  ASSERT_EQ(forms.size(), 2u);
  std::set<std::string> jtis;
  auto key = crypto::RsaPublicKey::FromDer(cert->public_key_der);
  ASSERT_TRUE(key.has_value());
  for (const auto& form : forms) {
    EXPECT_EQ(Param(form, "grant_type"), "client_credentials");
    EXPECT_EQ(Param(form, "client_id"), "client-1");
    EXPECT_EQ(Param(form, "scope"), "https://vault.test/.default");
    EXPECT_EQ(form.count("client_secret"), 0u);
    EXPECT_EQ(Param(form, "client_assertion_type"),
              "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    auto jws = crypto::ParseJws(Param(form, "client_assertion"));
    ASSERT_TRUE(jws.has_value()) << jws.error().ToString();
    EXPECT_EQ(jws->alg, crypto::JwsAlgorithm::kPs256);
    EXPECT_TRUE(crypto::VerifyJwsSignature(*key, *jws).ok());
    Json header = Json::parse(jws->header_json);
    EXPECT_EQ(header["x5t#S256"], Base64UrlEncode(cert->sha256));
    Json claims = Json::parse(jws->claims_json);
    EXPECT_EQ(claims["aud"], challenge.TokenEndpoint());
    EXPECT_EQ(claims["iss"], "client-1");
    EXPECT_EQ(claims["sub"], "client-1");
    EXPECT_EQ(claims["exp"].get<long long>() - claims["nbf"].get<long long>(), 300);
    jtis.insert(claims["jti"].get<std::string>());
  }
  EXPECT_EQ(jtis.size(), 2u);
}

TEST(CertificateTokenProviderTest, RejectsBundlesWithoutAMatchingKey) {
  auto a = crypto::CreateSelfSignedClientCertificate({"a", 2048, std::chrono::days(1)});
  auto b = crypto::CreateSelfSignedClientCertificate({"b", 2048, std::chrono::days(1)});
  ASSERT_TRUE(a.has_value() && b.has_value());
  std::string mixed(AsStringView(a->private_key_pem.reveal()));
  mixed += b->certificate_pem;
  auto r = ClientCredentialsTokenProvider::WithCertificate(
      "c", SecretBytes::CopyFrom(AsBytes(mixed)), HttpOptions{});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(ClientCredentialsTokenProvider::WithCertificate(
                   "c", SecretBytes::CopyFrom(AsBytes(b->certificate_pem)), HttpOptions{})
                   .has_value());
  EXPECT_EQ(
      ClientCredentialsTokenProvider::FromCertificateFile("c", "/nonexistent/x.pem", HttpOptions{})
          .error()
          .code(),
      StatusCode::kNotFound);
}

}  // namespace
}  // namespace pgcmk::kms
