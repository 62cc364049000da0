#include "server/manifest.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "common/durable_file.h"
#include "server/server_paths.h"
#include "server/server_state.h"

namespace pgcmk::server {
namespace {

std::filesystem::path TempDir() {
  auto dir = std::filesystem::temp_directory_path() /
             ("pgcmk-manifest-test-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

Manifest Sample() {
  Manifest m;
  m.name = "db1";
  m.created = 1764309600;
  m.type = EncryptionType::kAzureKeyVault;
  m.key_uri = "https://127.0.0.1:8443/keys/pg-key";
  m.identity_client_id = "0b9c7a5e-1111-2222-3333-444455556666";
  m.wrapping_kid = "https://127.0.0.1:8443/keys/pg-key/0123456789abcdef0123456789abcdef";
  m.wrap_alg = "RSA-OAEP-256";
  m.wrapped_dek = Bytes(384, 0xAB);
  m.settings.port = 5544;
  m.settings.check_interval_seconds = 2;
  m.settings.webhooks = {"http://127.0.0.1:9/hook"};
  return m;
}

TEST(ManifestTest, RoundTripsThroughJson) {
  Manifest m = Sample();
  auto parsed = Manifest::FromJson(m.ToJson());
  ASSERT_TRUE(parsed.has_value()) << parsed.error().ToString();
  EXPECT_EQ(parsed->name, "db1");
  EXPECT_EQ(parsed->type, EncryptionType::kAzureKeyVault);
  EXPECT_EQ(parsed->key_uri, m.key_uri);
  EXPECT_EQ(parsed->wrapping_kid, m.wrapping_kid);
  EXPECT_EQ(parsed->wrapped_dek, m.wrapped_dek);
  EXPECT_EQ(parsed->settings.port, 5544);
  EXPECT_EQ(parsed->settings.webhooks, m.settings.webhooks);
}

TEST(ManifestTest, RefusesUnknownVersionsAndGarbage) {
  std::string text = Sample().ToJson();
  auto pos = text.find("\"version\": 1");
  ASSERT_NE(pos, std::string::npos);
  text.replace(pos, 12, "\"version\": 2");
  auto r = Manifest::FromJson(text);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(Manifest::FromJson("{}").has_value());
  EXPECT_FALSE(Manifest::FromJson("{\"format\":\"pgcmk-server-manifest\"}").has_value());
}

TEST(ManifestTest, SaveIsPrivateAndUpdateBumpsGeneration) {
  auto dir = TempDir();
  const auto path = dir / "manifest.json";
  ASSERT_TRUE(Sample().Save(path).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto updated = UpdateManifest(path, [](Manifest& m) {
    m.wrapping_kid = "https://127.0.0.1:8443/keys/pg-key/ffff";
    return Status::Ok();
  });
  ASSERT_TRUE(updated.has_value());
  EXPECT_EQ(updated->generation, 2);
  auto reloaded = Manifest::Load(path);
  ASSERT_TRUE(reloaded.has_value());
  EXPECT_EQ(reloaded->wrapping_kid, "https://127.0.0.1:8443/keys/pg-key/ffff");
  // A failing change writes nothing.
  auto failed = UpdateManifest(path, [](Manifest&) { return Status(StatusCode::kConflict, "no"); });
  EXPECT_FALSE(failed.has_value());
  EXPECT_EQ(Manifest::Load(path)->generation, 2);
  std::filesystem::remove_all(dir);
}

TEST(RuntimeStatusTest, RoundTrips) {
  RuntimeStatus s;
  s.state = ServerState::kInaccessible;
  s.key_valid = false;
  s.reason = "key disabled";
  s.last_check = 5;
  auto parsed = RuntimeStatus::FromJson(s.ToJson());
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->state, ServerState::kInaccessible);
  EXPECT_EQ(parsed->reason, "key disabled");
  EXPECT_FALSE(RuntimeStatus::FromJson("{\"state\":\"Bogus\"}").has_value());
}

TEST(ServerPathsTest, ValidatesNames) {
  EXPECT_TRUE(ValidateServerName("db-1").ok());
  for (const char* bad : {"", "1db", "DB", "a/b", "..", "a b"}) {
    EXPECT_FALSE(ValidateServerName(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace pgcmk::server
