// Finding the running supervisor of a server: its pid file, checked against /proc so that a
// recycled pid is never mistaken for it (and never signalled).
#pragma once

#include <sys/types.h>

#include <optional>

#include "server/server_paths.h"

namespace pgcmk::server {

// The pid of the live supervisor of this server, if any: the pid file names a process whose
// command line is `... server run NAME ...`.
std::optional<pid_t> RunningSupervisorPid(const ServerPaths& paths);

}  // namespace pgcmk::server
