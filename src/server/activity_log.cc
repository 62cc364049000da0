#include "server/activity_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/durable_file.h"
#include "common/unique_fd.h"
#include "server/server_state.h"

namespace pgcmk::server {

Status ActivityLog::Record(const std::string& event, const std::string& message,
                           const std::map<std::string, std::string>& fields) {
  const std::int64_t now = UnixNow();
  nlohmann::json j{{"time", FormatTime(now)},
                   {"unix", now},
                   {"server", server_},
                   {"event", event},
                   {"message", message}};
  for (const auto& [k, v] : fields) j[k] = v;
  const std::string line = j.dump() + "\n";
  {
    std::lock_guard lock(mu_);
    auto fd = OpenFile(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (!fd) return fd.error();
    PGCMK_RETURN_IF_ERROR(WriteAll(fd->get(), AsBytes(line)));
    if (::fsync(fd->get()) != 0) return Status::FromErrno(errno, "fsync " + path_.string());
  }
  if (notifier_ != nullptr) notifier_->Enqueue(j.dump());
  return Status::Ok();
}

Result<std::vector<std::string>> ActivityLog::ReadAll(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::vector<std::string>{};
  PGCMK_ASSIGN_OR_RETURN(Bytes bytes, ReadWholeFile(path, 64u << 20));
  std::vector<std::string> lines;
  std::string_view text = AsStringView(bytes);
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty()) lines.emplace_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

}  // namespace pgcmk::server
