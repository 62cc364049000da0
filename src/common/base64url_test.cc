#include "common/base64url.h"

#include <gtest/gtest.h>

namespace pgcmk {
namespace {

TEST(Base64UrlTest, Rfc4648VectorsWithoutPadding) {
  const std::pair<const char*, const char*> cases[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : cases) {
    EXPECT_EQ(Base64UrlEncode(AsBytes(plain)), encoded);
    auto decoded = Base64UrlDecode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(AsStringView(*decoded), plain);
  }
}

TEST(Base64UrlTest, UsesUrlAlphabetAndAcceptsStandardAndPadded) {
  const Bytes data = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(Base64UrlEncode(data), "-_-_");
  EXPECT_EQ(Base64Encode(data), "+/+/");
  EXPECT_EQ(*Base64UrlDecode("+/+/"), data);
  EXPECT_EQ(*Base64UrlDecode("Zm8="), ToBytes("fo"));
  // Azure's example: 32 bytes of 0x07 travel as 43 characters.
  EXPECT_EQ(Base64UrlEncode(Bytes(32, 0x07)).size(), 43u);
}

TEST(Base64UrlTest, RejectsGarbage) {
  EXPECT_FALSE(Base64UrlDecode("Zm9v!").has_value());
  EXPECT_FALSE(Base64UrlDecode("Z").has_value());      // impossible length
  EXPECT_FALSE(Base64UrlDecode("Zm8==").has_value());  // padding does not complete a group
  EXPECT_FALSE(Base64UrlDecode("Zm9=v").has_value());  // padding in the middle
  EXPECT_FALSE(Base64UrlDecode("Zh").has_value());     // non-canonical trailing bits
  EXPECT_FALSE(Base64UrlDecode("Zm 9v").has_value());
}

TEST(Base64UrlTest, DecodeSecretFollowsTheSameRules) {
  const std::pair<const char*, const char*> cases[] = {
      {"", ""}, {"f", "Zg"}, {"fo", "Zm8="}, {"foob", "Zm9vYg"}, {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : cases) {
    auto decoded = Base64UrlDecodeSecret(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(AsStringView(decoded->reveal()), plain);
  }
  auto key = Base64UrlDecodeSecret(Base64UrlEncode(Bytes(32, 0x07)));
  ASSERT_TRUE(key.has_value());
  EXPECT_TRUE(*key == SecretBytes::CopyFrom(Bytes(32, 0x07)));
  for (const char* bad : {"Zm9v!", "Z", "Zm8==", "Zm9=v", "Zh", "Zm 9v"}) {
    EXPECT_FALSE(Base64UrlDecodeSecret(bad).has_value()) << bad;
    EXPECT_FALSE(Base64UrlDecode(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace pgcmk
