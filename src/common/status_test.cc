#include "common/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace pgcmk {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Err(StatusCode::kInvalidArgument, "odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  PGCMK_ASSIGN_OR_RETURN(int h, Half(x));
  PGCMK_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, FromErrnoKeepsErrnoAndMapsCommonCodes) {
  Status s = Status::FromErrno(ENOSPC, "write base/1");
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.sys_errno(), ENOSPC);
  EXPECT_NE(s.message().find("write base/1"), std::string::npos);
  EXPECT_EQ(Status::FromErrno(ENOENT, "x").code(), StatusCode::kNotFound);
  EXPECT_EQ(Status::FromErrno(EIO, "x").code(), StatusCode::kIoError);
}

TEST(StatusTest, WithContextPrefixesAndKeepsCode) {
  Status s = Status(StatusCode::kNotFound, "key k1").WithContext("unwrap");
  EXPECT_EQ(s.message(), "unwrap: key k1");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NotFound: unwrap: key k1");
}

TEST(StatusTest, AssignOrReturnPropagatesTheFirstError) {
  EXPECT_EQ(Quarter(8).value(), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "odd");
}

}  // namespace
}  // namespace pgcmk
