#include "server/server_state.h"

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/durable_file.h"

namespace pgcmk::server {

using Json = nlohmann::json;

std::string_view ServerStateName(ServerState state) {
  switch (state) {
    case ServerState::kProvisioning:
      return "Provisioning";
    case ServerState::kStarting:
      return "Starting";
    case ServerState::kReady:
      return "Ready";
    case ServerState::kUpdating:
      return "Updating";
    case ServerState::kStopping:
      return "Stopping";
    case ServerState::kStopped:
      return "Stopped";
    case ServerState::kInaccessible:
      return "Inaccessible";
  }
  return "Unknown";
}

Result<ServerState> ParseServerState(std::string_view name) {
  for (ServerState s : {ServerState::kProvisioning, ServerState::kStarting, ServerState::kReady,
                        ServerState::kUpdating, ServerState::kStopping, ServerState::kStopped,
                        ServerState::kInaccessible}) {
    if (ServerStateName(s) == name) return s;
  }
  return Err(StatusCode::kDataLoss, "unknown server state '" + std::string(name) + "'");
}

std::int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatTime(std::int64_t unix_seconds) {
  if (unix_seconds == 0) return "never";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string RuntimeStatus::ToJson() const {
  Json j{{"state", ServerStateName(state)},
         {"key_status", key_valid ? "Valid" : "Invalid"},
         {"reason", reason},
         {"last_check", last_check},
         {"last_check_ok", last_check_ok},
         {"current_kid", current_kid},
         {"supervisor_pid", supervisor_pid},
         {"updated", updated}};
  return j.dump(2) + "\n";
}

Result<RuntimeStatus> RuntimeStatus::FromJson(std::string_view text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("state") || !j["state"].is_string()) {
    return Err(StatusCode::kDataLoss, "status file is malformed");
  }
  RuntimeStatus s;
  PGCMK_ASSIGN_OR_RETURN(s.state, ParseServerState(j["state"].get<std::string>()));
  try {
    s.key_valid = j.value("key_status", "Invalid") == "Valid";
    s.reason = j.value("reason", "");
    s.last_check = j.value("last_check", std::int64_t{0});
    s.last_check_ok = j.value("last_check_ok", std::int64_t{0});
    s.current_kid = j.value("current_kid", "");
    s.supervisor_pid = j.value("supervisor_pid", std::int64_t{0});
    s.updated = j.value("updated", std::int64_t{0});
  } catch (const Json::exception&) {
    return Err(StatusCode::kDataLoss, "status file has a field of the wrong type");
  }
  return s;
}

Result<RuntimeStatus> RuntimeStatus::Load(const std::filesystem::path& path) {
  PGCMK_ASSIGN_OR_RETURN(Bytes bytes, ReadWholeFile(path, 1 << 20));
  return FromJson(AsStringView(bytes));
}

Status RuntimeStatus::Save(const std::filesystem::path& path) const {
  std::string text = ToJson();
  return WriteFileAtomically(path, AsBytes(text), 0644);
}

}  // namespace pgcmk::server
