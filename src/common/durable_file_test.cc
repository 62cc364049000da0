#include "common/durable_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

namespace pgcmk {
namespace {

class DurableFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pgcmk-durable-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(DurableFileTest, WriteThenReadBackWithRequestedMode) {
  const auto path = dir_ / "manifest";
  ASSERT_TRUE(WriteFileAtomically(path, AsBytes("v1"), 0600).ok());
  ASSERT_TRUE(WriteFileAtomically(path, AsBytes("version two"), 0600).ok());
  auto data = ReadWholeFile(path);
  ASSERT_TRUE(data.has_value());
  EXPECT_EQ(AsStringView(*data), "version two");
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No temporary files are left behind.
  size_t entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1u);
}

TEST_F(DurableFileTest, FailureLeavesOldContentsAndNamesThePath) {
  const auto path = dir_ / "missing-dir" / "file";
  Status s = WriteFileAtomically(path, AsBytes("x"));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("missing-dir"), std::string::npos);
}

TEST_F(DurableFileTest, ReadRefusesOversizeFiles) {
  const auto path = dir_ / "big";
  ASSERT_TRUE(WriteFileAtomically(path, Bytes(100, 1)).ok());
  auto r = ReadWholeFile(path, 10);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kResourceExhausted);
  auto s = ReadSecretFile(path);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->size(), 100u);
}

TEST_F(DurableFileTest, PrivateSecretFileMustBeAPrivateRegularFile) {
  const auto key = dir_ / "key.pem";
  ASSERT_TRUE(WriteFileAtomically(key, AsBytes("secret"), 0600).ok());
  auto ok = ReadPrivateSecretFile(key);
  ASSERT_TRUE(ok.has_value()) << ok.error().ToString();
  EXPECT_EQ(AsStringView(ok->reveal()), "secret");

  ASSERT_EQ(::chmod(key.c_str(), 0640), 0);
  auto loose = ReadPrivateSecretFile(key);
  ASSERT_FALSE(loose.has_value());
  EXPECT_EQ(loose.error().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(loose.error().message().find("owner only"), std::string::npos);
  ASSERT_EQ(::chmod(key.c_str(), 0600), 0);

  // A symlink to a private file is not followed; a FIFO neither blocks nor passes.
  const auto link = dir_ / "link.pem";
  std::filesystem::create_symlink(key, link);
  EXPECT_FALSE(ReadPrivateSecretFile(link).has_value());
  const auto fifo = dir_ / "fifo.pem";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto f = ReadPrivateSecretFile(fifo);
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error().code(), StatusCode::kFailedPrecondition);
}

TEST_F(DurableFileTest, CreateDirectoryDurablySetsMode) {
  const auto d = dir_ / "a" / "b";
  ASSERT_TRUE(CreateDirectoryDurably(d, 0700).ok());
  struct stat st {};
  ASSERT_EQ(stat(d.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(DurableFileTest, CreateDirectoryDurablyRefusesAnExistingFile) {
  const auto path = dir_ / "not-a-dir";
  ASSERT_TRUE(WriteFileAtomically(path, AsBytes("x"), 0644).ok());
  Status s = CreateDirectoryDurably(path, 0700);
  EXPECT_FALSE(s.ok());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);  // the file was left alone
}

TEST_F(DurableFileTest, RemoveStaleTemporaryFilesRemovesOnlyLeftoversOfThatFile) {
  const auto path = dir_ / "manifest";
  ASSERT_TRUE(WriteFileAtomically(path, AsBytes("current")).ok());
  // What a crash between mkostemp and rename leaves behind, plus look-alikes that must stay.
  ASSERT_TRUE(WriteFileAtomically(dir_ / ".manifest.tmpAb3dE9", AsBytes("secret")).ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ / ".manifest.tmpshort", AsBytes("x")).ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ / ".other.tmpAb3dE9", AsBytes("x")).ok());
  std::filesystem::create_symlink(dir_ / "nowhere", dir_ / ".manifest.tmpDangle");
  auto removed = RemoveStaleTemporaryFiles(path);
  ASSERT_TRUE(removed.has_value()) << removed.error().ToString();
  EXPECT_EQ(*removed, 1u);
  EXPECT_FALSE(std::filesystem::exists(dir_ / ".manifest.tmpAb3dE9"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / ".manifest.tmpshort"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / ".other.tmpAb3dE9"));
  EXPECT_TRUE(std::filesystem::is_symlink(dir_ / ".manifest.tmpDangle"));
  auto data = ReadWholeFile(path);
  ASSERT_TRUE(data.has_value());
  EXPECT_EQ(AsStringView(*data), "current");
  auto again = RemoveStaleTemporaryFiles(path);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, 0u);
}

}  // namespace
}  // namespace pgcmk
