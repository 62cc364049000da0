// PostgreSQL on the encrypted volume: initdb, configuration, start and clean stop.
//
// Everything here runs as the service user (the caller has dropped privileges already); PostgreSQL
// refuses to run as root anyway. The data directory lives inside the mounted volume, so data
// files, WAL, the server's TLS key and PostgreSQL's own log are all encrypted at rest.
//
// Configuration written by Configure (the `pgcmk.conf` include and pg_hba.conf):
//   listen_addresses = '<address>', port = <port>, unix_socket_directories = ''  (TCP only)
//   ssl = on, ssl_min_protocol_version = 'TLSv1.2', ssl_cert_file/ssl_key_file in the data dir
//   password_encryption = scram-sha-256
//   pg_hba.conf:  hostssl   all all all         scram-sha-256
//                 hostnossl all all 0.0.0.0/0   reject
//                 hostnossl all all ::/0        reject
// Start execs `postgres -D DATA` directly (not pg_ctl) so that the supervisor owns the postmaster:
// it is in its own process group and gets SIGQUIT (immediate shutdown) if the supervisor dies.
// Stop sends SIGINT (fast shutdown: active transactions are rolled back, a shutdown checkpoint is
// written), escalating to SIGQUIT and SIGKILL after the timeout.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "server/child_process.h"

namespace pgcmk::server {

struct PostgresOptions {
  std::filesystem::path bin_dir = "/usr/lib/postgresql/15/bin";
  std::filesystem::path data_dir;
  std::filesystem::path log_file;  // postmaster stdout/stderr (put it inside the volume)
  std::string listen_address = "127.0.0.1";
  int port = 5433;
  std::string superuser = "postgres";
};

// initdb --data-checksums --auth=scram-sha-256 --username=SUPERUSER, the password passed through
// a pipe (--pwfile=/dev/fd/3), never on disk or in argv.
Status InitDb(const PostgresOptions& options, const SecretBytes& admin_password);

// The PostgreSQL settings every pgcmk server gets for its data directory on the encrypted FUSE
// mount (postgresql.conf lines). WAL is written with O_DSYNC (wal_sync_method = open_datasync):
// the mount serves an O_DSYNC write as one request made durable before the reply, where
// fdatasync after a cached write costs three (write, times update, fsync). Every WAL buffer write
// is then synchronous, so the WAL buffers are large (64 MB) to keep bulk loads from writing WAL in
// small synchronous pieces. Measured in docs/benchmarks-storage.md; `pgcmk server
// postgres-settings` prints them for benchmarks and tests.
std::string_view StoragePostgresSettings();

// Writes pgcmk.conf (listen address, port, TLS settings, StoragePostgresSettings) and includes it
// from postgresql.conf. The supervisor calls it before every start.
Status WriteRuntimeConfig(const PostgresOptions& options);

// WriteRuntimeConfig, plus pg_hba.conf and the TLS server certificate and key (0600) in the data
// directory.
Status ConfigurePostgres(const PostgresOptions& options, std::string_view server_cert_pem,
                         const SecretBytes& server_key_pem);

class PostgresProcess {
 public:
  // Starts the postmaster and waits until it accepts connections (postmaster.pid says "ready").
  static Result<std::unique_ptr<PostgresProcess>> Start(const PostgresOptions& options,
                                                        std::chrono::seconds timeout);
  ~PostgresProcess();

  // Fast shutdown; escalates after `timeout`. Idempotent.
  Status Stop(std::chrono::seconds timeout = std::chrono::seconds(30));
  // True if the postmaster has exited on its own; `why` describes how.
  bool Exited(std::string* why);
  pid_t pid() const { return child_.pid(); }

 private:
  PostgresProcess(PostgresOptions options, ChildProcess child)
      : options_(std::move(options)), child_(std::move(child)) {}
  PostgresOptions options_;
  ChildProcess child_;
  bool stopped_ = false;
};

// The last `max_bytes` of a log file, for error messages.
std::string TailOfFile(const std::filesystem::path& path, size_t max_bytes = 800);

}  // namespace pgcmk::server
