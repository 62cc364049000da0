#include "server/supervisor_process.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string>

namespace pgcmk::server {
namespace {

// The pid recorded in the lock file, if it holds a well-formed one.
std::optional<pid_t> ReadLockPid(int fd) {
  char buf[32];
  ssize_t n;
  do {
    n = ::pread(fd, buf, sizeof(buf), 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return std::nullopt;
  long pid = 0;
  auto [end, ec] = std::from_chars(buf, buf + n, pid);
  if (ec != std::errc() || end == buf || pid <= 1) return std::nullopt;
  return static_cast<pid_t>(pid);
}

}  // namespace

Result<SupervisorLock> AcquireSupervisorLock(const ServerPaths& paths) {
  const std::string path = paths.lock_file().string();
  PGCMK_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path.c_str(), O_RDWR | O_CREAT, 0644));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return Err(Status::FromErrno(errno, "flock " + path));
    const auto holder = ReadLockPid(fd.get());
    return Err(Status(StatusCode::kFailedPrecondition,
                      "server '" + paths.dir.filename().string() +
                          "' is already running (supervisor pid " +
                          (holder ? std::to_string(*holder) : std::string("starting")) + ")"));
  }
  const std::string pid_text = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0) return Err(Status::FromErrno(errno, "truncate " + path));
  PGCMK_RETURN_IF_ERROR(PwriteAll(fd.get(), AsBytes(pid_text), 0));
  return SupervisorLock(std::move(fd));
}

std::optional<pid_t> RunningSupervisorPid(const ServerPaths& paths) {
  auto fd = OpenFile(paths.lock_file().c_str(), O_RDONLY);
  if (!fd) return std::nullopt;  // never started (or its directory is unreadable to us)
  if (::flock(fd->get(), LOCK_SH | LOCK_NB) == 0) return std::nullopt;  // nobody holds it
  if (errno != EWOULDBLOCK) return std::nullopt;
  return ReadLockPid(fd->get());
}

}  // namespace pgcmk::server
