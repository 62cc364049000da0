#include "crypto/jwt.h"

#include <gtest/gtest.h>

#include "common/base64url.h"

namespace pgcmk::crypto {
namespace {

const RsaPrivateKey& TestKey() {
  static const RsaPrivateKey* key = [] {
    auto k = RsaPrivateKey::Generate(2048);
    EXPECT_TRUE(k.has_value());
    return new RsaPrivateKey(std::move(*k));
  }();
  return *key;
}

std::string B64(std::string_view s) { return Base64UrlEncode(AsBytes(s)); }

TEST(JwtTest, SignThenVerifyReturnsHeaderClaimsAndKid) {
  auto token = SignJwt(TestKey(), "kid-1", R"({"sub":"alice","exp":4102444800})");
  ASSERT_TRUE(token.has_value());
  auto jwt = VerifyJwt(TestKey().PublicKey(), *token);
  ASSERT_TRUE(jwt.has_value()) << jwt.error().ToString();
  EXPECT_EQ(jwt->kid, "kid-1");
  EXPECT_EQ(jwt->claims_json, R"({"sub":"alice","exp":4102444800})");
  EXPECT_NE(jwt->header_json.find("\"RS256\""), std::string::npos);
  auto unverified = DecodeJwtUnverified(*token);
  ASSERT_TRUE(unverified.has_value());
  EXPECT_EQ(unverified->kid, "kid-1");
}

TEST(JwtTest, SignRejectsNonObjectClaims) {
  EXPECT_FALSE(SignJwt(TestKey(), "k", "[1,2]").has_value());
  EXPECT_FALSE(SignJwt(TestKey(), "k", "{not json").has_value());
}

TEST(JwtTest, VerifyRejectsTamperedClaims) {
  auto token = SignJwt(TestKey(), "k", R"({"sub":"alice"})");
  ASSERT_TRUE(token.has_value());
  const size_t a = token->find('.'), b = token->rfind('.');
  const std::string forged = token->substr(0, a + 1) + B64(R"({"sub":"admin"})") + token->substr(b);
  auto r = VerifyJwt(TestKey().PublicKey(), forged);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kUnauthenticated);
}

TEST(JwtTest, VerifyRejectsOtherKey) {
  auto other = RsaPrivateKey::Generate(2048);
  ASSERT_TRUE(other.has_value());
  auto token = SignJwt(*other, "k", "{}");
  ASSERT_TRUE(token.has_value());
  EXPECT_FALSE(VerifyJwt(TestKey().PublicKey(), *token).has_value());
}

TEST(JwtTest, VerifyRejectsAlgNoneAndHs256) {
  const std::string claims = B64(R"({"sub":"x"})");
  for (std::string_view header : {R"({"alg":"none","typ":"JWT"})", R"({"alg":"HS256"})",
                                  R"({"typ":"JWT"})", R"({"alg":"RS256","crit":["exp"]})"}) {
    EXPECT_FALSE(VerifyJwt(TestKey().PublicKey(), B64(header) + "." + claims + ".").has_value());
    auto sig =
        TestKey().Sign(RsaSignatureScheme::kPkcs1Sha256, AsBytes(B64(header) + "." + claims));
    ASSERT_TRUE(sig.has_value());
    EXPECT_FALSE(
        VerifyJwt(TestKey().PublicKey(), B64(header) + "." + claims + "." + Base64UrlEncode(*sig))
            .has_value())
        << header;
  }
}

TEST(JwtTest, VerifyRejectsMalformedShapes) {
  auto token = SignJwt(TestKey(), "k", "{}");
  ASSERT_TRUE(token.has_value());
  const auto& pub = TestKey().PublicKey();
  EXPECT_FALSE(VerifyJwt(pub, *token + ".x").has_value());
  EXPECT_FALSE(VerifyJwt(pub, token->substr(0, token->rfind('.'))).has_value());
  EXPECT_FALSE(VerifyJwt(pub, *token + "=").has_value());
  EXPECT_FALSE(VerifyJwt(pub, "").has_value());
  EXPECT_FALSE(VerifyJwt(pub, "..").has_value());
  std::string plus = *token;
  plus[plus.rfind('.') + 3] = '+';
  EXPECT_FALSE(VerifyJwt(pub, plus).has_value());
}

// One token, one spelling: a 256-byte signature is 342 characters whose last one carries 4 unused
// bits. Setting them gives the same signature bytes under a different token string (which would
// slip past a cache or replay check keyed by the token text), so it must be refused.
TEST(JwtTest, VerifyRejectsNonCanonicalSignatureEncoding) {
  auto token = SignJwt(TestKey(), "k", R"({"sub":"x"})");
  ASSERT_TRUE(token.has_value());
  const auto& pub = TestKey().PublicKey();
  ASSERT_TRUE(VerifyJwt(pub, *token).has_value());
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const size_t sig_len = token->size() - token->rfind('.') - 1;
  ASSERT_EQ(sig_len % 4, 2u);
  const size_t last = alphabet.find(token->back());
  ASSERT_EQ(last % 16, 0u);  // canonical: the 4 unused bits are zero
  for (size_t low = 1; low < 16; ++low) {
    std::string spelled = *token;
    spelled.back() = alphabet[last + low];
    EXPECT_FALSE(VerifyJwt(pub, spelled).has_value()) << spelled.back();
  }
}

}  // namespace
}  // namespace pgcmk::crypto
