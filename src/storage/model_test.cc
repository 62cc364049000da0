#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "common/status.h"
#include "crypto/random.h"
#include "storage/model_checker.h"
#include "storage/volume.h"

namespace pgcmk::storage {
namespace {

// The storage library as a filesystem under test: one EncryptedFile per backing inode.
class LibraryFs : public FsUnderTest {
 public:
  explicit LibraryFs(const Volume& volume) : volume_(volume) {}

  Status Create(const std::string& name) override {
    PGCMK_ASSIGN_OR_RETURN(auto file, volume_.OpenFileAt(volume_.root_fd(), name.c_str(),
                                                         O_CREAT | O_EXCL | O_RDWR, 0600));
    struct stat st;
    if (::fstat(file->backing_fd(), &st) != 0) return Status::FromErrno(errno, "fstat");
    files_[st.st_ino] = std::move(file);
    return Status::Ok();
  }
  Status Write(const std::string& name, std::uint64_t offset, ByteView data) override {
    PGCMK_ASSIGN_OR_RETURN(EncryptedFile * f, Get(name));
    return f->Write(data, offset);
  }
  Result<Bytes> Read(const std::string& name, std::uint64_t offset, std::uint64_t length) override {
    PGCMK_ASSIGN_OR_RETURN(EncryptedFile * f, Get(name));
    Bytes out(length);
    PGCMK_ASSIGN_OR_RETURN(size_t n, f->Read(out, offset));
    out.resize(n);
    return out;
  }
  Result<std::uint64_t> Size(const std::string& name) override {
    PGCMK_ASSIGN_OR_RETURN(EncryptedFile * f, Get(name));
    struct stat st;
    if (::fstat(f->backing_fd(), &st) != 0) return Err(Status::FromErrno(errno, "fstat"));
    // The length-preserving layout: backing size = header + logical size, always.
    if (static_cast<std::uint64_t>(st.st_size) != f->size() + EncryptedFile::kHeaderSize) {
      return Err(StatusCode::kDataLoss, "backing size " + std::to_string(st.st_size) +
                                            " does not match logical size " +
                                            std::to_string(f->size()));
    }
    return f->size();
  }
  Status Truncate(const std::string& name, std::uint64_t size) override {
    PGCMK_ASSIGN_OR_RETURN(EncryptedFile * f, Get(name));
    return f->Truncate(size);
  }
  Status PunchHole(const std::string& name, std::uint64_t offset, std::uint64_t length) override {
    PGCMK_ASSIGN_OR_RETURN(EncryptedFile * f, Get(name));
    return f->Fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
  }
  Status Reopen(const std::string& name) override {
    PGCMK_ASSIGN_OR_RETURN(ino_t ino, Ino(name));
    files_.erase(ino);
    return Status::Ok();
  }
  Status Rename(const std::string& from, const std::string& to) override {
    if (::renameat(volume_.root_fd(), from.c_str(), volume_.root_fd(), to.c_str()) != 0) {
      return Status::FromErrno(errno, "renameat");
    }
    DropUnlinked();
    return Status::Ok();
  }
  Status Link(const std::string& from, const std::string& to) override {
    if (::linkat(volume_.root_fd(), from.c_str(), volume_.root_fd(), to.c_str(), 0) != 0) {
      return Status::FromErrno(errno, "linkat");
    }
    return Status::Ok();
  }
  Status Unlink(const std::string& name) override {
    if (::unlinkat(volume_.root_fd(), name.c_str(), 0) != 0) {
      return Status::FromErrno(errno, "unlinkat");
    }
    DropUnlinked();
    return Status::Ok();
  }
  Status Sync(const std::string& name) override {
    PGCMK_ASSIGN_OR_RETURN(EncryptedFile * f, Get(name));
    return f->Sync(false);
  }

 private:
  Result<ino_t> Ino(const std::string& name) {
    struct stat st;
    if (::fstatat(volume_.root_fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Err(Status::FromErrno(errno, "stat " + name));
    }
    return st.st_ino;
  }
  Result<EncryptedFile*> Get(const std::string& name) {
    PGCMK_ASSIGN_OR_RETURN(ino_t ino, Ino(name));
    auto it = files_.find(ino);
    if (it == files_.end()) {
      PGCMK_ASSIGN_OR_RETURN(auto file,
                             volume_.OpenFileAt(volume_.root_fd(), name.c_str(), O_RDWR));
      it = files_.emplace(ino, std::move(file)).first;
    }
    return it->second.get();
  }
  void DropUnlinked() {
    std::erase_if(files_, [](const auto& entry) {
      struct stat st;
      return ::fstat(entry.second->backing_fd(), &st) != 0 || st.st_nlink == 0;
    });
  }

  const Volume& volume_;
  std::map<ino_t, std::unique_ptr<EncryptedFile>> files_;
};

std::vector<std::uint64_t> Seeds() {
  const char* s = std::getenv("PGCMK_SEED");
  if (s != nullptr && *s != 0) return {std::strtoull(s, nullptr, 10)};
  const auto now =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return {1, 2, 3, 4, now};
}

TEST(ModelTest, RandomOperationSequencesMatchTheInMemoryModel) {
  // The second configuration adds large whole-unit writes (like the writeback cache's) to the mix.
  const ModelChecker::Options configurations[] = {{}, {.max_size = 1 << 20, .large_writes = true}};
  for (std::uint64_t seed : Seeds()) {
    for (const ModelChecker::Options& options : configurations) {
      SCOPED_TRACE("seed " + std::to_string(seed) +
                   " (rerun with PGCMK_SEED=" + std::to_string(seed) + "), large writes " +
                   (options.large_writes ? "on" : "off"));
      char tmpl[] = "/tmp/pgcmk-model-XXXXXX";
      ASSERT_NE(::mkdtemp(tmpl), nullptr);
      const std::filesystem::path dir(tmpl);
      auto dek = crypto::RandomSecret(32);
      ASSERT_TRUE(dek.has_value());
      auto volume = Volume::Create(dir / "backing", *dek);
      ASSERT_TRUE(volume.has_value()) << volume.error().ToString();
      {
        LibraryFs fs(**volume);
        ModelChecker checker(fs, seed, options);
        Status s = checker.Run();
        EXPECT_TRUE(s.ok()) << s.message();
      }
      std::filesystem::remove_all(dir);
    }
  }
}

}  // namespace
}  // namespace pgcmk::storage
