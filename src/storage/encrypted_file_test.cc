#include "storage/encrypted_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "crypto/random.h"
#include "storage/volume.h"

namespace pgcmk::storage {
namespace {

constexpr std::size_t kU = EncryptedFile::kUnitSize;
constexpr std::size_t kH = EncryptedFile::kHeaderSize;

class EncryptedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pgcmk-efile-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto dek = crypto::RandomSecret(32);
    ASSERT_TRUE(dek.has_value());
    auto v = Volume::Create(dir_ / "b", *dek);
    ASSERT_TRUE(v.has_value()) << v.error().ToString();
    volume_ = std::move(*v);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<EncryptedFile> Open(const char* name, int flags = O_RDWR | O_CREAT) {
    auto f = volume_->OpenFileAt(volume_->root_fd(), name, flags, 0600);
    EXPECT_TRUE(f.has_value()) << f.error().ToString();
    return f.has_value() ? std::move(*f) : nullptr;
  }
  Bytes Backing(const char* name) {
    auto b = ReadBacking(name);
    return b;
  }
  Bytes ReadBacking(const char* name) {
    Bytes out;
    const std::filesystem::path p = dir_ / "b" / name;
    UniqueFd fd(::open(p.c_str(), O_RDONLY));
    struct stat st;
    ::fstat(fd.get(), &st);
    out.resize(static_cast<size_t>(st.st_size));
    auto n = PreadFull(fd.get(), out, 0);
    EXPECT_TRUE(n.has_value());
    return out;
  }
  static Bytes ReadAll(EncryptedFile& f) {
    Bytes out(f.size() + 10);
    auto n = f.Read(out, 0);
    EXPECT_TRUE(n.has_value());
    out.resize(n.value_or(0));
    return out;
  }
  static Bytes Pattern(size_t n, std::uint8_t seed) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 31 + seed);
    return b;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Volume> volume_;
};

TEST_F(EncryptedFileTest, ThreeByteFileRoundTripsAndIsLengthPreserving) {
  auto f = Open("PG_VERSION");
  ASSERT_TRUE(f->Write(AsBytes("15\n"), 0).ok());
  EXPECT_EQ(ReadAll(*f), ToBytes("15\n"));
  Bytes backing = Backing("PG_VERSION");
  ASSERT_EQ(backing.size(), kH + 3);
  EXPECT_NE(Bytes(backing.begin() + kH, backing.end()), ToBytes("15\n"));
  f.reset();
  f = Open("PG_VERSION", O_RDONLY);
  EXPECT_EQ(ReadAll(*f), ToBytes("15\n"));
}

TEST_F(EncryptedFileTest, KnownPlaintextNeverAppearsInBackingFile) {
  auto f = Open("a");
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "known plaintext marker ";
  ASSERT_TRUE(f->Write(AsBytes(text), 7).ok());
  const Bytes b = Backing("a");
  const std::string backing(b.begin(), b.end());
  EXPECT_EQ(backing.find("known plaintext"), std::string::npos);
}

TEST_F(EncryptedFileTest, SamePlaintextInTwoFilesOrUnitsGivesDifferentCiphertext) {
  const Bytes page = Pattern(kU, 9);
  auto a = Open("a");
  auto b = Open("b");
  ASSERT_TRUE(a->Write(page, 0).ok());
  ASSERT_TRUE(a->Write(page, kU).ok());
  ASSERT_TRUE(b->Write(page, 0).ok());
  const Bytes ca = Backing("a"), cb = Backing("b");
  const Bytes a0(ca.begin() + kH, ca.begin() + kH + kU);
  const Bytes a1(ca.begin() + kH + kU, ca.begin() + kH + 2 * kU);
  const Bytes b0(cb.begin() + kH, cb.begin() + kH + kU);
  EXPECT_NE(a0, a1);
  EXPECT_NE(a0, b0);
}

TEST_F(EncryptedFileTest, WritePastEndLeavesHoleThatReadsZeros) {
  auto f = Open("h");
  ASSERT_TRUE(f->Write(AsBytes("abc"), 0).ok());
  ASSERT_TRUE(f->Write(AsBytes("xyz"), 10 * kU + 5).ok());
  Bytes want(10 * kU + 8, 0);
  std::memcpy(want.data(), "abc", 3);
  std::memcpy(want.data() + 10 * kU + 5, "xyz", 3);
  EXPECT_EQ(ReadAll(*f), want);
  struct stat st;
  ASSERT_EQ(::fstat(f->backing_fd(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, static_cast<long>(6 * kU)) << "gap should stay a hole";
}

TEST_F(EncryptedFileTest, TruncateIntoTheMiddleOfAUnitKeepsThePrefix) {
  auto f = Open("t");
  const Bytes data = Pattern(3 * kU, 1);
  ASSERT_TRUE(f->Write(data, 0).ok());
  for (std::uint64_t size :
       {2 * kU + 1000, kU + 7, std::size_t{16}, std::size_t{15}, std::size_t{1}}) {
    ASSERT_TRUE(f->Truncate(size).ok());
    EXPECT_EQ(ReadAll(*f), Bytes(data.begin(), data.begin() + static_cast<long>(size)));
  }
  ASSERT_TRUE(f->Truncate(2 * kU + 3).ok());
  Bytes want(2 * kU + 3, 0);
  want[0] = data[0];
  EXPECT_EQ(ReadAll(*f), want);
  EXPECT_EQ(Backing("t").size(), kH + 2 * kU + 3);
}

// A crash in the middle of writing a page into a hole leaves some sectors new and some still zero:
// like a plain disk, every 16-byte block must read as either the new data or zeros.
TEST_F(EncryptedFileTest, TornWriteIntoAHoleReadsAsNewDataOrZerosPerBlock) {
  auto f = Open("torn");
  ASSERT_TRUE(f->Truncate(2 * kU).ok());
  const Bytes page = Pattern(kU, 5);
  ASSERT_TRUE(f->Write(page, kU).ok());
  // The second 512-byte sector of unit 1 never reached the disk.
  const Bytes zeros(512, 0);
  ASSERT_TRUE(PwriteAll(f->backing_fd(), zeros, static_cast<off_t>(kH + kU + 512)).ok());
  Bytes got(kU);
  ASSERT_EQ(f->Read(got, kU).value_or(0), kU);
  Bytes want = page;
  std::fill(want.begin() + 512, want.begin() + 1024, 0);
  EXPECT_EQ(got, want);
}

TEST_F(EncryptedFileTest, HeaderSurvivesRenameAndCopyOfTheBackingFile) {
  auto f = Open("orig");
  const Bytes data = Pattern(kU + 33, 4);
  ASSERT_TRUE(f->Write(data, 0).ok());
  f.reset();
  const auto root = dir_ / "b";
  std::filesystem::rename(root / "orig", root / "renamed");
  std::filesystem::copy_file(root / "renamed", root / "copy");
  for (const char* name : {"renamed", "copy"}) {
    auto g = Open(name, O_RDONLY);
    EXPECT_EQ(ReadAll(*g), data) << name;
  }
}

TEST_F(EncryptedFileTest, DamagedHeaderIsDataLossNotGarbage) {
  auto f = Open("d");
  ASSERT_TRUE(f->Write(AsBytes("hello"), 0).ok());
  f.reset();
  const auto p = dir_ / "b" / "d";
  UniqueFd fd(::open(p.c_str(), O_RDWR));
  const std::uint8_t flip = 0x55;
  ASSERT_TRUE(PwriteAll(fd.get(), {&flip, 1}, 20).ok());
  auto g = volume_->OpenFileAt(volume_->root_fd(), "d", O_RDONLY);
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error().code(), StatusCode::kDataLoss);
  EXPECT_EQ(g.error().sys_errno(), EIO);
}

TEST_F(EncryptedFileTest, PunchHoleAndZeroRangeReadZerosAndKeepSize) {
  auto f = Open("p");
  const Bytes data = Pattern(5 * kU + 50, 2);
  ASSERT_TRUE(f->Write(data, 0).ok());
  Bytes want = data;
  ASSERT_TRUE(f->Fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 3 * kU).ok());
  std::fill(want.begin() + 100, want.begin() + 100 + 3 * kU, 0);
  EXPECT_EQ(ReadAll(*f), want);
  // Through the tail, which is rewritten rather than punched.
  ASSERT_TRUE(f->Fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5 * kU + 10, 1000).ok());
  std::fill(want.begin() + 5 * kU + 10, want.end(), 0);
  EXPECT_EQ(ReadAll(*f), want);
  EXPECT_EQ(f->size(), data.size());
}

TEST_F(EncryptedFileTest, FallocateExtendsWithZerosAndRefusesUnsupportedModes) {
  auto f = Open("fa");
  ASSERT_TRUE(f->Write(AsBytes("0123456789"), 0).ok());
  ASSERT_TRUE(f->Fallocate(0, 0, 3 * kU + 5).ok());
  Bytes want(3 * kU + 5, 0);
  std::memcpy(want.data(), "0123456789", 10);
  EXPECT_EQ(ReadAll(*f), want);
  ASSERT_TRUE(f->Fallocate(FALLOC_FL_KEEP_SIZE, 0, 10 * kU).ok());
  EXPECT_EQ(f->size(), 3 * kU + 5);
  Status s = f->Fallocate(FALLOC_FL_COLLAPSE_RANGE, 0, kU);
  EXPECT_EQ(s.sys_errno(), EOPNOTSUPP);
}

TEST_F(EncryptedFileTest, BackingErrnoPassesThroughUnchanged) {
  auto f = Open("big");
  struct rlimit old;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old;
  small.rlim_cur = 64 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  Status s = f->Write(Pattern(kU, 1), 100 * kU);
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.sys_errno(), EFBIG) << s.ToString();
}

TEST_F(EncryptedFileTest, ConcurrentWritersOfDistinctPagesDoNotInterfere) {
  auto f = Open("c");
  ASSERT_TRUE(f->Truncate(64 * 2 * kU).ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (int page = t; page < 64; page += 4) {
          Bytes p = Pattern(2 * kU, static_cast<std::uint8_t>(page + round));
          EXPECT_TRUE(f->Write(p, static_cast<std::uint64_t>(page) * 2 * kU).ok());
          Bytes back(2 * kU);
          auto n = f->Read(back, static_cast<std::uint64_t>(page) * 2 * kU);
          EXPECT_TRUE(n.has_value() && *n == 2 * kU && back == p);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
}

TEST_F(EncryptedFileTest, ConcurrentWholeUnitAppendsAndPartialWritesKeepEveryByte) {
  // The writeback cache sends a sequential writer's pages as concurrent 1 MiB appends, which run
  // under the shared lock; unaligned writes (exclusive lock) may interleave with them.
  auto f = Open("appends");
  constexpr int kChunks = 64;
  constexpr std::size_t kChunk = 16 * kU;
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < kChunks; i = next++) {
        const std::uint64_t at = static_cast<std::uint64_t>(i) * kChunk;
        const Bytes p = Pattern(kChunk, static_cast<std::uint8_t>(i));
        if (i % 8 != 3) {
          EXPECT_TRUE(f->Write(p, at).ok());
          continue;
        }
        // Every 8th chunk in three unaligned pieces.
        for (auto [from, to] :
             {std::pair<std::size_t, std::size_t>{0, 1000}, {1000, 30001}, {30001, kChunk}}) {
          EXPECT_TRUE(f->Write(ByteView(p).subspan(from, to - from), at + from).ok());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(f->size(), kChunks * kChunk);
  ASSERT_TRUE(f->Write(Pattern(100, 9), kChunks * kChunk).ok());  // a partial tail after them
  f.reset();
  f = Open("appends", O_RDWR);
  ASSERT_EQ(f->size(), kChunks * kChunk + 100);
  const Bytes all = ReadAll(*f);
  for (int i = 0; i < kChunks; ++i) {
    EXPECT_TRUE(std::equal(all.begin() + i * kChunk, all.begin() + (i + 1) * kChunk,
                           Pattern(kChunk, static_cast<std::uint8_t>(i)).begin()))
        << "chunk " << i;
  }
  const Bytes tail = Pattern(100, 9);
  EXPECT_TRUE(std::equal(all.end() - 100, all.end(), tail.begin()));
}

TEST_F(EncryptedFileTest, LargeWholeUnitWritesMixedWithSmallWritesAndReadsStayCoherent) {
  // The writeback cache's flushes (128 KiB to 1 MiB of whole units, shared lock) mixed with
  // unaligned read-modify-writes (exclusive lock) and reads must never show stale bytes.
  auto f = Open("large");
  constexpr std::size_t kSize = 4 << 20;
  Bytes model = Pattern(kSize, 3);
  for (std::size_t at = 0; at < kSize; at += 1 << 20) {
    ASSERT_TRUE(f->Write(ByteView(model).subspan(at, 1 << 20), at).ok());
  }
  std::mt19937_64 rng(7);
  for (int step = 0; step < 200; ++step) {
    const std::uint64_t kind = rng() % 3;
    if (kind == 0) {  // large whole-unit overwrite, often over cached pages
      const std::size_t len = (32 + rng() % 96) * kU;
      const std::size_t at = rng() % ((kSize - len) / kU + 1) * kU;
      const Bytes p = Pattern(len, static_cast<std::uint8_t>(step));
      ASSERT_TRUE(f->Write(p, at).ok());
      std::copy(p.begin(), p.end(), model.begin() + static_cast<std::ptrdiff_t>(at));
    } else if (kind == 1) {  // small unaligned write (buffered read-modify-write)
      const std::size_t len = 1 + rng() % 9000;
      const std::size_t at = rng() % (kSize - len);
      const Bytes p = Pattern(len, static_cast<std::uint8_t>(step + 100));
      ASSERT_TRUE(f->Write(p, at).ok());
      std::copy(p.begin(), p.end(), model.begin() + static_cast<std::ptrdiff_t>(at));
    } else {  // read
      const std::size_t len = 1 + rng() % (300 << 10);
      const std::size_t at = rng() % (kSize - len);
      Bytes got(len);
      auto n = f->Read(got, at);
      ASSERT_TRUE(n.has_value());
      ASSERT_EQ(*n, len);
      ASSERT_TRUE(
          std::equal(got.begin(), got.end(), model.begin() + static_cast<std::ptrdiff_t>(at)))
          << "step " << step;
    }
  }
  EXPECT_EQ(ReadAll(*f), model);
  f.reset();
  f = Open("large", O_RDWR);
  EXPECT_EQ(ReadAll(*f), model);
}

TEST_F(EncryptedFileTest, SequentialReadsAheadSeeEveryWriteTruncateAndPunch) {
  // Large sequential reads make the file read the backing file ahead; whatever changes ahead of
  // the reader must still be what it reads.
  auto f = Open("seq");
  constexpr std::size_t kSize = 12 << 20;
  constexpr std::size_t kRequest = 256 << 10;
  Bytes model = Pattern(kSize, 1);
  ASSERT_TRUE(f->Write(model, 0).ok());
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t at = 0; at < model.size(); at += kRequest) {
      const std::size_t ahead = at + 3 * kRequest + 777;  // inside the read-ahead window
      if ((at / kRequest) % 4 == 1 && ahead + 5000 < model.size()) {
        const Bytes p = Pattern(5000, static_cast<std::uint8_t>(at / kRequest));
        ASSERT_TRUE(f->Write(p, ahead).ok());
        std::copy(p.begin(), p.end(), model.begin() + static_cast<std::ptrdiff_t>(ahead));
      }
      if ((at / kRequest) % 7 == 2 && ahead + 3 * kU < model.size()) {
        ASSERT_TRUE(
            f->Fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, ahead + kU, 2 * kU).ok());
        std::fill_n(model.begin() + static_cast<std::ptrdiff_t>(ahead + kU), 2 * kU, 0);
      }
      if (at == 6 * kRequest * (pass + 1)) {
        // Cut well ahead of the reader, then grow again: the cut part must read as zeros.
        const std::size_t cut = at + 2 * kRequest + 123;
        ASSERT_TRUE(f->Truncate(cut).ok());
        ASSERT_TRUE(f->Truncate(model.size()).ok());
        std::fill(model.begin() + static_cast<std::ptrdiff_t>(cut), model.end(), 0);
      }
      Bytes got(kRequest);
      auto n = f->Read(got, at);
      ASSERT_TRUE(n.has_value());
      ASSERT_EQ(*n, std::min(kRequest, model.size() - at));
      ASSERT_TRUE(std::equal(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(*n),
                             model.begin() + static_cast<std::ptrdiff_t>(at)))
          << "pass " << pass << " offset " << at;
    }
  }
}

}  // namespace
}  // namespace pgcmk::storage
