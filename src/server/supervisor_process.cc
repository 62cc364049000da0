#include "server/supervisor_process.h"

#include <signal.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace pgcmk::server {

std::optional<pid_t> RunningSupervisorPid(const ServerPaths& paths) {
  std::ifstream in(paths.pid_file());
  long pid = 0;
  if (!(in >> pid) || pid <= 1) return std::nullopt;
  std::ifstream cmd("/proc/" + std::to_string(pid) + "/cmdline");
  std::stringstream ss;
  ss << cmd.rdbuf();
  std::vector<std::string> args;
  std::string arg;
  for (char c : ss.str()) {
    if (c == '\0') {
      args.push_back(arg);
      arg.clear();
    } else {
      arg.push_back(c);
    }
  }
  const std::string name = paths.dir.filename().string();
  for (size_t i = 0; i + 2 < args.size(); ++i) {
    if (args[i] == "server" && args[i + 1] == "run" && args[i + 2] == name) {
      // A zombie has an empty cmdline, so reaching here means it is alive.
      return static_cast<pid_t>(pid);
    }
  }
  return std::nullopt;
}

}  // namespace pgcmk::server
