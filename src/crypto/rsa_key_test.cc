#include "crypto/rsa_key.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/pem.h>

namespace pgcmk::crypto {
namespace {

// One 2048-bit key for the whole suite: generation dominates the run time otherwise.
const RsaPrivateKey& TestKey() {
  static const RsaPrivateKey* key = [] {
    auto k = RsaPrivateKey::Generate(2048);
    EXPECT_TRUE(k.has_value());
    return new RsaPrivateKey(std::move(*k));
  }();
  return *key;
}

Bytes Reveal(const SecretBytes& s) { return Bytes(s.reveal().begin(), s.reveal().end()); }

TEST(RsaKeyTest, GenerateRefusesUnsupportedSizes) {
  EXPECT_FALSE(RsaPrivateKey::Generate(1024).has_value());
  EXPECT_FALSE(RsaPrivateKey::Generate(2049).has_value());
}

TEST(RsaKeyTest, Generate3072HasRightSize) {
  auto k = RsaPrivateKey::Generate(3072);
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->bits(), 3072);
  EXPECT_EQ(k->PublicKey().bits(), 3072);
}

TEST(RsaKeyTest, WrapUnwrapRoundTripsForEveryPadding) {
  const RsaPublicKey pub = TestKey().PublicKey();
  const Bytes dek(32, 0xab);
  for (auto padding : {RsaEncryptionPadding::kOaepSha1, RsaEncryptionPadding::kOaepSha256,
                       RsaEncryptionPadding::kPkcs1v15}) {
    auto wrapped = pub.Encrypt(padding, dek);
    ASSERT_TRUE(wrapped.has_value());
    EXPECT_EQ(wrapped->size(), 256u);
    auto unwrapped = TestKey().Decrypt(padding, *wrapped);
    ASSERT_TRUE(unwrapped.has_value());
    EXPECT_EQ(Reveal(*unwrapped), dek);
  }
}

TEST(RsaKeyTest, UnwrapWithWrongPaddingFailsWithUniformMessage) {
  const RsaPublicKey pub = TestKey().PublicKey();
  auto wrapped = pub.Encrypt(RsaEncryptionPadding::kOaepSha256, Bytes(32, 1));
  ASSERT_TRUE(wrapped.has_value());
  auto r1 = TestKey().Decrypt(RsaEncryptionPadding::kOaepSha1, *wrapped);
  Bytes tampered = *wrapped;
  tampered[10] ^= 1;
  auto r2 = TestKey().Decrypt(RsaEncryptionPadding::kOaepSha256, tampered);
  auto r3 = TestKey().Decrypt(RsaEncryptionPadding::kOaepSha256, ByteView(*wrapped).first(255));
  for (const auto* r : {&r1, &r2, &r3}) {
    ASSERT_FALSE(r->has_value());
    EXPECT_EQ(r->error().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r->error().message(), "decryption failed");
  }
}

TEST(RsaKeyTest, OaepLabelMustMatch) {
  const RsaPublicKey pub = TestKey().PublicKey();
  const Bytes label = ToBytes("label");
  OaepParams p{HashAlgorithm::kSha256, HashAlgorithm::kSha1, label};
  auto wrapped = pub.EncryptOaep(p, Bytes(16, 7));
  ASSERT_TRUE(wrapped.has_value());
  EXPECT_TRUE(TestKey().DecryptOaep(p, *wrapped).has_value());
  OaepParams other = p;
  other.label = {};
  EXPECT_FALSE(TestKey().DecryptOaep(other, *wrapped).has_value());
}

TEST(RsaKeyTest, EncryptRejectsTooLongPlaintext) {
  const RsaPublicKey pub = TestKey().PublicKey();
  EXPECT_TRUE(pub.Encrypt(RsaEncryptionPadding::kOaepSha256, Bytes(256 - 66, 0)).has_value());
  auto r = pub.Encrypt(RsaEncryptionPadding::kOaepSha256, Bytes(256 - 65, 0));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
}

TEST(RsaKeyTest, SignVerifyEverySchemeAndRejectTampering) {
  const RsaPublicKey pub = TestKey().PublicKey();
  const Bytes msg = ToBytes("message to sign");
  for (auto scheme : {RsaSignatureScheme::kPkcs1Sha256, RsaSignatureScheme::kPkcs1Sha384,
                      RsaSignatureScheme::kPkcs1Sha512, RsaSignatureScheme::kPssSha256,
                      RsaSignatureScheme::kPssSha384, RsaSignatureScheme::kPssSha512}) {
    auto sig = TestKey().Sign(scheme, msg);
    ASSERT_TRUE(sig.has_value());
    EXPECT_TRUE(pub.Verify(scheme, msg, *sig).ok());
    Bytes bad = *sig;
    bad[5] ^= 0x40;
    EXPECT_EQ(pub.Verify(scheme, msg, bad).code(), StatusCode::kInvalidArgument);
    EXPECT_FALSE(pub.Verify(scheme, ToBytes("other message"), *sig).ok());
  }
}

TEST(RsaKeyTest, SignDigestMatchesSignForPkcs1) {
  const Bytes msg = ToBytes("abc");
  auto a = TestKey().Sign(RsaSignatureScheme::kPkcs1Sha256, msg);
  auto b = TestKey().SignDigest(RsaSignatureScheme::kPkcs1Sha256, Sha256(msg));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);  // PKCS#1 v1.5 signatures are deterministic
  EXPECT_FALSE(TestKey().SignDigest(RsaSignatureScheme::kPkcs1Sha256, Sha384(msg)).has_value());
}

TEST(RsaKeyTest, PublicKeyRoundTripsThroughJwkDerAndPem) {
  const RsaPublicKey pub = TestKey().PublicKey();
  const RsaJwk jwk = pub.ToJwk();
  EXPECT_EQ(jwk.n.size(), 256u);
  EXPECT_EQ(jwk.e, (Bytes{1, 0, 1}));
  auto from_jwk = RsaPublicKey::FromJwk(jwk);
  ASSERT_TRUE(from_jwk.has_value());
  EXPECT_EQ(from_jwk->ToDer(), pub.ToDer());
  auto from_der = RsaPublicKey::FromDer(pub.ToDer());
  ASSERT_TRUE(from_der.has_value());
  EXPECT_EQ(from_der->ToJwk().n, jwk.n);
  const std::string pem = pub.ToPem();
  EXPECT_NE(pem.find("BEGIN PUBLIC KEY"), std::string::npos);
  auto from_pem = RsaPublicKey::FromPem(pem);
  ASSERT_TRUE(from_pem.has_value());
  EXPECT_EQ(from_pem->ToJwk().n, jwk.n);
}

TEST(RsaKeyTest, PublicKeyImportRejectsGarbageAndSmallKeys) {
  EXPECT_FALSE(RsaPublicKey::FromDer(ToBytes("not der")).has_value());
  EXPECT_FALSE(RsaPublicKey::FromPem("-----BEGIN PUBLIC KEY-----\nAAAA\n").has_value());
  EXPECT_FALSE(RsaPublicKey::FromJwk(RsaJwk{Bytes(128, 0xff), Bytes{1, 0, 1}}).has_value());
  RsaJwk even_e = TestKey().PublicKey().ToJwk();
  even_e.e = {2};
  EXPECT_FALSE(RsaPublicKey::FromJwk(even_e).has_value());
}

TEST(RsaKeyTest, PrivateKeyRoundTripsThroughPkcs8DerAndPem) {
  auto der = TestKey().ToPkcs8Der();
  ASSERT_TRUE(der.has_value());
  auto from_der = RsaPrivateKey::FromPkcs8Der(*der);
  ASSERT_TRUE(from_der.has_value());
  EXPECT_EQ(from_der->PublicKey().ToDer(), TestKey().PublicKey().ToDer());
  auto pem = TestKey().ToPem();
  ASSERT_TRUE(pem.has_value());
  EXPECT_NE(AsStringView(pem->reveal()).find("BEGIN PRIVATE KEY"), std::string_view::npos);
  auto from_pem = RsaPrivateKey::FromPem(*pem);
  ASSERT_TRUE(from_pem.has_value());
  auto sig = from_pem->Sign(RsaSignatureScheme::kPssSha256, ToBytes("x"));
  ASSERT_TRUE(sig.has_value());
  EXPECT_TRUE(
      TestKey().PublicKey().Verify(RsaSignatureScheme::kPssSha256, ToBytes("x"), *sig).ok());
  EXPECT_FALSE(RsaPrivateKey::FromPkcs8Der(SecretBytes::CopyFrom(ToBytes("junk"))).has_value());
}

TEST(RsaKeyTest, ImportRejectsInconsistentPrivateKey) {
  auto der = TestKey().ToPkcs8Der();
  ASSERT_TRUE(der.has_value());
  SecretBytes tampered = der->Clone();
  tampered.reveal_mutable()[100] ^= 0x01;  // inside the modulus
  auto r = RsaPrivateKey::FromPkcs8Der(tampered);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
}

TEST(RsaKeyTest, LegacyPolicyIsNeededFor1024BitKeys) {
  // A 1024-bit public key: modulus with the top bit set, exponent 65537.
  RsaJwk jwk{Bytes(128, 0xc5), Bytes{1, 0, 1}};
  jwk.n.back() = 0xc7;
  EXPECT_FALSE(RsaPublicKey::FromJwk(jwk).has_value());
  auto legacy = RsaPublicKey::FromJwk(jwk, RsaKeySizePolicy::kLegacyTestVectors);
  ASSERT_TRUE(legacy.has_value());
  EXPECT_EQ(legacy->bits(), 1024);
}

// The traditional PKCS#1 forms ("BEGIN RSA PRIVATE KEY", "BEGIN RSA PUBLIC KEY") also load.
std::string EncodeTypeSpecific(const SecretBytes& pkcs8_pem, int selection) {
  BIO* in = BIO_new_mem_buf(pkcs8_pem.reveal().data(), static_cast<int>(pkcs8_pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  if (pkey == nullptr) return {};
  OSSL_ENCODER_CTX* ctx =
      OSSL_ENCODER_CTX_new_for_pkey(pkey, selection, "PEM", "type-specific", nullptr);
  unsigned char* data = nullptr;
  size_t len = 0;
  std::string out;
  if (ctx != nullptr && OSSL_ENCODER_to_data(ctx, &data, &len) == 1) {
    out.assign(reinterpret_cast<char*>(data), len);
  }
  OPENSSL_clear_free(data, len);
  OSSL_ENCODER_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  return out;
}

TEST(RsaKeyTest, LoadsTraditionalPkcs1Pem) {
  auto pem = TestKey().ToPem();
  ASSERT_TRUE(pem.has_value());
  std::string priv = EncodeTypeSpecific(*pem, EVP_PKEY_KEYPAIR);
  const std::string pub_pem = EncodeTypeSpecific(*pem, EVP_PKEY_PUBLIC_KEY);
  EXPECT_NE(priv.find("BEGIN RSA PRIVATE KEY"), std::string::npos);
  EXPECT_NE(pub_pem.find("BEGIN RSA PUBLIC KEY"), std::string::npos);
  const SecretBytes traditional = SecretBytes::CopyFrom(AsBytes(priv));
  SecureZero(priv.data(), priv.size());
  auto key = RsaPrivateKey::FromPem(traditional);
  ASSERT_TRUE(key.has_value()) << key.error().ToString();
  EXPECT_EQ(key->PublicKey().ToDer(), TestKey().PublicKey().ToDer());
  auto pub = RsaPublicKey::FromPem(pub_pem);
  ASSERT_TRUE(pub.has_value()) << pub.error().ToString();
  EXPECT_EQ(pub->ToDer(), TestKey().PublicKey().ToDer());
}

TEST(RsaKeyTest, ShaHelpersMatchKnownDigests) {
  EXPECT_EQ(ToHex(Sha256(ToBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha384(ToBytes("abc")).size(), 48u);
  EXPECT_EQ(ToHex(Sha512(ToBytes("abc"))).substr(0, 16), "ddaf35a193617aba");
}

// The private JWK fields of TestKey(), read back through OpenSSL.
struct PrivateFields {
  RsaJwk pub;
  Bytes d, p, q, dp, dq, qi;
};
PrivateFields TestKeyFields() {
  PrivateFields f;
  auto der = TestKey().ToPkcs8Der();
  EXPECT_TRUE(der.has_value());
  const unsigned char* in = der->reveal().data();
  EVP_PKEY* pkey = d2i_AutoPrivateKey(nullptr, &in, static_cast<long>(der->size()));
  EXPECT_NE(pkey, nullptr);
  auto get = [&](const char* name) {
    BIGNUM* bn = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(pkey, name, &bn), 1) << name;
    Bytes out(static_cast<size_t>(BN_num_bytes(bn)));
    BN_bn2bin(bn, out.data());
    BN_clear_free(bn);
    return out;
  };
  f.pub.n = get(OSSL_PKEY_PARAM_RSA_N);
  f.pub.e = get(OSSL_PKEY_PARAM_RSA_E);
  f.d = get(OSSL_PKEY_PARAM_RSA_D);
  f.p = get(OSSL_PKEY_PARAM_RSA_FACTOR1);
  f.q = get(OSSL_PKEY_PARAM_RSA_FACTOR2);
  f.dp = get(OSSL_PKEY_PARAM_RSA_EXPONENT1);
  f.dq = get(OSSL_PKEY_PARAM_RSA_EXPONENT2);
  f.qi = get(OSSL_PKEY_PARAM_RSA_COEFFICIENT1);
  EVP_PKEY_free(pkey);
  return f;
}

Result<RsaPrivateKey> ImportFields(const PrivateFields& f) {
  auto s = [](const Bytes& b) { return SecretBytes::CopyFrom(b); };
  return RsaPrivateKey::FromJwk(f.pub, s(f.d), s(f.p), s(f.q), s(f.dp), s(f.dq), s(f.qi));
}

TEST(RsaKeyTest, JwkImportAcceptsConsistentCrtValues) {
  const PrivateFields f = TestKeyFields();
  auto key = ImportFields(f);
  ASSERT_TRUE(key.has_value()) << key.error().ToString();
  EXPECT_EQ(key->PublicKey().ToDer(), TestKey().PublicKey().ToDer());
}

// OpenSSL recomputes a CRT result that fails its check with d, so a sign/verify self-test alone
// passes keys whose CRT values do not belong to n; the importer must compare them itself.
TEST(RsaKeyTest, JwkImportRejectsInconsistentCrtValues) {
  const PrivateFields good = TestKeyFields();
  auto expect_rejected = [](const PrivateFields& f, const char* what) {
    auto key = ImportFields(f);
    ASSERT_FALSE(key.has_value()) << what;
    EXPECT_EQ(key.error().code(), StatusCode::kInvalidArgument) << what;
  };
  PrivateFields f = good;
  f.dp.back() ^= 0x02;
  expect_rejected(f, "dp");
  f = good;
  f.dq.back() ^= 0x02;
  expect_rejected(f, "dq");
  f = good;
  f.qi.back() ^= 0x01;
  expect_rejected(f, "qi");
  f = good;
  std::swap(f.p, f.q);  // p and q swapped without recomputing dp, dq, qi
  expect_rejected(f, "p/q swapped");
  f = good;
  f.p.back() ^= 0x02;  // p*q != n
  expect_rejected(f, "p");
  f = good;
  f.d.back() ^= 0x02;  // d no longer inverts e
  expect_rejected(f, "d");
}

}  // namespace
}  // namespace pgcmk::crypto
