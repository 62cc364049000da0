#include "vault_http/route.h"

#include <gtest/gtest.h>

namespace pgcmk::vault_http {
namespace {

TEST(RouteTest, DecodesPercentEncodedQueryNames) {
  Route r = RouteRequest("GET", "/keys/k1/?api%2Dversion=2025-07-01");
  EXPECT_EQ(r.op, Operation::kGetKey);
  EXPECT_EQ(r.name, "k1");
  EXPECT_EQ(r.version, "");
  EXPECT_EQ(r.query["api-version"], "2025-07-01");
}

TEST(RouteTest, EmptyOrMissingVersionMeansLatestForCryptoOps) {
  Route a = RouteRequest("POST", "/keys/k//wrapkey?api-version=7.6");
  EXPECT_EQ(a.op, Operation::kWrapKey);
  EXPECT_EQ(a.version, "");
  Route b = RouteRequest("POST", "/keys/k/unwrapkey?api-version=7.6");
  EXPECT_EQ(b.op, Operation::kUnwrapKey);
  EXPECT_EQ(b.version, "");
  Route c = RouteRequest("POST", "/keys/k/0698c2156c1a4e1da5b6bab6f6422fd6/sign?api-version=7.6");
  EXPECT_EQ(c.op, Operation::kSign);
  EXPECT_EQ(c.version, "0698c2156c1a4e1da5b6bab6f6422fd6");
  EXPECT_EQ(RouteRequest("POST", "/keys/k//WRAPKEY").op, Operation::kWrapKey);
}

TEST(RouteTest, ReservedWordsAreOperationsAndOtherWordsAreVersions) {
  EXPECT_EQ(RouteRequest("POST", "/keys/k/create").op, Operation::kCreateKey);
  EXPECT_EQ(RouteRequest("POST", "/keys/k/rotate").op, Operation::kRotateKey);
  EXPECT_EQ(RouteRequest("POST", "/keys/k/backup").op, Operation::kBackupKey);
  EXPECT_EQ(RouteRequest("GET", "/keys/k/rotationpolicy").op, Operation::kGetRotationPolicy);
  EXPECT_EQ(RouteRequest("PUT", "/keys/k/rotationpolicy").op, Operation::kSetRotationPolicy);
  EXPECT_EQ(RouteRequest("GET", "/keys/k/versions").op, Operation::kListKeyVersions);
  Route v = RouteRequest("GET", "/keys/k/abc");
  EXPECT_EQ(v.op, Operation::kGetKey);
  EXPECT_EQ(v.version, "abc");
  EXPECT_EQ(RouteRequest("PATCH", "/keys/k/").op, Operation::kUpdateKey);
  EXPECT_EQ(RouteRequest("POST", "/keys/k/release").op, Operation::kUnsupported);
  EXPECT_EQ(RouteRequest("POST", "/rng").op, Operation::kUnsupported);
}

TEST(RouteTest, RestoreIsPostOnlyAndAKeyCalledRestoreIsReachable) {
  EXPECT_EQ(RouteRequest("POST", "/keys/restore").op, Operation::kRestoreKey);
  Route g = RouteRequest("GET", "/keys/restore");
  EXPECT_EQ(g.op, Operation::kGetKey);
  EXPECT_EQ(g.name, "restore");
  EXPECT_EQ(RouteRequest("DELETE", "/keys/restore").op, Operation::kDeleteKey);
}

TEST(RouteTest, ListsDeletedKeysAndTokenEndpoint) {
  EXPECT_EQ(RouteRequest("GET", "/keys?maxresults=2").op, Operation::kListKeys);
  EXPECT_EQ(RouteRequest("GET", "/keys/").op, Operation::kListKeys);
  EXPECT_EQ(RouteRequest("GET", "/deletedkeys").op, Operation::kListDeletedKeys);
  EXPECT_EQ(RouteRequest("GET", "/deletedkeys/k").op, Operation::kGetDeletedKey);
  EXPECT_EQ(RouteRequest("DELETE", "/deletedkeys/k").op, Operation::kPurgeDeletedKey);
  EXPECT_EQ(RouteRequest("POST", "/deletedkeys/k/recover").op, Operation::kRecoverDeletedKey);
  Route t = RouteRequest("POST", "/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token");
  EXPECT_EQ(t.op, Operation::kToken);
  EXPECT_EQ(t.tenant, "72f988bf-86f1-41af-91ab-2d7cd011db47");
}

TEST(RouteTest, PathTricksDoNotRoute) {
  EXPECT_EQ(RouteRequest("GET", "/keys/k/v/x/y").op, Operation::kNoRoute);
  EXPECT_EQ(RouteRequest("GET", "/../keys").op, Operation::kNoRoute);
  EXPECT_EQ(RouteRequest("GET", "keys").op, Operation::kNoRoute);
  EXPECT_EQ(RouteRequest("GET", "/vaults/v1/keys/k").op, Operation::kNoRoute);
  EXPECT_EQ(RouteRequest("PUT", "/keys").op, Operation::kNoRoute);
  // An encoded slash stays inside the name segment (and the name is then invalid).
  Route r = RouteRequest("GET", "/keys/a%2Fb");
  EXPECT_EQ(r.op, Operation::kGetKey);
  EXPECT_EQ(r.name, "a/b");
}

TEST(RouteTest, AdminRoutes) {
  EXPECT_EQ(RouteRequest("POST", "/admin/identities").op, Operation::kAdminCreateIdentity);
  EXPECT_EQ(RouteRequest("POST", "/admin/identities/app/rotatesecret").op,
            Operation::kAdminRotateIdentitySecret);
  EXPECT_EQ(RouteRequest("PUT", "/admin/policies/app").op, Operation::kAdminSetPolicy);
  EXPECT_EQ(RouteRequest("GET", "/admin/audit/verify").op, Operation::kAdminVerifyAudit);
}

TEST(RouteTest, FormsAndApiVersions) {
  auto f = ParseForm(
      "grant_type=client_credentials&scope=https%3A%2F%2Fvault.pgcmk.local%2F.default&a=b+c");
  EXPECT_EQ(f["scope"], "https://vault.pgcmk.local/.default");
  EXPECT_EQ(f["a"], "b c");
  EXPECT_TRUE(IsSupportedApiVersion("7.5"));
  EXPECT_TRUE(IsSupportedApiVersion("7.6-preview.2"));
  EXPECT_TRUE(IsSupportedApiVersion("2025-07-01"));
  EXPECT_FALSE(IsSupportedApiVersion("8"));
  EXPECT_FALSE(IsSupportedApiVersion("7."));
  EXPECT_FALSE(IsSupportedApiVersion("2025-7-1"));
  EXPECT_EQ(PercentDecode("%zz%4", false), "%zz%4");
}

}  // namespace
}  // namespace pgcmk::vault_http
