// Mount: serves a storage::Volume as a FUSE filesystem (libfuse3 low-level API) on its own threads.
//
// Usage:
//   PGCMK_ASSIGN_OR_RETURN(auto volume, storage::Volume::Open(backing, dek));
//   PGCMK_ASSIGN_OR_RETURN(auto mount, fuse::Mount::Start(*volume, "/mnt/data", {}));
//   ... PostgreSQL uses /mnt/data ...
//   mount.Stop();  // or let it go out of scope; the Volume must outlive the Mount
//
// Start mounts (unprivileged through the setuid fusermount3 when not root) and returns once the
// kernel has answered the FUSE INIT handshake, so the mountpoint is usable when Start returns.
// Stop unmounts (lazily, like `fusermount3 -u -z`), joins the worker threads and is idempotent;
// the destructor calls it. If something else unmounts the filesystem, the loop ends and
// running() turns false. The mount is visible to its own OS user only (no allow_other), with the
// kernel checking permissions (default_permissions): start it in the process that runs as
// PostgreSQL's OS user (a root process would need extra_options = "allow_other", which the notes
// warn against). Stop() returns once no process has files open on the mount (stop PostgreSQL
// first).
//
// Caching: the kernel page cache is kept across opens (keep_cache); the filesystem assumes it is
// the only writer of the backing directory while mounted. Errors from the backing store reach the
// caller with their errno unchanged.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "common/status.h"
#include "storage/volume.h"

namespace pgcmk::fuse {

struct MountOptions {
  // Kernel writeback cache (FUSE_CAP_WRITEBACK_CACHE): on by measurement (bulk load 1.6x instead
  // of 4.5x plain, select-only better, read-write TPS within noise); see
  // docs/benchmarks-storage.md. O_SYNC/O_DSYNC handles bypass it (direct I/O, coherent with the
  // cache).
  bool writeback_cache = true;
  // Extended attributes. Off, the filesystem answers getxattr/listxattr with ENOSYS once, after
  // which the kernel stops asking (setxattr then fails with EOPNOTSUPP): without that, the kernel
  // sends a getxattr("security.capability") round trip before every write(2), which halves write
  // throughput. PostgreSQL never uses xattrs. On, user xattrs pass through (except the reserved
  // prefix, see storage::Volume).
  bool xattrs = false;
  // Upper bound for worker threads of the multithreaded loop.
  unsigned max_threads = 16;
  // Largest read/write request in bytes (kernel limit 1 MiB).
  std::size_t max_write = 1u << 20;
  // Seconds the kernel may cache attributes and names.
  double attr_timeout_seconds = 1.0;
  // Extra "-o" mount options (comma separated), e.g. for tests.
  std::string extra_options = {};
};

class Mount {
 public:
  static Result<Mount> Start(const storage::Volume& volume, const std::filesystem::path& mountpoint,
                             const MountOptions& options);

  Mount(Mount&&) noexcept;
  Mount& operator=(Mount&&) noexcept;
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;
  ~Mount();

  // Unmounts and waits for the worker threads. Returns the loop's error, if any.
  Status Stop();
  // False once the session loop has ended (Stop, external unmount or a fatal error).
  bool running() const;
  const std::filesystem::path& mountpoint() const;

  struct Impl;

 private:
  explicit Mount(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgcmk::fuse
