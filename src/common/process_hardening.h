// Process-level protection for processes that hold secrets (vault daemon, filesystem server,
// supervisor): no core dumps, not ptrace-attachable by same-uid processes, a raised open-file
// limit.
#pragma once

#include "common/status.h"

namespace pgcmk {

// prctl(PR_SET_DUMPABLE, 0) and RLIMIT_CORE = 0. Call first thing in main() of such processes.
Status DisableCoreDumps();

// Raises RLIMIT_NOFILE's soft limit to the hard limit (FUSE servers under PostgreSQL need many).
Status RaiseOpenFileLimit();

}  // namespace pgcmk
