#include "common/secret_bytes.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <type_traits>

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

}  // namespace
}  // namespace pgcmk
