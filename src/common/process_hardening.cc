#include "common/process_hardening.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>

namespace pgcmk {

Status DisableCoreDumps() {
  struct rlimit none {
    0, 0
  };
  if (::setrlimit(RLIMIT_CORE, &none) != 0)
    return Status::FromErrno(errno, "setrlimit(RLIMIT_CORE)");
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    return Status::FromErrno(errno, "prctl(PR_SET_DUMPABLE)");
  return Status::Ok();
}

Status RaiseOpenFileLimit() {
  struct rlimit lim {};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return Status::FromErrno(errno, "getrlimit(RLIMIT_NOFILE)");
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0)
      return Status::FromErrno(errno, "setrlimit(RLIMIT_NOFILE)");
  }
  return Status::Ok();
}

}  // namespace pgcmk
