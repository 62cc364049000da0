#include "storage/volume.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "common/durable_file.h"
#include "crypto/random.h"

namespace pgcmk::storage {
namespace {

namespace fs = std::filesystem;
constexpr std::size_t kU = EncryptedFile::kUnitSize;

// The golden volume: its DEK is bytes 0x00..0x1f (a test key, never used elsewhere).
const fs::path kGoldenDir = "tests/storage/golden/volume-v1";

SecretBytes GoldenDek() {
  SecretBytes dek(32);
  for (std::size_t i = 0; i < 32; ++i) dek.reveal_mutable()[i] = static_cast<std::uint8_t>(i);
  return dek;
}

struct GoldenFile {
  const char* name;
  std::uint64_t offset;  // where the data was written (before it: a hole)
  Bytes data;
};

std::vector<GoldenFile> GoldenFiles() {
  Bytes pattern(2 * kU + 100);
  for (std::size_t i = 0; i < pattern.size(); ++i)
    pattern[i] = static_cast<std::uint8_t>(i * 7 + 3);
  return {
      {"PG_VERSION", 0, ToBytes("15\n")},                  // a short unit (< 16 bytes)
      {"fifteen", 0, ToBytes("fifteen bytes!!")},          // 15 bytes
      {"units", 0, pattern},                               // two units and a 100-byte tail (CTS)
      {"sparse", 3 * kU, ToBytes("after three holes..")},  // holes, then a 19-byte tail
  };
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/pgcmk-volume-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(VolumeTest, CreateThenOpenWithTheSameKey) {
  TempDir tmp;
  auto dek = crypto::RandomSecret(32);
  ASSERT_TRUE(Volume::Create(tmp.path() / "v", *dek).has_value());
  auto v = Volume::Open(tmp.path() / "v", *dek);
  ASSERT_TRUE(v.has_value()) << v.error().ToString();
}

TEST(VolumeTest, CreateFailsIfAHeaderExists) {
  TempDir tmp;
  auto dek = crypto::RandomSecret(32);
  ASSERT_TRUE(Volume::Create(tmp.path(), *dek).has_value());
  auto again = Volume::Create(tmp.path(), *dek);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), StatusCode::kAlreadyExists);
}

TEST(VolumeTest, OpenRefusesAWrongKeyWithAClearError) {
  TempDir tmp;
  auto dek = crypto::RandomSecret(32);
  auto other = crypto::RandomSecret(32);
  ASSERT_TRUE(Volume::Create(tmp.path(), *dek).has_value());
  auto v = Volume::Open(tmp.path(), *other);
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(v.error().message().find("wrong key for this volume"), std::string::npos);
}

TEST(VolumeTest, OpenWithoutHeaderIsNotFound) {
  TempDir tmp;
  auto dek = crypto::RandomSecret(32);
  auto v = Volume::Open(tmp.path(), *dek);
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code(), StatusCode::kNotFound);
}

TEST(VolumeTest, RefusesKeysThatAreNot32Bytes) {
  TempDir tmp;
  auto dek = crypto::RandomSecret(16);
  auto v = Volume::Create(tmp.path(), *dek);
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code(), StatusCode::kInvalidArgument);
}

TEST(VolumeTest, RejectsAFutureFormatVersion) {
  TempDir tmp;
  auto dek = crypto::RandomSecret(32);
  ASSERT_TRUE(Volume::Create(tmp.path(), *dek).has_value());
  auto header = ReadWholeFile(tmp.path() / Volume::kHeaderName);
  (*header)[8] = 2;
  ASSERT_TRUE(WriteFileAtomically(tmp.path() / Volume::kHeaderName, *header).ok());
  auto v = Volume::Open(tmp.path(), *dek);
  ASSERT_FALSE(v.has_value());
  EXPECT_NE(v.error().message().find("version 2"), std::string::npos);
}

// Regenerate (only when the format changes on purpose, with a new version):
//   PGCMK_WRITE_GOLDEN=1 build-storage/src/storage/storage_test --gtest_filter='*Golden*'
TEST(VolumeGoldenTest, GoldenVolumeDecryptsToTheKnownPlaintext) {
  if (std::getenv("PGCMK_WRITE_GOLDEN") != nullptr) {
    fs::remove_all(kGoldenDir);
    auto v = Volume::Create(kGoldenDir, GoldenDek());
    ASSERT_TRUE(v.has_value()) << v.error().ToString();
    for (const GoldenFile& g : GoldenFiles()) {
      auto f = (*v)->OpenFileAt((*v)->root_fd(), g.name, O_RDWR | O_CREAT | O_EXCL, 0600);
      ASSERT_TRUE(f.has_value());
      ASSERT_TRUE((*f)->Write(g.data, g.offset).ok());
    }
  }
  auto v = Volume::Open(kGoldenDir, GoldenDek());
  ASSERT_TRUE(v.has_value()) << v.error().ToString();
  for (const GoldenFile& g : GoldenFiles()) {
    auto f = (*v)->OpenFileAt((*v)->root_fd(), g.name, O_RDONLY);
    ASSERT_TRUE(f.has_value()) << g.name << ": " << f.error().ToString();
    Bytes want(g.offset + g.data.size(), 0);
    std::copy(g.data.begin(), g.data.end(), want.begin() + static_cast<long>(g.offset));
    Bytes got(want.size() + 1);
    auto n = (*f)->Read(got, 0);
    ASSERT_TRUE(n.has_value());
    got.resize(*n);
    EXPECT_EQ(got, want) << g.name;
  }
}

TEST(VolumeGoldenTest, ReencryptingTheGoldenPlaintextIsByteIdentical) {
  TempDir tmp;
  fs::copy(kGoldenDir, tmp.path() / "v", fs::copy_options::recursive);
  auto v = Volume::Open(tmp.path() / "v", GoldenDek());
  ASSERT_TRUE(v.has_value()) << v.error().ToString();
  for (const GoldenFile& g : GoldenFiles()) {
    {
      auto f = (*v)->OpenFileAt((*v)->root_fd(), g.name, O_RDWR);
      ASSERT_TRUE(f.has_value());
      ASSERT_TRUE((*f)->Write(g.data, g.offset).ok());
    }
    EXPECT_EQ(ReadWholeFile(tmp.path() / "v" / g.name).value(),
              ReadWholeFile(kGoldenDir / g.name).value())
        << g.name;
  }
}

TEST(VolumeGoldenTest, GoldenVolumeRefusesAnotherKey) {
  auto dek = crypto::RandomSecret(32);
  auto v = Volume::Open(kGoldenDir, *dek);
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace pgcmk::storage
