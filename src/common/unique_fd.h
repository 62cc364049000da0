// UniqueFd: owns one file descriptor; closes it exactly once. EINTR-safe helpers for full reads and
// writes at offsets (short transfers are retried, never returned as success).
#pragma once

#include <sys/types.h>

#include <utility>

#include "common/bytes.h"
#include "common/status.h"

namespace pgcmk {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) Reset(std::exchange(o.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// open(2) with O_CLOEXEC added; errors name the path.
Result<UniqueFd> OpenFile(const char* path, int flags, mode_t mode = 0);

// Writes all of `data` at `offset` (pwrite loop). ENOSPC and friends come back with their errno.
Status PwriteAll(int fd, ByteView data, off_t offset);
// Reads up to data.size() bytes at `offset`; returns the count read (less only at end of file).
Result<size_t> PreadFull(int fd, MutableByteView data, off_t offset);
// write(2) loop for pipes and sockets.
Status WriteAll(int fd, ByteView data);

}  // namespace pgcmk
