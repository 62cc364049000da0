#include "common/secret_bytes.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace pgcmk {
namespace {

static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);

TEST(SecretBytesTest, StartsZeroedAndHoldsCopiedBytes) {
  SecretBytes zero(40);
  EXPECT_EQ(zero.size(), 40u);
  for (auto b : zero.reveal()) EXPECT_EQ(b, 0);
  const Bytes data = {1, 2, 3};
  SecretBytes s = SecretBytes::CopyFrom(data);
  EXPECT_EQ(Bytes(s.reveal().begin(), s.reveal().end()), data);
}

TEST(SecretBytesTest, MoveLeavesSourceEmpty) {
  SecretBytes a = SecretBytes::CopyFrom(Bytes{9, 9});
  SecretBytes b = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract says so
  EXPECT_EQ(b.size(), 2u);
}

TEST(SecretBytesTest, EqualityComparesContents) {
  EXPECT_TRUE(SecretBytes::CopyFrom(Bytes{1, 2}) == SecretBytes::CopyFrom(Bytes{1, 2}));
  EXPECT_FALSE(SecretBytes::CopyFrom(Bytes{1, 2}) == SecretBytes::CopyFrom(Bytes{1, 3}));
  EXPECT_FALSE(SecretBytes::CopyFrom(Bytes{1, 2}) == SecretBytes::CopyFrom(Bytes{1, 2, 0}));
}

TEST(SecretBytesTest, TruncateWipesTheTail) {
  SecretBytes s = SecretBytes::CopyFrom(Bytes{1, 2, 3, 4});
  const std::uint8_t* raw = s.reveal().data();
  s.Truncate(1);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(raw[1], 0);
  EXPECT_EQ(raw[3], 0);
}

TEST(SecretBytesTest, MemoryIsLockedWhenTheLimitAllows) {
  // Under the default RLIMIT_MEMLOCK (8 MiB on Debian 12) a small secret must be locked.
  const size_t before = SecretBytes::LockFailures();
  SecretBytes s(32);
  EXPECT_EQ(SecretBytes::LockFailures(), before);
}

TEST(SecretBytesTest, CloneIsIndependent) {
  SecretBytes a = SecretBytes::CopyFrom(Bytes{5});
  SecretBytes b = a.Clone();
  b.reveal_mutable()[0] = 6;
  EXPECT_EQ(a.reveal()[0], 5);
}

// The VmFlags of the mapping holding `p`, from /proc/self/smaps ("" if not found).
std::string VmFlagsOf(const void* p) {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = addr >= lo && addr < hi;
      continue;
    }
    if (inside && line.starts_with("VmFlags:")) return line;
  }
  return "";
}

TEST(SecretBytesTest, SmallAndLargeValuesAreLockedUndumpableAndNotForked) {
  for (std::size_t size : {std::size_t{1}, std::size_t{32}, std::size_t{256},
                           SecretBytes::kMaxPooledSize, SecretBytes::kMaxPooledSize + 1}) {
    SecretBytes s(size);
    const std::string flags = VmFlagsOf(s.reveal().data());
    ASSERT_FALSE(flags.empty()) << size;
    EXPECT_NE(flags.find(" lo"), std::string::npos) << size << ": " << flags;  // mlock'd
    EXPECT_NE(flags.find(" dd"), std::string::npos) << size << ": " << flags;  // no core dump
    EXPECT_NE(flags.find(" dc"), std::string::npos) << size << ": " << flags;  // not forked
  }
}

TEST(SecretBytesTest, PooledSlotIsWipedBeforeReuse) {
  const std::uint8_t* first = nullptr;
  {
    SecretBytes s(200);
    std::memset(s.reveal_mutable().data(), 0xAB, s.size());
    first = s.reveal().data();
  }
  // The pool hands out the most recently freed slot of a class first.
  SecretBytes again(256);
  EXPECT_EQ(again.reveal().data(), first);
  for (auto b : again.reveal()) ASSERT_EQ(b, 0);
}

TEST(SecretBytesTest, PoolReusesSlabsInsteadOfMappingPerValue) {
  {
    std::vector<SecretBytes> warm(64);
    for (auto& s : warm) s = SecretBytes(48);
  }
  const std::size_t mapped = SecretBytes::PoolBytesMappedForTesting();
  for (int i = 0; i < 10000; ++i) {
    SecretBytes s = SecretBytes::CopyFrom(Bytes(48, static_cast<std::uint8_t>(i)));
    ASSERT_EQ(s.reveal()[47], static_cast<std::uint8_t>(i));
  }
  EXPECT_EQ(SecretBytes::PoolBytesMappedForTesting(), mapped);
}

TEST(SecretBytesTest, ValuesDoNotOverlapUnderConcurrentUse) {
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([t, &bad] {
      std::vector<std::pair<SecretBytes, std::uint8_t>> held;
      for (int i = 0; i < 2000; ++i) {
        const std::size_t size = 1 + static_cast<std::size_t>((i * 37 + t * 11) % 5000);
        const auto fill = static_cast<std::uint8_t>(t * 31 + i);
        SecretBytes s(size);
        for (auto b : s.reveal()) {
          if (b != 0) ++bad;
        }
        std::memset(s.reveal_mutable().data(), fill, size);
        held.emplace_back(std::move(s), fill);
        if (held.size() > 16) held.erase(held.begin());
        for (const auto& [h, f] : held) {
          for (auto b : h.reveal()) {
            if (b != f) ++bad;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

// The contract in the header: a fork child does not see secrets created before the fork.
TEST(SecretBytesTest, ForkChildDoesNotInheritTheBytes) {
  SecretBytes s = SecretBytes::CopyFrom(Bytes{0x42});
  const volatile std::uint8_t* raw = s.reveal().data();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Unmapped here: the read faults. Exit with a marker from our own handler (no core file, and
    // the same result under sanitizers, which install theirs).
    struct rlimit no_core {
      0, 0
    };
    ::setrlimit(RLIMIT_CORE, &no_core);
    struct sigaction sa {};
    sa.sa_handler = [](int) { ::_exit(3); };
    ::sigaction(SIGSEGV, &sa, nullptr);
    ::sigaction(SIGBUS, &sa, nullptr);
    const std::uint8_t seen = *raw;
    ::_exit(seen == 0x42 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3) << status;
  EXPECT_EQ(*raw, 0x42);
}

// The child forgets the parent's pool (its slabs are not mapped there) and can make new secrets.
TEST(SecretBytesTest, ForkChildCanCreateSecretsAfterTheFork) {
  SecretBytes before = SecretBytes::CopyFrom(Bytes{1, 2, 3});
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (int i = 0; i < 100; ++i) {
      SecretBytes s = SecretBytes::CopyFrom(Bytes(64, 7));
      SecretBytes big(SecretBytes::kMaxPooledSize + 10);
      if (s.reveal()[63] != 7 || big.reveal()[0] != 0) ::_exit(1);
    }
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(before.reveal()[2], 3);
}

}  // namespace
}  // namespace pgcmk
