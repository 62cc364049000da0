#include "server/server_paths.h"

#include <cstdlib>

namespace pgcmk::server {

std::filesystem::path DefaultStateDir() {
  if (const char* env = std::getenv("PGCMK_STATE_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return "/var/lib/pgcmk";
}

Status ValidateServerName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 63 && name[0] >= 'a' && name[0] <= 'z';
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  }
  if (!ok) {
    return Status(StatusCode::kInvalidArgument,
                  "invalid server name '" + std::string(name) +
                      "': use 1-63 characters a-z, 0-9 and '-', starting with a letter");
  }
  return Status::Ok();
}

ServerPaths ServerPaths::For(const std::filesystem::path& state_dir, std::string_view name) {
  return ServerPaths{ServersDir(state_dir) / std::string(name)};
}

}  // namespace pgcmk::server
