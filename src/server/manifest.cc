#include "server/manifest.h"

#include <fcntl.h>
#include <sys/file.h>

#include <nlohmann/json.hpp>

#include "common/base64url.h"
#include "common/durable_file.h"
#include "common/unique_fd.h"

namespace pgcmk::server {

using Json = nlohmann::json;

std::string_view EncryptionTypeName(EncryptionType type) {
  switch (type) {
    case EncryptionType::kSystemManaged:
      return "SystemManaged";
    case EncryptionType::kAzureKeyVault:
      return "AzureKeyVault";
  }
  return "Unknown";
}

std::string Manifest::ToJson() const {
  Json j{{"format", "pgcmk-server-manifest"},
         {"version", kVersion},
         {"name", name},
         {"created", created},
         {"generation", generation},
         {"encryption",
          {{"type", EncryptionTypeName(type)},
           {"key_uri", key_uri},
           {"identity_client_id", identity_client_id},
           {"wrapping_kid", wrapping_kid},
           {"wrap_alg", wrap_alg},
           {"wrapped_dek", Base64UrlEncode(wrapped_dek)}}},
         {"settings",
          {{"listen_address", settings.listen_address},
           {"port", settings.port},
           {"admin_user", settings.admin_user},
           {"check_interval_seconds", settings.check_interval_seconds},
           {"grace_period_seconds", settings.grace_period_seconds},
           {"webhooks", settings.webhooks}}}};
  return j.dump(2) + "\n";
}

Result<Manifest> Manifest::FromJson(std::string_view text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("format", "") != "pgcmk-server-manifest") {
    return Err(StatusCode::kDataLoss, "not a pgcmk server manifest");
  }
  Manifest m;
  try {
    if (j.at("version").get<int>() != kVersion) {
      return Err(StatusCode::kFailedPrecondition, "manifest version " + j.at("version").dump() +
                                                      " is not supported (expected " +
                                                      std::to_string(kVersion) + ")");
    }
    m.name = j.at("name").get<std::string>();
    m.created = j.at("created").get<std::int64_t>();
    m.generation = j.at("generation").get<std::int64_t>();
    const Json& e = j.at("encryption");
    const std::string type = e.at("type").get<std::string>();
    if (type == "SystemManaged") {
      m.type = EncryptionType::kSystemManaged;
    } else if (type == "AzureKeyVault") {
      m.type = EncryptionType::kAzureKeyVault;
    } else {
      return Err(StatusCode::kDataLoss, "manifest has unknown encryption type " + type);
    }
    m.key_uri = e.at("key_uri").get<std::string>();
    m.identity_client_id = e.at("identity_client_id").get<std::string>();
    m.wrapping_kid = e.at("wrapping_kid").get<std::string>();
    m.wrap_alg = e.at("wrap_alg").get<std::string>();
    auto wrapped = Base64UrlDecode(e.at("wrapped_dek").get<std::string>());
    if (!wrapped || wrapped->empty()) {
      return Err(StatusCode::kDataLoss, "manifest's wrapped DEK is not base64url");
    }
    m.wrapped_dek = std::move(*wrapped);
    const Json& s = j.at("settings");
    m.settings.listen_address = s.at("listen_address").get<std::string>();
    m.settings.port = s.at("port").get<int>();
    m.settings.admin_user = s.at("admin_user").get<std::string>();
    m.settings.check_interval_seconds = s.at("check_interval_seconds").get<int>();
    m.settings.grace_period_seconds = s.at("grace_period_seconds").get<int>();
    m.settings.webhooks = s.at("webhooks").get<std::vector<std::string>>();
  } catch (const Json::exception& e) {
    return Err(StatusCode::kDataLoss, std::string("manifest is malformed: ") + e.what());
  }
  return m;
}

Result<Manifest> Manifest::Load(const std::filesystem::path& path) {
  auto bytes = ReadWholeFile(path, 1 << 20);
  if (!bytes) return Err(bytes.error());
  return FromJson(AsStringView(*bytes));
}

Status Manifest::Save(const std::filesystem::path& path) const {
  const std::string text = ToJson();
  return WriteFileAtomically(path, AsBytes(text), 0600);
}

Result<Manifest> UpdateManifest(const std::filesystem::path& manifest_path,
                                const std::function<Status(Manifest&)>& change) {
  const std::filesystem::path lock_path = manifest_path.parent_path() / "manifest.lock";
  PGCMK_ASSIGN_OR_RETURN(UniqueFd lock, OpenFile(lock_path.c_str(), O_RDWR | O_CREAT, 0600));
  if (::flock(lock.get(), LOCK_EX) != 0) {
    return Err(Status::FromErrno(errno, "flock " + lock_path.string()));
  }
  PGCMK_ASSIGN_OR_RETURN(Manifest m, Manifest::Load(manifest_path));
  if (Status s = change(m); !s.ok()) return Err(s);
  ++m.generation;
  if (Status s = m.Save(manifest_path); !s.ok()) return Err(s);
  return m;  // the lock is released when `lock` closes
}

}  // namespace pgcmk::server
