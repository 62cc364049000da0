// The server use cases behind the CLI: create, update, show/list, activity, start/stop. Each one
// validates its inputs, does its work, and records itself in the server's activity log.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "server/manifest.h"
#include "server/server_paths.h"
#include "server/server_state.h"

namespace pgcmk::server {

struct CreateRequest {
  std::filesystem::path state_dir;
  std::string name;
  // Customer-managed key (all or none of key_uri/identity; with them exactly one credential: the
  // secret file, or the certificate credential file = RSA private key + certificate PEM, which
  // must be readable by its owner only).
  std::string key_uri;
  std::string identity_client_id;
  std::filesystem::path identity_secret_file;
  std::filesystem::path identity_certificate_file;
  std::filesystem::path vault_ca_file;
  // Admin password: read from this file (first line), or generated and returned once.
  std::filesystem::path admin_password_file;
  std::optional<int> port;  // default: the first free port from 5433 up
  // UNSAFE, for tests/demos of crypto-shredding only: accept a key without purge protection.
  bool allow_purgeable_key = false;
  ServerSettings settings;
};

struct CreateResult {
  Manifest manifest;
  ServerPaths paths;
  std::optional<SecretBytes> generated_password;  // shown once by the CLI, stored nowhere
};

// Everything is checked before anything is created; on failure nothing is left behind.
// Runs the volume and initdb steps as the service user (drops privileges when root).
Result<CreateResult> CreateServer(const CreateRequest& request);

struct UpdateRequest {
  std::filesystem::path state_dir;
  std::string name;
  std::string key_uri;
  std::string identity_client_id;
  std::filesystem::path identity_secret_file;  // exactly one of these two
  std::filesystem::path identity_certificate_file;
  std::filesystem::path vault_ca_file;  // optional: keep the stored one when empty
};

// Same checks as create with the new key and identity; unwraps the DEK with the current key,
// wraps it with the new one, proves the new wrap, replaces the manifest atomically, and tells a
// running supervisor (SIGHUP). Returns the new manifest.
Result<Manifest> UpdateServerEncryption(const UpdateRequest& request);

struct ServerView {
  Manifest manifest;
  RuntimeStatus status;
  bool supervisor_running = false;
  ServerPaths paths;
  std::string psql_command;  // ready to paste: sslmode=verify-full
  std::string ToJson() const;
  std::string ToHuman() const;
};

Result<ServerView> ShowServer(const std::filesystem::path& state_dir, const std::string& name);
Result<std::vector<ServerView>> ListServers(const std::filesystem::path& state_dir);

// psql "host=... port=... dbname=postgres user=... sslmode=verify-full sslrootcert=..."
std::string PsqlCommand(const Manifest& manifest, const ServerPaths& paths);

}  // namespace pgcmk::server
