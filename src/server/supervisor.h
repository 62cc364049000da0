// Supervisor: `pgcmk server run NAME`, the foreground process that owns one running server.
//
// It gets a token, unwraps the DEK, serves the encrypted volume in-process (fuse::Mount), starts
// PostgreSQL on it, and then proves every check interval that it can still get the key and unwrap
// the DEK. The DEK lives only in SecretBytes (locked, excluded from core dumps, zeroized when
// released); core dumps and ptrace are disabled first thing.
//
// State machine (server_state.h):
//   Starting --key ok, mounted, PostgreSQL ready--> Ready
//   Ready --check fails definitively (401/403/404, disabled/expired key, wrong DEK)--> Inaccessible
//   Ready --check fails transiently (unreachable, timeout, 5xx, 429) for longer than the grace
//          period--> Inaccessible   (before that: still Ready, KeyCheckFailed recorded once)
//   Inaccessible --a check succeeds--> Starting --> Ready      (revalidation never stops)
//   Ready --manifest changed by `update`--> Updating --> Ready (or Inaccessible)
//   SIGTERM/SIGINT --> Stopping --> Stopped (exit 0)
// Entering Inaccessible: PostgreSQL fast shutdown, unmount, DEK zeroized, then the
// InaccessibleResponder answers on the server's port with the reason.
// Automatic key version updates: with a versionless key URI, when the key's current version
// differs from the one that wrapped the DEK, the DEK (in memory) is wrapped under the new version,
// the result is unwrapped again to prove it, and only then is the manifest replaced atomically.
// A versioned URI stays on its version.
// Signals: SIGTERM/SIGINT stop; SIGHUP re-reads the manifest and checks at once. The postmaster
// gets SIGQUIT from the kernel if the supervisor dies (kill -9), so no PostgreSQL runs on a dead
// mount; the next `run` lazily unmounts the stale mount and PostgreSQL recovers from its WAL.
#pragma once

#include <filesystem>
#include <string>

#include "common/status.h"

namespace pgcmk::server {

struct SupervisorOptions {
  std::filesystem::path state_dir;
  std::string name;
  // Overrides of the manifest's settings (0 = use the manifest's value).
  int check_interval_seconds = 0;
  int grace_period_seconds = 0;
};

// Runs until SIGTERM/SIGINT. Must be called from the main thread before any other thread
// exists (it blocks the signals it waits for). Returns OK after a clean stop.
Status RunSupervisor(const SupervisorOptions& options);

}  // namespace pgcmk::server
