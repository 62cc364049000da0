#include "crypto/client_certificate.h"

#include <gtest/gtest.h>

#include "common/base64url.h"
#include "crypto/jwt.h"
#include "crypto/rsa_key.h"

namespace pgcmk::crypto {
namespace {

const CertifiedKey& TestCredential() {
  static const CertifiedKey* c = [] {
    auto r = CreateSelfSignedClientCertificate({"app1", 2048, std::chrono::days(30)});
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return new CertifiedKey(std::move(*r));
  }();
  return *c;
}

SecretBytes Bundle(const CertifiedKey& c) {
  std::string text(AsStringView(c.private_key_pem.reveal()));
  text += c.certificate_pem;
  SecretBytes out = SecretBytes::CopyFrom(AsBytes(text));
  SecureZero(text.data(), text.size());
  return out;
}

TEST(ClientCertificateTest, SelfSignedCertificateParsesWithThumbprintsAndWindow) {
  auto c = ParseClientCertificatePem(TestCredential().certificate_pem);
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->key_bits, 2048);
  EXPECT_EQ(c->sha1.size(), 20u);
  EXPECT_EQ(c->sha256.size(), 32u);
  EXPECT_EQ(c->subject, "CN=app1");
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  EXPECT_LE(c->not_before, now);
  EXPECT_GT(c->not_after, now + 29 * 86400);
  EXPECT_EQ(Sha256(c->der), c->sha256);
  auto again = ParseClientCertificateDer(c->der);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->sha1, c->sha1);
  EXPECT_EQ(again->public_key_der, c->public_key_der);
  EXPECT_EQ(ClientCertificatePem(*c), TestCredential().certificate_pem);
}

TEST(ClientCertificateTest, ParseRejectsNonRsaGarbageAndTrailingBytes) {
  auto ca = CreateCertificateAuthority({});
  ASSERT_TRUE(ca.has_value());
  auto ec = ParseClientCertificatePem(ca->certificate_pem);
  ASSERT_FALSE(ec.has_value());
  EXPECT_NE(ec.error().message().find("RSA"), std::string::npos);
  EXPECT_FALSE(ParseClientCertificatePem("no pem here").has_value());
  EXPECT_FALSE(
      ParseClientCertificatePem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
          .has_value());
  auto c = ParseClientCertificatePem(TestCredential().certificate_pem);
  ASSERT_TRUE(c.has_value());
  Bytes der = c->der;
  der.push_back(0);
  EXPECT_FALSE(ParseClientCertificateDer(der).has_value());
}

TEST(ClientCertificateTest, CreateRejectsBadOptions) {
  EXPECT_FALSE(CreateSelfSignedClientCertificate({"x", 1024, std::chrono::days(1)}).has_value());
  EXPECT_FALSE(CreateSelfSignedClientCertificate({"", 2048, std::chrono::days(1)}).has_value());
  EXPECT_FALSE(CreateSelfSignedClientCertificate({"x", 2048, std::chrono::days(0)}).has_value());
}

TEST(ClientCertificateTest, CredentialBundleSplitsKeyAndCertificate) {
  auto cred = ParseClientCertificateCredential(Bundle(TestCredential()));
  ASSERT_TRUE(cred.has_value()) << cred.error().ToString();
  EXPECT_EQ(cred->certificate_pem, TestCredential().certificate_pem.substr(
                                       0, TestCredential().certificate_pem.find_last_of('-') + 1));
  EXPECT_TRUE(RsaPrivateKey::FromPem(cred->private_key_pem).has_value());
}

TEST(ClientCertificateTest, CredentialBundleRejectsMissingForeignOrEncryptedKey) {
  auto other = CreateSelfSignedClientCertificate({"other", 2048, std::chrono::days(1)});
  ASSERT_TRUE(other.has_value());
  std::string mixed(AsStringView(other->private_key_pem.reveal()));
  mixed += TestCredential().certificate_pem;
  auto r = ParseClientCertificateCredential(SecretBytes::CopyFrom(AsBytes(mixed)));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("does not belong"), std::string::npos);
  EXPECT_FALSE(ParseClientCertificateCredential(
                   SecretBytes::CopyFrom(AsBytes(TestCredential().certificate_pem)))
                   .has_value());
  std::string encrypted =
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED "
      "PRIVATE KEY-----\n" +
      TestCredential().certificate_pem;
  auto e = ParseClientCertificateCredential(SecretBytes::CopyFrom(AsBytes(encrypted)));
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message().find("encrypted"), std::string::npos);
}

TEST(JwsTest, SignParseVerifyRs256AndPs256) {
  auto key = RsaPrivateKey::FromPem(TestCredential().private_key_pem);
  ASSERT_TRUE(key.has_value());
  for (JwsAlgorithm alg : {JwsAlgorithm::kRs256, JwsAlgorithm::kPs256}) {
    auto token = SignJws(*key, alg, R"({"typ":"JWT","x5t#S256":"abc"})", R"({"sub":"a"})");
    ASSERT_TRUE(token.has_value());
    auto parsed = ParseJws(*token);
    ASSERT_TRUE(parsed.has_value()) << parsed.error().ToString();
    EXPECT_EQ(parsed->alg, alg);
    EXPECT_NE(parsed->header_json.find(JwsAlgorithmName(alg)), std::string::npos);
    EXPECT_EQ(parsed->claims_json, R"({"sub":"a"})");
    EXPECT_TRUE(VerifyJwsSignature(key->PublicKey(), *parsed).ok());
    // The same signature under the other algorithm does not verify.
    parsed->alg = alg == JwsAlgorithm::kRs256 ? JwsAlgorithm::kPs256 : JwsAlgorithm::kRs256;
    EXPECT_EQ(VerifyJwsSignature(key->PublicKey(), *parsed).code(), StatusCode::kUnauthenticated);
  }
}

TEST(JwsTest, ParseRejectsOtherAlgorithmsAndMalformedTokens) {
  const std::string claims = Base64UrlEncode(AsBytes(R"({"sub":"x"})"));
  for (std::string_view header : {R"({"alg":"none"})", R"({"alg":"HS256"})", R"({"alg":"ES256"})",
                                  R"({"alg":"RS256","crit":["b64"]})"}) {
    auto r = ParseJws(Base64UrlEncode(AsBytes(header)) + "." + claims + ".c2ln");
    ASSERT_FALSE(r.has_value()) << header;
    EXPECT_EQ(r.error().code(), StatusCode::kUnauthenticated) << header;
  }
  for (std::string_view token :
       {"", "a.b", "a.b.c.d", "e30.e30.", "!!.e30.c2ln", "W10.e30.c2ln", "e30.e30.c2ln"}) {
    auto r = ParseJws(token);
    ASSERT_FALSE(r.has_value()) << token;
    EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument) << token;
  }
}

}  // namespace
}  // namespace pgcmk::crypto
