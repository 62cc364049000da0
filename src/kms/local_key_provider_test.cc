#include "kms/local_key_provider.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

namespace pgcmk::kms {
namespace {

std::filesystem::path TempDir() {
  auto dir = std::filesystem::temp_directory_path() /
             ("pgcmk-kms-test-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(LocalKeyProviderTest, WrapUnwrapRoundTripsAcrossReopen) {
  auto dir = TempDir();
  auto created = LocalKeyProvider::Create(dir / "system.key", "srv");
  ASSERT_TRUE(created.has_value()) << created.error().ToString();
  struct stat st {};
  ASSERT_EQ(::stat((dir / "system.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  SecretBytes dek = SecretBytes::CopyFrom(Bytes(32, 7));
  auto wrapped = (*created)->WrapKey("local:srv", kLocalWrapAlg, dek);
  ASSERT_TRUE(wrapped.has_value());
  EXPECT_EQ(wrapped->kid, "local:srv/v1");
  auto reopened = LocalKeyProvider::Open(dir / "system.key", "srv");
  ASSERT_TRUE(reopened.has_value());
  auto plain = (*reopened)->UnwrapKey(wrapped->kid, kLocalWrapAlg, wrapped->wrapped);
  ASSERT_TRUE(plain.has_value());
  EXPECT_TRUE(*plain == dek);
  std::filesystem::remove_all(dir);
}

TEST(LocalKeyProviderTest, UnwrapFailsIfTamperedOrUnderAnotherKey) {
  auto dir = TempDir();
  auto a = LocalKeyProvider::Create(dir / "a.key", "srv");
  auto b = LocalKeyProvider::Create(dir / "b.key", "srv");
  ASSERT_TRUE(a.has_value() && b.has_value());
  auto wrapped = (*a)->WrapKey("local:srv", kLocalWrapAlg, SecretBytes::CopyFrom(Bytes(32, 1)));
  ASSERT_TRUE(wrapped.has_value());
  EXPECT_FALSE((*b)->UnwrapKey(wrapped->kid, kLocalWrapAlg, wrapped->wrapped).has_value());
  Bytes tampered = wrapped->wrapped;
  tampered[5] ^= 1;
  EXPECT_FALSE((*a)->UnwrapKey(wrapped->kid, kLocalWrapAlg, tampered).has_value());
  EXPECT_EQ(LocalKeyProvider::Create(dir / "a.key", "srv").error().code(),
            StatusCode::kAlreadyExists);
  std::filesystem::remove_all(dir);
}

TEST(LocalKeyProviderTest, OpenRefusesAGroupReadableKeyFile) {
  auto dir = TempDir();
  ASSERT_TRUE(LocalKeyProvider::Create(dir / "k.key", "srv").has_value());
  ::chmod((dir / "k.key").c_str(), 0640);
  auto r = LocalKeyProvider::Open(dir / "k.key", "srv");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kFailedPrecondition);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pgcmk::kms
