// VaultApi in-process, without sockets: the protocol layer's contract (challenge first, error
// bodies, identifiers from the Host header, status codes).
#include "vault_http/vault_api.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <nlohmann/json.hpp>

#include "common/base64url.h"
#include "common/durable_file.h"
#include "vault_http/wire_format.h"

namespace pgcmk::vault_http {
namespace {

using nlohmann::json;

class VaultApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vault-api-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ASSERT_TRUE(vault::VaultService::Initialize(dir_ / "v", {}).has_value());
    vault::VaultServiceOptions o;
    o.audit_outcome = AuditOutcomeFor;
    auto s = vault::VaultService::Open(dir_ / "v", o);
    ASSERT_TRUE(s.has_value());
    service_ = std::move(*s);
    api_ = std::make_unique<VaultApi>(*service_, ApiOptions());
    cred_ = json::parse(AsStringView(*ReadWholeFile(dir_ / "v" / "admin.credential")));
    HttpResponse t =
        Call("POST", "/" + cred_["tenantId"].get<std::string>() + "/oauth2/v2.0/token",
             "grant_type=client_credentials&client_id=" + cred_["clientId"].get<std::string>() +
                 "&client_secret=" + cred_["clientSecret"].get<std::string>() +
                 "&scope=https%3A%2F%2Fvault.pgcmk.local%2F.default",
             "", "application/x-www-form-urlencoded");
    ASSERT_EQ(t.status, 200) << t.body;
    token_ = json::parse(t.body)["access_token"];
  }
  void TearDown() override {
    api_.reset();
    service_.reset();
    std::filesystem::remove_all(dir_);
  }

  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& token = "",
                    const std::string& ctype = "application/json",
                    const std::string& host = "vault.example:8443") {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    r.remote_addr = "127.0.0.1";
    r.headers["host"] = host;
    if (!body.empty()) r.headers["content-type"] = ctype;
    if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
    return api_->Handle(r);
  }
  Result<std::vector<std::string>> AllAuditRecords() {
    vault::RequestContext ctx;
    vault::Principal admin;
    admin.identity.admin = true;
    vault::AuditQuery q;
    q.limit = 1000;
    return service_->QueryAudit(ctx, admin, q);
  }
  static std::string HeaderOf(const HttpResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return "";
  }

  std::filesystem::path dir_;
  std::unique_ptr<vault::VaultService> service_;
  std::unique_ptr<VaultApi> api_;
  json cred_;
  std::string token_;
};

TEST_F(VaultApiTest, ChallengeComesBeforeApiVersionAndBody) {
  HttpResponse r = Call("POST", "/keys/k/create", "{garbage");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(HeaderOf(r, "WWW-Authenticate"), "Bearer authorization=\"https://vault.example:8443/" +
                                                 cred_["tenantId"].get<std::string>() +
                                                 "\", resource=\"https://vault.pgcmk.local\"");
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "Unauthorized");
  HttpResponse no_version = Call("POST", "/keys/k/create", "{garbage", token_);
  EXPECT_EQ(no_version.status, 400);
  EXPECT_EQ(json::parse(no_version.body)["error"]["code"], "BadParameter");
}

TEST_F(VaultApiTest, KidComesFromTheHostHeaderAndErrorsUseAzureCodes) {
  HttpResponse c = Call("POST", "/keys/k1/create?api-version=7.6", R"({"kty":"RSA"})", token_,
                        "application/json", "other.host:1234");
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_TRUE(json::parse(c.body)["key"]["kid"].get<std::string>().starts_with(
      "https://other.host:1234/keys/k1/"));
  HttpResponse missing = Call("GET", "/keys/nope/?api-version=7.6", "", token_);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(missing.body)["error"]["code"], "KeyNotFound");
  EXPECT_EQ(Call("DELETE", "/keys/k1?api-version=7.6", "", token_).status, 200);
  HttpResponse conflict =
      Call("POST", "/keys/k1/create?api-version=7.6", R"({"kty":"RSA"})", token_);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(json::parse(conflict.body)["error"]["innererror"]["code"],
            "ObjectIsDeletedButRecoverable");
  HttpResponse purge = Call("DELETE", "/deletedkeys/k1?api-version=7.6", "", token_);
  EXPECT_EQ(purge.status, 204);
  EXPECT_TRUE(purge.body.empty());
  // A Host header with junk does not end up in identifiers.
  HttpResponse junk =
      Call("GET", "/keys?api-version=7.6", "", token_, "application/json", "evil\"host/x");
  EXPECT_EQ(junk.status, 200);
  EXPECT_EQ(junk.body.find("evil"), std::string::npos);
}

// Unwrapped keys, client secrets and tokens are marked so that the server wipes them once sent;
// the crypto responses are exactly {"kid","value"}.
TEST_F(VaultApiTest, SecretResponsesAreMarkedSensitiveAndCryptoBodiesAreKidAndValue) {
  ASSERT_EQ(Call("POST", "/keys/k/create?api-version=7.6", R"({"kty":"RSA"})", token_).status, 200);
  HttpResponse w = Call("POST", "/keys/k/wrapkey?api-version=7.6",
                        R"({"alg":"RSA-OAEP-256","value":"AAECAwQFBgcICQoLDA0ODw"})", token_);
  ASSERT_EQ(w.status, 200) << w.body;
  EXPECT_FALSE(w.sensitive);
  json wrapped = json::parse(w.body);
  EXPECT_EQ(wrapped.size(), 2u);
  EXPECT_TRUE(wrapped["kid"].get<std::string>().starts_with("https://vault.example:8443/keys/k/"));
  HttpResponse u = Call("POST", "/keys/k/unwrapkey?api-version=7.6",
                        json{{"alg", "RSA-OAEP-256"}, {"value", wrapped["value"]}}.dump(), token_);
  ASSERT_EQ(u.status, 200) << u.body;
  EXPECT_TRUE(u.sensitive);
  EXPECT_EQ(u.body, json({{"kid", wrapped["kid"]}, {"value", "AAECAwQFBgcICQoLDA0ODw"}}).dump());
  HttpResponse id = Call("POST", "/admin/identities", R"({"name":"svc"})", token_);
  ASSERT_EQ(id.status, 200) << id.body;
  EXPECT_TRUE(id.sensitive);
  HttpResponse t =
      Call("POST", "/" + cred_["tenantId"].get<std::string>() + "/oauth2/v2.0/token",
           "grant_type=client_credentials&client_id=" + cred_["clientId"].get<std::string>() +
               "&client_secret=" + cred_["clientSecret"].get<std::string>() +
               "&scope=https%3A%2F%2Fvault.pgcmk.local%2F.default",
           "", "application/x-www-form-urlencoded");
  ASSERT_EQ(t.status, 200);
  EXPECT_TRUE(t.sensitive);
  HttpResponse missing = Call("GET", "/keys/nope/?api-version=7.6", "", token_);
  EXPECT_FALSE(missing.sensitive);
}

// A key name that percent-decodes to invalid UTF-8 is refused with 400, and audited (its bytes
// become U+FFFD in the record) rather than failing inside the audit writer.
TEST_F(VaultApiTest, InvalidUtf8InAKeyNameIsRefusedAndAudited) {
  HttpResponse r = Call("POST", "/keys/%FF%FEk/unwrapkey?api-version=7.6",
                        R"({"alg":"RSA-OAEP-256","value":"AAEC"})", token_);
  EXPECT_EQ(r.status, 400) << r.body;
  auto records = AllAuditRecords();
  ASSERT_TRUE(records.has_value());
  bool found = false;
  for (const auto& rec : *records) {
    json j = json::parse(rec, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << rec;
    if (j["operationName"] == "KeyUnwrap" &&
        j["properties"].value("id", "").find("\xEF\xBF\xBD\xEF\xBF\xBDk") != std::string::npos) {
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

// RSA1_5 decrypt/unwrap is no padding oracle: a bad padding answers 200 with a synthetic value
// (the same one every time for the same ciphertext), exactly like a good padding does.
TEST_F(VaultApiTest, Rsa15BadPaddingIsImplicitlyRejectedNotAnError) {
  ASSERT_EQ(
      Call("POST", "/keys/r/create?api-version=7.6", R"({"kty":"RSA","key_size":2048})", token_)
          .status,
      200);
  HttpResponse enc = Call("POST", "/keys/r/encrypt?api-version=7.6",
                          R"({"alg":"RSA1_5","value":"c2VjcmV0"})", token_);
  ASSERT_EQ(enc.status, 200) << enc.body;
  const std::string good_ct = json::parse(enc.body)["value"];
  for (const char* op : {"decrypt", "unwrapkey"}) {
    const std::string path = std::string("/keys/r/") + op + "?api-version=7.6";
    const std::string good_body = R"({"alg":"RSA1_5","value":")" + good_ct + R"("})";
    HttpResponse good = Call("POST", path, good_body, token_);
    ASSERT_EQ(good.status, 200) << good.body;
    EXPECT_EQ(json::parse(good.body)["value"], "c2VjcmV0");
    Bytes garbage(256, 0x5a);
    garbage[0] = 0;  // below the modulus, but certainly not 00 02 ... padding
    const std::string bad_body =
        R"({"alg":"RSA1_5","value":")" + Base64UrlEncode(garbage) + R"("})";
    HttpResponse bad1 = Call("POST", path, bad_body, token_);
    HttpResponse bad2 = Call("POST", path, bad_body, token_);
    ASSERT_EQ(bad1.status, 200) << bad1.body;
    EXPECT_EQ(json::parse(bad1.body)["value"], json::parse(bad2.body)["value"]);
    EXPECT_NE(json::parse(bad1.body)["value"], "c2VjcmV0");
  }
  // A ciphertext of the wrong length is publicly invalid: still a 400.
  EXPECT_EQ(
      Call("POST", "/keys/r/decrypt?api-version=7.6", R"({"alg":"RSA1_5","value":"AAEC"})", token_)
          .status,
      400);
}

// Requests the HTTP server refuses itself (oversize body, unparseable HTTP) are audited too.
TEST_F(VaultApiTest, TransportRejectionsAreAnsweredWithJsonAndAudited) {
  HttpRequest big;
  big.method = "POST";
  big.target = "/keys/k/unwrapkey?api-version=7.6";
  big.remote_addr = "127.0.0.9";
  HttpResponse r =
      api_->RejectTransport(big, 413, "RequestEntityTooLarge", "The request body is too large");
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "RequestEntityTooLarge");
  EXPECT_FALSE(HeaderOf(r, "x-ms-request-id").empty());
  HttpRequest garbage;
  garbage.remote_addr = "127.0.0.9";
  r = api_->RejectTransport(garbage, 400, "BadRequest", "The request line is malformed");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "BadRequest");

  auto records = AllAuditRecords();
  ASSERT_TRUE(records.has_value());
  int from_9 = 0;
  bool saw_413_unwrap = false;
  for (const auto& rec : *records) {
    json j = json::parse(rec);
    if (j.value("callerIpAddress", "") != "127.0.0.9") continue;
    ++from_9;
    saw_413_unwrap |= j["operationName"] == "KeyUnwrap" && j["properties"]["httpStatusCode"] == 413;
  }
  EXPECT_EQ(from_9, 2);
  EXPECT_TRUE(saw_413_unwrap);
}

// A secret put in the token endpoint's query string never reaches the audit log, whatever the
// method and whether the API or the HTTP layer refused the request.
TEST_F(VaultApiTest, TokenEndpointQueryIsNeverAudited) {
  const std::string tenant = cred_["tenantId"];
  Call("GET", "/" + tenant + "/oauth2/v2.0/token?client_secret=TopSecret1");
  Call("post", "/" + tenant + "/OAuth2/v2.0/token?client_secret=TopSecret2");
  Call("GET", "/" + tenant + "/%6Fauth2/v2.0/token?client_secret=TopSecret4");
  Call("GET", "/" + tenant + "/oauth2%2Fv2.0%2Ftoken?client_secret=TopSecret5");
  Call("GET", "/" + tenant + "/oauth2/v2.0/token%?client_secret=TopSecret6");
  HttpRequest refused;
  refused.method = "POST";
  refused.target = "/" + tenant + "/oauth2/v2.0/token?client_assertion=TopSecret3";
  refused.remote_addr = "127.0.0.1";
  api_->RejectTransport(refused, 413, "RequestEntityTooLarge", "too large");
  auto records = AllAuditRecords();
  ASSERT_TRUE(records.has_value());
  int token_records = 0;
  for (const auto& rec : *records) {
    EXPECT_EQ(rec.find("TopSecret"), std::string::npos) << rec;
    token_records += rec.find("auth2") != std::string::npos;
  }
  EXPECT_GE(token_records, 6);
}

TEST_F(VaultApiTest, BadNumbersInTheQueryAre400AndAudited) {
  const std::pair<const char*, const char*> cases[] = {
      {"GET", "/admin/audit?since=yesterday"},
      {"GET", "/admin/audit?limit=10x"},
      {"GET", "/admin/audit?limit=0"},
      {"GET", "/admin/audit?since=-5"},
      {"GET", "/admin/audit/verify?anchor=3:abc"},
      {"GET", "/keys?api-version=7.6&maxresults=99999999999999999999"},
      {"GET", "/keys/k1/versions?api-version=7.6&$skiptoken=bm90LWEtbnVtYmVy"},
  };
  for (const auto& [method, target] : cases) {
    HttpResponse r = Call(method, target, "", token_);
    EXPECT_EQ(r.status, 400) << target << " " << r.body;
    json j = json::parse(r.body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("error")) << target;
  }
  auto records = AllAuditRecords();
  ASSERT_TRUE(records.has_value());
  int refused = 0;
  for (const auto& rec : *records)
    refused += rec.find("\"httpStatusCode\":400") != std::string::npos;
  EXPECT_EQ(refused, static_cast<int>(std::size(cases)));
  // Good numbers still work.
  EXPECT_EQ(Call("GET", "/admin/audit?since=0&limit=5", "", token_).status, 200);
}

TEST_F(VaultApiTest, TokenEndpointNeedsFormEncodingAndNeverEchoesTheSecret) {
  std::string path = "/" + cred_["tenantId"].get<std::string>() + "/oauth2/v2.0/token";
  HttpResponse j = Call("POST", path, R"({"grant_type":"client_credentials"})");
  EXPECT_EQ(j.status, 400);
  EXPECT_EQ(json::parse(j.body)["error"], "invalid_request");
  HttpResponse bad =
      Call("POST", path,
           "grant_type=client_credentials&client_id=" + cred_["clientId"].get<std::string>() +
               "&client_secret=s3cr3t-guess&scope=https%3A%2F%2Fvault.pgcmk.local%2F.default",
           "", "application/x-www-form-urlencoded");
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.body.find("s3cr3t-guess"), std::string::npos);
  // A secret put in the query string does not reach the audit log.
  Call("POST", path + "?client_secret=query-s3cr3t", "grant_type=client_credentials", "",
       "application/x-www-form-urlencoded");
  auto records = AllAuditRecords();
  ASSERT_TRUE(records.has_value());
  for (const auto& r : *records) EXPECT_EQ(r.find("query-s3cr3t"), std::string::npos) << r;
}

TEST_F(VaultApiTest, FailsClosedWith503AndRetryAfterWhenAuditCannotBeWritten) {
  ASSERT_EQ(Call("POST", "/keys/k2/create?api-version=7.6", R"({"kty":"RSA"})", token_).status,
            200);
  service_->store_for_testing().InjectAuditFailureForTesting(true);
  HttpResponse r = Call("GET", "/keys/k2/?api-version=7.6", "", token_);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(HeaderOf(r, "Retry-After"), "1");
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "ServiceUnavailable");
  EXPECT_EQ(r.body.find("\"n\""), std::string::npos);  // no key material in the refusal
}

TEST_F(VaultApiTest, ThrottlesWith429AndRetryAfterBeyondTheWindowLimit) {
  ApiOptions limited_options;
  limited_options.max_requests_per_10s = 3;
  VaultApi limited(*service_, limited_options);
  HttpRequest r;
  r.method = "GET";
  r.target = "/keys?api-version=7.6";
  r.headers["host"] = "vault.example";
  r.headers["authorization"] = "Bearer " + token_;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limited.Handle(r).status, 200);
  HttpResponse t = limited.Handle(r);
  EXPECT_EQ(t.status, 429);
  EXPECT_EQ(json::parse(t.body)["error"]["code"], "Throttled");
  std::string retry = HeaderOf(t, "Retry-After");
  ASSERT_FALSE(retry.empty());
  EXPECT_GE(std::stoi(retry), 1);
  EXPECT_LE(std::stoi(retry), 10);
}

// Randomised bad input (a bounded, seeded mutation of valid requests): never a 5xx, always a JSON
// error body, and the vault still works afterwards.
TEST_F(VaultApiTest, MutatedRequestsNeverGive5xx) {
  ASSERT_EQ(Call("POST", "/keys/fz/create?api-version=7.6", R"({"kty":"RSA"})", token_).status,
            200);
  const std::vector<std::pair<std::string, std::string>> seeds = {
      {"/keys/fz//wrapkey?api-version=7.6",
       R"({"alg":"RSA-OAEP-256","value":"AAECAwQFBgcICQoLDA0ODw"})"},
      {"/keys/fz//unwrapkey?api-version=7.6", R"({"alg":"RSA-OAEP","value":"AAECAw"})"},
      {"/keys/fz//sign?api-version=7.6",
       R"({"alg":"RS256","value":"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"})"},
      {"/keys/fz//verify?api-version=7.6", R"({"alg":"PS256","digest":"AAAA","value":"AAAA"})"},
      {"/keys/fz/?api-version=7.6",
       R"({"attributes":{"enabled":true,"exp":1900000000},"tags":{"a":"b"}})"},
      {"/keys/fz/rotationpolicy?api-version=7.6",
       R"({"lifetimeActions":[{"trigger":{"timeAfterCreate":"P90D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P2Y"}})"},
      {"/keys/restore?api-version=7.6", R"({"value":"UEdDTUtCSwEB"})"},
      {"/keys/imp?api-version=7.6",
       R"({"key":{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}})"},
  };
  const char* methods[] = {"POST", "PATCH", "PUT", "GET", "DELETE"};
  std::uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const std::string alphabet = "{}[]\":,0123456789abcdefAZ-_/%?&=.~ \\\xff\x01";
  for (int i = 0; i < 1500; ++i) {
    auto [target, body] = seeds[next() % seeds.size()];
    std::string* victim = (next() % 3 == 0) ? &target : &body;
    int edits = 1 + static_cast<int>(next() % 4);
    for (int e = 0; e < edits && !victim->empty(); ++e) {
      size_t pos = next() % victim->size();
      switch (next() % 3) {
        case 0:
          (*victim)[pos] = alphabet[next() % alphabet.size()];
          break;
        case 1:
          victim->erase(pos, 1 + next() % 8);
          break;
        default:
          victim->insert(pos, 1, alphabet[next() % alphabet.size()]);
          break;
      }
    }
    if (target.empty() || target[0] != '/') target = "/" + target;
    std::string method = methods[next() % 5];
    HttpResponse r = Call(method, target, body, token_);
    ASSERT_LT(r.status, 500) << method << " " << target << " " << body << " -> " << r.body;
    if (r.status >= 400) {
      json j = json::parse(r.body, nullptr, false);
      ASSERT_TRUE(j.is_object() && j.contains("error")) << target << " -> " << r.body;
    }
  }
  // Still serving (a mutated request may legitimately have deleted "fz"), chain intact.
  EXPECT_EQ(Call("GET", "/keys?api-version=7.6", "", token_).status, 200);
  HttpResponse v = Call("GET", "/admin/audit/verify", "", token_);
  ASSERT_EQ(v.status, 200);
  EXPECT_TRUE(json::parse(v.body)["ok"].get<bool>());
  EXPECT_GE(json::parse(v.body)["records"].get<int>(), 1500);
}

}  // namespace
}  // namespace pgcmk::vault_http
