// The FUSE adapter: libfuse3 low-level operations over storage::Volume.
//
// Inodes. Every backing inode the kernel knows about has one Inode (keyed by device and inode
// number, so hard links share it) holding an O_PATH descriptor; the fuse_ino_t is the Inode's
// address. Lock order: table_mu_ (the inode table) before Inode::mu (open state of one inode);
// neither is held across backing I/O on the data path, which takes only the EncryptedFile's own
// lock.
//
// Errors. Every operation body returns Status; Run() replies with ErrnoFor(status), the adapter's
// one Status -> errno mapping, and is the only place that catches exceptions.
#define FUSE_USE_VERSION 312
#include "fuse/mount.h"

#include <dirent.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/status.h"

namespace pgcmk::fuse {
namespace {

using storage::EncryptedFile;
using storage::Volume;

int ErrnoFor(const Status& status) {
  if (status.sys_errno() != 0) return status.sys_errno();
  switch (status.code()) {
    case StatusCode::kOk:
      return 0;
    case StatusCode::kInvalidArgument:
      return EINVAL;
    case StatusCode::kNotFound:
      return ENOENT;
    case StatusCode::kAlreadyExists:
      return EEXIST;
    case StatusCode::kPermissionDenied:
    case StatusCode::kUnauthenticated:
      return EACCES;
    case StatusCode::kResourceExhausted:
      return ENOSPC;
    case StatusCode::kUnimplemented:
      return EOPNOTSUPP;
    case StatusCode::kConflict:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kDataLoss:
    case StatusCode::kIoError:
    case StatusCode::kInternal:
      return EIO;
  }
  return EIO;
}

Status Errno(const char* what) { return Status::FromErrno(errno, what); }

std::string ProcPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

struct Inode {
  UniqueFd fd;  // O_PATH
  dev_t dev = 0;
  ino_t ino = 0;
  bool is_symlink = false;
  std::uint64_t nlookup = 0;  // guarded by Filesystem::table_mu_

  std::mutex mu;  // guards the three below
  std::shared_ptr<EncryptedFile> file;
  std::shared_ptr<const storage::FileKeys> keys;  // kept across opens until forget
  int open_count = 0;
};

struct FileHandle {
  Inode* inode;
  std::shared_ptr<EncryptedFile> file;
  bool sync_writes;    // O_DSYNC or O_SYNC: each write is durable before it is acknowledged
  bool sync_metadata;  // O_SYNC: ... including all metadata (fsync, not fdatasync)
};

struct DirHandle {
  DIR* dir = nullptr;
  off_t offset = 0;
  struct dirent* pending = nullptr;
  ~DirHandle() {
    if (dir != nullptr) ::closedir(dir);
  }
};

}  // namespace

struct Mount::Impl {
  const Volume& volume;
  std::filesystem::path mountpoint;
  MountOptions options;
  Inode root;
  std::mutex table_mu;
  std::map<std::pair<dev_t, ino_t>, std::unique_ptr<Inode>> inodes;

  fuse_session* session = nullptr;
  std::thread loop_thread;
  std::atomic<bool> running{false};
  int loop_result = 0;
  std::mutex init_mu;
  std::condition_variable init_cv;
  bool initialised = false;
  bool stopped = false;

  Impl(const Volume& v, std::filesystem::path mp, MountOptions opts)
      : volume(v), mountpoint(std::move(mp)), options(std::move(opts)) {}

  Inode& Get(fuse_ino_t ino) {
    return ino == FUSE_ROOT_ID ? root : *reinterpret_cast<Inode*>(static_cast<uintptr_t>(ino));
  }

  bool IsRoot(const Inode& inode) const { return &inode == &root; }

  double timeout() const { return options.attr_timeout_seconds; }

  // The backing attributes, with regular files' sizes as the plaintext sizes.
  static void ToLogical(struct stat* st) {
    if (S_ISREG(st->st_mode)) {
      st->st_size = Volume::LogicalSize(st->st_size);
      const blkcnt_t header_blocks = EncryptedFile::kHeaderSize / 512;
      st->st_blocks = st->st_blocks > header_blocks ? st->st_blocks - header_blocks : 0;
    }
  }

  Status Stat(const Inode& inode, struct stat* st) {
    if (::fstatat(inode.fd.get(), "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
      return Errno("fstatat");
    }
    ToLogical(st);
    return Status::Ok();
  }

  // Names in the root that belong to the volume are invisible and cannot be created.
  Status CheckName(const Inode& parent, const char* name, bool creating) {
    if (Volume::IsInternalName(IsRoot(parent), name)) {
      return Status(StatusCode::kPermissionDenied, "reserved name", creating ? EPERM : ENOENT);
    }
    return Status::Ok();
  }

  // Looks `name` up in `parent` and counts one kernel reference on the resulting Inode.
  Status Lookup(Inode& parent, const char* name, fuse_entry_param* e) {
    PGCMK_RETURN_IF_ERROR(CheckName(parent, name, false));
    std::memset(e, 0, sizeof(*e));
    const int fd = ::openat(parent.fd.get(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Errno("openat");
    UniqueFd owned(fd);
    if (::fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
      return Errno("fstatat");
    }
    {
      std::lock_guard lock(table_mu);
      auto& slot = inodes[{e->attr.st_dev, e->attr.st_ino}];
      if (!slot) {
        slot = std::make_unique<Inode>();
        slot->fd = std::move(owned);
        slot->dev = e->attr.st_dev;
        slot->ino = e->attr.st_ino;
        slot->is_symlink = S_ISLNK(e->attr.st_mode);
      }
      ++slot->nlookup;
      e->ino = static_cast<fuse_ino_t>(reinterpret_cast<uintptr_t>(slot.get()));
    }
    ToLogical(&e->attr);
    e->attr_timeout = timeout();
    e->entry_timeout = timeout();
    return Status::Ok();
  }

  void Forget(fuse_ino_t ino, std::uint64_t n) {
    if (ino == FUSE_ROOT_ID) return;
    Inode& inode = Get(ino);
    std::lock_guard lock(table_mu);
    if (inode.nlookup <= n) {
      inodes.erase({inode.dev, inode.ino});  // the kernel forgets only inodes without open files
    } else {
      inode.nlookup -= n;
    }
  }

  // The inode's EncryptedFile, opened if no handle has it open; counts one open.
  Result<std::shared_ptr<EncryptedFile>> OpenInode(Inode& inode, UniqueFd backing) {
    std::lock_guard lock(inode.mu);
    if (!inode.file) {
      if (!backing.valid()) {
        const std::string path = ProcPath(inode.fd.get());
        int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0 && errno == EACCES) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return Err(Errno("open backing file"));
        backing.Reset(fd);
      }
      PGCMK_ASSIGN_OR_RETURN(std::unique_ptr<EncryptedFile> file,
                             volume.OpenFile(std::move(backing), inode.keys));
      inode.keys = file->keys();
      inode.file = std::move(file);
    }
    ++inode.open_count;
    return inode.file;
  }

  void CloseInode(Inode& inode) {
    std::shared_ptr<EncryptedFile> last;
    std::lock_guard lock(inode.mu);
    if (--inode.open_count == 0) last = std::move(inode.file);
  }

  // A file for a setattr without a handle: the open one, or a temporary open.
  struct TempOpen {
    Impl* impl;
    Inode* inode;
    std::shared_ptr<EncryptedFile> file;
    ~TempOpen() {
      if (file) impl->CloseInode(*inode);
    }
  };

  Status OpenFileHandle(Inode& inode, UniqueFd backing, fuse_file_info* fi) {
    PGCMK_ASSIGN_OR_RETURN(std::shared_ptr<EncryptedFile> file,
                           OpenInode(inode, std::move(backing)));
    if ((fi->flags & O_TRUNC) != 0 && (fi->flags & O_ACCMODE) != O_RDONLY) {
      Status s = file->Truncate(0);
      if (!s.ok()) {
        CloseInode(inode);
        return s;
      }
    }
    // O_SYNC is __O_SYNC | O_DSYNC on Linux, so test the whole mask for it.
    auto* handle = new FileHandle{&inode, std::move(file), (fi->flags & (O_SYNC | O_DSYNC)) != 0,
                                  (fi->flags & O_SYNC) == O_SYNC};
    fi->fh = reinterpret_cast<uintptr_t>(handle);
    // The kernel's page cache stays valid across opens: we are the only writer of the backing
    // files, and the kernel invalidates it itself on truncate and hole punching.
    fi->keep_cache = 1;
    // With the writeback cache, a synchronous-write handle (O_SYNC/O_DSYNC, e.g. PostgreSQL's WAL
    // with wal_sync_method = open_datasync) bypasses the page cache: each write is one request that
    // we make durable before replying, instead of a cached write followed by a flush, a times
    // update and an fsync request.
    if (options.writeback_cache && (fi->flags & (O_SYNC | O_DSYNC)) != 0) fi->direct_io = 1;
    return Status::Ok();
  }

  static FileHandle& Handle(fuse_file_info* fi) {
    return *reinterpret_cast<FileHandle*>(static_cast<uintptr_t>(fi->fh));
  }
  static DirHandle& Dir(fuse_file_info* fi) {
    return *reinterpret_cast<DirHandle*>(static_cast<uintptr_t>(fi->fh));
  }
};

namespace {

Mount::Impl& Fs(fuse_req_t req) { return *static_cast<Mount::Impl*>(fuse_req_userdata(req)); }

// Runs one operation body; on error replies with its errno. The body replies on success.
template <typename Body>
void Run(fuse_req_t req, Body&& body) noexcept {
  try {
    Status s = body();
    if (!s.ok()) fuse_reply_err(req, ErrnoFor(s));
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req, ENOMEM);
  } catch (...) {
    log::Error("fuse", "unexpected exception in a filesystem operation");
    fuse_reply_err(req, EIO);
  }
}

Status ReplyEntry(fuse_req_t req, Mount::Impl& fs, fuse_ino_t parent, const char* name) {
  fuse_entry_param e;
  PGCMK_RETURN_IF_ERROR(fs.Lookup(fs.Get(parent), name, &e));
  fuse_reply_entry(req, &e);
  return Status::Ok();
}

void OpInit(void* userdata, fuse_conn_info* conn) {
  auto& fs = *static_cast<Mount::Impl*>(userdata);
  if (fs.options.writeback_cache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE) != 0) {
    conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  }
  if ((conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) != 0) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  conn->want &=
      ~static_cast<unsigned>(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  conn->max_write = static_cast<unsigned>(fs.options.max_write);
  conn->max_read = static_cast<unsigned>(fs.options.max_write);  // must equal -o max_read
  conn->max_readahead = static_cast<unsigned>(fs.options.max_write);
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  std::lock_guard lock(fs.init_mu);
  fs.initialised = true;
  fs.init_cv.notify_all();
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Run(req, [&]() -> Status { return ReplyEntry(req, Fs(req), parent, name); });
}

void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Fs(req).Forget(ino, nlookup);
  fuse_reply_none(req);
}

void OpForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) Fs(req).Forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  Run(req, [&]() -> Status {
    auto& fs = Fs(req);
    struct stat st;
    PGCMK_RETURN_IF_ERROR(fs.Stat(fs.Get(ino), &st));
    fuse_reply_attr(req, &st, fs.timeout());
    return Status::Ok();
  });
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  Run(req, [&]() -> Status {
    auto& fs = Fs(req);
    Inode& inode = fs.Get(ino);
    const std::string path = ProcPath(inode.fd.get());
    if ((to_set & FUSE_SET_ATTR_MODE) != 0) {
      if (::chmod(path.c_str(), attr->st_mode & 07777) != 0) return Errno("chmod");
    }
    if ((to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) != 0) {
      const uid_t uid = (to_set & FUSE_SET_ATTR_UID) != 0 ? attr->st_uid : static_cast<uid_t>(-1);
      const gid_t gid = (to_set & FUSE_SET_ATTR_GID) != 0 ? attr->st_gid : static_cast<gid_t>(-1);
      if (::fchownat(inode.fd.get(), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
        return Errno("fchownat");
      }
    }
    if ((to_set & FUSE_SET_ATTR_SIZE) != 0) {
      if (fi != nullptr) {
        PGCMK_RETURN_IF_ERROR(
            Mount::Impl::Handle(fi).file->Truncate(static_cast<std::uint64_t>(attr->st_size)));
      } else {
        Mount::Impl::TempOpen temp{&fs, &inode, nullptr};
        PGCMK_ASSIGN_OR_RETURN(temp.file, fs.OpenInode(inode, UniqueFd()));
        PGCMK_RETURN_IF_ERROR(temp.file->Truncate(static_cast<std::uint64_t>(attr->st_size)));
      }
    }
    if ((to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) != 0) {
      struct timespec tv[2];
      tv[0].tv_nsec = UTIME_OMIT;
      tv[1].tv_nsec = UTIME_OMIT;
      if ((to_set & FUSE_SET_ATTR_ATIME_NOW) != 0) {
        tv[0].tv_nsec = UTIME_NOW;
      } else if ((to_set & FUSE_SET_ATTR_ATIME) != 0) {
        tv[0] = attr->st_atim;
      }
      if ((to_set & FUSE_SET_ATTR_MTIME_NOW) != 0) {
        tv[1].tv_nsec = UTIME_NOW;
      } else if ((to_set & FUSE_SET_ATTR_MTIME) != 0) {
        tv[1] = attr->st_mtim;
      }
      if (inode.is_symlink) return Status(StatusCode::kUnimplemented, "utimens on symlink", EPERM);
      if (::utimensat(AT_FDCWD, path.c_str(), tv, 0) != 0) return Errno("utimensat");
    }
    struct stat st;
    PGCMK_RETURN_IF_ERROR(fs.Stat(inode, &st));
    fuse_reply_attr(req, &st, fs.timeout());
    return Status::Ok();
  });
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  Run(req, [&]() -> Status {
    char buf[PATH_MAX + 1];
    const ssize_t n = ::readlinkat(Fs(req).Get(ino).fd.get(), "", buf, sizeof(buf) - 1);
    if (n < 0) return Errno("readlinkat");
    buf[n] = '\0';
    fuse_reply_readlink(req, buf);
    return Status::Ok();
  });
}

void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Run(req, [&]() -> Status {
    auto& fs = Fs(req);
    Inode& dir = fs.Get(parent);
    PGCMK_RETURN_IF_ERROR(fs.CheckName(dir, name, true));
    // A regular file gets its header at its first writable open.
    if (::mknodat(dir.fd.get(), name, mode, rdev) != 0) return Errno("mknodat");
    return ReplyEntry(req, fs, parent, name);
  });
}

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Run(req, [&]() -> Status {
    auto& fs = Fs(req);
    Inode& dir = fs.Get(parent);
    PGCMK_RETURN_IF_ERROR(fs.CheckName(dir, name, true));
    if (::mkdirat(dir.fd.get(), name, mode) != 0) return Errno("mkdirat");
    return ReplyEntry(req, fs, parent, name);
  });
}

void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  Run(req, [&]() -> Status {
    auto& fs = Fs(req);
    Inode& dir = fs.Get(parent);
    PGCMK_RETURN_IF_ERROR(fs.CheckName(dir, name, true));
    if (::symlinkat(link, dir.fd.get(), name) != 0) return Errno("symlinkat");
    return ReplyEntry(req, fs, parent, name);
  });
}

void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Run(req, [&]() -> Status {
    auto& fs = Fs(req);
    Inode& inode = fs.Get(ino);
    Inode& dir = fs.Get(newparent);
    PGCMK_RETURN_IF_ERROR(fs.CheckName(dir, newname, true));
    int rc;
    if (inode.is_symlink) {
      rc = ::linkat(inode.fd.get(), "", dir.fd.get(), newname, AT_EMPTY_PATH);
    } else {
      rc = ::linkat(AT_FDCWD, ProcPath(inode.fd.get()).c_str(), dir.fd.get(), newname,
                    AT_SYMLINK_FOLLOW);
    }
    if (rc != 0) return Errno("linkat");
    return ReplyEntry(req, fs, newparent, newname);
  });
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Run(req, [&]() -> Status {
    auto& fs = Fs(req);
    Inode& dir = fs.Get(parent);
    PGCMK_RETURN_IF_ERROR(fs.CheckName(dir, name, false));
    if (::unlinkat(dir.fd.get(), name, 0) != 0) return Errno("unlinkat");
    fuse_reply_err(req, 0);
    return Status::Ok();
  });
}

void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Run(req, [&]() -> Status {
    auto& fs = Fs(req);
    Inode& dir = fs.Get(parent);
    PGCMK_RETURN_IF_ERROR(fs.CheckName(dir, name, false));
    if (::unlinkat(dir.fd.get(), name, AT_REMOVEDIR) != 0) return Errno("rmdir");
    fuse_reply_err(req, 0);
    return Status::Ok();
  });
}

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  Run(req, [&]() -> Status {
    auto& fs = Fs(req);
    Inode& from = fs.Get(parent);
    Inode& to = fs.Get(newparent);
    PGCMK_RETURN_IF_ERROR(fs.CheckName(from, name, false));
    PGCMK_RETURN_IF_ERROR(fs.CheckName(to, newname, true));
    if (::renameat2(from.fd.get(), name, to.fd.get(), newname, flags) != 0) {
      return Errno("renameat2");
    }
    fuse_reply_err(req, 0);
    return Status::Ok();
  });
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Run(req, [&]() -> Status {
    auto& fs = Fs(req);
    PGCMK_RETURN_IF_ERROR(fs.OpenFileHandle(fs.Get(ino), UniqueFd(), fi));
    if (fuse_reply_open(req, fi) == -ENOENT) {  // the caller was interrupted
      auto* handle = &Mount::Impl::Handle(fi);
      fs.CloseInode(*handle->inode);
      delete handle;
    }
    return Status::Ok();
  });
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  Run(req, [&]() -> Status {
    auto& fs = Fs(req);
    Inode& dir = fs.Get(parent);
    PGCMK_RETURN_IF_ERROR(fs.CheckName(dir, name, true));
    const int flags = (fi->flags & ~(O_ACCMODE | O_APPEND | O_DIRECT | O_TRUNC)) | O_CREAT |
                      O_RDWR | O_CLOEXEC | O_NOFOLLOW;
    const int fd = ::openat(dir.fd.get(), name, flags, mode);
    if (fd < 0) return Errno("openat");
    UniqueFd backing(fd);
    fuse_entry_param e;
    PGCMK_RETURN_IF_ERROR(fs.Lookup(dir, name, &e));
    Inode& inode = fs.Get(e.ino);
    Status s = fs.OpenFileHandle(inode, std::move(backing), fi);
    if (!s.ok()) {
      fs.Forget(e.ino, 1);
      return s;
    }
    if (fuse_reply_create(req, &e, fi) == -ENOENT) {
      auto* handle = &Mount::Impl::Handle(fi);
      fs.CloseInode(*handle->inode);
      delete handle;
    }
    return Status::Ok();
  });
}

void OpRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  Run(req, [&]() -> Status {
    thread_local Bytes buffer;
    if (buffer.size() < size) buffer.resize(size);
    PGCMK_ASSIGN_OR_RETURN(size_t n, Mount::Impl::Handle(fi).file->Read(
                                         {buffer.data(), size}, static_cast<std::uint64_t>(off)));
    fuse_reply_buf(req, reinterpret_cast<const char*>(buffer.data()), n);
    return Status::Ok();
  });
}

void OpWrite(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off,
             fuse_file_info* fi) {
  Run(req, [&]() -> Status {
    FileHandle& handle = Mount::Impl::Handle(fi);
    PGCMK_RETURN_IF_ERROR(handle.file->Write({reinterpret_cast<const std::uint8_t*>(buf), size},
                                             static_cast<std::uint64_t>(off)));
    if (handle.sync_writes) {
      PGCMK_RETURN_IF_ERROR(handle.file->Sync(/*data_only=*/!handle.sync_metadata));
    }
    fuse_reply_write(req, size);
    return Status::Ok();
  });
}

void OpFlush(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  auto* handle = &Mount::Impl::Handle(fi);
  Fs(req).CloseInode(*handle->inode);
  delete handle;
  fuse_reply_err(req, 0);
}

void OpFsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  Run(req, [&]() -> Status {
    PGCMK_RETURN_IF_ERROR(Mount::Impl::Handle(fi).file->Sync(datasync != 0));
    fuse_reply_err(req, 0);
    return Status::Ok();
  });
}

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Run(req, [&]() -> Status {
    const int fd = ::openat(Fs(req).Get(ino).fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Errno("opendir");
    auto handle = std::make_unique<DirHandle>();
    handle->dir = ::fdopendir(fd);
    if (handle->dir == nullptr) {
      Status s = Errno("fdopendir");
      ::close(fd);
      return s;
    }
    fi->fh = reinterpret_cast<uintptr_t>(handle.release());
    if (fuse_reply_open(req, fi) == -ENOENT) delete &Mount::Impl::Dir(fi);
    return Status::Ok();
  });
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi) {
  Run(req, [&]() -> Status {
    auto& fs = Fs(req);
    const bool in_root = fs.IsRoot(fs.Get(ino));
    DirHandle& d = Mount::Impl::Dir(fi);
    if (offset != d.offset) {
      ::seekdir(d.dir, offset);
      d.pending = nullptr;
      d.offset = offset;
    }
    std::vector<char> buf(size);
    size_t used = 0;
    while (true) {
      if (d.pending == nullptr) {
        errno = 0;
        d.pending = ::readdir(d.dir);
        if (d.pending == nullptr) {
          if (errno != 0 && used == 0) return Errno("readdir");
          break;
        }
      }
      struct dirent* entry = d.pending;
      if (Volume::IsInternalName(in_root, entry->d_name)) {
        d.offset = entry->d_off;
        d.pending = nullptr;
        continue;
      }
      struct stat st {};
      st.st_ino = entry->d_ino;
      st.st_mode = static_cast<mode_t>(DTTOIF(entry->d_type));
      const size_t need =
          fuse_add_direntry(req, buf.data() + used, size - used, entry->d_name, &st, entry->d_off);
      if (need > size - used) break;  // keep `pending` for the next call
      used += need;
      d.offset = entry->d_off;
      d.pending = nullptr;
    }
    fuse_reply_buf(req, buf.data(), used);
    return Status::Ok();
  });
}

void OpReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete &Mount::Impl::Dir(fi);
  fuse_reply_err(req, 0);
}

void OpFsyncdir(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  Run(req, [&]() -> Status {
    const int fd = ::dirfd(Mount::Impl::Dir(fi).dir);
    if ((datasync != 0 ? ::fdatasync(fd) : ::fsync(fd)) != 0) return Errno("fsync directory");
    fuse_reply_err(req, 0);
    return Status::Ok();
  });
}

void OpStatfs(fuse_req_t req, fuse_ino_t ino) {
  Run(req, [&]() -> Status {
    struct statvfs st;
    if (::fstatvfs(Fs(req).Get(ino).fd.get(), &st) != 0) return Errno("fstatvfs");
    fuse_reply_statfs(req, &st);
    return Status::Ok();
  });
}

void OpFallocate(fuse_req_t req, fuse_ino_t, int mode, off_t offset, off_t length,
                 fuse_file_info* fi) {
  Run(req, [&]() -> Status {
    if (offset < 0 || length <= 0) return Status(StatusCode::kInvalidArgument, "range", EINVAL);
    PGCMK_RETURN_IF_ERROR(Mount::Impl::Handle(fi).file->Fallocate(
        mode, static_cast<std::uint64_t>(offset), static_cast<std::uint64_t>(length)));
    fuse_reply_err(req, 0);
    return Status::Ok();
  });
}

Status XattrTarget(Mount::Impl& fs, fuse_ino_t ino, std::string* path) {
  if (!fs.options.xattrs) return Status(StatusCode::kUnimplemented, "xattrs off", ENOSYS);
  Inode& inode = fs.Get(ino);
  if (inode.is_symlink) return Status(StatusCode::kUnimplemented, "xattr on symlink", ENOTSUP);
  *path = ProcPath(inode.fd.get());
  return Status::Ok();
}

void OpSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags) {
  Run(req, [&]() -> Status {
    if (!Fs(req).options.xattrs) {
      return Status(StatusCode::kUnimplemented, "xattrs are off for this mount", EOPNOTSUPP);
    }
    if (Volume::IsReservedXattr(name)) {
      return Status(StatusCode::kPermissionDenied, "reserved", EPERM);
    }
    std::string path;
    PGCMK_RETURN_IF_ERROR(XattrTarget(Fs(req), ino, &path));
    if (::setxattr(path.c_str(), name, value, size, flags) != 0) return Errno("setxattr");
    fuse_reply_err(req, 0);
    return Status::Ok();
  });
}

void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Run(req, [&]() -> Status {
    if (Volume::IsReservedXattr(name)) return Status(StatusCode::kNotFound, "reserved", ENODATA);
    std::string path;
    PGCMK_RETURN_IF_ERROR(XattrTarget(Fs(req), ino, &path));
    std::vector<char> buf(size);
    const ssize_t n = ::getxattr(path.c_str(), name, size != 0 ? buf.data() : nullptr, size);
    if (n < 0) return Errno("getxattr");
    if (size == 0) {
      fuse_reply_xattr(req, static_cast<size_t>(n));
    } else {
      fuse_reply_buf(req, buf.data(), static_cast<size_t>(n));
    }
    return Status::Ok();
  });
}

void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Run(req, [&]() -> Status {
    std::string path;
    PGCMK_RETURN_IF_ERROR(XattrTarget(Fs(req), ino, &path));
    const ssize_t total = ::listxattr(path.c_str(), nullptr, 0);
    if (total < 0) return Errno("listxattr");
    std::vector<char> all(static_cast<size_t>(total) + 1);
    const ssize_t n = ::listxattr(path.c_str(), all.data(), all.size());
    if (n < 0) return Errno("listxattr");
    std::string visible;
    for (ssize_t pos = 0; pos < n;) {
      const std::string_view name(all.data() + pos);
      if (!Volume::IsReservedXattr(name)) {
        visible.append(name);
        visible.push_back('\0');
      }
      pos += static_cast<ssize_t>(name.size()) + 1;
    }
    if (size == 0) {
      fuse_reply_xattr(req, visible.size());
    } else if (visible.size() > size) {
      return Status(StatusCode::kResourceExhausted, "xattr list", ERANGE);
    } else {
      fuse_reply_buf(req, visible.data(), visible.size());
    }
    return Status::Ok();
  });
}

void OpRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Run(req, [&]() -> Status {
    if (Volume::IsReservedXattr(name)) return Status(StatusCode::kNotFound, "reserved", ENODATA);
    std::string path;
    PGCMK_RETURN_IF_ERROR(XattrTarget(Fs(req), ino, &path));
    if (::removexattr(path.c_str(), name) != 0) return Errno("removexattr");
    fuse_reply_err(req, 0);
    return Status::Ok();
  });
}

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.setattr = OpSetattr;
  ops.readlink = OpReadlink;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.symlink = OpSymlink;
  ops.link = OpLink;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.rename = OpRename;
  ops.open = OpOpen;
  ops.create = OpCreate;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.flush = OpFlush;
  ops.release = OpRelease;
  ops.fsync = OpFsync;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.releasedir = OpReleasedir;
  ops.fsyncdir = OpFsyncdir;
  ops.statfs = OpStatfs;
  ops.fallocate = OpFallocate;
  ops.setxattr = OpSetxattr;
  ops.getxattr = OpGetxattr;
  ops.listxattr = OpListxattr;
  ops.removexattr = OpRemovexattr;
  return ops;
}();

}  // namespace

Result<Mount> Mount::Start(const storage::Volume& volume, const std::filesystem::path& mountpoint,
                           const MountOptions& options) {
  auto impl = std::make_unique<Impl>(volume, mountpoint, options);
  {
    const int fd = ::openat(volume.root_fd(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Err(Errno("open backing root"));
    impl->root.fd.Reset(fd);
  }
  std::string opts = "default_permissions,fsname=pgcmk,subtype=pgcmk,max_read=" +
                     std::to_string(options.max_write);
  if (!options.extra_options.empty()) opts += "," + options.extra_options;
  std::vector<std::string> argv_storage = {"pgcmk-fs", "-o", opts};
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  impl->session = fuse_session_new(&args, &kOps, sizeof(kOps), impl.get());
  fuse_opt_free_args(&args);
  if (impl->session == nullptr) {
    return Err(StatusCode::kInternal, "fuse_session_new failed (see the message above)");
  }
  if (fuse_session_mount(impl->session, mountpoint.c_str()) != 0) {
    fuse_session_destroy(impl->session);
    impl->session = nullptr;
    return Err(StatusCode::kUnavailable, "cannot mount on " + mountpoint.string() +
                                             " (is fusermount3 installed, the "
                                             "directory empty and owned by this user?)");
  }
  impl->running = true;
  Impl* raw = impl.get();
  impl->loop_thread = std::thread([raw] {
    fuse_loop_config* config = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(config, 1);
    fuse_loop_cfg_set_max_threads(config, raw->options.max_threads);
    // Idle workers stay: with a low limit libfuse creates and destroys a thread for almost every
    // burst of requests (hundreds per second under pgbench).
    fuse_loop_cfg_set_idle_threads(config, raw->options.max_threads);
    raw->loop_result = fuse_session_loop_mt(raw->session, config);
    fuse_loop_cfg_destroy(config);
    raw->running = false;
    std::lock_guard lock(raw->init_mu);
    raw->init_cv.notify_all();
  });
  Mount mount(std::move(impl));
  // Wait for the kernel's INIT so that the mountpoint is usable when Start returns.
  {
    std::unique_lock lock(raw->init_mu);
    raw->init_cv.wait_for(lock, std::chrono::seconds(10),
                          [raw] { return raw->initialised || !raw->running; });
    if (!raw->initialised) {
      lock.unlock();
      (void)mount.Stop();  // the failure reported below is the interesting one
      return Err(StatusCode::kUnavailable, "the kernel did not initialise the FUSE mount");
    }
  }
  // libfuse validates the INIT reply after our callback; a statfs through the mount proves that
  // the kernel accepted it and that requests are served.
  constexpr long kFuseSuperMagic = 0x65735546;
  struct statfs sfs;
  if (::statfs(mountpoint.c_str(), &sfs) != 0 || sfs.f_type != kFuseSuperMagic || !raw->running) {
    (void)mount.Stop();  // the failure reported below is the interesting one
    return Err(StatusCode::kUnavailable, "the FUSE mount at " + mountpoint.string() +
                                             " did not come up (see the messages above)");
  }
  log::Info("fuse", "mounted " + mountpoint.string() + " over " + volume.backing_dir().string());
  return mount;
}

Mount::Mount(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Mount::Mount(Mount&&) noexcept = default;
Mount& Mount::operator=(Mount&& other) noexcept {
  if (this != &other) {
    (void)Stop();  // a Mount being replaced is torn down; its status has no one to go to
    impl_ = std::move(other.impl_);
  }
  return *this;
}
Mount::~Mount() { (void)Stop(); }  // destructors cannot report; call Stop() to see errors

Status Mount::Stop() {
  if (!impl_ || impl_->stopped) return Status::Ok();
  impl_->stopped = true;
  fuse_session_exit(impl_->session);
  // Unmounting ends the kernel connection, which wakes the workers blocked on /dev/fuse.
  fuse_session_unmount(impl_->session);
  if (impl_->loop_thread.joinable()) impl_->loop_thread.join();
  fuse_session_destroy(impl_->session);
  impl_->session = nullptr;
  log::Info("fuse", "unmounted " + impl_->mountpoint.string());
  if (impl_->loop_result != 0 && impl_->loop_result != -ENODEV) {
    return Status(StatusCode::kIoError, "the FUSE session loop failed", -impl_->loop_result);
  }
  return Status::Ok();
}

bool Mount::running() const { return impl_ && impl_->running.load(); }

const std::filesystem::path& Mount::mountpoint() const { return impl_->mountpoint; }

}  // namespace pgcmk::fuse
