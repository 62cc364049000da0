#include "vault/vault_types.h"

#include <gtest/gtest.h>

namespace pgcmk::vault {
namespace {

TEST(VaultTypesTest, PermissionNamesParseCaseInsensitively) {
  EXPECT_EQ(ParseKeyPermission("wrapkey"), KeyPermission::kWrapKey);
  EXPECT_EQ(ParseKeyPermission("UnwrapKey"), KeyPermission::kUnwrapKey);
  EXPECT_EQ(ParseKeyPermission("getrotationpolicy"), KeyPermission::kGetRotationPolicy);
  EXPECT_FALSE(ParseKeyPermission("wrap").has_value());
  auto all = ParsePermissionList({"all"});
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->Names().size(), static_cast<size_t>(kKeyPermissionCount));
  EXPECT_FALSE(ParsePermissionList({"get", "bogus"}).has_value());
}

TEST(VaultTypesTest, EncryptionUserRoleIsGetWrapUnwrapOnly) {
  auto set = RolePermissions("key vault crypto service encryption user");
  ASSERT_TRUE(set.has_value());
  EXPECT_EQ(set->Names(), (std::vector<std::string>{"get", "wrapKey", "unwrapKey"}));
  EXPECT_FALSE(RolePermissions("Key Vault Reader").has_value());
  EXPECT_EQ(CanonicalRoleName("KEY VAULT CRYPTO USER"), "Key Vault Crypto User");
}

TEST(VaultTypesTest, KeyNamesFollowTheSpecPattern) {
  EXPECT_TRUE(IsValidKeyName("My-Key-1"));
  EXPECT_FALSE(IsValidKeyName(""));
  EXPECT_FALSE(IsValidKeyName("a_b"));
  EXPECT_FALSE(IsValidKeyName("a/b"));
  EXPECT_FALSE(IsValidKeyName(".."));
  EXPECT_TRUE(IsValidKeyName(std::string(127, 'a')));
  EXPECT_FALSE(IsValidKeyName(std::string(128, 'a')));
  EXPECT_TRUE(IsValidKeyVersion("78deebed173b48e48f55abf87ed4cf71"));
  EXPECT_FALSE(IsValidKeyVersion("78deebed173b48e48f55abf87ed4cf7"));
  EXPECT_FALSE(IsValidKeyVersion("78deebed173b48e48f55abf87ed4cf7g"));
}

TEST(VaultTypesTest, KeyOpsAreCanonicalisedAndValidated) {
  auto ops = CanonicalKeyOps({"WRAPKEY", "unwrapkey", "wrapKey"});
  ASSERT_TRUE(ops.has_value());
  EXPECT_EQ(*ops, (std::vector<std::string>{"wrapKey", "unwrapKey"}));
  EXPECT_FALSE(CanonicalKeyOps({"explode"}).has_value());
}

TEST(VaultTypesTest, IsoDurationsParse) {
  EXPECT_EQ(ParseIsoDuration("P90D"), 90 * 86400);
  EXPECT_EQ(ParseIsoDuration("P2Y"), 2 * 365 * 86400);
  EXPECT_EQ(ParseIsoDuration("P1M"), 30 * 86400);
  EXPECT_EQ(ParseIsoDuration("PT1H30M"), 5400);
  EXPECT_EQ(ParseIsoDuration("P1DT2S"), 86402);
  EXPECT_FALSE(ParseIsoDuration("P").has_value());
  EXPECT_FALSE(ParseIsoDuration("90D").has_value());
  EXPECT_FALSE(ParseIsoDuration("PT").has_value());
  EXPECT_FALSE(ParseIsoDuration("P1H").has_value());
  EXPECT_FALSE(ParseIsoDuration("P5").has_value());
}

TEST(VaultTypesTest, RecoveryLevelFollowsRetentionAndPurgeProtection) {
  VaultSettings s;
  s.retention_days = 90;
  EXPECT_EQ(s.RecoveryLevel(), "Recoverable+Purgeable");
  s.purge_protection = true;
  EXPECT_EQ(s.RecoveryLevel(), "Recoverable");
  s.retention_days = 7;
  EXPECT_EQ(s.RecoveryLevel(), "CustomizedRecoverable");
  s.purge_protection = false;
  EXPECT_EQ(s.RecoveryLevel(), "CustomizedRecoverable+Purgeable");
}

}  // namespace
}  // namespace pgcmk::vault
