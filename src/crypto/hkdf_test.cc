#include "crypto/hkdf.h"

#include <gtest/gtest.h>

namespace pgcmk::crypto {
namespace {

Bytes Hex(std::string_view h) {
  Bytes b;
  EXPECT_TRUE(FromHex(h, &b));
  return b;
}

// RFC 5869 appendix A.1.
TEST(HkdfTest, MatchesRfc5869TestCase1) {
  const SecretBytes ikm =
      SecretBytes::CopyFrom(Hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"));
  auto okm = HkdfSha256(ikm, Hex("000102030405060708090a0b0c"), Hex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm.has_value());
  EXPECT_EQ(ToHex(okm->reveal()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

// RFC 5869 appendix A.3: empty salt and info.
TEST(HkdfTest, MatchesRfc5869TestCase3) {
  const SecretBytes ikm =
      SecretBytes::CopyFrom(Hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"));
  auto okm = HkdfSha256(ikm, {}, {}, 42);
  ASSERT_TRUE(okm.has_value());
  EXPECT_EQ(ToHex(okm->reveal()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(HkdfTest, RejectsTooLongOutput) {
  const SecretBytes ikm = SecretBytes::CopyFrom(AsBytes("k"));
  EXPECT_TRUE(HkdfSha256(ikm, {}, {}, 255 * 32).has_value());
  auto r = HkdfSha256(ikm, {}, {}, 255 * 32 + 1);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
}

TEST(HkdfTest, DifferentInfoGivesDifferentKeys) {
  const SecretBytes ikm = SecretBytes::CopyFrom(AsBytes("input key material"));
  auto a = HkdfSha256(ikm, {}, AsBytes("a"), 32);
  auto b = HkdfSha256(ikm, {}, AsBytes("b"), 32);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(*a == *b);
}

// The expander is HKDF with the extract step hoisted: same output for every salt/info/length.
TEST(HkdfTest, ExpanderMatchesOneShotHkdf) {
  const SecretBytes ikm = SecretBytes::CopyFrom(AsBytes("audit chain key material, 32 bytes"));
  for (const Bytes& salt : {Bytes{}, Hex("000102030405060708090a0b0c")}) {
    auto expander = HkdfSha256Expander::Create(ikm, salt);
    ASSERT_TRUE(expander.has_value());
    for (size_t length : {size_t{1}, size_t{32}, size_t{42}, size_t{100}}) {
      const Bytes info = Hex("f0f1f2f3f4f5f6f7f8f9");
      auto want = HkdfSha256(ikm, salt, info, length);
      ASSERT_TRUE(want.has_value());
      Bytes got(length);
      // Info given in parts is concatenated.
      ASSERT_TRUE(expander->Expand({ByteView(info).first(3), ByteView(info).subspan(3)}, got).ok());
      EXPECT_EQ(ToHex(got), ToHex(want->reveal())) << length;
    }
  }
}

// RFC 5869 appendix A.1 through the expander.
TEST(HkdfTest, ExpanderMatchesRfc5869TestCase1) {
  const SecretBytes ikm =
      SecretBytes::CopyFrom(Hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"));
  auto expander = HkdfSha256Expander::Create(ikm, Hex("000102030405060708090a0b0c"));
  ASSERT_TRUE(expander.has_value());
  Bytes okm(42);
  ASSERT_TRUE(expander->Expand({Hex("f0f1f2f3f4f5f6f7f8f9")}, okm).ok());
  EXPECT_EQ(ToHex(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  Bytes too_long(255 * 32 + 1);
  EXPECT_EQ(expander->Expand({}, too_long).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pgcmk::crypto
