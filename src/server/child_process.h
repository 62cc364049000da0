// ChildProcess: one forked and exec'd program, owned (RAII: the destructor kills and reaps it if
// it is still running). Used for initdb and the postmaster.
//
// The child gets stdin from /dev/null, stdout and stderr appended to `log_file`, no inherited
// descriptors except `pass_fd` (which becomes descriptor 3), its own process group (so a
// terminal's Ctrl-C reaches only the supervisor, which then stops it properly) and, if set,
// `parent_death_signal` (PR_SET_PDEATHSIG): if the supervisor dies, even by SIGKILL, the kernel
// sends that signal to the child. The death signal fires when the *forking thread* exits, so spawn
// from the supervisor's main thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgcmk::server {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the absolute path of the program
  std::filesystem::path log_file;
  int pass_fd = -1;
  int parent_death_signal = 0;
};

class ChildProcess {
 public:
  static Result<ChildProcess> Spawn(const SpawnOptions& options);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Non-blocking: the exit status (as from waitpid) if the child has exited.
  std::optional<int> Poll();
  // Waits up to `timeout`; kDeadlineExceeded if it is still running.
  Result<int> Wait(std::chrono::milliseconds timeout);
  Status Signal(int signo);

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

// "exited with status 1" / "killed by signal 9".
std::string DescribeExitStatus(int wait_status);

}  // namespace pgcmk::server
