#include "server/service_user.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

namespace pgcmk::server {

Result<ServiceUser> LookupServiceUser(const std::string& name) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) {
    return Err(
        StatusCode::kFailedPrecondition,
        "the service user '" + name + "' does not exist (scripts/install-deps.sh creates it)");
  }
  return ServiceUser{name, pw.pw_uid, pw.pw_gid, pw.pw_dir};
}

Status BecomeServiceUser(const ServiceUser& user) {
  if (::geteuid() != 0) {
    if (::geteuid() == user.uid) return Status::Ok();
    return Status(StatusCode::kPermissionDenied,
                  "run this command as root or as the service user '" + user.name + "'");
  }
  if (::setgroups(0, nullptr) != 0) return Status::FromErrno(errno, "setgroups");
  if (::setresgid(user.gid, user.gid, user.gid) != 0) return Status::FromErrno(errno, "setgid");
  if (::setresuid(user.uid, user.uid, user.uid) != 0) return Status::FromErrno(errno, "setuid");
  if (::setuid(0) == 0) return Status(StatusCode::kInternal, "could not drop root privileges");
  ::setenv("HOME", user.home.c_str(), 1);
  ::setenv("USER", user.name.c_str(), 1);
  ::setenv("LOGNAME", user.name.c_str(), 1);
  return Status::Ok();
}

Status ChownTree(const std::filesystem::path& path, const ServiceUser& user) {
  if (::geteuid() != 0) return Status::Ok();
  if (::lchown(path.c_str(), user.uid, user.gid) != 0) {
    return Status::FromErrno(errno, "chown " + path.string());
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(std::filesystem::symlink_status(path, ec))) {
    return Status::Ok();
  }
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (::lchown(it->path().c_str(), user.uid, user.gid) != 0) {
      return Status::FromErrno(errno, "chown " + it->path().string());
    }
  }
  if (ec) return Status(StatusCode::kIoError, "walking " + path.string() + ": " + ec.message());
  return Status::Ok();
}

}  // namespace pgcmk::server
