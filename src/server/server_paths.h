// Where a server lives. One state directory holds every server:
//   <state>/servers/<name>/            0700, owned by the service user
//     manifest.json, manifest.lock     the durable manifest (manifest.h)
//     status.json                      runtime state for show/list (server_state.h)
//     activity.log                     append-only JSON lines (activity_log.h)
//     identity-<client-id>.secret      the identity's client secret, 0600
//     vault-ca.pem                     CA certificate that signs the vault's TLS certificate
//     system.key                       the system-managed key, 0600 (SystemManaged only)
//     tls/ca.pem                       the server's private CA certificate (give it to clients)
//     backing/                         the encrypted volume (ciphertext only)
//     mnt/                             the FUSE mountpoint while the server runs
//     mnt/pgdata                       PostgreSQL's data directory (inside the encrypted volume)
//     supervisor.lock                  flock'ed by the running supervisor, holds its pid
//     supervisor.pid, supervisor.log   the running supervisor
// The state directory is --state-dir, else $PGCMK_STATE_DIR, else /var/lib/pgcmk.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pgcmk::server {

std::filesystem::path DefaultStateDir();

// Server names: 1-63 characters of [a-z0-9-], starting with a letter.
Status ValidateServerName(std::string_view name);

struct ServerPaths {
  std::filesystem::path dir;

  static ServerPaths For(const std::filesystem::path& state_dir, std::string_view name);
  static std::filesystem::path ServersDir(const std::filesystem::path& state_dir) {
    return state_dir / "servers";
  }

  std::filesystem::path manifest() const { return dir / "manifest.json"; }
  std::filesystem::path status() const { return dir / "status.json"; }
  std::filesystem::path activity_log() const { return dir / "activity.log"; }
  std::filesystem::path identity_secret(std::string_view client_id) const {
    return dir / ("identity-" + std::string(client_id) + ".secret");
  }
  // Certificate credential (private key + certificate PEM, 0600) used instead of the secret.
  std::filesystem::path identity_certificate(std::string_view client_id) const {
    return dir / ("identity-" + std::string(client_id) + ".pem");
  }
  std::filesystem::path vault_ca() const { return dir / "vault-ca.pem"; }
  std::filesystem::path system_key() const { return dir / "system.key"; }
  std::filesystem::path tls_dir() const { return dir / "tls"; }
  std::filesystem::path client_ca() const { return dir / "tls" / "ca.pem"; }
  std::filesystem::path backing() const { return dir / "backing"; }
  std::filesystem::path mountpoint() const { return dir / "mnt"; }
  std::filesystem::path data_dir() const { return dir / "mnt" / "pgdata"; }
  std::filesystem::path pid_file() const { return dir / "supervisor.pid"; }
  std::filesystem::path lock_file() const { return dir / "supervisor.lock"; }
  std::filesystem::path supervisor_log() const { return dir / "supervisor.log"; }
};

}  // namespace pgcmk::server
