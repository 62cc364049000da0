#include "crypto/ec_key.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

namespace pgcmk::crypto {
namespace {

struct Case {
  EcCurve curve;
  EcSignatureAlgorithm alg;
};
constexpr Case kCases[] = {{EcCurve::kP256, EcSignatureAlgorithm::kEs256},
                           {EcCurve::kP384, EcSignatureAlgorithm::kEs384},
                           {EcCurve::kP521, EcSignatureAlgorithm::kEs512},
                           {EcCurve::kSecp256k1, EcSignatureAlgorithm::kEs256k}};

TEST(EcKeyTest, SignVerifyRawSignaturesOnEveryCurve) {
  for (const Case& c : kCases) {
    auto key = EcPrivateKey::Generate(c.curve);
    ASSERT_TRUE(key.has_value());
    EXPECT_EQ(key->curve(), c.curve);
    const EcPublicKey pub = key->PublicKey();
    const Bytes msg = ToBytes("sign me");
    auto sig = key->Sign(c.alg, msg);
    ASSERT_TRUE(sig.has_value());
    EXPECT_EQ(sig->size(), 2 * EcCoordinateSize(c.curve));
    EXPECT_TRUE(pub.Verify(c.alg, msg, *sig).ok());
    Bytes bad = *sig;
    bad[3] ^= 1;
    EXPECT_EQ(pub.Verify(c.alg, msg, bad).code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(pub.Verify(c.alg, ToBytes("other"), *sig).ok());
    EXPECT_FALSE(pub.Verify(c.alg, msg, ByteView(*sig).first(sig->size() - 1)).ok());
  }
}

TEST(EcKeyTest, AlgorithmMustMatchCurve) {
  auto key = EcPrivateKey::Generate(EcCurve::kP256);
  ASSERT_TRUE(key.has_value());
  auto sig = key->Sign(EcSignatureAlgorithm::kEs384, ToBytes("m"));
  ASSERT_FALSE(sig.has_value());
  EXPECT_EQ(sig.error().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(key->Sign(EcSignatureAlgorithm::kEs256k, ToBytes("m")).has_value());
  auto good = key->Sign(EcSignatureAlgorithm::kEs256, ToBytes("m"));
  ASSERT_TRUE(good.has_value());
  EXPECT_FALSE(key->PublicKey().Verify(EcSignatureAlgorithm::kEs256k, ToBytes("m"), *good).ok());
}

TEST(EcKeyTest, JwkRoundTripAndPrivateImport) {
  for (const Case& c : kCases) {
    auto key = EcPrivateKey::Generate(c.curve);
    ASSERT_TRUE(key.has_value());
    const EcJwk jwk = key->PublicKey().ToJwk();
    EXPECT_EQ(jwk.x.size(), EcCoordinateSize(c.curve));
    EXPECT_EQ(jwk.y.size(), EcCoordinateSize(c.curve));
    auto pub = EcPublicKey::FromJwk(jwk);
    ASSERT_TRUE(pub.has_value());
    EXPECT_EQ(pub->ToDer(), key->PublicKey().ToDer());
    auto sig = key->Sign(c.alg, ToBytes("x"));
    ASSERT_TRUE(sig.has_value());
    EXPECT_TRUE(pub->Verify(c.alg, ToBytes("x"), *sig).ok());
  }
}

TEST(EcKeyTest, JwkImportRejectsPointsOffTheCurve) {
  auto key = EcPrivateKey::Generate(EcCurve::kP256);
  ASSERT_TRUE(key.has_value());
  EcJwk jwk = key->PublicKey().ToJwk();
  jwk.y.back() ^= 1;
  EXPECT_FALSE(EcPublicKey::FromJwk(jwk).has_value());
  EcJwk short_x = key->PublicKey().ToJwk();
  short_x.x.pop_back();
  EXPECT_FALSE(EcPublicKey::FromJwk(short_x).has_value());
  EcJwk zero{EcCurve::kP256, Bytes(32, 0), Bytes(32, 0)};
  EXPECT_FALSE(EcPublicKey::FromJwk(zero).has_value());
}

TEST(EcKeyTest, PrivateJwkImportRejectsMismatchedScalar) {
  auto a = EcPrivateKey::Generate(EcCurve::kP256);
  ASSERT_TRUE(a.has_value());
  SecretBytes d(32);
  d.reveal_mutable()[31] = 7;  // 7*G is not a's public point
  EXPECT_FALSE(EcPrivateKey::FromJwk(a->PublicKey().ToJwk(), d).has_value());
}

TEST(EcKeyTest, Pkcs8AndPemRoundTrip) {
  auto key = EcPrivateKey::Generate(EcCurve::kP384);
  ASSERT_TRUE(key.has_value());
  auto der = key->ToPkcs8Der();
  ASSERT_TRUE(der.has_value());
  auto back = EcPrivateKey::FromPkcs8Der(*der);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->curve(), EcCurve::kP384);
  EXPECT_EQ(back->PublicKey().ToDer(), key->PublicKey().ToDer());
  auto pem = key->ToPem();
  ASSERT_TRUE(pem.has_value());
  auto from_pem = EcPrivateKey::FromPem(*pem);
  ASSERT_TRUE(from_pem.has_value());
  auto pub_pem = EcPublicKey::FromPem(key->PublicKey().ToPem());
  ASSERT_TRUE(pub_pem.has_value());
  EXPECT_EQ(pub_pem->curve(), EcCurve::kP384);
  EXPECT_FALSE(EcPrivateKey::FromPkcs8Der(SecretBytes::CopyFrom(ToBytes("junk"))).has_value());
}

TEST(EcKeyTest, CurveNames) {
  EXPECT_EQ(EcCurveJwkName(EcCurve::kSecp256k1), "P-256K");
  EXPECT_EQ(EcCurveFromJwkName("P-521"), EcCurve::kP521);
  EXPECT_EQ(EcCurveFromJwkName("SECP256K1"), EcCurve::kSecp256k1);
  EXPECT_FALSE(EcCurveFromJwkName("P-224").has_value());
  EXPECT_EQ(EcCoordinateSize(EcCurve::kP521), 66u);
}

// Explicit curve parameters are refused even when they spell out a named curve.
TEST(EcKeyTest, ImportRefusesExplicitCurveParameters) {
  auto key = EcPrivateKey::Generate(EcCurve::kP256);
  ASSERT_TRUE(key.has_value());
  const Bytes named = key->PublicKey().ToDer();
  const unsigned char* in = named.data();
  EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &in, static_cast<long>(named.size()));
  ASSERT_NE(pkey, nullptr);
  ASSERT_EQ(EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING,
                                           OSSL_PKEY_EC_ENCODING_EXPLICIT),
            1);
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(pkey, &der);
  EVP_PKEY_free(pkey);
  ASSERT_GT(len, 0);
  const Bytes explicit_der(der, der + len);
  OPENSSL_free(der);
  ASSERT_GT(explicit_der.size(), named.size() + 100);  // the curve really is spelled out
  auto imported = EcPublicKey::FromDer(explicit_der);
  ASSERT_FALSE(imported.has_value());
  EXPECT_EQ(imported.error().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pgcmk::crypto
