#include "server/supervisor_process.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace pgcmk::server {
namespace {

class SupervisorLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pgcmk-suplock-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    paths_ = ServerPaths{root_ / "db1"};
    std::filesystem::create_directories(paths_.dir);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::filesystem::path root_;
  ServerPaths paths_;
};

TEST_F(SupervisorLockTest, NeverStartedIsNotRunning) {
  EXPECT_FALSE(RunningSupervisorPid(paths_).has_value());
}

TEST_F(SupervisorLockTest, HolderIsRunningUntilReleased) {
  {
    auto lock = AcquireSupervisorLock(paths_);
    ASSERT_TRUE(lock.has_value()) << lock.error().ToString();
    auto pid = RunningSupervisorPid(paths_);
    ASSERT_TRUE(pid.has_value());
    EXPECT_EQ(*pid, ::getpid());

    // A second supervisor is refused and told who holds the server.
    auto second = AcquireSupervisorLock(paths_);
    ASSERT_FALSE(second.has_value());
    EXPECT_EQ(second.error().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(second.error().message().find("already running (supervisor pid " +
                                            std::to_string(::getpid()) + ")"),
              std::string::npos)
        << second.error().ToString();
  }
  EXPECT_FALSE(RunningSupervisorPid(paths_).has_value()) << "released with the lock";
  // The stale pid left in the file does not make it look running.
  EXPECT_TRUE(std::filesystem::exists(paths_.lock_file()));
  EXPECT_TRUE(AcquireSupervisorLock(paths_).has_value());
}

TEST_F(SupervisorLockTest, KilledHolderReleasesTheServer) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    auto lock = AcquireSupervisorLock(paths_);
    const char c = lock ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    ::pause();
    std::_Exit(0);
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(c, 'y');
  auto pid = RunningSupervisorPid(paths_);
  ASSERT_TRUE(pid.has_value());
  EXPECT_EQ(*pid, child);
  EXPECT_FALSE(AcquireSupervisorLock(paths_).has_value());

  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_FALSE(RunningSupervisorPid(paths_).has_value()) << "SIGKILL drops the lock";
  EXPECT_TRUE(AcquireSupervisorLock(paths_).has_value());
}

TEST_F(SupervisorLockTest, AFileNamingAnotherLiveProcessIsNotALock) {
  // A pid in an unlocked file (e.g. left by a supervisor that died) is never trusted, even when
  // that pid is alive now: here it names the test process itself.
  std::ofstream(paths_.lock_file()) << ::getpid() << "\n";
  EXPECT_FALSE(RunningSupervisorPid(paths_).has_value());
}

}  // namespace
}  // namespace pgcmk::server
