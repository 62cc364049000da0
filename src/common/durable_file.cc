#include "common/durable_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/unique_fd.h"

namespace pgcmk {

namespace {
// The temporary name WriteFileAtomically uses for `path`, without mkostemp's six characters.
std::string TemporaryPrefix(const std::filesystem::path& path) {
  return "." + path.filename().string() + ".tmp";
}
}  // namespace

Status FsyncDirectory(const std::filesystem::path& dir) {
  auto fd = OpenFile(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (!fd) return fd.error();
  if (::fsync(fd->get()) != 0) return Status::FromErrno(errno, "fsync directory " + dir.string());
  return Status::Ok();
}

Status WriteFileAtomically(const std::filesystem::path& path, ByteView contents, mode_t mode) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::string tmp_template = (dir / (TemporaryPrefix(path) + "XXXXXX")).string();
  int raw = ::mkostemp(tmp_template.data(), O_CLOEXEC);
  if (raw < 0) return Status::FromErrno(errno, "create temporary file in " + dir.string());
  UniqueFd fd(raw);
  const std::string tmp = tmp_template;
  auto fail = [&](Status s) {
    (void)::unlink(tmp.c_str());  // best effort cleanup; the original file is untouched
    return s;
  };
  if (::fchmod(fd.get(), mode) != 0) return fail(Status::FromErrno(errno, "fchmod " + tmp));
  if (Status s = PwriteAll(fd.get(), contents, 0); !s.ok()) return fail(s.WithContext(tmp));
  if (::fsync(fd.get()) != 0) return fail(Status::FromErrno(errno, "fsync " + tmp));
  fd.Reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(Status::FromErrno(errno, "rename to " + path.string()));
  }
  return FsyncDirectory(dir);
}

Result<size_t> RemoveStaleTemporaryFiles(const std::filesystem::path& path) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  const std::string prefix = TemporaryPrefix(path);
  size_t removed = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() != prefix.size() + 6 || !name.starts_with(prefix)) continue;
    std::error_code entry_ec;  // a vanished or unreadable entry is simply not ours to remove
    if (it->is_symlink(entry_ec) || !it->is_regular_file(entry_ec)) continue;
    if (::unlink(it->path().c_str()) != 0) {
      if (errno == ENOENT) continue;  // removed by someone else meanwhile
      return Err(Status::FromErrno(errno, "remove " + it->path().string()));
    }
    ++removed;
  }
  if (ec) return Err(Status::FromErrno(ec.value(), "list " + dir.string()));
  if (removed > 0) {
    if (Status s = FsyncDirectory(dir); !s.ok()) return Err(std::move(s));
  }
  return removed;
}

namespace {
template <typename Buffer, typename Make>
Result<Buffer> ReadInto(const std::filesystem::path& path, size_t max_size, Make make,
                        bool private_file = false) {
  // A private file is checked on the descriptor that is read (no check-then-open race); O_NONBLOCK
  // keeps a FIFO put in its place from blocking the open.
  auto fd = OpenFile(path.c_str(), private_file ? O_RDONLY | O_NOFOLLOW | O_NONBLOCK : O_RDONLY);
  if (!fd) return Err(fd.error());
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return Err(Status::FromErrno(errno, "stat " + path.string()));
  if (private_file && (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0)) {
    return Err(StatusCode::kFailedPrecondition,
               path.string() + " must be a regular file readable by its owner only (chmod 600)");
  }
  if (static_cast<size_t>(st.st_size) > max_size) {
    return Err(StatusCode::kResourceExhausted, path.string() + " is larger than expected");
  }
  Buffer buf = make(static_cast<size_t>(st.st_size));
  auto view = [&]() -> MutableByteView {
    if constexpr (std::is_same_v<Buffer, SecretBytes>) {
      return buf.reveal_mutable();
    } else {
      return {buf.data(), buf.size()};
    }
  }();
  auto n = PreadFull(fd->get(), view, 0);
  if (!n) return Err(n.error().WithContext(path.string()));
  if (*n != view.size()) return Err(StatusCode::kIoError, path.string() + " changed while reading");
  return buf;
}
}  // namespace

Result<Bytes> ReadWholeFile(const std::filesystem::path& path, size_t max_size) {
  return ReadInto<Bytes>(path, max_size, [](size_t n) { return Bytes(n); });
}

Result<SecretBytes> ReadSecretFile(const std::filesystem::path& path, size_t max_size) {
  return ReadInto<SecretBytes>(path, max_size, [](size_t n) { return SecretBytes(n); });
}

Result<SecretBytes> ReadPrivateSecretFile(const std::filesystem::path& path, size_t max_size) {
  return ReadInto<SecretBytes>(
      path, max_size, [](size_t n) { return SecretBytes(n); }, /*private_file=*/true);
}

Status CreateDirectoryDurably(const std::filesystem::path& dir, mode_t mode) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return Status::Ok();
  if (dir.has_parent_path() && dir.parent_path() != dir) {
    PGCMK_RETURN_IF_ERROR(CreateDirectoryDurably(dir.parent_path(), 0755));
  }
  if (::mkdir(dir.c_str(), mode) != 0) {
    if (errno != EEXIST) return Status::FromErrno(errno, "mkdir " + dir.string());
    // Lost a race with another creator, or the name is taken by something else: only a directory
    // will do (never chmod a file that happens to have the name).
    if (!std::filesystem::is_directory(dir, ec)) {
      return Status::FromErrno(ENOTDIR, "mkdir " + dir.string());
    }
  }
  if (::chmod(dir.c_str(), mode) != 0) return Status::FromErrno(errno, "chmod " + dir.string());
  return FsyncDirectory(dir.has_parent_path() ? dir.parent_path() : ".");
}

}  // namespace pgcmk
