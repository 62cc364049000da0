#include "common/unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace pgcmk {

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) {
    // close() errors on a descriptor we own cannot be acted upon here; durability is established by
    // explicit fsync calls before close, never by close itself.
    (void)::close(fd_);
  }
  fd_ = fd;
}

Result<UniqueFd> OpenFile(const char* path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Err(Status::FromErrno(errno, std::string("open ") + path));
  return UniqueFd(fd);
}

Status PwriteAll(int fd, ByteView data, off_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, offset + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "pwrite");
    }
    if (n == 0) return Status(StatusCode::kIoError, "pwrite wrote nothing", EIO);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<size_t> PreadFull(int fd, MutableByteView data, off_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pread(fd, data.data() + done, data.size() - done, offset + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Err(Status::FromErrno(errno, "pread"));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Status WriteAll(int fd, ByteView data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write");
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace pgcmk
