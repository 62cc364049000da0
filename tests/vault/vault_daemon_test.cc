// Integration tests against the real `pgcmk vault serve` on loopback: the wire contract of
// shared/docs/azure-keyvault-api.md, the permission matrix, bad input (never a 5xx), durability
// across kill -9, TLS, revocation and audit tampering detected by the CLI.
#include "tests/vault/vault_daemon.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "crypto/random.h"
#include "kms/azure_key_vault_client.h"
#include "kms/client_credentials_token_provider.h"

namespace pgcmk::vault_test {
namespace {

using nlohmann::json;

constexpr char kApi[] = "api-version=7.6";

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/vault-daemon-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::filesystem::path path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct Reply {
  int status = 0;
  json body;
  std::string raw;
  httplib::Headers headers;
};

Reply Send(httplib::Client& c, const std::string& method, const std::string& target,
           const std::string& token, const std::string& body = "",
           const std::string& ctype = "application/json") {
  httplib::Request req;
  req.method = method;
  req.path = target;
  if (!token.empty()) req.set_header("Authorization", "Bearer " + token);
  if (!body.empty()) {
    req.body = body;
    req.set_header("Content-Type", ctype);
  } else if (method != "GET" && method != "DELETE") {
    req.set_header("Content-Length", "0");
  }
  auto res = c.send(req);
  Reply r;
  if (!res) {
    r.status = -1;
    return r;
  }
  r.status = res->status;
  r.raw = res->body;
  r.headers = res->headers;
  r.body = json::parse(res->body, nullptr, false);
  return r;
}

class VaultDaemonTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    daemon_ = new VaultDaemon(dir_->path() / "vault", /*https=*/false, {"--retention-days", "7"});
    admin_token_ = new std::string(daemon_->AdminToken());
    ASSERT_FALSE(admin_token_->empty());
    auto c = daemon_->Client();
    Reply r = Send(*c, "POST", std::string("/keys/kek/create?") + kApi, *admin_token_,
                   R"({"kty":"RSA","key_size":2048})");
    ASSERT_EQ(r.status, 200) << r.raw;
    kek_version_ = new std::string(r.body["key"]["kid"].get<std::string>().substr(
        r.body["key"]["kid"].get<std::string>().rfind('/') + 1));
  }
  static void TearDownTestSuite() {
    delete daemon_;
    delete dir_;
    delete admin_token_;
    delete kek_version_;
  }

  // Creates an identity through the CLI with the given permissions; returns its token.
  std::string Identity(const std::string& name, const std::string& perms,
                       const std::string& role = "") {
    auto args = std::vector<std::string>{
        "vault",    "identity",      "create",
        name,       "--secret-file", (dir_->path() / (name + ".secret")).string(),
        "--output", "json"};
    for (auto& a : daemon_->ConnArgs()) args.push_back(a);
    auto [rc, out] = RunPgcmk(args);
    EXPECT_EQ(rc, 0) << out;
    json id = json::parse(out, nullptr, false);
    std::vector<std::string> pol = {"vault", "policy", "set", name, "--key-permissions", perms};
    if (!role.empty()) {
      pol.push_back("--role");
      pol.push_back(role);
    }
    for (auto& a : daemon_->ConnArgs()) pol.push_back(a);
    auto [rc2, out2] = RunPgcmk(pol);
    EXPECT_EQ(rc2, 0) << out2;
    std::string secret = ReadFile(dir_->path() / (name + ".secret"));
    return daemon_->Token(id.value("clientId", ""), secret);
  }

  static TempDir* dir_;
  static VaultDaemon* daemon_;
  static std::string* admin_token_;
  static std::string* kek_version_;
};
TempDir* VaultDaemonTest::dir_ = nullptr;
VaultDaemon* VaultDaemonTest::daemon_ = nullptr;
std::string* VaultDaemonTest::admin_token_ = nullptr;
std::string* VaultDaemonTest::kek_version_ = nullptr;

TEST_F(VaultDaemonTest, AnswersTheChallengeBeforeLookingAtTheBody) {
  auto c = daemon_->Client();
  Reply r = Send(*c, "POST", "/keys/k1/create?api%2Dversion=2025-07-01", "", "");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body["error"]["code"], "Unauthorized");
  EXPECT_EQ(r.body["error"]["message"], "AKV10000: Request is missing a Bearer or PoP token.");
  std::string www = httplib::detail::get_header_value(r.headers, "WWW-Authenticate", 0, "");
  EXPECT_EQ(www, "Bearer authorization=\"" + daemon_->url() + "/" + daemon_->tenant() +
                     "\", resource=\"https://vault.pgcmk.local\"");
  // Garbage body and no api-version: still the challenge first.
  EXPECT_EQ(Send(*c, "POST", "/keys/k1/create", "", "{not json").status, 401);
}

TEST_F(VaultDaemonTest, TokenEndpointSpeaksEntra) {
  auto c = daemon_->Client();
  std::string path = "/" + daemon_->tenant() + "/oauth2/v2.0/token";
  auto cred = json::parse(ReadFile(daemon_->dir() / "admin.credential"));
  Reply ok = Send(*c, "POST", path, "",
                  "grant_type=client_credentials&client_id=" + cred["clientId"].get<std::string>() +
                      "&client_secret=" + cred["clientSecret"].get<std::string>() +
                      "&scope=https%3A%2F%2Fvault.pgcmk.local%2F.default",
                  "application/x-www-form-urlencoded");
  ASSERT_EQ(ok.status, 200) << ok.raw;
  EXPECT_EQ(ok.body["token_type"], "Bearer");
  EXPECT_EQ(ok.body["expires_in"], 3599);
  EXPECT_EQ(ok.body["ext_expires_in"], 3599);
  Reply bad =
      Send(*c, "POST", path, "",
           "grant_type=client_credentials&client_id=" + cred["clientId"].get<std::string>() +
               "&client_secret=nope&scope=https%3A%2F%2Fvault.pgcmk.local%2F.default",
           "application/x-www-form-urlencoded");
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.body["error"], "invalid_client");
  EXPECT_EQ(bad.body["error_codes"], json::array({7000215}));
  EXPECT_EQ(bad.raw.find("nope"), std::string::npos);
  Reply tenant = Send(*c, "POST", "/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token", "",
                      "grant_type=client_credentials", "application/x-www-form-urlencoded");
  EXPECT_EQ(tenant.status, 400);
  EXPECT_EQ(tenant.body["error_codes"], json::array({90002}));
  Reply grant =
      Send(*c, "POST", path, "", "grant_type=password&client_id=x&client_secret=y&scope=z",
           "application/x-www-form-urlencoded");
  EXPECT_EQ(grant.body["error"], "unsupported_grant_type");
  Reply json_body = Send(*c, "POST", path, "", R"({"grant_type":"client_credentials"})");
  EXPECT_EQ(json_body.status, 400);
  EXPECT_EQ(json_body.body["error"], "invalid_request");
}

TEST_F(VaultDaemonTest, KeysApiFollowsTheContractIncludingUrlQuirks) {
  auto c = daemon_->Client();
  const std::string& t = *admin_token_;
  Reply created = Send(
      *c, "POST", "/keys/Quirky/create?api%2Dversion=2025-07-01", t,
      R"({"kty":"RSA","key_size":2048,"key_ops":["wrapKey","unwrapKey"],"attributes":{"exp":1900000000},"tags":{"t":"1"}})");
  ASSERT_EQ(created.status, 200) << created.raw;
  std::string kid = created.body["key"]["kid"];
  EXPECT_TRUE(kid.starts_with(daemon_->url() + "/keys/Quirky/"));
  std::string version = kid.substr(kid.rfind('/') + 1);
  EXPECT_EQ(version.size(), 32u);
  EXPECT_EQ(created.body["key"]["e"], "AQAB");
  EXPECT_EQ(created.body["attributes"]["exp"], 1900000000);
  EXPECT_EQ(created.body["attributes"]["recoveryLevel"], "CustomizedRecoverable+Purgeable");
  EXPECT_EQ(created.body["attributes"]["recoverableDays"], 7);
  EXPECT_EQ(created.body["tags"]["t"], "1");
  EXPECT_FALSE(created.body["key"].contains("d"));
  EXPECT_EQ(Send(*c, "GET", "/keys/quirky/?api%2Dversion=7.5", t).body["key"]["kid"], kid);
  EXPECT_EQ(Send(*c, "GET", "/keys/QUIRKY?api-version=7.6", t).body["key"]["kid"], kid);
  std::string dek = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
  for (std::string path : std::vector<std::string>{"/keys/quirky//wrapkey", "/keys/quirky/wrapkey",
                                                   "/keys/quirky/" + version + "/wrapkey"}) {
    Reply w =
        Send(*c, "POST", path + "?" + kApi, t, R"({"alg":"RSA-OAEP-256","value":")" + dek + "\"}");
    ASSERT_EQ(w.status, 200) << path << " " << w.raw;
    EXPECT_EQ(w.body["kid"], kid);
    Reply u =
        Send(*c, "POST", "/keys/quirky//unwrapkey?" + std::string(kApi), t,
             R"({"alg":"RSA-OAEP-256","value":")" + w.body["value"].get<std::string>() + "\"}");
    ASSERT_EQ(u.status, 200) << u.raw;
    EXPECT_EQ(u.body["value"], dek);
    EXPECT_EQ(u.body["kid"], kid);
  }
  Reply upd = Send(*c, "PATCH", "/keys/quirky/?" + std::string(kApi), t,
                   R"({"attributes":{"enabled":false},"tags":{"a":"b"}})");
  ASSERT_EQ(upd.status, 200);
  EXPECT_EQ(upd.body["attributes"]["enabled"], false);
  Reply denied = Send(*c, "POST", "/keys/quirky//wrapkey?" + std::string(kApi), t,
                      R"({"alg":"RSA-OAEP","value":"AAAA"})");
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.body["error"]["code"], "Forbidden");
  EXPECT_EQ(denied.body["error"]["innererror"]["code"], "KeyDisabled") << denied.raw;
  EXPECT_EQ(denied.body["error"]["message"], "Operation wrapKey is not allowed on a disabled key.");
  Reply del = Send(*c, "DELETE", "/keys/quirky?" + std::string(kApi), t);
  ASSERT_EQ(del.status, 200);
  EXPECT_EQ(del.body["recoveryId"], daemon_->url() + "/deletedkeys/Quirky");
  EXPECT_EQ(del.body["scheduledPurgeDate"].get<std::int64_t>() -
                del.body["deletedDate"].get<std::int64_t>(),
            7 * 86400);
  Reply gone = Send(*c, "GET", "/keys/quirky/?" + std::string(kApi), t);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.body["error"]["code"], "KeyNotFound");
  Reply conflict =
      Send(*c, "POST", "/keys/quirky/create?" + std::string(kApi), t, R"({"kty":"RSA"})");
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(conflict.body["error"]["innererror"]["code"], "ObjectIsDeletedButRecoverable");
  EXPECT_EQ(Send(*c, "GET", "/deletedkeys/quirky?" + std::string(kApi), t).status, 200);
  EXPECT_EQ(Send(*c, "POST", "/deletedkeys/quirky/recover?" + std::string(kApi), t).status, 200);
  EXPECT_EQ(Send(*c, "GET", "/keys/quirky/?" + std::string(kApi), t).status, 200);
  EXPECT_EQ(Send(*c, "DELETE", "/keys/quirky?" + std::string(kApi), t).status, 200);
  Reply purge = Send(*c, "DELETE", "/deletedkeys/quirky?" + std::string(kApi), t);
  EXPECT_EQ(purge.status, 204);
  EXPECT_TRUE(purge.raw.empty());
  Reply missing = Send(*c, "GET", "/deletedkeys/quirky?" + std::string(kApi), t);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body["error"]["message"], "Deleted Key not found: quirky");
}

TEST_F(VaultDaemonTest, ListsPageWithNextLinksThatWorkVerbatim) {
  auto c = daemon_->Client();
  const std::string& t = *admin_token_;
  for (const char* n : {"page-a", "page-b", "page-c"}) {
    ASSERT_EQ(Send(*c, "POST", std::string("/keys/") + n + "/create?" + kApi, t, R"({"kty":"RSA"})")
                  .status,
              200);
  }
  std::set<std::string> seen;
  std::string next = "/keys?" + std::string(kApi) + "&maxresults=1";
  int pages = 0;
  while (!next.empty() && pages < 50) {
    Reply r = Send(*c, "GET", next, t);
    ASSERT_EQ(r.status, 200) << r.raw;
    ASSERT_TRUE(r.body["value"].is_array());
    for (const auto& item : r.body["value"]) {
      std::string kid = item["kid"];
      EXPECT_EQ(std::count(kid.begin(), kid.end(), '/'), 4) << "versionless kid expected: " << kid;
      seen.insert(kid);
    }
    next = r.body["nextLink"].is_string()
               ? r.body["nextLink"].get<std::string>().substr(daemon_->url().size())
               : "";
    ++pages;
  }
  EXPECT_TRUE(seen.count(daemon_->url() + "/keys/page-b"));
  EXPECT_GE(pages, 3);
  Reply versions = Send(*c, "GET", "/keys/page-a/versions?" + std::string(kApi), t);
  ASSERT_EQ(versions.status, 200);
  EXPECT_EQ(versions.body["value"].size(), 1u);
  EXPECT_TRUE(versions.body["nextLink"].is_null());
}

TEST_F(VaultDaemonTest, BadInputGetsTheRight4xxWithAJsonBodyAndNever5xx) {
  auto c = daemon_->Client();
  const std::string& t = *admin_token_;
  std::string api = std::string("?") + kApi;
  struct Case {
    std::string method, target, body;
    int status;
  };
  std::string big(2 << 20, 'a');
  std::vector<Case> cases = {
      {"POST", "/keys/kek//wrapkey" + api, "{not json", 400},
      {"POST", "/keys/kek//wrapkey" + api, "[1,2]", 400},
      {"POST", "/keys/kek//wrapkey" + api, R"({"alg":"RSA-OAEP","value":"***"})", 400},
      {"POST", "/keys/kek//wrapkey" + api, R"({"alg":"RSA-OAEP"})", 400},
      {"POST", "/keys/kek//wrapkey" + api, R"({"alg":42,"value":"AAAA"})", 400},
      {"POST", "/keys/kek//wrapkey" + api, R"({"alg":"A256KW","value":"AAAA"})", 400},
      {"POST", "/keys/kek//wrapkey" + api,
       R"({"alg":"RSA-OAEP","value":")" + std::string(300, 'A') + "\"}", 400},
      {"POST", "/keys/kek//unwrapkey" + api, R"({"alg":"RSA-OAEP","value":"AAAA"})", 400},
      {"POST", "/keys/kek//sign" + api, R"({"alg":"RS256","value":"AAAA"})", 400},
      {"POST", "/keys/kek//wrapkey" + api, "{\"alg\":\"RSA-OAEP\",\"value\":\"" + big + "\"}", 413},
      {"POST", "/keys/bad_name/create" + api, R"({"kty":"RSA"})", 400},
      {"POST", "/keys//create" + api, R"({"kty":"RSA"})", 400},
      {"POST", "/keys/" + std::string(128, 'a') + "/create" + api, R"({"kty":"RSA"})", 400},
      {"POST", "/keys/h/create" + api, R"({"kty":"RSA-HSM","key_size":2048})", 400},
      {"POST", "/keys/h/create" + api, R"({"kty":"RSA","key_size":1024})", 400},
      {"POST", "/keys/h/create" + api, R"({"kty":"RSA","key_size":"big"})", 400},
      {"POST", "/keys/h/create" + api, "", 400},
      {"GET", "/keys/kek/nothex" + api, "", 400},
      {"GET", "/keys/kek", "", 400},
      {"GET", "/keys/kek?api-version=1.0", "", 400},
      {"GET", "/keys/..%2F..%2Fetc/" + api, "", 400},
      {"GET", "/keys/kek/v/x/y" + api, "", 404},
      {"GET", "/vaults/v1/keys/kek" + api, "", 404},
      {"GET", "/../../etc/passwd", "", 404},
      {"POST", "/keys/kek/release" + api, "{}", 400},
      {"POST", "/rng" + api, R"({"count":8})", 400},
      {"PUT", "/keys" + api, "{}", 404},
      {"GET", "/keys" + api + "&maxresults=0", "", 400},
      {"GET", "/keys" + api + "&$skiptoken=***", "", 400},
      {"PUT", "/keys/kek/rotationpolicy" + api,
       R"({"lifetimeActions":[{"trigger":{"timeAfterCreate":"P1D"},"action":{"type":"Explode"}}]})",
       400},
      {"POST", "/keys/restore" + api, R"({"value":"AAAA"})", 400},
      {"GET", "/admin/identities/nobody", "", 404},
  };
  for (const auto& k : cases) {
    Reply r = Send(*c, k.method, k.target, t, k.body);
    EXPECT_EQ(r.status, k.status) << k.method << " " << k.target.substr(0, 80) << " -> "
                                  << r.raw.substr(0, 200);
    EXPECT_LT(r.status, 500);
    ASSERT_TRUE(r.body.is_object()) << k.target.substr(0, 80) << ": " << r.raw.substr(0, 100);
    EXPECT_TRUE(r.body.contains("error")) << r.raw.substr(0, 200);
  }
  // Forged, expired-looking and malformed tokens: 401 with the challenge.
  for (std::string bad : std::vector<std::string>{"x", "a.b.c", t.substr(0, t.size() - 4) + "AAAA",
                                                  "eyJhbGciOiJub25lIn0.eyJvaWQiOiJ4In0."}) {
    Reply r = Send(*c, "GET", "/keys/kek/" + api, bad);
    EXPECT_EQ(r.status, 401);
    EXPECT_NE(std::string(httplib::detail::get_header_value(r.headers, "WWW-Authenticate", 0, "")),
              "");
  }
}

// Every key operation without its permission is 403; with only that permission it succeeds.
TEST_F(VaultDaemonTest, PermissionMatrix) {
  auto c = daemon_->Client();
  const std::string api = std::string("?") + kApi;
  const std::string& admin = *admin_token_;
  // Fixtures made by the admin.
  ASSERT_EQ(
      Send(*c, "POST", "/keys/pm/create" + api, admin, R"({"kty":"RSA","key_size":2048})").status,
      200);
  Reply wrapped =
      Send(*c, "POST", "/keys/pm//wrapkey" + api, admin, R"({"alg":"RSA-OAEP","value":"AAECAw"})");
  Reply signed_ = Send(*c, "POST", "/keys/pm//sign" + api, admin,
                       R"({"alg":"RS256","value":"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"})");
  Reply backup = Send(*c, "POST", "/keys/pm/backup" + api, admin);
  ASSERT_EQ(backup.status, 200);
  std::string blob = backup.body["value"];
  std::string import_jwk;
  struct Op {
    std::string perm, method, target, body;
    std::function<void()> before;  // arranges state so that the permitted call can succeed
  };
  auto ensure_deleted = [&](const std::string& name) {
    Send(*c, "POST", "/keys/" + name + "/create" + api, admin, R"({"kty":"RSA"})");
    Send(*c, "DELETE", "/keys/" + name + api, admin);
  };
  std::vector<Op> ops = {
      {"get", "GET", "/keys/pm/" + api, "", nullptr},
      {"list", "GET", "/keys" + api, "", nullptr},
      {"create", "POST", "/keys/pm-created/create" + api, R"({"kty":"RSA"})", nullptr},
      {"update", "PATCH", "/keys/pm/" + api, R"({"tags":{"x":"y"}})", nullptr},
      {"delete", "DELETE", "/keys/pm-del" + api, "",
       [&] { Send(*c, "POST", "/keys/pm-del/create" + api, admin, R"({"kty":"RSA"})"); }},
      {"recover", "POST", "/deletedkeys/pm-rec/recover" + api, "",
       [&] { ensure_deleted("pm-rec"); }},
      {"purge", "DELETE", "/deletedkeys/pm-pur" + api, "", [&] { ensure_deleted("pm-pur"); }},
      {"backup", "POST", "/keys/pm/backup" + api, "", nullptr},
      {"restore", "POST", "/keys/restore" + api, "{\"value\":\"" + blob + "\"}",
       [&] {
         Send(*c, "DELETE", "/keys/pm-bk" + api, admin);
         Send(*c, "DELETE", "/deletedkeys/pm-bk" + api, admin);
       }},
      {"rotate", "POST", "/keys/pm/rotate" + api, "", nullptr},
      {"getrotationpolicy", "GET", "/keys/pm/rotationpolicy" + api, "", nullptr},
      {"setrotationpolicy", "PUT", "/keys/pm/rotationpolicy" + api,
       R"({"lifetimeActions":[{"trigger":{"timeAfterCreate":"P90D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P2Y"}})",
       nullptr},
      {"wrapKey", "POST", "/keys/pm//wrapkey" + api, R"({"alg":"RSA-OAEP-256","value":"AAECAw"})",
       nullptr},
      {"unwrapKey", "POST",
       "/keys/pm/" +
           wrapped.body["kid"].get<std::string>().substr(
               wrapped.body["kid"].get<std::string>().rfind('/') + 1) +
           "/unwrapkey" + api,
       "{\"alg\":\"RSA-OAEP\",\"value\":\"" + wrapped.body["value"].get<std::string>() + "\"}",
       nullptr},
      {"encrypt", "POST", "/keys/pm//encrypt" + api, R"({"alg":"RSA-OAEP","value":"AAECAw"})",
       nullptr},
      {"decrypt", "POST",
       "/keys/pm/" +
           wrapped.body["kid"].get<std::string>().substr(
               wrapped.body["kid"].get<std::string>().rfind('/') + 1) +
           "/decrypt" + api,
       "{\"alg\":\"RSA-OAEP\",\"value\":\"" + wrapped.body["value"].get<std::string>() + "\"}",
       nullptr},
      {"sign", "POST", "/keys/pm//sign" + api,
       R"({"alg":"RS256","value":"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"})", nullptr},
      {"verify", "POST",
       "/keys/pm/" +
           signed_.body["kid"].get<std::string>().substr(
               signed_.body["kid"].get<std::string>().rfind('/') + 1) +
           "/verify" + api,
       "{\"alg\":\"RS256\",\"digest\":\"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU\",\"value\":"
       "\"" +
           signed_.body["value"].get<std::string>() + "\"}",
       nullptr},
  };
  // The backup blob restores as "pm" (its name); restore into a fresh name needs the name free.
  ops[8].before = [&] {};
  std::string all_but;
  std::map<std::string, std::string> only_token, all_but_token;
  const std::vector<std::string> perms = {"get",
                                          "list",
                                          "create",
                                          "update",
                                          "import",
                                          "delete",
                                          "recover",
                                          "backup",
                                          "restore",
                                          "purge",
                                          "rotate",
                                          "getrotationpolicy",
                                          "setrotationpolicy",
                                          "wrapKey",
                                          "unwrapKey",
                                          "encrypt",
                                          "decrypt",
                                          "sign",
                                          "verify"};
  for (const auto& op : ops) {
    std::string others;
    for (const auto& p : perms) {
      if (p != op.perm) others += (others.empty() ? "" : ",") + p;
    }
    std::string without = Identity("without-" + op.perm, others);
    std::string with = Identity("with-" + op.perm, op.perm);
    ASSERT_FALSE(without.empty());
    ASSERT_FALSE(with.empty());
    if (op.perm == "restore") {
      // Restore needs the backed-up name to be free: back up a throwaway key and purge it.
      Send(*c, "POST", "/keys/pm-bk/create" + api, admin, R"({"kty":"RSA"})");
      Reply b = Send(*c, "POST", "/keys/pm-bk/backup" + api, admin);
      Send(*c, "DELETE", "/keys/pm-bk" + api, admin);
      Send(*c, "DELETE", "/deletedkeys/pm-bk" + api, admin);
      std::string body = "{\"value\":\"" + b.body["value"].get<std::string>() + "\"}";
      Reply denied = Send(*c, op.method, op.target, without, body);
      EXPECT_EQ(denied.status, 403) << op.perm << ": " << denied.raw;
      Reply allowed = Send(*c, op.method, op.target, with, body);
      EXPECT_EQ(allowed.status, 200) << op.perm << ": " << allowed.raw;
      continue;
    }
    if (op.before) op.before();
    Reply denied = Send(*c, op.method, op.target, without, op.body);
    EXPECT_EQ(denied.status, 403) << op.perm << ": " << denied.raw;
    EXPECT_EQ(denied.body["error"]["innererror"]["code"], "AccessDenied") << op.perm;
    Reply allowed = Send(*c, op.method, op.target, with, op.body);
    EXPECT_TRUE(allowed.status == 200 || allowed.status == 204)
        << op.perm << ": " << allowed.status << " " << allowed.raw;
  }
  // The named role: get, wrapKey, unwrapKey and nothing else.
  std::string role = Identity("role-user", "", "Key Vault Crypto Service Encryption User");
  EXPECT_EQ(Send(*c, "GET", "/keys/pm/" + api, role).status, 200);
  EXPECT_EQ(Send(*c, "POST", "/keys/pm//wrapkey" + api, role,
                 R"({"alg":"RSA-OAEP-256","value":"AAECAw"})")
                .status,
            200);
  EXPECT_EQ(Send(*c, "GET", "/keys" + api, role).status, 403);
  EXPECT_EQ(Send(*c, "POST", "/keys/pm//sign" + api, role,
                 R"({"alg":"RS256","value":"47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"})")
                .status,
            403);
  // Import: 403 without; with only import, a real key (a fixed 2048-bit test key) is imported and
  // invalid key material is a 400, not a 403.
  std::string imp_without = Identity("without-import", "get,create,update");
  std::string imp_with = Identity("with-import", "import");
  const std::string imp =
      R"({"key":{"kty":"RSA","n":"iE_naAwtSyhoKbVLQqNIVh1SOnZeYGnAvhsRji7TvRjSKumrFhtlzWIAavDI3qQ)"
      R"(B7jei2Oeyv_SPxFg1H3QYzjYknwmtJN6tph5l1TJYwxMVSmF3I-04_R-g6KQ6PEPxN0D7-jDSDuHcrqmzdOkLBgF)"
      R"(DA56HcMCbMnbsgNfvRG-MiEkA20GFl2KXi29C6RacM289B1GrsWhHpw7jqmli1aPrKRZmjFeiwW8jFTpNjvgfuyn)"
      R"(y1VRwDQWohtxz8oPHDlrIUFQZD6KRMG7fMaGSPXwgDOL-kLHvBjiJymLH8DRa-EzzZm6__5VL5n-a6qXbe4zSQmD)"
      R"(jRQzXjxpI8Sp6fQ","e":"AQAB","d":"B8VoZ6fkECgYUiJmDUFCTziCNteHN19oD956sHyucRYgazZhnNPIiL4)"
      R"(40F_0T68RdhuBYvTIncVrSdIOi0HC5US0b0Wts4-nXjRW8WHaqhplKRWn5WoxiMq8EW9Fa6ii8Je5ldChNRx-yI1)"
      R"(fr_9WM8wwHh10UsMERgr-HjVRTHkrQGD0std_NZBEQPc0ILaOBSvxHn3QbU9utAb9SgYTjPeW73zf7DFMVDYYPlN)"
      R"(l1pBGyf1PUquiryok4cEkfWE9dR87pf5ny2ON3-N99QPaopg2fTXB4FmLYUdWAkBOLtVgzs879k2SBYHEuTh9sDk)"
      R"(fnAg1V0xi3mFl9CIiCoTBeQ","p":"vWMFFFBZwCnqbsRy7y_Fad5uQHxLyslnRvYMLSWUxu5T2lVA5VuEArkBjC)"
      R"(asyobWwXodzHyv9_f8u5OjXHplxW9doYDDIgXu0sp4xf7jVjmSSXdm5N1g3WsdO6lKWoMd7crKTKQyhsLmSKezvF)"
      R"(o6O-BTl_4N39GTs0kKBGyPrTk","q":"uEHf3Y0RQVrv2v5Z3V1sEusPhtEWS05YU-0jlHKLoeD3GhbXI1nRynHh)"
      R"(4npwhH2Lh5YfbuzZekV0W8SCXzkZaN6uKovvdzb388_ZBe1UjWsGshYX1e3NWDECT4uImIOtXJnIaxO8LPeQP94E)"
      R"(a4ZpnRhDmYGddr-YbnWTJFsHO2U","dp":"oC7LUgYwE0egoHWKHOJT4BqhN-upk2hL8QoU_G6H6sYTqFxpWlTQU)"
      R"(Bk4xNjFVzs7E0P9RkLD90EJw4G5L3Pa9mYeVIZ7BSDtgd58zkKq9_gT0g2qurK_xidd_2NNn0a9Hq5h8vcCQVdBv)"
      R"(XwSmqHaFWDEc48PHxq9CWwii-FimIk","dq":"RzZmgCkSPzEXPItLTgvaRiGFGbTbqfU4nA8tziTLJKBewD2Nno)"
      R"(MLWvPSuoZZ0Er5T0jNE0EE-IW5Z_I19PmLgYV2yMjWnzumbxuoo-rK3_E6YD-7rJnA4FHos7eY7mEN8pkY5ZF2C-)"
      R"(cOYDC9gpUrYmTLU5vNsORx1FcqrEVmMSU","qi":"qkWNygVoioIW_FhLAkj5jMwGZ_yVLe8YmFexKRRsOg8TS9x)"
      R"(s3IT4dvpRTd-mXV2WEAUWcLZ7jtNNAuuOxjv0rsn6PwzhjqzKV17PeOA7rmCfIKGntWT0CwW0ZQOUQGvLoev4f4S)"
      R"(DS-Z1KglYWUPlrbS71bDACM50ZtdDQizG030"}})";
  EXPECT_EQ(Send(*c, "PUT", "/keys/imp" + api, imp_without, imp).status, 403);
  Reply imported = Send(*c, "PUT", "/keys/imp" + api, imp_with, imp);
  EXPECT_EQ(imported.status, 200) << imported.raw;
  EXPECT_FALSE(imported.body["key"].contains("d"));
  std::string bad_imp =
      R"({"key":{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB","p":"AQAB","q":"AQAB","dp":"AQAB","dq":"AQAB","qi":"AQAB"}})";
  EXPECT_EQ(Send(*c, "PUT", "/keys/imp2" + api, imp_with, bad_imp).status, 400);
  // Reading deleted keys and versions: get and list, like their live counterparts.
  ensure_deleted("pm-gone");
  const std::pair<std::string, std::string> reads[] = {
      {"get", "/deletedkeys/pm-gone" + api},
      {"list", "/deletedkeys" + api},
      {"list", "/keys/pm/versions" + api},
  };
  int read_no = 0;
  for (const auto& [perm, target] : reads) {
    const std::string suffix = "-r" + std::to_string(++read_no);
    std::string others;
    for (const auto& p : perms) {
      if (p != perm) others += (others.empty() ? "" : ",") + p;
    }
    Reply denied = Send(*c, "GET", target, Identity("without-" + perm + suffix, others));
    EXPECT_EQ(denied.status, 403) << target << ": " << denied.raw;
    Reply allowed = Send(*c, "GET", target, Identity("with-" + perm + suffix, perm));
    EXPECT_EQ(allowed.status, 200) << target << ": " << allowed.raw;
  }
  // Admin API is for the admin only.
  EXPECT_EQ(Send(*c, "GET", "/admin/identities", role).status, 403);
}

TEST_F(VaultDaemonTest, DeletingAnIdentityRevokesItsTokenAtTheNextRequest) {
  auto c = daemon_->Client();
  std::string token = Identity("short-lived", "get");
  EXPECT_EQ(Send(*c, "GET", "/keys/kek/?" + std::string(kApi), token).status, 200);
  auto args = std::vector<std::string>{"vault", "identity", "delete", "short-lived"};
  for (auto& a : daemon_->ConnArgs()) args.push_back(a);
  EXPECT_EQ(RunPgcmk(args).first, 0);
  Reply r = Send(*c, "GET", "/keys/kek/?" + std::string(kApi), token);
  EXPECT_EQ(r.status, 401);
}

// What the HTTP layer refuses by itself (an oversize body) still gets a JSON error and an audit
// record.
TEST_F(VaultDaemonTest, OversizeBodyIs413AndAudited) {
  auto c = daemon_->Client();
  const std::string big = R"({"alg":"RSA-OAEP-256","value":")" + std::string(3 << 20, 'A') + "\"}";
  Reply r = Send(*c, "POST", "/keys/kek//unwrapkey?" + std::string(kApi), *admin_token_, big);
  EXPECT_EQ(r.status, 413) << r.raw.substr(0, 200);
  EXPECT_EQ(r.body["error"]["code"], "RequestEntityTooLarge");
  auto args = std::vector<std::string>{"vault",     "audit",    "show", "--operation",
                                       "KeyUnwrap", "--output", "json"};
  for (auto& a : daemon_->ConnArgs()) args.push_back(a);
  auto [rc, out] = RunPgcmk(args);
  ASSERT_EQ(rc, 0) << out;
  bool saw413 = false;
  const json records = json::parse(out);
  for (const auto& rec : records["value"]) {
    saw413 |= rec["properties"]["httpStatusCode"] == 413;
  }
  EXPECT_TRUE(saw413) << out.substr(0, 2000);
}

TEST_F(VaultDaemonTest, AuditRecordsEveryRequestAndVerifies) {
  auto c = daemon_->Client();
  Send(*c, "GET", "/keys/kek/?" + std::string(kApi), "");
  auto args = std::vector<std::string>{"vault",  "audit",    "show", "--operation",
                                       "KeyGet", "--output", "json"};
  for (auto& a : daemon_->ConnArgs()) args.push_back(a);
  auto [rc, out] = RunPgcmk(args);
  ASSERT_EQ(rc, 0) << out;
  json records = json::parse(out)["value"];
  bool saw401 = false;
  for (const auto& r : records) saw401 |= r["properties"]["httpStatusCode"] == 401;
  EXPECT_TRUE(saw401);
  auto v = std::vector<std::string>{"vault", "audit", "verify"};
  for (auto& a : daemon_->ConnArgs()) v.push_back(a);
  auto [rc2, out2] = RunPgcmk(v);
  EXPECT_EQ(rc2, 0) << out2;
  EXPECT_NE(out2.find("intact"), std::string::npos);
}

// A separate vault: kill -9 loses no acknowledged key, and tampering is reported by the CLI.
TEST(VaultCrashTest, KillDashNineLosesNoAcknowledgedKeyAndTamperingIsDetected) {
  TempDir dir;
  VaultDaemon d(dir.path() / "vault", /*https=*/false);
  std::string token = d.AdminToken();
  std::vector<std::string> kids;
  {
    auto c = d.Client();
    for (int i = 0; i < 5; ++i) {
      Reply r = Send(*c, "POST", "/keys/crash" + std::to_string(i) + "/create?" + std::string(kApi),
                     token, R"({"kty":"RSA","key_size":2048})");
      ASSERT_EQ(r.status, 200);
      kids.push_back(r.body["key"]["kid"]);
    }
  }
  d.Stop(SIGKILL);
  d.Start();
  token = d.AdminToken();
  auto c = d.Client();
  for (size_t i = 0; i < kids.size(); ++i) {
    std::string path = kids[i].substr(kids[i].find("/keys/"));
    // The port changed: compare the path (name and version).
    Reply r = Send(*c, "GET", path + "?" + std::string(kApi), token);
    EXPECT_EQ(r.status, 200) << path;
  }
  auto verify =
      std::vector<std::string>{"vault", "audit", "verify", "--data-dir", d.dir().string()};
  EXPECT_EQ(RunPgcmk(verify).first, 0);
  d.Stop(SIGTERM);
  // Edit one audit record behind the vault's back.
  std::string cmd = "sqlite3 " + (d.dir() / "vault.db").string() +
                    " \"UPDATE audit SET record=replace(record,'KeyCreate','KeyDelete') WHERE "
                    "seq=(SELECT min(seq)+3 FROM audit)\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  d.Start();
  auto [rc, out] = RunPgcmk(verify);
  EXPECT_EQ(rc, 7) << out;
  EXPECT_NE(out.find("TAMPERED"), std::string::npos) << out;
}

// Removing the newest records together with the head leaves a valid chain; an anchor recorded
// earlier (the head `audit verify` prints) catches it.
TEST(VaultAuditAnchorTest, AnchorDetectsRecordsRemovedFromTheEnd) {
  TempDir dir;
  VaultDaemon d(dir.path() / "vault", /*https=*/false);
  std::string token = d.AdminToken();
  auto c = d.Client();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Send(*c, "POST", "/keys/k" + std::to_string(i) + "/create?" + std::string(kApi),
                   token, R"({"kty":"EC","crv":"P-256"})")
                  .status,
              200);
  }
  auto verify = [&](std::vector<std::string> extra) {
    std::vector<std::string> args{"vault", "audit", "verify", "--data-dir", d.dir().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunPgcmk(args);
  };
  auto [rc, out] = verify({"--output", "json"});
  ASSERT_EQ(rc, 0) << out;
  json head = json::parse(out);
  const std::string anchor = std::to_string(head["headSeq"].get<std::int64_t>()) + ":" +
                             head["headMac"].get<std::string>();
  auto [rc_ok, out_ok] = verify({"--anchor", anchor});
  EXPECT_EQ(rc_ok, 0) << out_ok;
  EXPECT_NE(out_ok.find("anchors matched"), std::string::npos) << out_ok;
  EXPECT_NE(verify({"--anchor", "12:zz"}).first, 0);  // malformed: refused before any request

  d.Stop(SIGTERM);
  // The daemon logged its head when it stopped (an anchor outside the database).
  const std::string log = ReadFile(dir.path() / "daemon.log");
  const size_t at = log.rfind("audit head ");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string logged = log.substr(at + 11, log.find(' ', at + 11) - (at + 11));
  std::string cmd = "sqlite3 " + (d.dir() / "vault.db").string() +
                    " \"DELETE FROM audit WHERE seq > (SELECT max(seq) - 4 FROM audit)\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  d.Start();
  // Without the anchor the shortened chain verifies; with it, the removal is reported (the
  // restarted daemon has appended new records since, so the anchor's record is a different one).
  auto [rc_plain, out_plain] = verify({});
  EXPECT_EQ(rc_plain, 0) << out_plain;
  auto [rc_anchor, out_anchor] = verify({"--anchor", anchor});
  EXPECT_EQ(rc_anchor, 7) << out_anchor;
  EXPECT_NE(out_anchor.find("TAMPERED"), std::string::npos) << out_anchor;
  // Every head the daemon logged, checked at once (two --anchor options, one with a list).
  std::vector<std::string> heads;
  for (size_t at_head = log.find("audit head "); at_head != std::string::npos;
       at_head = log.find("audit head ", at_head + 1)) {
    heads.push_back(log.substr(at_head + 11, log.find(' ', at_head + 11) - (at_head + 11)));
  }
  ASSERT_GE(heads.size(), 2u) << log;  // at start and at stop
  std::string rest;
  for (size_t i = 1; i < heads.size(); ++i) rest += (rest.empty() ? "" : ",") + heads[i];
  auto [rc_logged, out_logged] = verify({"--anchor", heads[0], "--anchor", rest});
  EXPECT_EQ(rc_logged, 7) << logged << "\n" << out_logged;
  EXPECT_NE(out_logged.find("TAMPERED"), std::string::npos) << out_logged;
}

// `vault serve --tls-cert/--tls-key`: the operator's own certificate instead of the private CA;
// a key file others can read is refused before anything starts.
TEST(VaultTlsTest, ServesTheOperatorsOwnCertificate) {
  TempDir dir;
  const auto cert = dir.path() / "own-cert.pem";
  const auto key = dir.path() / "own-key.pem";
  const std::string make =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
      "-subj /CN=own-vault -addext subjectAltName=IP:127.0.0.1 -keyout " +
      key.string() + " -out " + cert.string() + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(make.c_str()), 0);
  std::filesystem::permissions(
      key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  VaultDaemon d(dir.path() / "vault", /*https=*/true, {},
                {"--tls-cert", cert.string(), "--tls-key", key.string()}, cert);
  const std::string token = d.AdminToken();  // verified against own-cert.pem, not the vault CA
  ASSERT_FALSE(token.empty());
  auto c = d.Client();
  EXPECT_EQ(Send(*c, "GET", "/keys?" + std::string(kApi), token).status, 200);
  // The vault's private CA does not vouch for this server any more.
  auto other = std::make_unique<httplib::Client>(d.url());
  other->set_ca_cert_path((d.dir() / "tls" / "ca.pem").c_str());
  other->set_connection_timeout(5, 0);
  EXPECT_FALSE(other->Get("/healthz"));
  d.Stop(SIGTERM);

  std::filesystem::permissions(key, std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  auto [rc, out] =
      RunPgcmk({"vault", "serve", "--data-dir", d.dir().string(), "--listen", "127.0.0.1:0",
                "--tls-cert", cert.string(), "--tls-key", key.string()});
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("--tls-key"), std::string::npos) << out;
  auto [rc2, out2] = RunPgcmk({"vault", "serve", "--data-dir", d.dir().string(), "--listen",
                               "127.0.0.1:0", "--tls-cert", cert.string()});
  EXPECT_NE(rc2, 0);
  EXPECT_NE(out2.find("go together"), std::string::npos) << out2;
}

// The daemon's own scheduler thread: once the (test) clock passes a deleted key's retention and a
// rotation policy's trigger, the running daemon purges and rotates by itself, as "system".
TEST(VaultSchedulerTest, DaemonPurgesExpiredDeletedKeysAndRotatesDueKeys) {
  TempDir dir;
  VaultDaemon d(dir.path() / "vault", /*https=*/false, {"--retention-days", "7"});
  const std::string api = std::string("?") + kApi;
  std::string token = d.AdminToken();
  auto c = d.Client();
  ASSERT_EQ(
      Send(*c, "POST", "/keys/rot/create" + api, token, R"({"kty":"RSA","key_size":2048})").status,
      200);
  ASSERT_EQ(
      Send(
          *c, "PUT", "/keys/rot/rotationpolicy" + api, token,
          R"({"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P2Y"}})")
          .status,
      200);
  ASSERT_EQ(Send(*c, "POST", "/keys/gone/create" + api, token, R"({"kty":"EC"})").status, 200);
  ASSERT_EQ(Send(*c, "DELETE", "/keys/gone" + api, token).status, 200);
  d.Stop(SIGTERM);
  ::setenv("PGCMK_ALLOW_TEST_CLOCK", "1", 1);
  d.set_serve_args({"--test-clock-offset", std::to_string(31 * 86400)});
  d.Start();
  token = d.AdminToken();
  c = d.Client();
  int versions = 0, deleted_status = 0;
  for (int i = 0; i < 100 && (versions < 2 || deleted_status != 404); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Reply v = Send(*c, "GET", "/keys/rot/versions" + api, token);
    versions = v.status == 200 ? static_cast<int>(v.body["value"].size()) : 0;
    deleted_status = Send(*c, "GET", "/deletedkeys/gone" + api, token).status;
  }
  EXPECT_EQ(versions, 2);
  EXPECT_EQ(deleted_status, 404);
  auto [rc, out] = RunPgcmk({"vault", "audit", "show", "--operation", "KeyRotate", "--output",
                             "json", "--data-dir", d.dir().string()});
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("pgcmk-vault-scheduler"), std::string::npos) << out;
}

// Purge protection on the wire: 403 Forbidden with the contract's message, the recovery level
// says so.
TEST(VaultPurgeProtectionTest, PurgeIs403) {
  TempDir dir;
  VaultDaemon d(dir.path() / "vault", /*https=*/false,
                {"--retention-days", "7", "--purge-protection"});
  const std::string api = std::string("?") + kApi;
  const std::string token = d.AdminToken();
  auto c = d.Client();
  Reply created = Send(*c, "POST", "/keys/pp/create" + api, token, R"({"kty":"EC"})");
  ASSERT_EQ(created.status, 200);
  EXPECT_EQ(created.body["attributes"]["recoveryLevel"], "CustomizedRecoverable");
  ASSERT_EQ(Send(*c, "DELETE", "/keys/pp" + api, token).status, 200);
  Reply purge = Send(*c, "DELETE", "/deletedkeys/pp" + api, token);
  EXPECT_EQ(purge.status, 403) << purge.raw;
  EXPECT_EQ(purge.body["error"]["code"], "Forbidden");
  EXPECT_NE(purge.body["error"]["message"].get<std::string>().find(
                "not allowed because purge protection is enabled"),
            std::string::npos)
      << purge.raw;
  EXPECT_EQ(Send(*c, "GET", "/deletedkeys/pp" + api, token).status, 200);  // still there
  d.Stop(SIGTERM);
  // A test clock is refused on a vault with purge protection, and without the environment switch.
  ::setenv("PGCMK_ALLOW_TEST_CLOCK", "1", 1);
  auto serve = [&](const std::string& dir_arg) {
    return RunPgcmk({"vault", "serve", "--data-dir", dir_arg, "--listen", "127.0.0.1:0",
                     "--insecure-http", "--test-clock-offset", "7200"});
  };
  auto [rc_pp, out_pp] = serve(d.dir().string());
  EXPECT_NE(rc_pp, 0);
  EXPECT_NE(out_pp.find("purge protection"), std::string::npos) << out_pp;
  ::unsetenv("PGCMK_ALLOW_TEST_CLOCK");
  auto [rc_env, out_env] = serve((dir.path() / "other").string());
  EXPECT_NE(rc_env, 0);
  EXPECT_NE(out_env.find("PGCMK_ALLOW_TEST_CLOCK"), std::string::npos) << out_env;
}

// A really expired token (the vault's test clock moved two hours on) gets the 401 challenge.
TEST(VaultTokenTest, ExpiredTokenIs401WithTheChallenge) {
  TempDir dir;
  ::setenv("PGCMK_ALLOW_TEST_CLOCK", "1", 1);
  VaultDaemon d(dir.path() / "vault", /*https=*/false);
  const std::string api = std::string("?") + kApi;
  const std::string token = d.AdminToken();
  d.Stop(SIGTERM);
  d.set_serve_args({"--test-clock-offset", "7200"});
  d.Start();
  auto c = d.Client();
  Reply expired = Send(*c, "GET", "/keys" + api, token);
  EXPECT_EQ(expired.status, 401) << expired.raw;
  auto res = c->Get(("/keys" + api).c_str(), {{"Authorization", "Bearer " + token}});
  ASSERT_TRUE(res);
  EXPECT_TRUE(res->get_header_value("WWW-Authenticate").starts_with("Bearer authorization="))
      << res->get_header_value("WWW-Authenticate");
  EXPECT_EQ(Send(*c, "GET", "/keys" + api, d.AdminToken()).status, 200);  // a fresh one works
}

// kill -9 while clients are creating versions and updating keys: everything acknowledged survives.
TEST(VaultCrashTest, KillDashNineUnderLoadLosesNothingAcknowledged) {
  TempDir dir;
  VaultDaemon d(dir.path() / "vault", /*https=*/false);
  std::string token = d.AdminToken();
  std::mutex mu;
  std::vector<std::string> acked_versions;  // "/keys/name/version"
  std::map<std::string, std::string> acked_tags;
  std::atomic<bool> stop = false;
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      auto c = d.Client();
      for (int i = 0; !stop; ++i) {
        std::string name = "load" + std::to_string(t);
        Reply r = Send(*c, "POST", "/keys/" + name + "/create?" + std::string(kApi), token,
                       R"({"kty":"EC","crv":"P-256","tags":{"i":")" + std::to_string(i) + R"("}})");
        if (r.status != 200) break;  // the daemon died mid-request: not acknowledged
        std::string kid = r.body["key"]["kid"];
        std::lock_guard l(mu);
        acked_versions.push_back(kid.substr(kid.find("/keys/")));
        acked_tags[name] = std::to_string(i);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  d.Stop(SIGKILL);
  stop = true;
  for (auto& th : clients) th.join();
  ASSERT_GT(acked_versions.size(), 10u);
  d.Start();
  token = d.AdminToken();
  auto c = d.Client();
  for (const auto& path : acked_versions) {
    EXPECT_EQ(Send(*c, "GET", path + "?" + std::string(kApi), token).status, 200) << path;
  }
  // The latest version carries at least the last acknowledged tag value.
  for (const auto& [name, tag] : acked_tags) {
    Reply r = Send(*c, "GET", "/keys/" + name + "/?" + std::string(kApi), token);
    ASSERT_EQ(r.status, 200);
    EXPECT_GE(std::stoi(r.body["tags"]["i"].get<std::string>()), std::stoi(tag)) << name;
  }
  auto verify =
      std::vector<std::string>{"vault", "audit", "verify", "--data-dir", d.dir().string()};
  auto [rc, out] = RunPgcmk(verify);
  EXPECT_EQ(rc, 0) << out;
}

TEST(VaultTlsTest, ServesHttpsWithItsPrivateCaAndRefusesTls11) {
  TempDir dir;
  VaultDaemon d(dir.path() / "vault", /*https=*/true);
  EXPECT_TRUE(d.url().starts_with("https://127.0.0.1:"));
  std::string token = d.AdminToken();
  ASSERT_FALSE(token.empty());
  auto c = d.Client();
  EXPECT_EQ(Send(*c, "GET", "/keys?" + std::string(kApi), token).status, 200);
  std::string port = d.url().substr(d.url().rfind(':') + 1);
  std::string s11 =
      "echo | timeout 10 openssl s_client -connect 127.0.0.1:" + port + " -tls1_1 >/dev/null 2>&1";
  EXPECT_NE(std::system(s11.c_str()), 0);
  std::string s12 = "echo | timeout 10 openssl s_client -connect 127.0.0.1:" + port +
                    " -tls1_2 -verify_return_error -CAfile " +
                    (d.dir() / "tls" / "ca.pem").string() + " >/dev/null 2>&1";
  EXPECT_EQ(std::system(s12.c_str()), 0);
  // No private key in clear anywhere in the data directory.
  std::string grep = "grep -rl 'PRIVATE KEY' " + d.dir().string() + " >/dev/null 2>&1";
  EXPECT_NE(std::system(grep.c_str()), 0);
}

// Certificate credentials end to end: the CLI generates a key + self-signed certificate into a
// new 0600 file and registers the certificate; the kms client (what a CMK server's supervisor
// uses) gets tokens with signed client assertions and wraps/unwraps over HTTPS; removing the
// certificate locks it out at once; registering it again from the bundle file restores access.
TEST(VaultCertificateCredentialTest, KmsClientWithCertificateWrapsAndUnwraps) {
  TempDir dir;
  VaultDaemon d(dir.path() / "vault", /*https=*/true);
  auto cli = [&](std::vector<std::string> args) {
    for (auto& a : d.ConnArgs()) args.push_back(a);
    return RunPgcmk(args);
  };
  const std::string secret_file = (dir.path() / "app.secret").string();
  auto [rc, out] =
      cli({"vault", "identity", "create", "app", "--secret-file", secret_file, "--output", "json"});
  ASSERT_EQ(rc, 0) << out;
  const std::string client_id = json::parse(out)["clientId"];
  const std::string pem = (dir.path() / "app.pem").string();
  std::tie(rc, out) = cli({"vault", "identity", "cert", "create", "app", "--out", pem});
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("registered certificate"), std::string::npos) << out;
  struct stat st {};
  ASSERT_EQ(::stat(pem.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string bundle = ReadFile(pem);
  EXPECT_NE(bundle.find("BEGIN PRIVATE KEY"), std::string::npos);
  EXPECT_NE(bundle.find("BEGIN CERTIFICATE"), std::string::npos);
  std::tie(rc, out) = cli({"vault", "identity", "cert", "create", "app", "--out", pem});
  EXPECT_EQ(rc, 5) << out;  // refuses to overwrite
  EXPECT_EQ(ReadFile(pem), bundle);
  std::tie(rc, out) = cli({"vault", "identity", "cert", "list", "app", "--output", "json"});
  ASSERT_EQ(rc, 0) << out;
  json list = json::parse(out)["value"];
  ASSERT_EQ(list.size(), 1u);
  const std::string thumbprint = list[0]["thumbprint"];
  EXPECT_EQ(out.find("PRIVATE"), std::string::npos);
  ASSERT_EQ(
      cli({"vault", "policy", "set", "app", "--role", "Key Vault Crypto Service Encryption User"})
          .first,
      0);
  ASSERT_EQ(cli({"vault", "key", "create", "kek", "--size", "2048"}).first, 0);

  kms::HttpOptions http;
  http.ca_file = d.dir() / "tls" / "ca.pem";
  auto tokens = kms::ClientCredentialsTokenProvider::FromCertificateFile(client_id, pem, http);
  ASSERT_TRUE(tokens.has_value()) << tokens.error().ToString();
  kms::AzureKeyVaultClientOptions options;
  options.http = http;
  kms::AzureKeyVaultClient client(std::move(*tokens), options);
  auto dek = crypto::RandomSecret(32);
  ASSERT_TRUE(dek.has_value());
  auto wrapped = client.WrapKey(d.url() + "/keys/kek", "RSA-OAEP-256", *dek);
  ASSERT_TRUE(wrapped.has_value()) << wrapped.error().ToString();
  auto unwrapped = client.UnwrapKey(wrapped->kid, "RSA-OAEP-256", wrapped->wrapped);
  ASSERT_TRUE(unwrapped.has_value()) << unwrapped.error().ToString();
  EXPECT_TRUE(*unwrapped == *dek);

  // The token endpoint recorded a certificate login, and never the assertion.
  std::tie(rc, out) =
      cli({"vault", "audit", "show", "--operation", "Authentication", "--output", "json"});
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("certificates/" + thumbprint), std::string::npos) << out;
  EXPECT_EQ(out.find("client_assertion"), std::string::npos);
  EXPECT_EQ(out.find("eyJ"), std::string::npos);  // no JWT anywhere

  // Removing the certificate revokes the cached token and refuses new assertions.
  std::tie(rc, out) = cli({"vault", "identity", "cert", "remove", "app", thumbprint});
  ASSERT_EQ(rc, 0) << out;
  auto denied = client.UnwrapKey(wrapped->kid, "RSA-OAEP-256", wrapped->wrapped);
  ASSERT_FALSE(denied.has_value());
  EXPECT_EQ(denied.error().code(), StatusCode::kUnauthenticated) << denied.error().ToString();

  // `cert add` reads the bundle but sends only the certificate; access comes back.
  std::tie(rc, out) = cli({"vault", "identity", "cert", "add", "app", "--cert", pem});
  ASSERT_EQ(rc, 0) << out;
  auto again = client.UnwrapKey(wrapped->kid, "RSA-OAEP-256", wrapped->wrapped);
  ASSERT_TRUE(again.has_value()) << again.error().ToString();
  EXPECT_TRUE(*again == *dek);
  // The client secret keeps working next to the certificate.
  EXPECT_FALSE(d.Token(client_id, ReadFile(secret_file)).empty());
}

// The CLI's own credential can be a certificate: no client secret of the administrator needs to
// be on the operator's machine.
TEST(VaultCertificateCredentialTest, CliAdministersWithACertificateCredential) {
  TempDir dir;
  VaultDaemon d(dir.path() / "vault", /*https=*/true);
  auto cli = [&](std::vector<std::string> args, std::string credential = "") {
    for (auto& a : d.ConnArgs()) args.push_back(a);
    if (!credential.empty()) {
      args.push_back("--credential-file");
      args.push_back(credential);
    }
    return RunPgcmk(args);
  };
  const std::string pem = (dir.path() / "admin.pem").string();
  auto [rc, out] = cli({"vault", "identity", "cert", "create", "admin", "--out", pem});
  ASSERT_EQ(rc, 0) << out;
  json admin = json::parse(ReadFile(d.dir() / "admin.credential"));
  auto write_credential = [&](const std::string& name, json j) {
    const std::filesystem::path path = dir.path() / name;
    std::ofstream(path) << j.dump();
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return path.string();
  };
  const std::string cert_credential = write_credential(
      "admin-cert.json", {{"tenantId", admin["tenantId"]},
                          {"clientId", admin["clientId"]},
                          {"resource", admin["resource"]},
                          {"certificateFile", "admin.pem"}});  // relative to the credential file
  std::tie(rc, out) = cli({"vault", "key", "create", "kek", "--size", "2048"}, cert_credential);
  EXPECT_EQ(rc, 0) << out;
  std::tie(rc, out) =
      cli({"vault", "audit", "show", "--operation", "Authentication", "--output", "json"},
          cert_credential);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("certificates/"), std::string::npos) << out;

  // Both a secret and a certificate, or neither: refused with a clear message.
  json both = admin;
  both["certificateFile"] = "admin.pem";
  std::tie(rc, out) = cli({"vault", "key", "list"}, write_credential("both.json", both));
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("either clientSecret or certificateFile"), std::string::npos) << out;
  EXPECT_EQ(out.find(admin["clientSecret"].get<std::string>()), std::string::npos);
  // A key file readable by others is refused.
  std::filesystem::permissions(pem, std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  std::tie(rc, out) = cli({"vault", "key", "list"}, cert_credential);
  EXPECT_NE(rc, 0) << out;
  std::filesystem::permissions(pem, std::filesystem::perms::group_read,
                               std::filesystem::perm_options::remove);
  // Once the certificate is removed, the credential no longer works.
  std::tie(rc, out) =
      cli({"vault", "identity", "cert", "list", "admin", "--output", "json"}, cert_credential);
  ASSERT_EQ(rc, 0) << out;
  const std::string thumbprint = json::parse(out)["value"][0]["thumbprint"];
  ASSERT_EQ(cli({"vault", "identity", "cert", "remove", "admin", thumbprint}).first, 0);
  std::tie(rc, out) = cli({"vault", "key", "list"}, cert_credential);
  EXPECT_NE(rc, 0) << out;
}

}  // namespace
}  // namespace pgcmk::vault_test
