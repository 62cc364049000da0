// Integration tests of the encrypted filesystem through a real kernel FUSE mount. Runs as the
// unprivileged user pgcmk (tests/storage/run_as_pgcmk.sh), mounting through fusermount3.
#include "fuse/mount.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include "common/status.h"
#include "crypto/random.h"
#include "storage/model_checker.h"
#include "storage/volume.h"

// Sync calls on files under a watched directory are counted: this executable's fsync/fdatasync
// interpose libc's for the in-process filesystem (and the test itself), so a test can prove that
// the filesystem forwards every fsync, fdatasync and directory fsync to the backing store.
namespace {
std::atomic<bool> g_watching{false};
char g_watched_prefix[256];
std::atomic<int> g_backing_fsyncs{0};
std::atomic<int> g_backing_fdatasyncs{0};

void CountIfWatched(int fd, std::atomic<int>& counter) {
  if (!g_watching.load()) return;
  char link[64], target[512];
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link, target, sizeof(target) - 1);
  if (n <= 0) return;
  target[n] = 0;
  if (std::strncmp(target, g_watched_prefix, std::strlen(g_watched_prefix)) == 0) ++counter;
}
}  // namespace

extern "C" int fsync(int fd) {
  CountIfWatched(fd, g_backing_fsyncs);
  return static_cast<int>(::syscall(SYS_fsync, fd));
}
extern "C" int fdatasync(int fd) {
  CountIfWatched(fd, g_backing_fdatasyncs);
  return static_cast<int>(::syscall(SYS_fdatasync, fd));
}

namespace pgcmk {
namespace {

namespace fs = std::filesystem;
using storage::FsUnderTest;
using storage::ModelChecker;
using storage::Volume;

constexpr std::size_t kU = 4096;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/pgcmk-mount-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

bool IsMounted(const fs::path& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(" " + mountpoint.string() + " ") != std::string::npos) return true;
  }
  return false;
}

// A filesystem mounted in-process for one test.
class Mounted {
 public:
  explicit Mounted(const fs::path& base, fuse::MountOptions options = {}) {
    backing_ = base / "backing";
    mountpoint_ = base / "mnt";
    fs::create_directories(mountpoint_);
    auto dek = crypto::RandomSecret(32);
    EXPECT_TRUE(dek.has_value());
    auto volume = Volume::Create(backing_, *dek);
    EXPECT_TRUE(volume.has_value()) << volume.error().ToString();
    volume_ = std::move(*volume);
    options_ = options;
    Start();
  }
  void Start() {
    auto mount = fuse::Mount::Start(*volume_, mountpoint_, options_);
    EXPECT_TRUE(mount.has_value()) << mount.error().ToString();
    if (mount.has_value()) mount_ = std::make_unique<fuse::Mount>(std::move(*mount));
  }
  Status Remount() {
    if (mount_) PGCMK_RETURN_IF_ERROR(mount_->Stop());
    mount_.reset();
    Start();
    return mount_ ? Status::Ok() : Status(StatusCode::kInternal, "remount failed");
  }
  ~Mounted() {
    if (mount_) {
      EXPECT_TRUE(mount_->Stop().ok());
    }
  }
  bool ok() const { return mount_ != nullptr; }
  const fs::path& mnt() const { return mountpoint_; }
  const fs::path& backing() const { return backing_; }

 private:
  fs::path backing_, mountpoint_;
  fuse::MountOptions options_;
  std::unique_ptr<Volume> volume_;
  std::unique_ptr<fuse::Mount> mount_;
};

// The model test's operations as plain POSIX calls on a directory (the mount).
class PosixFs : public FsUnderTest {
 public:
  PosixFs(fs::path dir, std::function<Status()> restart)
      : dir_(std::move(dir)), restart_(std::move(restart)) {}

  Status Restart() override {
    fds_.clear();
    return restart_();
  }

  Status Create(const std::string& name) override {
    const int fd = ::open(Path(name).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Status::FromErrno(errno, "create " + name);
    fds_[name] = UniqueFd(fd);
    return Status::Ok();
  }
  Status Write(const std::string& name, std::uint64_t offset, ByteView data) override {
    PGCMK_ASSIGN_OR_RETURN(int fd, Fd(name));
    return PwriteAll(fd, data, static_cast<off_t>(offset));
  }
  Result<Bytes> Read(const std::string& name, std::uint64_t offset, std::uint64_t length) override {
    PGCMK_ASSIGN_OR_RETURN(int fd, Fd(name));
    Bytes out(length);
    PGCMK_ASSIGN_OR_RETURN(size_t n, PreadFull(fd, out, static_cast<off_t>(offset)));
    out.resize(n);
    return out;
  }
  Result<std::uint64_t> Size(const std::string& name) override {
    struct stat st;
    if (::stat(Path(name).c_str(), &st) != 0) return Err(Status::FromErrno(errno, "stat"));
    return static_cast<std::uint64_t>(st.st_size);
  }
  Status Truncate(const std::string& name, std::uint64_t size) override {
    // Alternate between truncate(2) by path (setattr without a handle) and ftruncate(2).
    if ((++calls_ & 1) != 0) {
      if (::truncate(Path(name).c_str(), static_cast<off_t>(size)) != 0) {
        return Status::FromErrno(errno, "truncate");
      }
      return Status::Ok();
    }
    PGCMK_ASSIGN_OR_RETURN(int fd, Fd(name));
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0)
      return Status::FromErrno(errno, "ftruncate");
    return Status::Ok();
  }
  Status PunchHole(const std::string& name, std::uint64_t offset, std::uint64_t length) override {
    PGCMK_ASSIGN_OR_RETURN(int fd, Fd(name));
    if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(length)) != 0) {
      return Status::FromErrno(errno, "fallocate");
    }
    return Status::Ok();
  }
  Status Reopen(const std::string& name) override {
    fds_.erase(name);
    return Status::Ok();
  }
  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(Path(from).c_str(), Path(to).c_str()) != 0) {
      return Status::FromErrno(errno, "rename");
    }
    auto it = fds_.find(from);
    fds_.erase(to);
    if (it != fds_.end()) {
      fds_[to] = std::move(it->second);
      fds_.erase(from);
    }
    return Status::Ok();
  }
  Status Link(const std::string& from, const std::string& to) override {
    if (::link(Path(from).c_str(), Path(to).c_str()) != 0) return Status::FromErrno(errno, "link");
    return Status::Ok();
  }
  Status Unlink(const std::string& name) override {
    fds_.erase(name);
    if (::unlink(Path(name).c_str()) != 0) return Status::FromErrno(errno, "unlink");
    return Status::Ok();
  }
  Status Sync(const std::string& name) override {
    PGCMK_ASSIGN_OR_RETURN(int fd, Fd(name));
    if (::fsync(fd) != 0) return Status::FromErrno(errno, "fsync");
    return Status::Ok();
  }

 private:
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  Result<int> Fd(const std::string& name) {
    auto it = fds_.find(name);
    if (it == fds_.end()) {
      const int fd = ::open(Path(name).c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) return Err(Status::FromErrno(errno, "open " + name));
      it = fds_.emplace(name, UniqueFd(fd)).first;
    }
    return it->second.get();
  }

  fs::path dir_;
  std::function<Status()> restart_;
  std::map<std::string, UniqueFd> fds_;
  unsigned calls_ = 0;
};

std::vector<std::uint64_t> Seeds() {
  const char* s = std::getenv("PGCMK_SEED");
  if (s != nullptr && *s != 0) return {std::strtoull(s, nullptr, 10)};
  return {11,
          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())};
}

Bytes ReadAllBackingFiles(const fs::path& dir) {
  Bytes all;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    all.insert(all.end(), std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return all;
}

bool Contains(const Bytes& haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

Status WriteFile(const fs::path& p, ByteView data, int extra_flags = 0) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | extra_flags, 0600);
  if (fd < 0) return Status::FromErrno(errno, "open " + p.string());
  UniqueFd owned(fd);
  PGCMK_RETURN_IF_ERROR(PwriteAll(fd, data, 0));
  if (::fsync(fd) != 0) return Status::FromErrno(errno, "fsync");
  return Status::Ok();
}

Bytes ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class MountTest : public ::testing::TestWithParam<bool> {};

TEST_P(MountTest, RandomOperationSequencesMatchTheModelThroughTheKernel) {
  for (std::uint64_t seed : Seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (rerun with PGCMK_SEED=" + std::to_string(seed) + ")");
    TempDir tmp;
    fuse::MountOptions options;
    options.writeback_cache = GetParam();
    Mounted m(tmp.path(), options);
    ASSERT_TRUE(m.ok());
    {
      PosixFs posix(m.mnt(), [&] { return m.Remount(); });
      ModelChecker checker(
          posix, seed,
          {.steps = 3000, .max_size = 512 << 10, .restart_every = 250, .large_writes = true});
      Status s = checker.Run();
      EXPECT_TRUE(s.ok()) << s.message();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(WritebackCache, MountTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "On" : "Off"; });

TEST(MountCiphertextTest, KnownPlaintextNeverReachesTheBackingDirectory) {
  TempDir tmp;
  Mounted m(tmp.path());
  ASSERT_TRUE(m.ok());
  std::string text;
  for (int i = 0; i < 3000; ++i) text += "PGCMK-KNOWN-PLAINTEXT-" + std::to_string(i % 10) + ";";
  fs::create_directories(m.mnt() / "base" / "1");
  ASSERT_TRUE(WriteFile(m.mnt() / "base" / "1" / "1234", AsBytes(text)).ok());
  ASSERT_TRUE(WriteFile(m.mnt() / "small", AsBytes("PGCMK-KNOWN")).ok());
  EXPECT_EQ(ReadFile(m.mnt() / "base" / "1" / "1234"), ToBytes(text));
  const Bytes backing = ReadAllBackingFiles(m.backing());
  EXPECT_FALSE(Contains(backing, "PGCMK-KNOWN"));
  EXPECT_FALSE(Contains(backing, "KNOWN-PLAINTEXT"));
}

TEST(MountCiphertextTest, SamePlaintextInTwoPlacesGivesDifferentCiphertext) {
  TempDir tmp;
  Mounted m(tmp.path());
  ASSERT_TRUE(m.ok());
  Bytes page(2 * kU);
  for (std::size_t i = 0; i < page.size(); ++i) page[i] = static_cast<std::uint8_t>(i % 251);
  Bytes twice = page;
  twice.insert(twice.end(), page.begin(), page.end());
  ASSERT_TRUE(WriteFile(m.mnt() / "a", twice).ok());
  ASSERT_TRUE(WriteFile(m.mnt() / "b", page).ok());
  const Bytes a = ReadFile(m.backing() / "a");
  const Bytes b = ReadFile(m.backing() / "b");
  ASSERT_EQ(a.size(), kU + 4 * kU);
  ASSERT_EQ(b.size(), kU + 2 * kU);
  const Bytes a0(a.begin() + kU, a.begin() + 3 * kU), a1(a.begin() + 3 * kU, a.end());
  const Bytes b0(b.begin() + kU, b.end());
  EXPECT_NE(a0, a1);
  EXPECT_NE(a0, b0);
}

TEST(MountSemanticsTest, VolumeHeaderIsHiddenAndProtected) {
  TempDir tmp;
  Mounted m(tmp.path());
  ASSERT_TRUE(m.ok());
  for (const auto& entry : fs::directory_iterator(m.mnt())) {
    EXPECT_NE(entry.path().filename(), Volume::kHeaderName);
  }
  struct stat st;
  EXPECT_EQ(::stat((m.mnt() / Volume::kHeaderName).c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(::open((m.mnt() / Volume::kHeaderName).c_str(), O_CREAT | O_WRONLY, 0600), -1);
  EXPECT_EQ(errno, EPERM);
  ASSERT_TRUE(WriteFile(m.mnt() / "x", AsBytes("x")).ok());
  EXPECT_EQ(::rename((m.mnt() / "x").c_str(), (m.mnt() / Volume::kHeaderName).c_str()), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_TRUE(fs::exists(m.backing() / Volume::kHeaderName));
}

TEST(MountSemanticsTest, RenameFlagsThatPostgresAndToolsUse) {
  TempDir tmp;
  Mounted m(tmp.path());
  ASSERT_TRUE(m.ok());
  const fs::path a = m.mnt() / "a", b = m.mnt() / "b";
  ASSERT_TRUE(WriteFile(a, AsBytes("AAAA")).ok());
  ASSERT_TRUE(WriteFile(b, AsBytes("BB")).ok());
  EXPECT_EQ(::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_NOREPLACE), -1);
  EXPECT_EQ(errno, EEXIST);
  ASSERT_EQ(::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE), 0);
  EXPECT_EQ(ReadFile(a), ToBytes("BB"));
  EXPECT_EQ(ReadFile(b), ToBytes("AAAA"));
  ASSERT_EQ(::rename(a.c_str(), b.c_str()), 0);  // replace
  EXPECT_EQ(ReadFile(b), ToBytes("BB"));
  EXPECT_FALSE(fs::exists(a));
}

TEST(MountSemanticsTest, DirectoriesSymlinksLinksModesTimesAndStatfs) {
  TempDir tmp;
  Mounted m(tmp.path());
  ASSERT_TRUE(m.ok());
  const fs::path d = m.mnt() / "pg_wal" / "archive_status";
  fs::create_directories(d);
  ASSERT_TRUE(WriteFile(d / "f", AsBytes("0123456789")).ok());
  fs::create_symlink("pg_wal/archive_status/f", m.mnt() / "ln");
  EXPECT_EQ(fs::read_symlink(m.mnt() / "ln"), "pg_wal/archive_status/f");
  EXPECT_EQ(ReadFile(m.mnt() / "ln"), ToBytes("0123456789"));
  fs::create_hard_link(d / "f", m.mnt() / "hard");
  EXPECT_EQ(fs::hard_link_count(d / "f"), 2u);
  EXPECT_EQ(ReadFile(m.mnt() / "hard"), ToBytes("0123456789"));
  ASSERT_EQ(::chmod((d / "f").c_str(), 0640), 0);
  struct stat st;
  ASSERT_EQ(::stat((d / "f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_size, 10);
  struct timespec times[2] = {{1000000000, 0}, {1234567890, 5}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (d / "f").c_str(), times, 0), 0);
  ASSERT_EQ(::stat((d / "f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1234567890);
  struct statvfs sv;
  ASSERT_EQ(::statvfs(m.mnt().c_str(), &sv), 0);
  EXPECT_GT(sv.f_blocks, 0u);
}

TEST(MountSemanticsTest, RmdirOfNonEmptyDirectoryKeepsItsErrno) {
  TempDir tmp;
  Mounted m(tmp.path());
  ASSERT_TRUE(m.ok());
  fs::create_directories(m.mnt() / "d");
  ASSERT_TRUE(WriteFile(m.mnt() / "d" / "f", AsBytes("x")).ok());
  EXPECT_EQ(::rmdir((m.mnt() / "d").c_str()), -1);
  EXPECT_EQ(errno, ENOTEMPTY);
  EXPECT_EQ(::unlink((m.mnt() / "nope").c_str()), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST(MountSemanticsTest, XattrsOffFailWithEopnotsupp) {
  TempDir tmp;
  Mounted m(tmp.path());
  ASSERT_TRUE(m.ok());
  const fs::path f = m.mnt() / "f";
  ASSERT_TRUE(WriteFile(f, AsBytes("x")).ok());
  char buf[64];
  EXPECT_EQ(::getxattr(f.c_str(), "user.comment", buf, sizeof(buf)), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
  EXPECT_EQ(::setxattr(f.c_str(), "user.comment", "hi", 2, 0), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
  ASSERT_TRUE(WriteFile(f, AsBytes("still writable")).ok());
  EXPECT_EQ(ReadFile(f), ToBytes("still writable"));
}

TEST(MountSemanticsTest, XattrsPassThroughExceptTheReservedPrefix) {
  TempDir tmp;
  Mounted m(tmp.path(), {.xattrs = true});
  ASSERT_TRUE(m.ok());
  const fs::path f = m.mnt() / "f";
  ASSERT_TRUE(WriteFile(f, AsBytes("x")).ok());
  ASSERT_EQ(::setxattr(f.c_str(), "user.comment", "hi", 2, 0), 0) << std::strerror(errno);
  char buf[64];
  EXPECT_EQ(::getxattr(f.c_str(), "user.comment", buf, sizeof(buf)), 2);
  EXPECT_EQ(::setxattr(f.c_str(), "user.pgcmk.id", "x", 1, 0), -1);
  EXPECT_EQ(errno, EPERM);
  // Even if one exists in the backing file, it stays invisible.
  ASSERT_EQ(::setxattr((m.backing() / "f").c_str(), "user.pgcmk.internal", "1", 1, 0), 0);
  char list[256];
  const ssize_t n = ::listxattr(f.c_str(), list, sizeof(list));
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(list, static_cast<size_t>(n)), std::string("user.comment\0", 13));
  EXPECT_EQ(::getxattr(f.c_str(), "user.pgcmk.internal", buf, sizeof(buf)), -1);
  EXPECT_EQ(errno, ENODATA);
}

TEST(MountSemanticsTest, ODirectReadsAndWritesWork) {
  TempDir tmp;
  Mounted m(tmp.path());
  ASSERT_TRUE(m.ok());
  const fs::path f = m.mnt() / "direct";
  const int fd = ::open(f.c_str(), O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  UniqueFd owned(fd);
  void* mem = nullptr;
  ASSERT_EQ(::posix_memalign(&mem, 4096, 2 * kU), 0);
  std::unique_ptr<std::uint8_t, decltype(&std::free)> buf(static_cast<std::uint8_t*>(mem),
                                                          &std::free);
  for (std::size_t i = 0; i < 2 * kU; ++i) buf.get()[i] = static_cast<std::uint8_t>(i * 3);
  ASSERT_EQ(::pwrite(fd, buf.get(), 2 * kU, 8192), static_cast<ssize_t>(2 * kU));
  ASSERT_EQ(::fdatasync(fd), 0);
  std::memset(buf.get(), 0, 2 * kU);
  ASSERT_EQ(::pread(fd, buf.get(), 2 * kU, 8192), static_cast<ssize_t>(2 * kU));
  for (std::size_t i = 0; i < 2 * kU; ++i) {
    ASSERT_EQ(buf.get()[i], static_cast<std::uint8_t>(i * 3)) << i;
  }
  const Bytes via_cache = ReadFile(f);
  ASSERT_EQ(via_cache.size(), 8192 + 2 * kU);
  EXPECT_EQ(via_cache[8192 + 5], static_cast<std::uint8_t>(15));
  EXPECT_EQ(via_cache[100], 0);
}

// Large sequential reads make the daemon read the backing file ahead (docs/storage.md). O_DIRECT
// handles send every request to the daemon as it is, so writes, punches and truncates ahead of
// the reader reach the daemon between its reads; the reader must see each of them.
TEST(MountSemanticsTest, SequentialReadsSeeWritesPunchesAndTruncatesAheadOfTheReader) {
  TempDir tmp;
  Mounted m(tmp.path(), {.writeback_cache = true});
  ASSERT_TRUE(m.ok());
  const fs::path f = m.mnt() / "seq";
  constexpr std::size_t kSize = 16 << 20;
  constexpr std::size_t kRequest = 256 << 10;
  Bytes model(kSize);
  for (std::size_t i = 0; i < kSize; ++i) model[i] = static_cast<std::uint8_t>(i * 7 + i / 4096);
  ASSERT_TRUE(WriteFile(f, model).ok());
  UniqueFd reader(::open(f.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
  UniqueFd writer(::open(f.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC));
  ASSERT_TRUE(reader.valid() && writer.valid()) << std::strerror(errno);
  void* mem = nullptr;
  ASSERT_EQ(::posix_memalign(&mem, 4096, kRequest), 0);
  std::unique_ptr<std::uint8_t, decltype(&std::free)> buf(static_cast<std::uint8_t*>(mem),
                                                          &std::free);
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t at = 0; at < kSize; at += kRequest) {
      const std::size_t step = at / kRequest;
      const std::size_t ahead = at + 2 * kRequest + (step % 3) * 4096;  // unit-aligned for O_DIRECT
      if (step % 3 == 1 && ahead + 8192 <= kSize) {
        std::memset(buf.get(), static_cast<int>(step + pass), 8192);
        ASSERT_EQ(::pwrite(writer.get(), buf.get(), 8192, static_cast<off_t>(ahead)), 8192);
        std::fill_n(model.begin() + static_cast<std::ptrdiff_t>(ahead), 8192,
                    static_cast<std::uint8_t>(step + pass));
      }
      if (step % 5 == 2 && ahead + 3 * kU <= kSize) {
        ASSERT_EQ(::fallocate(writer.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                              static_cast<off_t>(ahead + kU), 2 * kU),
                  0);
        std::fill_n(model.begin() + static_cast<std::ptrdiff_t>(ahead + kU), 2 * kU, 0);
      }
      if (at == (pass + 1) * 5 * kRequest) {
        const std::size_t cut = at + 3 * kRequest + 100;
        ASSERT_EQ(::ftruncate(writer.get(), static_cast<off_t>(cut)), 0);
        ASSERT_EQ(::ftruncate(writer.get(), static_cast<off_t>(kSize)), 0);
        std::fill(model.begin() + static_cast<std::ptrdiff_t>(cut), model.end(), 0);
      }
      ASSERT_EQ(::pread(reader.get(), buf.get(), kRequest, static_cast<off_t>(at)),
                static_cast<ssize_t>(kRequest));
      ASSERT_TRUE(std::equal(buf.get(), buf.get() + kRequest,
                             model.begin() + static_cast<std::ptrdiff_t>(at)))
          << "pass " << pass << " offset " << at;
    }
  }
}

// With the writeback cache, O_DSYNC handles use direct I/O; cached handles must stay coherent.
TEST(MountSemanticsTest, SynchronousHandlesAndCachedHandlesSeeEachOthersWrites) {
  TempDir tmp;
  Mounted m(tmp.path(), {.writeback_cache = true});
  ASSERT_TRUE(m.ok());
  const fs::path f = m.mnt() / "wal";
  UniqueFd cached(::open(f.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(PwriteAll(cached.get(), Bytes(8192, 'A'), 0).ok());
  ASSERT_EQ(::fsync(cached.get()), 0);
  Bytes got(4);
  ASSERT_EQ(PreadFull(cached.get(), got, 0).value_or(0), 4u);
  UniqueFd sync(::open(f.c_str(), O_RDWR | O_DSYNC | O_CLOEXEC));
  ASSERT_TRUE(PwriteAll(sync.get(), Bytes(8192, 'B'), 0).ok());
  ASSERT_EQ(PreadFull(cached.get(), got, 0).value_or(0), 4u);
  EXPECT_EQ(got, Bytes(4, 'B'));
  ASSERT_TRUE(PwriteAll(cached.get(), Bytes(100, 'C'), 0).ok());
  ASSERT_EQ(PreadFull(sync.get(), got, 0).value_or(0), 4u);
  EXPECT_EQ(got, Bytes(4, 'C'));
  UniqueFd fresh(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_EQ(PreadFull(fresh.get(), got, 100).value_or(0), 4u);
  EXPECT_EQ(got, Bytes(4, 'B'));
}

TEST(MountSemanticsTest, FallocateModes) {
  TempDir tmp;
  Mounted m(tmp.path());
  ASSERT_TRUE(m.ok());
  const fs::path f = m.mnt() / "fa";
  ASSERT_TRUE(WriteFile(f, AsBytes("abc")).ok());
  const int fd = ::open(f.c_str(), O_RDWR | O_CLOEXEC);
  UniqueFd owned(fd);
  ASSERT_EQ(::fallocate(fd, 0, 0, 3 * kU + 1), 0) << std::strerror(errno);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, static_cast<off_t>(3 * kU + 1));
  Bytes want(3 * kU + 1, 0);
  std::memcpy(want.data(), "abc", 3);
  EXPECT_EQ(ReadFile(f), want);
  EXPECT_EQ(::fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, kU), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
}

TEST(MountSemanticsTest, ConcurrentWritersOnOneFile) {
  TempDir tmp;
  Mounted m(tmp.path());
  ASSERT_TRUE(m.ok());
  const fs::path f = m.mnt() / "rel";
  ASSERT_TRUE(WriteFile(f, Bytes(64 * 8192, 0)).ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      UniqueFd fd(::open(f.c_str(), O_RDWR | O_CLOEXEC));
      for (int page = t; page < 64; page += 4) {
        Bytes p(8192, static_cast<std::uint8_t>(page + 1));
        EXPECT_TRUE(PwriteAll(fd.get(), p, static_cast<off_t>(page) * 8192).ok());
      }
      EXPECT_EQ(::fdatasync(fd.get()), 0);
    });
  }
  for (auto& t : threads) t.join();
  const Bytes all = ReadFile(f);
  ASSERT_EQ(all.size(), 64u * 8192);
  for (int page = 0; page < 64; ++page) {
    ASSERT_EQ(all[static_cast<size_t>(page) * 8192 + 100], page + 1) << page;
  }
}

// fsync, fdatasync and directory fsync must reach the backing store (CryFS acknowledged them
// without syncing anything), and nothing is synced that was not asked for.
TEST(MountDurabilityTest, FsyncFdatasyncAndFsyncdirReachTheBackingStore) {
  for (bool writeback : {false, true}) {
    SCOPED_TRACE(writeback ? "writeback cache on" : "writeback cache off");
    TempDir tmp;
    Mounted m(tmp.path(), {.writeback_cache = writeback});
    ASSERT_TRUE(m.ok());
    const std::string prefix = m.backing().string() + "/";
    std::snprintf(g_watched_prefix, sizeof(g_watched_prefix), "%s", prefix.c_str());
    g_backing_fsyncs = 0;
    g_backing_fdatasyncs = 0;
    g_watching = true;
    fs::create_directories(m.mnt() / "pg_wal");
    UniqueFd fd(::open((m.mnt() / "pg_wal" / "000000010000000000000001").c_str(),
                       O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd.valid());
    ASSERT_TRUE(PwriteAll(fd.get(), Bytes(8192, 7), 0).ok());
    EXPECT_EQ(g_backing_fsyncs + g_backing_fdatasyncs, 0) << "nothing synced unasked";
    ASSERT_EQ(::fdatasync(fd.get()), 0);
    EXPECT_EQ(g_backing_fdatasyncs, 1);
    ASSERT_EQ(::fsync(fd.get()), 0);
    EXPECT_EQ(g_backing_fsyncs, 1);
    UniqueFd dir(::open((m.mnt() / "pg_wal").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_EQ(::fsync(dir.get()), 0);
    EXPECT_EQ(g_backing_fsyncs, 2) << "directory fsync";
    // Synchronous handles: each write is made durable before it is acknowledged, O_DSYNC with
    // fdatasync (data and size), O_SYNC with fsync (all metadata too).
    const auto f = m.mnt() / "pg_wal" / "000000010000000000000001";
    UniqueFd dsync(::open(f.c_str(), O_RDWR | O_DSYNC | O_CLOEXEC));
    ASSERT_TRUE(dsync.valid());
    ASSERT_TRUE(PwriteAll(dsync.get(), Bytes(8192, 8), 8192).ok());
    EXPECT_GE(g_backing_fdatasyncs, 2) << "O_DSYNC write";
    EXPECT_EQ(g_backing_fsyncs, 2) << "O_DSYNC asks for no full fsync";
    UniqueFd osync(::open(f.c_str(), O_RDWR | O_SYNC | O_CLOEXEC));
    ASSERT_TRUE(osync.valid());
    const int fdatasyncs_before = g_backing_fdatasyncs;
    ASSERT_TRUE(PwriteAll(osync.get(), Bytes(8192, 9), 16384).ok());
    EXPECT_GE(g_backing_fsyncs, 3) << "O_SYNC write";
    EXPECT_EQ(g_backing_fdatasyncs, fdatasyncs_before) << "O_SYNC is fsync, not fdatasync";
    g_watching = false;
  }
}

// A test whose fixture only the root wrapper (run_as_pgcmk.sh, as CTest and CI run it) provides:
// skipped when the binary is run by hand, a failure under the wrapper (PGCMK_TEST_STRICT=1).
#define PGCMK_SKIP_UNLESS_STRICT(why)                                 \
  do {                                                                \
    if (std::getenv("PGCMK_TEST_STRICT") != nullptr) FAIL() << (why); \
    GTEST_SKIP() << (why);                                            \
  } while (0)

// ENOSPC from the backing filesystem reaches the writer unchanged (the wrapper script provides a
// tiny tmpfs owned by pgcmk when it runs as root).
TEST(MountErrnoTest, EnospcStaysEnospc) {
  const char* small = std::getenv("PGCMK_SMALL_FS");
  if (small == nullptr || *small == '\0') {
    PGCMK_SKIP_UNLESS_STRICT("PGCMK_SMALL_FS not set (needs the root wrapper's tmpfs)");
  }
  const fs::path base = fs::path(small) / ("t" + std::to_string(::getpid()));
  fs::create_directories(base);
  {
    Mounted m(base);
    ASSERT_TRUE(m.ok());
    const fs::path f = m.mnt() / "fill";
    const int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    UniqueFd owned(fd);
    Bytes chunk(1 << 20, 0x5a);
    int err = 0;
    for (int i = 0; i < 64 && err == 0; ++i) {
      if (::write(fd, chunk.data(), chunk.size()) < 0) err = errno;
      if (err == 0 && ::fsync(fd) != 0) err = errno;
    }
    EXPECT_EQ(err, ENOSPC) << std::strerror(err);
  }
  fs::remove_all(base);
}

// The standalone command: key from a descriptor, wrong key refused, clean exit on SIGTERM.
class CliMountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("PGCMK_BIN");
    if (bin == nullptr || *bin == '\0') PGCMK_SKIP_UNLESS_STRICT("PGCMK_BIN not set");
    bin_ = bin;
  }

  // Starts `pgcmk fs ARGS --key-fd 3` with `key` on descriptor 3 (a pipe); returns the pid.
  pid_t Spawn(std::vector<std::string> args, const std::string& key, int* stdout_fd) {
    int key_pipe[2], out_pipe[2];
    EXPECT_EQ(::pipe(key_pipe), 0);
    EXPECT_EQ(::pipe(out_pipe), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(key_pipe[0], 3);
      ::dup2(out_pipe[1], 1);
      ::dup2(out_pipe[1], 2);
      std::vector<std::string> full = {bin_, "fs"};
      full.insert(full.end(), args.begin(), args.end());
      full.push_back("--key-fd");
      full.push_back("3");
      std::vector<char*> argv;
      for (auto& a : full) argv.push_back(a.data());
      argv.push_back(nullptr);
      for (int fd = 4; fd < 64; ++fd) ::close(fd);
      ::execv(bin_.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(key_pipe[0]);
    ::close(out_pipe[1]);
    EXPECT_TRUE(WriteAll(key_pipe[1], AsBytes(key)).ok());
    ::close(key_pipe[1]);
    *stdout_fd = out_pipe[0];
    return pid;
  }

  static std::string Drain(int fd) {
    std::string out;
    char buf[512];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return out;
  }

  static int Wait(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string bin_;
};

TEST_F(CliMountTest, InitMountServeAndExitCleanlyOnSigterm) {
  TempDir tmp;
  const std::string key(64, 'a');
  const fs::path backing = tmp.path() / "b", mnt = tmp.path() / "m";
  fs::create_directories(mnt);
  int out;
  ASSERT_EQ(Wait(Spawn({"init", backing}, key, &out)), 0) << Drain(out);
  Drain(out);
  const pid_t pid = Spawn({"mount", backing, mnt}, key, &out);
  for (int i = 0; i < 100 && !IsMounted(mnt); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(IsMounted(mnt));
  ASSERT_TRUE(WriteFile(mnt / "PG_VERSION", AsBytes("15\n")).ok());
  EXPECT_EQ(ReadFile(mnt / "PG_VERSION"), ToBytes("15\n"));
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  EXPECT_EQ(Wait(pid), 0);
  Drain(out);
  EXPECT_FALSE(IsMounted(mnt));
  EXPECT_EQ(fs::file_size(backing / "PG_VERSION"), 4096u + 3);
}

TEST_F(CliMountTest, WrongKeyIsRefusedAndNothingIsMounted) {
  TempDir tmp;
  const fs::path backing = tmp.path() / "b", mnt = tmp.path() / "m";
  fs::create_directories(mnt);
  int out;
  ASSERT_EQ(Wait(Spawn({"init", backing}, std::string(64, 'a'), &out)), 0);
  Drain(out);
  const pid_t pid = Spawn({"mount", backing, mnt}, std::string(64, 'b'), &out);
  const int code = Wait(pid);
  const std::string message = Drain(out);
  EXPECT_EQ(code, 5);
  EXPECT_NE(message.find("wrong key for this volume"), std::string::npos) << message;
  EXPECT_FALSE(IsMounted(mnt));
}

}  // namespace
}  // namespace pgcmk
