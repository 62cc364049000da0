// ActivityLog: the per-server, append-only record of state changes and key events (the
// counterpart of Azure's Activity Log), read by `pgcmk server activity NAME`.
//
// File `activity.log`: one JSON object per line, appended with O_APPEND and fsync'd before Record
// returns:
//   {"time":"2026-11-28T06:00:00Z","unix":1764309600,"server":"db1","event":"StateChanged",
//    "state":"Inaccessible","message":"the customer-managed key is not accessible: ..."}
// Events: ServerCreated, StateChanged, KeyCheckFailed, KeyCheckRecovered, KeyRewrapped,
// EncryptionUpdated, SettingsReloaded, PostgresRestarted. Extra fields (kid, state) are strings.
// Each record is also handed to the WebhookNotifier, if one is attached. Never holds secrets.
// Thread safety: Record may be called concurrently.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "server/webhook_notifier.h"

namespace pgcmk::server {

class ActivityLog {
 public:
  ActivityLog(std::filesystem::path path, std::string server_name,
              WebhookNotifier* notifier = nullptr)
      : path_(std::move(path)), server_(std::move(server_name)), notifier_(notifier) {}

  Status Record(const std::string& event, const std::string& message,
                const std::map<std::string, std::string>& fields = {});

  // All records, oldest first, as JSON text lines.
  static Result<std::vector<std::string>> ReadAll(const std::filesystem::path& path);

 private:
  std::filesystem::path path_;
  std::string server_;
  WebhookNotifier* notifier_;
  std::mutex mu_;
};

}  // namespace pgcmk::server
