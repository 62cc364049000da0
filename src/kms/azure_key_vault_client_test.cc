// Tests AzureKeyVaultClient and ClientCredentialsTokenProvider against a FAKE vault: an in-process
// httplib server on 127.0.0.1 that imitates the Azure Key Vault wire protocol (401 challenge,
// token endpoint, KeyBundle, wrapkey/unwrapkey, error bodies). It is insecure by design: plain
// http, and its "wrap" is a reversible XOR, not encryption. Real-vault behaviour is covered by the
// end-to-end tests in tests/server.
#include "kms/azure_key_vault_client.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/base64url.h"

namespace pgcmk::kms {
namespace {

using Json = nlohmann::json;

enum class Behaviour { kOk, kForbidden, kNotFound, kServerError, kSlow, kKeyDisabledError };

class FakeVault {
 public:
  FakeVault() {
    server_.Post(R"(/tenant1/oauth2/v2.0/token)", [this](const httplib::Request& req,
                                                         httplib::Response& res) {
      ++token_requests;
      if (req.get_param_value("grant_type") != "client_credentials" ||
          req.get_param_value("client_id") != "client-1" ||
          req.get_param_value("client_secret") != secret ||
          req.get_param_value("scope") != "https://vault.test/.default") {
        res.status = 401;
        res.set_content(R"({"error":"invalid_client","error_description":"bad secret"})",
                        "application/json");
        return;
      }
      ++generation;
      Json j{{"token_type", "Bearer"},
             {"expires_in", token_lifetime.load()},
             {"access_token", "token-" + std::to_string(generation.load())}};
      res.set_content(j.dump(), "application/json");
    });
    auto authorized = [this](const httplib::Request& req, httplib::Response& res) {
      if (req.has_header("Authorization")) ++authorized_requests;
      std::string expected = "Bearer token-" + std::to_string(generation.load());
      if (req.get_header_value("Authorization") != expected || generation.load() == 0) {
        res.status = 401;
        res.set_header("WWW-Authenticate", "Bearer authorization=\"" + origin +
                                               "/tenant1\", "
                                               "resource=\"https://vault.test\"");
        res.set_content(R"({"error":{"code":"Unauthorized","message":"AKV10000: missing token"}})",
                        "application/json");
        return false;
      }
      return true;
    };
    auto apply_behaviour = [this](httplib::Response& res) {
      switch (behaviour.load()) {
        case Behaviour::kOk:
          return true;
        case Behaviour::kForbidden:
          res.status = 403;
          res.set_content(
              R"({"error":{"code":"Forbidden","message":"does not have keys unwrapKey permission","innererror":{"code":"AccessDenied"}}})",
              "application/json");
          return false;
        case Behaviour::kKeyDisabledError:
          res.status = 403;
          res.set_content(
              R"({"error":{"code":"Forbidden","message":"Operation is not allowed on a disabled key.","innererror":{"code":"KeyDisabled"}}})",
              "application/json");
          return false;
        case Behaviour::kNotFound:
          res.status = 404;
          res.set_content(
              R"({"error":{"code":"KeyNotFound","message":"A key with (name/id) k was not found"}})",
              "application/json");
          return false;
        case Behaviour::kServerError:
          res.status = 500;
          res.set_content(R"({"error":{"code":"InternalServerError","message":"oops"}})",
                          "application/json");
          return false;
        case Behaviour::kSlow:
          std::this_thread::sleep_for(std::chrono::milliseconds(1500));
          return true;
      }
      return true;
    };
    server_.Get(R"(/keys/([A-Za-z0-9-]+)/?([A-Za-z0-9]*))",
                [=, this](const httplib::Request& req, httplib::Response& res) {
                  if (!authorized(req, res) || !apply_behaviour(res)) return;
                  std::string version = req.matches[2].str();
                  if (version.empty()) version = latest;
                  Json j{{"key",
                          {{"kid", origin + "/keys/" + req.matches[1].str() + "/" + version},
                           {"kty", "RSA"},
                           {"key_ops", {"wrapKey", "unwrapKey"}},
                           {"n", Base64UrlEncode(Bytes(384, 0xC1))},
                           {"e", "AQAB"}}},
                         {"attributes",
                          {{"enabled", true},
                           {"recoveryLevel", "CustomizedRecoverable"},
                           {"recoverableDays", 7}}}};
                  res.set_content(j.dump(), "application/json");
                });
    server_.Post(R"(/keys/([A-Za-z0-9-]+)/([A-Za-z0-9]*)/(wrapkey|unwrapkey))",
                 [=, this](const httplib::Request& req, httplib::Response& res) {
                   if (!authorized(req, res) || !apply_behaviour(res)) return;
                   Json body = Json::parse(req.body, nullptr, false);
                   if (!body.is_object() || body.value("alg", "") != "RSA-OAEP-256") {
                     res.status = 400;
                     res.set_content(R"({"error":{"code":"BadParameter","message":"bad"}})",
                                     "application/json");
                     return;
                   }
                   auto value = Base64UrlDecode(body["value"].get<std::string>());
                   for (auto& b : *value) b ^= 0x5A;  // the fake's "wrap": NOT encryption
                   std::string version = req.matches[2].str();
                   if (version.empty()) version = latest;
                   Json out{{"kid", origin + "/keys/" + req.matches[1].str() + "/" + version},
                            {"value", Base64UrlEncode(*value)}};
                   res.set_content(out.dump(), "application/json");
                 });
    server_.set_keep_alive_max_count(1);
    port = server_.bind_to_any_port("127.0.0.1");
    origin = "http://127.0.0.1:" + std::to_string(port);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ~FakeVault() {
    server_.stop();
    thread_.join();
  }

  int port = 0;
  std::string origin;
  std::string latest = "0123456789abcdef0123456789abcdef";
  std::string secret = "s3cret";
  std::atomic<int> token_requests{0};
  std::atomic<int> authorized_requests{0};
  std::atomic<int> generation{0};
  std::atomic<int> token_lifetime{3599};
  std::atomic<Behaviour> behaviour{Behaviour::kOk};

 private:
  httplib::Server server_;
  std::thread thread_;
};

HttpOptions TestHttp() {
  HttpOptions o;
  o.allow_plain_http = true;  // the fake speaks plain http
  o.connect_timeout = std::chrono::milliseconds(500);
  o.io_timeout = std::chrono::milliseconds(700);
  return o;
}

std::unique_ptr<AzureKeyVaultClient> MakeClient(FakeVault& vault, std::string secret = "s3cret") {
  auto tokens = std::make_unique<ClientCredentialsTokenProvider>(
      "client-1", SecretBytes::CopyFrom(AsBytes(secret)), TestHttp());
  AzureKeyVaultClientOptions options;
  options.http = TestHttp();
  (void)vault;
  return std::make_unique<AzureKeyVaultClient>(std::move(tokens), options);
}

TEST(AzureKeyVaultClientTest, DiscoversTheAuthorityFromTheChallengeAndCachesTheToken) {
  FakeVault vault;
  auto client = MakeClient(vault);
  auto key = client->GetKey(vault.origin + "/keys/pg-key");
  ASSERT_TRUE(key.has_value()) << key.error().ToString();
  EXPECT_EQ(key->kid, vault.origin + "/keys/pg-key/" + vault.latest);
  EXPECT_EQ(key->kty, "RSA");
  EXPECT_EQ(key->key_size_bits, 3072);
  EXPECT_TRUE(key->enabled);
  EXPECT_EQ(key->recovery_level, "CustomizedRecoverable");
  EXPECT_EQ(vault.token_requests.load(), 1);
  ASSERT_TRUE(client->GetKey(vault.origin + "/keys/pg-key/abc").has_value());
  EXPECT_EQ(vault.token_requests.load(), 1) << "the token must be cached";
}

TEST(AzureKeyVaultClientTest, WrapReturnsTheVersionedKidAndUnwrapRoundTrips) {
  FakeVault vault;
  auto client = MakeClient(vault);
  SecretBytes dek = SecretBytes::CopyFrom(Bytes(32, 0x11));
  auto wrapped = client->WrapKey(vault.origin + "/keys/pg-key", kRsaOaep256, dek);
  ASSERT_TRUE(wrapped.has_value()) << wrapped.error().ToString();
  EXPECT_EQ(wrapped->kid, vault.origin + "/keys/pg-key/" + vault.latest);
  auto unwrapped = client->UnwrapKey(wrapped->kid, kRsaOaep256, wrapped->wrapped);
  ASSERT_TRUE(unwrapped.has_value()) << unwrapped.error().ToString();
  EXPECT_TRUE(*unwrapped == dek);
}

TEST(AzureKeyVaultClientTest, RevokedTokenIsReacquiredOnce) {
  FakeVault vault;
  auto client = MakeClient(vault);
  ASSERT_TRUE(client->GetKey(vault.origin + "/keys/k").has_value());
  vault.generation += 10;  // the vault no longer accepts the cached token
  auto key = client->GetKey(vault.origin + "/keys/k");
  ASSERT_TRUE(key.has_value()) << key.error().ToString();
  EXPECT_EQ(vault.token_requests.load(), 2);
}

TEST(AzureKeyVaultClientTest, RotatedSecretIsDefinitiveUnauthenticated) {
  FakeVault vault;
  auto client = MakeClient(vault);
  ASSERT_TRUE(client->GetKey(vault.origin + "/keys/k").has_value());
  vault.secret = "rotated";
  vault.generation += 10;
  auto key = client->GetKey(vault.origin + "/keys/k");
  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.error().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(ClassifyFailure(key.error()), FailureKind::kDefinitive);
  EXPECT_NE(key.error().message().find("invalid_client"), std::string::npos);
  EXPECT_EQ(key.error().message().find("rotated"), std::string::npos) << "no secrets in errors";
  EXPECT_EQ(key.error().message().find("s3cret"), std::string::npos) << "no secrets in errors";
}

TEST(AzureKeyVaultClientTest, ForbiddenIsDefinitivePermissionDenied) {
  FakeVault vault;
  auto client = MakeClient(vault);
  vault.behaviour = Behaviour::kForbidden;
  auto r = client->UnwrapKey(vault.origin + "/keys/k/" + vault.latest, kRsaOaep256, Bytes(32));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ClassifyFailure(r.error()), FailureKind::kDefinitive);
  EXPECT_NE(r.error().message().find("unwrapKey permission"), std::string::npos);
}

TEST(AzureKeyVaultClientTest, DisabledKeyIsFailedPrecondition) {
  FakeVault vault;
  auto client = MakeClient(vault);
  vault.behaviour = Behaviour::kKeyDisabledError;
  auto r = client->GetKey(vault.origin + "/keys/k");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kFailedPrecondition);
}

TEST(AzureKeyVaultClientTest, NotFoundIsDefinitive) {
  FakeVault vault;
  auto client = MakeClient(vault);
  vault.behaviour = Behaviour::kNotFound;
  auto r = client->GetKey(vault.origin + "/keys/k");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(ClassifyFailure(r.error()), FailureKind::kDefinitive);
}

TEST(AzureKeyVaultClientTest, ServerErrorIsTransient) {
  FakeVault vault;
  auto client = MakeClient(vault);
  vault.behaviour = Behaviour::kServerError;
  auto r = client->GetKey(vault.origin + "/keys/k");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kUnavailable);
  EXPECT_EQ(ClassifyFailure(r.error()), FailureKind::kTransient);
}

TEST(AzureKeyVaultClientTest, SlowVaultTimesOutAsTransient) {
  FakeVault vault;
  auto client = MakeClient(vault);
  ASSERT_TRUE(client->GetKey(vault.origin + "/keys/k").has_value());
  vault.behaviour = Behaviour::kSlow;
  auto start = std::chrono::steady_clock::now();
  auto r = client->GetKey(vault.origin + "/keys/k");
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(ClassifyFailure(r.error()), FailureKind::kTransient) << r.error().ToString();
  EXPECT_LT(elapsed, std::chrono::milliseconds(1400));
}

TEST(AzureKeyVaultClientTest, ConnectionRefusedIsTransient) {
  int port;
  {
    FakeVault vault;
    port = vault.port;
  }
  FakeVault other;
  auto client = MakeClient(other);
  auto r = client->GetKey("http://127.0.0.1:" + std::to_string(port) + "/keys/k");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kUnavailable) << r.error().ToString();
}

TEST(AzureKeyVaultClientTest, PlainHttpIsRefusedByDefault) {
  FakeVault vault;
  auto tokens = std::make_unique<ClientCredentialsTokenProvider>(
      "client-1", SecretBytes::CopyFrom(AsBytes("s3cret")), HttpOptions{});
  AzureKeyVaultClient client(std::move(tokens), AzureKeyVaultClientOptions{});
  auto r = client.GetKey(vault.origin + "/keys/k");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(vault.token_requests.load(), 0);
}

TEST(KeyBundleTest, ParsesAttributesAndTreatsZeroTimesAsAbsent) {
  auto k = ParseKeyBundle(
      R"({"key":{"kid":"https://v/keys/k/1","kty":"RSA-HSM","n":"AQAB"},
          "attributes":{"enabled":false,"nbf":0,"exp":1900000000,"recoveryLevel":"Recoverable"}})");
  ASSERT_TRUE(k.has_value());
  EXPECT_FALSE(k->enabled);
  EXPECT_FALSE(k->nbf.has_value());
  EXPECT_EQ(k->exp.value(), 1900000000);
  EXPECT_FALSE(ParseKeyBundle("{}").has_value());
  EXPECT_FALSE(ParseKeyBundle("not json").has_value());
}

}  // namespace
}  // namespace pgcmk::kms
