#include "crypto/aes_gcm.h"

#include <gtest/gtest.h>

#include "crypto/random.h"

namespace pgcmk::crypto {
namespace {

AesGcm TestCipher() {
  auto key = RandomSecret(AesGcm::kKeySize);
  EXPECT_TRUE(key.has_value());
  auto gcm = AesGcm::Create(*key);
  EXPECT_TRUE(gcm.has_value());
  return std::move(*gcm);
}

TEST(AesGcmTest, CreateRefusesWrongKeySize) {
  EXPECT_FALSE(AesGcm::Create(SecretBytes(16)).has_value());
}

TEST(AesGcmTest, SealThenOpenRoundTrips) {
  const AesGcm gcm = TestCipher();
  for (size_t n : {0u, 1u, 16u, 1000u}) {
    const Bytes plain(n, 0x5a);
    auto sealed = gcm.Seal(plain, AsBytes("aad"));
    ASSERT_TRUE(sealed.has_value());
    EXPECT_EQ(sealed->size(), n + AesGcm::kOverhead);
    auto opened = gcm.Open(*sealed, AsBytes("aad"));
    ASSERT_TRUE(opened.has_value());
    EXPECT_TRUE(
        std::equal(opened->reveal().begin(), opened->reveal().end(), plain.begin(), plain.end()));
  }
}

TEST(AesGcmTest, SealUsesFreshNonces) {
  const AesGcm gcm = TestCipher();
  auto a = gcm.Seal(AsBytes("same"), {});
  auto b = gcm.Seal(AsBytes("same"), {});
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
}

TEST(AesGcmTest, OpenFailsOnTamperingWrongAadOrTruncation) {
  const AesGcm gcm = TestCipher();
  auto sealed = gcm.Seal(AsBytes("secret payload"), AsBytes("ctx"));
  ASSERT_TRUE(sealed.has_value());
  for (size_t i = 0; i < sealed->size(); ++i) {
    Bytes bad = *sealed;
    bad[i] ^= 1;
    auto r = gcm.Open(bad, AsBytes("ctx"));
    ASSERT_FALSE(r.has_value()) << i;
    EXPECT_EQ(r.error().code(), StatusCode::kDataLoss);
  }
  EXPECT_FALSE(gcm.Open(*sealed, AsBytes("other")).has_value());
  EXPECT_FALSE(gcm.Open(ByteView(*sealed).first(AesGcm::kOverhead - 1), AsBytes("ctx")));
}

TEST(AesGcmTest, OpenWithOtherKeyFails) {
  const AesGcm a = TestCipher();
  const AesGcm b = TestCipher();
  auto sealed = a.Seal(AsBytes("x"), {});
  ASSERT_TRUE(sealed.has_value());
  auto r = b.Open(*sealed, {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kDataLoss);
}

TEST(AesGcmTest, ExplicitNonceRejectsBadTagSizes) {
  const AesGcm gcm = TestCipher();
  Bytes tag;
  const Bytes nonce(12, 1);
  EXPECT_FALSE(gcm.EncryptWithNonce(nonce, AsBytes("x"), {}, &tag, 8).has_value());
  EXPECT_FALSE(gcm.EncryptWithNonce({}, AsBytes("x"), {}, &tag).has_value());
  auto ct = gcm.EncryptWithNonce(nonce, AsBytes("x"), {}, &tag, 12);
  ASSERT_TRUE(ct.has_value());
  EXPECT_EQ(tag.size(), 12u);
  EXPECT_TRUE(gcm.DecryptWithNonce(nonce, *ct, {}, tag).has_value());
  EXPECT_FALSE(gcm.DecryptWithNonce(nonce, *ct, {}, ByteView(tag).first(8)).has_value());
}

}  // namespace
}  // namespace pgcmk::crypto
