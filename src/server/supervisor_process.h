// Finding the running supervisor of a server. A supervisor holds an exclusive flock(2) on the
// server's `supervisor.lock` for as long as it runs and writes its pid into that file; the kernel
// drops the lock when the process dies (even by SIGKILL), so "locked" means "running" with no
// guessing from pids or command lines, and two supervisors of one server can never both start.
#pragma once

#include <sys/types.h>

#include <optional>

#include "common/status.h"
#include "common/unique_fd.h"
#include "server/server_paths.h"

namespace pgcmk::server {

// Held by the running supervisor; releasing it (destruction) ends its claim on the server.
class SupervisorLock {
 public:
  SupervisorLock(SupervisorLock&&) noexcept = default;
  SupervisorLock& operator=(SupervisorLock&&) noexcept = default;

 private:
  friend Result<SupervisorLock> AcquireSupervisorLock(const ServerPaths& paths);
  explicit SupervisorLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// Takes the server's supervisor lock and records the caller's pid in it. FailedPrecondition
// naming the holder's pid when another supervisor of this server is running.
Result<SupervisorLock> AcquireSupervisorLock(const ServerPaths& paths);

// The pid of the live supervisor of this server, if any (the holder of its supervisor lock).
// nullopt while a supervisor is between taking the lock and writing its pid (microseconds).
std::optional<pid_t> RunningSupervisorPid(const ServerPaths& paths);

}  // namespace pgcmk::server
