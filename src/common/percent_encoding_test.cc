#include "common/percent_encoding.h"

#include <gtest/gtest.h>

namespace pgcmk {
namespace {

TEST(PercentEncodingTest, UnreservedPassAndEveryOtherByteIsEscaped) {
  EXPECT_EQ(PercentEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(PercentEncode("a b+c/d?e=f&g%"), "a%20b%2Bc%2Fd%3Fe%3Df%26g%25");
  EXPECT_EQ(PercentEncode("https://vault.pgcmk.local/.default"),
            "https%3A%2F%2Fvault.pgcmk.local%2F.default");
  EXPECT_EQ(PercentEncode(std::string("\0\xff\x80", 3)), "%00%FF%80");
  EXPECT_EQ(PercentEncode(""), "");
}

}  // namespace
}  // namespace pgcmk
