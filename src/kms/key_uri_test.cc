#include "kms/key_uri.h"

#include <gtest/gtest.h>

#include <chrono>

#include "kms/client_credentials_token_provider.h"
#include "kms/kms_client.h"

namespace pgcmk::kms {
namespace {

TEST(KeyUriTest, ParsesVersionlessUri) {
  auto k = KeyUri::Parse("https://myvault.vault.azure.net/keys/key01");
  ASSERT_TRUE(k.has_value()) << k.error().ToString();
  EXPECT_EQ(k->host, "myvault.vault.azure.net");
  EXPECT_EQ(k->port, 443);
  EXPECT_EQ(k->name, "key01");
  EXPECT_TRUE(k->versionless());
  EXPECT_EQ(k->ToString(), "https://myvault.vault.azure.net/keys/key01");
}

TEST(KeyUriTest, ParsesVersionedUriWithPort) {
  auto k = KeyUri::Parse("https://127.0.0.1:8443/keys/pg-key/78deebed173b48e48f55abf87ed4cf71");
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->port, 8443);
  EXPECT_EQ(k->version, "78deebed173b48e48f55abf87ed4cf71");
  EXPECT_EQ(k->origin(), "https://127.0.0.1:8443");
  EXPECT_EQ(k->Versionless().ToString(), "https://127.0.0.1:8443/keys/pg-key");
}

TEST(KeyUriTest, TrailingSlashIsVersionless) {
  auto k = KeyUri::Parse("https://v.example/keys/k/");
  ASSERT_TRUE(k.has_value());
  EXPECT_TRUE(k->versionless());
}

TEST(KeyUriTest, RejectsMalformedUris) {
  for (const char* bad :
       {"", "myvault/keys/k", "ftp://v/keys/k", "https://v/secrets/k", "https://v/keys/",
        "https://v/keys/k/v1/extra", "https://v:99999/keys/k", "https://v/keys/k_1",
        "https://v/vaults/x/keys/k", "https://v/keys/k?x=1"}) {
    EXPECT_FALSE(KeyUri::Parse(bad).has_value()) << bad;
  }
}

TEST(KeyUriTest, SameKeyComparesNamesCaseInsensitively) {
  auto a = KeyUri::Parse("https://v.example/keys/MyKey/abc");
  auto b = KeyUri::Parse("https://v.example/keys/mykey");
  auto c = KeyUri::Parse("https://w.example/keys/mykey");
  EXPECT_TRUE(a->SameKeyAs(*b));
  EXPECT_FALSE(a->SameKeyAs(*c));
}

TEST(BearerChallengeTest, ParsesAzureChallenge) {
  auto c = ParseBearerChallenge(
      "Bearer authorization=\"https://login.microsoftonline.com/72f988bf\", "
      "resource=\"https://vault.azure.net\"");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->TokenEndpoint(), "https://login.microsoftonline.com/72f988bf/oauth2/v2.0/token");
  EXPECT_EQ(c->scope, "https://vault.azure.net/.default");
}

TEST(BearerChallengeTest, ScopeIsUsedWhenResourceIsAbsent) {
  auto c =
      ParseBearerChallenge("Bearer authorization=\"https://a/t\" scope=\"https://r/.default\"");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->scope, "https://r/.default");
}

TEST(BearerChallengeTest, RejectsNonBearerOrIncompleteChallenges) {
  EXPECT_FALSE(ParseBearerChallenge("Basic realm=\"x\"").has_value());
  EXPECT_FALSE(ParseBearerChallenge("Bearer resource=\"https://r\"").has_value());
  EXPECT_FALSE(ParseBearerChallenge("Bearer authorization=\"https://a/t\"").has_value());
}

KeyInfo GoodKey() {
  KeyInfo k;
  k.kid = "https://v/keys/k/1";
  k.kty = "RSA";
  k.key_size_bits = 3072;
  k.enabled = true;
  k.recovery_level = "CustomizedRecoverable";
  k.key_ops = {"wrapKey", "unwrapKey"};
  return k;
}

TEST(CmkRequirementsTest, AcceptsAGoodKey) {
  EXPECT_TRUE(
      CheckCustomerManagedKeyRequirements(GoodKey(), std::chrono::system_clock::now()).ok());
}

TEST(CmkRequirementsTest, EachUnmetRequirementIsNamed) {
  auto now = std::chrono::system_clock::now();
  const std::int64_t t =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  struct Case {
    void (*mutate)(KeyInfo&, std::int64_t);
    const char* expected;
  };
  const Case cases[] = {
      {[](KeyInfo& k, std::int64_t) { k.enabled = false; }, "disabled"},
      {[](KeyInfo& k, std::int64_t t0) { k.nbf = t0 + 3600; }, "not yet valid"},
      {[](KeyInfo& k, std::int64_t t0) { k.exp = t0 - 1; }, "expired"},
      {[](KeyInfo& k, std::int64_t) { k.kty = "EC"; }, "must be RSA"},
      {[](KeyInfo& k, std::int64_t) { k.key_size_bits = 1024; }, "2048, 3072 or 4096"},
      {[](KeyInfo& k, std::int64_t) { k.recovery_level = "Recoverable+Purgeable"; },
       "purge protection"},
      {[](KeyInfo& k, std::int64_t) {
         k.key_ops = {"sign", "wrapKey"};
       },
       "unwrapKey"},
  };
  for (const Case& c : cases) {
    KeyInfo k = GoodKey();
    c.mutate(k, t);
    Status s = CheckCustomerManagedKeyRequirements(k, now);
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << c.expected;
    EXPECT_NE(s.message().find(c.expected), std::string::npos) << s.message();
  }
}

TEST(ClassifyFailureTest, SeparatesDefinitiveFromTransient) {
  EXPECT_EQ(ClassifyFailure(Status(StatusCode::kPermissionDenied, "")), FailureKind::kDefinitive);
  EXPECT_EQ(ClassifyFailure(Status(StatusCode::kUnauthenticated, "")), FailureKind::kDefinitive);
  EXPECT_EQ(ClassifyFailure(Status(StatusCode::kNotFound, "")), FailureKind::kDefinitive);
  EXPECT_EQ(ClassifyFailure(Status(StatusCode::kFailedPrecondition, "")), FailureKind::kDefinitive);
  EXPECT_EQ(ClassifyFailure(Status(StatusCode::kUnavailable, "")), FailureKind::kTransient);
  EXPECT_EQ(ClassifyFailure(Status(StatusCode::kDeadlineExceeded, "")), FailureKind::kTransient);
  EXPECT_EQ(ClassifyFailure(Status::Ok()), FailureKind::kNone);
}

TEST(ChallengeAuthorityTest, SecretGoesOnlyToTheVaultItselfOrEntraId) {
  auto challenge = [](std::string authorization) {
    AuthChallenge c;
    c.authorization = std::move(authorization);
    c.scope = "https://vault.pgcmk.local/.default";
    return c;
  };
  EXPECT_TRUE(
      CheckChallengeAuthority(challenge("https://127.0.0.1:8443/t1"), "https://127.0.0.1:8443")
          .ok());
  EXPECT_TRUE(CheckChallengeAuthority(challenge("https://login.microsoftonline.com/72f988bf"),
                                      "https://myvault.vault.azure.net")
                  .ok());
  Status other =
      CheckChallengeAuthority(challenge("https://evil.example:8443/t1"), "https://127.0.0.1:8443");
  EXPECT_EQ(other.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(other.message().find("evil.example"), std::string::npos);
  EXPECT_FALSE(
      CheckChallengeAuthority(challenge("https://127.0.0.1:9999/t1"), "https://127.0.0.1:8443")
          .ok());
  EXPECT_FALSE(CheckChallengeAuthority(challenge("http://login.microsoftonline.com/t"),
                                       "https://myvault.vault.azure.net")
                   .ok());
}

}  // namespace
}  // namespace pgcmk::kms
