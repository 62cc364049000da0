// Manifest: the durable description of one server — its data-encryption settings and the
// wrapped DEK. It never holds the plaintext DEK, a client secret or a token.
//
// File `manifest.json` in the server directory, replaced atomically (WriteFileAtomically: temp
// file, fsync, rename, fsync directory) under an exclusive flock on `manifest.lock`, so the CLI
// (update) and the supervisor (re-wrap) never lose each other's changes. `generation` grows by
// one with every change. Format (version 1; unknown versions are refused):
//   {
//     "format": "pgcmk-server-manifest", "version": 1,
//     "name": "db1", "created": <unix s>, "generation": <n>,
//     "encryption": {
//       "type": "AzureKeyVault" | "SystemManaged",
//       "key_uri": "https://vault:port/keys/NAME[/VERSION]",   // as configured; "local:NAME"
//       "identity_client_id": "<uuid>",                          // AzureKeyVault only
//       "wrapping_kid": "https://vault:port/keys/NAME/VERSION",  // the version that wrapped it
//       "wrap_alg": "RSA-OAEP-256" | "A256GCM",
//       "wrapped_dek": "<base64url>"
//     },
//     "settings": {
//       "listen_address": "127.0.0.1", "port": 5433, "admin_user": "postgres",
//       "check_interval_seconds": 30, "grace_period_seconds": 300,
//       "webhooks": ["https://..."]
//     }
//   }
// Files next to it (see ServerPaths): the identity's client secret (0600), the vault's CA
// certificate, the system-managed key (0600, SystemManaged only).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace pgcmk::server {

enum class EncryptionType { kSystemManaged, kAzureKeyVault };
std::string_view EncryptionTypeName(EncryptionType type);

struct ServerSettings {
  std::string listen_address = "127.0.0.1";
  int port = 5433;
  std::string admin_user = "postgres";
  int check_interval_seconds = 30;
  int grace_period_seconds = 300;
  std::vector<std::string> webhooks;
};

struct Manifest {
  static constexpr int kVersion = 1;

  std::string name;
  std::int64_t created = 0;
  std::int64_t generation = 1;
  EncryptionType type = EncryptionType::kSystemManaged;
  std::string key_uri;
  std::string identity_client_id;
  std::string wrapping_kid;
  std::string wrap_alg;
  Bytes wrapped_dek;
  ServerSettings settings;

  std::string ToJson() const;
  static Result<Manifest> FromJson(std::string_view json);
  static Result<Manifest> Load(const std::filesystem::path& path);
  // Writes atomically and durably (mode 0600).
  Status Save(const std::filesystem::path& path) const;
};

// Runs `change` on the current manifest under the manifest lock and saves the result with
// generation + 1. `change` may fail, in which case nothing is written.
Result<Manifest> UpdateManifest(const std::filesystem::path& manifest_path,
                                const std::function<Status(Manifest&)>& change);

}  // namespace pgcmk::server
