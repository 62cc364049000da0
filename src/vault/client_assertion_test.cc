// Every way a client assertion can be refused, and the one way it is accepted.
#include "vault/client_assertion.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/base64url.h"
#include "crypto/jwt.h"
#include "crypto/rsa_key.h"

namespace pgcmk::vault {
namespace {

using nlohmann::json;

constexpr std::int64_t kNow = 1900000000;
constexpr char kClientId[] = "0b6d6c3e-1111-4222-8333-944445555666";
constexpr char kAudience[] = "https://vault.test:8443/tenant-1/oauth2/v2.0/token";

struct TestCert {
  crypto::RsaPrivateKey key;
  CertificateCredential credential;
};

TestCert MakeCert(std::string_view cn) {
  auto ck =
      crypto::CreateSelfSignedClientCertificate({std::string(cn), 2048, std::chrono::days(30)});
  EXPECT_TRUE(ck.has_value());
  auto key = crypto::RsaPrivateKey::FromPem(ck->private_key_pem);
  auto cert = crypto::ParseClientCertificatePem(ck->certificate_pem);
  EXPECT_TRUE(key.has_value() && cert.has_value());
  CertificateCredential c;
  c.key_id = "key-" + std::string(cn);
  c.certificate = std::move(*cert);
  // A window around kNow, whatever the real clock says.
  c.certificate.not_before = kNow - 86400;
  c.certificate.not_after = kNow + 86400;
  return TestCert{std::move(*key), std::move(c)};
}

const TestCert& Cert1() {
  static const TestCert* c = new TestCert(MakeCert("one"));
  return *c;
}
const TestCert& Cert2() {
  static const TestCert* c = new TestCert(MakeCert("two"));
  return *c;
}

json GoodHeader(const TestCert& c = Cert1()) {
  return {{"typ", "JWT"}, {"x5t#S256", c.credential.X5tS256()}};
}
json GoodClaims() {
  return {{"aud", kAudience}, {"iss", kClientId}, {"sub", kClientId}, {"jti", "j-1"},
          {"iat", kNow},      {"nbf", kNow},      {"exp", kNow + 600}};
}

std::string Sign(const json& header, const json& claims, const TestCert& signer = Cert1(),
                 crypto::JwsAlgorithm alg = crypto::JwsAlgorithm::kPs256) {
  auto t = crypto::SignJws(signer.key, alg, header.dump(), claims.dump());
  EXPECT_TRUE(t.has_value());
  return *t;
}

AssertionExpectations Expect() {
  AssertionExpectations e;
  e.client_id = kClientId;
  e.audience = kAudience;
  e.now = kNow;
  return e;
}

std::vector<CertificateCredential> Registered() { return {Cert1().credential}; }

Status Check(const std::string& assertion,
             const std::vector<CertificateCredential>& registered = Registered(),
             const AssertionExpectations& expect = Expect()) {
  auto r = ValidateClientAssertion(assertion, expect, registered);
  return r ? Status::Ok() : r.error();
}

void ExpectRefused(const std::string& assertion, StatusCode code, std::string_view aadsts,
                   const std::vector<CertificateCredential>& registered = Registered(),
                   const AssertionExpectations& expect = Expect()) {
  Status s = Check(assertion, registered, expect);
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_TRUE(s.message().starts_with(aadsts)) << s.message();
  if (assertion.size() >= 20) {
    EXPECT_EQ(s.message().find(assertion.substr(0, 20)), std::string::npos) << "echoes the JWT";
  }
}

TEST(ClientAssertionTest, AcceptsPs256WithX5tS256AndReturnsJtiAndCertificate) {
  auto r = ValidateClientAssertion(Sign(GoodHeader(), GoodClaims()), Expect(),
                                   {Cert2().credential, Cert1().credential});
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->jti, "j-1");
  EXPECT_EQ(r->exp, kNow + 600);
  EXPECT_EQ(r->key_id, "key-one");
  EXPECT_EQ(r->thumbprint, Cert1().credential.Thumbprint());
}

TEST(ClientAssertionTest, AcceptsRs256WithX5tAndMatchingX5c) {
  json h = {{"x5t", Cert1().credential.X5t()},
            {"x5c", {Base64Encode(Cert1().credential.certificate.der)}}};
  EXPECT_TRUE(Check(Sign(h, GoodClaims(), Cert1(), crypto::JwsAlgorithm::kRs256)).ok());
}

TEST(ClientAssertionTest, AcceptsAudienceArrayAndMissingNbfIat) {
  json c = GoodClaims();
  c["aud"] = json::array({kAudience});
  c.erase("nbf");
  c.erase("iat");
  EXPECT_TRUE(Check(Sign(GoodHeader(), c)).ok());
}

TEST(ClientAssertionTest, RejectsMalformedJwt) {
  for (std::string bad : {"", "abc", "a.b.c", "e30.e30.", "a.b.c.d"}) {
    ExpectRefused(bad, StatusCode::kInvalidArgument, "AADSTS50027");
  }
  ExpectRefused(std::string(70000, 'a'), StatusCode::kInvalidArgument, "AADSTS50027");
}

TEST(ClientAssertionTest, RejectsAlgNoneHs256AndUnknownAlgorithms) {
  const std::string claims = Base64UrlEncode(AsBytes(GoodClaims().dump()));
  for (const char* alg : {"none", "HS256", "ES256", "RS512", "PS384"}) {
    json h = GoodHeader();
    h["alg"] = alg;
    std::string token = Base64UrlEncode(AsBytes(h.dump())) + "." + claims + ".c2lnbmF0dXJl";
    ExpectRefused(token, StatusCode::kUnauthenticated, "AADSTS5002738");
  }
}

TEST(ClientAssertionTest, RejectsBadSignature) {
  std::string t = Sign(GoodHeader(), GoodClaims());
  t[t.size() - 5] = t[t.size() - 5] == 'A' ? 'B' : 'A';
  ExpectRefused(t, StatusCode::kUnauthenticated, "AADSTS700027");
  // Signed by another key while naming the registered certificate.
  ExpectRefused(Sign(GoodHeader(Cert1()), GoodClaims(), Cert2()), StatusCode::kUnauthenticated,
                "AADSTS700027");
  // Claims swapped after signing.
  std::string good = Sign(GoodHeader(), GoodClaims());
  json other = GoodClaims();
  other["jti"] = "j-2";
  const size_t a = good.find('.'), b = good.rfind('.');
  ExpectRefused(good.substr(0, a + 1) + Base64UrlEncode(AsBytes(other.dump())) + good.substr(b),
                StatusCode::kUnauthenticated, "AADSTS700027");
}

TEST(ClientAssertionTest, RejectsUnknownOrRemovedCertificate) {
  ExpectRefused(Sign(GoodHeader(Cert2()), GoodClaims(), Cert2()), StatusCode::kUnauthenticated,
                "AADSTS700027");
  ExpectRefused(Sign(GoodHeader(), GoodClaims()), StatusCode::kUnauthenticated, "AADSTS700027", {});
  json h = {{"x5t", Cert1().credential.X5t()}, {"x5t#S256", Cert2().credential.X5tS256()}};
  ExpectRefused(Sign(h, GoodClaims()), StatusCode::kUnauthenticated, "AADSTS700027",
                {Cert1().credential, Cert2().credential});
}

TEST(ClientAssertionTest, RejectsMissingThumbprintAndMismatchedX5c) {
  ExpectRefused(Sign({{"typ", "JWT"}}, GoodClaims()), StatusCode::kUnauthenticated,
                "AADSTS5002723");
  json h = GoodHeader();
  h["x5c"] = {Base64Encode(Cert2().credential.certificate.der)};
  ExpectRefused(Sign(h, GoodClaims()), StatusCode::kUnauthenticated, "AADSTS700027");
  h["typ"] = "at+jwt";
  h.erase("x5c");
  ExpectRefused(Sign(h, GoodClaims()), StatusCode::kUnauthenticated, "AADSTS5002727");
}

TEST(ClientAssertionTest, RejectsExpiredOrNotYetValidCertificate) {
  auto expired = Cert1().credential;
  expired.certificate.not_after = kNow - 1;
  ExpectRefused(Sign(GoodHeader(), GoodClaims()), StatusCode::kUnauthenticated, "AADSTS700027",
                {expired});
  auto future = Cert1().credential;
  future.certificate.not_before = kNow + 10;
  ExpectRefused(Sign(GoodHeader(), GoodClaims()), StatusCode::kUnauthenticated, "AADSTS700027",
                {future});
}

TEST(ClientAssertionTest, RejectsWrongIssuerSubjectOrAudience) {
  for (const char* claim : {"iss", "sub"}) {
    json c = GoodClaims();
    c[claim] = "another-client";
    ExpectRefused(Sign(GoodHeader(), c), StatusCode::kUnauthenticated, "AADSTS700021");
    c.erase(claim);
    ExpectRefused(Sign(GoodHeader(), c), StatusCode::kUnauthenticated, "AADSTS700021");
  }
  for (json aud : {json("https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token"),
                   json("https://vault.test:8443/tenant-1/oauth2/v2.0/token/"),
                   json::array({kAudience, "x"}), json(42)}) {
    json c = GoodClaims();
    c["aud"] = aud;
    ExpectRefused(Sign(GoodHeader(), c), StatusCode::kUnauthenticated, "AADSTS700023");
  }
  json c = GoodClaims();
  c.erase("aud");
  ExpectRefused(Sign(GoodHeader(), c), StatusCode::kUnauthenticated, "AADSTS700023");
}

TEST(ClientAssertionTest, RejectsExpiredFutureAndTooLongLivedAssertions) {
  json c = GoodClaims();
  c["exp"] = kNow - 61;  // beyond the 60 s skew
  ExpectRefused(Sign(GoodHeader(), c), StatusCode::kUnauthenticated, "AADSTS700024");
  c = GoodClaims();
  c.erase("exp");
  ExpectRefused(Sign(GoodHeader(), c), StatusCode::kUnauthenticated, "AADSTS700024");
  c = GoodClaims();
  c["nbf"] = kNow + 120;
  c["exp"] = kNow + 300;
  ExpectRefused(Sign(GoodHeader(), c), StatusCode::kUnauthenticated, "AADSTS700024");
  c = GoodClaims();
  c["iat"] = kNow + 120;
  ExpectRefused(Sign(GoodHeader(), c), StatusCode::kUnauthenticated, "AADSTS700024");
  c = GoodClaims();
  c["exp"] = kNow + 601;  // 10 minutes and a second
  ExpectRefused(Sign(GoodHeader(), c), StatusCode::kUnauthenticated, "AADSTS700024");
  c.erase("nbf");
  c.erase("iat");
  c["exp"] = kNow + 3600;
  ExpectRefused(Sign(GoodHeader(), c), StatusCode::kUnauthenticated, "AADSTS700024");
  c = GoodClaims();
  c["exp"] = "soon";
  ExpectRefused(Sign(GoodHeader(), c), StatusCode::kInvalidArgument, "AADSTS50027");
  // Within the skew is fine.
  c = GoodClaims();
  c["exp"] = kNow - 30;
  c["nbf"] = kNow - 100;
  c["iat"] = kNow - 100;
  EXPECT_TRUE(Check(Sign(GoodHeader(), c)).ok());
}

TEST(ClientAssertionTest, RejectsMissingOrOversizedJti) {
  json c = GoodClaims();
  c.erase("jti");
  ExpectRefused(Sign(GoodHeader(), c), StatusCode::kUnauthenticated, "AADSTS700025");
  c["jti"] = "";
  ExpectRefused(Sign(GoodHeader(), c), StatusCode::kUnauthenticated, "AADSTS700025");
  c["jti"] = std::string(257, 'j');
  ExpectRefused(Sign(GoodHeader(), c), StatusCode::kUnauthenticated, "AADSTS700025");
  c["jti"] = 7;
  ExpectRefused(Sign(GoodHeader(), c), StatusCode::kUnauthenticated, "AADSTS700025");
}

TEST(AssertionReplayCacheTest, AcceptsOnceUntilExpiryPerClient) {
  AssertionReplayCache cache;
  EXPECT_TRUE(cache.Remember("client-a", "j", kNow + 100, kNow).ok());
  EXPECT_EQ(cache.Remember("client-a", "j", kNow + 100, kNow + 50).code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(cache.Remember("CLIENT-A", "j", kNow + 100, kNow + 50).code(),
            StatusCode::kUnauthenticated);
  EXPECT_TRUE(cache.Remember("client-b", "j", kNow + 100, kNow).ok());
  // Once the assertion has expired it could not be accepted anyway; the entry may go.
  EXPECT_TRUE(cache.Remember("client-a", "j", kNow + 300, kNow + 101).ok());
}

TEST(AssertionReplayCacheTest, IsBoundedAndForgetsExpiredEntriesFirst) {
  AssertionReplayCache cache(3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(cache.Remember("c", "j" + std::to_string(i), kNow + 10, kNow).ok());
  }
  EXPECT_EQ(cache.Remember("c", "j3", kNow + 10, kNow).code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(cache.Remember("c", "j3", kNow + 100, kNow + 11).ok());
  EXPECT_EQ(cache.size(), 1u);
}

TEST(AssertionReplayCacheTest, OneClientCannotFillTheCacheForEveryone) {
  AssertionReplayCache cache(/*capacity=*/10, /*per_client_capacity=*/3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(cache.Remember("busy", "j" + std::to_string(i), kNow + 10, kNow).ok());
  }
  EXPECT_EQ(cache.Remember("BUSY", "j3", kNow + 10, kNow).code(), StatusCode::kResourceExhausted);
  // Others are unaffected, up to the global bound.
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(cache.Remember("other-" + std::to_string(i), "j", kNow + 10, kNow).ok());
  }
  EXPECT_EQ(cache.size(), 6u);
  // Expiry frees the busy client's quota, in expiry order.
  EXPECT_TRUE(cache.Remember("busy", "j3", kNow + 50, kNow + 11).ok());
  EXPECT_EQ(cache.size(), 1u);
  // A replay is still a replay while remembered, and the same jti is fine after expiry.
  EXPECT_EQ(cache.Remember("busy", "j3", kNow + 50, kNow + 20).code(),
            StatusCode::kUnauthenticated);
  EXPECT_TRUE(cache.Remember("busy", "j3", kNow + 90, kNow + 51).ok());
}

}  // namespace
}  // namespace pgcmk::vault
