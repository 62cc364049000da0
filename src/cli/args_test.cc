#include "cli/args.h"

#include <gtest/gtest.h>

namespace pgcmk::cli {
namespace {

Result<Args> ParseWords(std::vector<std::string> words) {
  return Args::Parse(words, {{"port"},
                             {"webhook", OptionKind::kRepeated},
                             {"purge-protection", OptionKind::kFlag},
                             {"cache"}});
}

TEST(ArgsTest, ValuesFlagsAndPositionalsInAnyOrder) {
  auto a = ParseWords({"db1", "--port", "5433", "--purge-protection", "--webhook=http://a",
                       "--webhook", "http://b"});
  ASSERT_TRUE(a.has_value()) << a.error().ToString();
  EXPECT_EQ(a->OnePositional("server NAME").value(), "db1");
  EXPECT_EQ(a->Get("port"), "5433");
  EXPECT_TRUE(a->Has("purge-protection"));
  EXPECT_FALSE(a->Get("purge-protection").has_value()) << "a flag has no value";
  EXPECT_EQ(a->GetAll("webhook"), (std::vector<std::string>{"http://a", "http://b"}));
  EXPECT_FALSE(a->Has("cache"));
  EXPECT_EQ(a->GetOr("cache", "off"), "off");
}

TEST(ArgsTest, UnknownOptionIsAnErrorNotIgnored) {
  auto a = ParseWords({"--purge-protectoin"});
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a.error().message(), "unknown option --purge-protectoin");
}

TEST(ArgsTest, MissingValueFlagWithValueAndRepeatsAreErrors) {
  EXPECT_EQ(ParseWords({"--port"}).error().message(), "--port needs a value");
  EXPECT_EQ(ParseWords({"--purge-protection=yes"}).error().message(),
            "--purge-protection takes no value");
  EXPECT_EQ(ParseWords({"--port", "1", "--port=2"}).error().message(),
            "--port is given more than once");
}

TEST(ArgsTest, ValueMayLookLikeAnything) {
  auto a = ParseWords({"--cache", "--port"});
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->Get("cache"), "--port") << "the word after a value option is its value";
  EXPECT_EQ(ParseWords({"--cache="})->Get("cache"), "");
}

TEST(ArgsTest, PositionalCountsAreChecked) {
  EXPECT_EQ(ParseWords({})->OnePositional("identity name").error().message(),
            "missing identity name");
  EXPECT_EQ(ParseWords({"a", "b"})->OnePositional("identity name").error().message(),
            "expected one identity name, got also 'b'");
  EXPECT_TRUE(ParseWords({})->NoPositional().ok());
  EXPECT_EQ(ParseWords({"x"})->NoPositional().message(), "unexpected argument 'x'");
}

TEST(ArgsTest, IntegersAreWholeAndInRange) {
  EXPECT_EQ(ParseWords({"--port", "5433"})->GetInt("port", 1, 65535).value(), 5433);
  EXPECT_FALSE(ParseWords({})->GetInt("port", 1, 65535).value().has_value());
  for (std::string bad : {"", "abc", "12x", "0", "65536", " 5", "-1", "99999999999999999999"}) {
    auto v = ParseWords({"--port", bad})->GetInt("port", 1, 65535);
    ASSERT_FALSE(v.has_value()) << "'" << bad << "'";
    EXPECT_EQ(v.error().message(), "--port must be an integer from 1 to 65535");
  }
}

TEST(ArgsTest, OnOff) {
  EXPECT_EQ(ParseWords({"--cache", "on"})->GetOnOff("cache").value(), true);
  EXPECT_EQ(ParseWords({"--cache", "off"})->GetOnOff("cache").value(), false);
  EXPECT_FALSE(ParseWords({})->GetOnOff("cache").value().has_value());
  EXPECT_EQ(ParseWords({"--cache", "yes"})->GetOnOff("cache").error().message(),
            "--cache takes on or off");
}

}  // namespace
}  // namespace pgcmk::cli
