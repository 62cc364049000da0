// The states of a pgcmk server, as Azure Database for PostgreSQL names them, and the per-server
// runtime status file the supervisor keeps for `pgcmk server show/list`.
//
//   Provisioning --create ok--> Stopped --run--> Starting --key ok, mounted, PostgreSQL up--> Ready
//   Ready --update--> Updating --> Ready
//   Starting/Ready/Updating --access definitively lost (or transient past the grace period)-->
//        Inaccessible (PostgreSQL stopped, storage unmounted, DEK zeroized, responder answers)
//   Inaccessible --key access back--> Starting --> Ready
//   any running state --SIGTERM--> Stopping --> Stopped
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pgcmk::server {

enum class ServerState {
  kProvisioning,
  kStarting,
  kReady,
  kUpdating,
  kStopping,
  kStopped,
  kInaccessible,
};

std::string_view ServerStateName(ServerState state);
Result<ServerState> ParseServerState(std::string_view name);

// status.json: written atomically by whoever owns the server at the moment (the supervisor while
// it runs, the CLI otherwise). Never holds secrets.
struct RuntimeStatus {
  ServerState state = ServerState::kStopped;
  bool key_valid = false;          // "Valid" / "Invalid"
  std::string reason;              // why the key is invalid or the server is Inaccessible
  std::int64_t last_check = 0;     // Unix seconds of the last key check (0 = never)
  std::int64_t last_check_ok = 0;  // Unix seconds of the last successful check
  std::string current_kid;         // the versioned kid that wraps the DEK, as last verified
  std::int64_t supervisor_pid = 0;
  std::int64_t updated = 0;

  std::string ToJson() const;
  static Result<RuntimeStatus> FromJson(std::string_view json);
  static Result<RuntimeStatus> Load(const std::filesystem::path& path);
  Status Save(const std::filesystem::path& path) const;
};

std::int64_t UnixNow();
std::string FormatTime(std::int64_t unix_seconds);  // RFC 3339 UTC

}  // namespace pgcmk::server
