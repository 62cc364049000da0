// The unprivileged OS user that runs PostgreSQL and the FUSE mount ("pgcmk"). PostgreSQL refuses
// to run as root, and an encrypted FUSE mount must be visible to its own user only; so the
// supervisor and the parts of `server create` that touch the volume run as this user. When pgcmk
// is started as root it reads what only root may read (the identity secret file given on the
// command line, the admin password file), then drops to the service user for good
// (setgroups/setgid/setuid); started as the service user it runs as is.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "common/status.h"

namespace pgcmk::server {

struct ServiceUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::filesystem::path home;
};

inline constexpr const char* kServiceUserName = "pgcmk";

// Looks up the service user (getpwnam_r). kFailedPrecondition if it does not exist.
Result<ServiceUser> LookupServiceUser(const std::string& name = kServiceUserName);

// If running as root: drops all privileges to `user` irrevocably. Otherwise succeeds if the
// process already runs as `user`, and fails with kPermissionDenied if not.
Status BecomeServiceUser(const ServiceUser& user);

// chown -R (no symlink following) when running as root; a no-op otherwise.
Status ChownTree(const std::filesystem::path& path, const ServiceUser& user);

}  // namespace pgcmk::server
