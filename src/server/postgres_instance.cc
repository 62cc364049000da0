#include "server/postgres_instance.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "common/durable_file.h"
#include "common/unique_fd.h"

namespace pgcmk::server {

std::string TailOfFile(const std::filesystem::path& path, size_t max_bytes) {
  auto bytes = ReadWholeFile(path, 64u << 20);
  if (!bytes) return "";
  std::string_view text = AsStringView(*bytes);
  if (text.size() > max_bytes) text = text.substr(text.size() - max_bytes);
  return std::string(text);
}

Status InitDb(const PostgresOptions& options, const SecretBytes& admin_password) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  // The password plus newline fits in the pipe buffer, so this cannot block.
  if (admin_password.size() > 1024) {
    return Status(StatusCode::kInvalidArgument, "the admin password is too long");
  }
  PGCMK_RETURN_IF_ERROR(WriteAll(write_end.get(), admin_password.reveal()));
  PGCMK_RETURN_IF_ERROR(WriteAll(write_end.get(), AsBytes("\n")));
  write_end.Reset();
  SpawnOptions spawn;
  spawn.argv = {(options.bin_dir / "initdb").string(),
                "--pgdata=" + options.data_dir.string(),
                "--username=" + options.superuser,
                "--pwfile=/dev/fd/3",
                "--auth=scram-sha-256",
                "--data-checksums",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions"};
  spawn.log_file = options.log_file;
  spawn.pass_fd = read_end.get();
  auto child = ChildProcess::Spawn(spawn);
  if (!child) return child.error();
  read_end.Reset();
  auto st = child->Wait(std::chrono::minutes(5));
  if (!st) return st.error();
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
    return Status(StatusCode::kInternal,
                  "initdb " + DescribeExitStatus(*st) + ": " + TailOfFile(options.log_file));
  }
  return Status::Ok();
}

std::string_view StoragePostgresSettings() {
  return "wal_sync_method = open_datasync\n"
         "wal_buffers = 64MB\n";
}

Status WriteRuntimeConfig(const PostgresOptions& o) {
  std::ostringstream conf;
  conf << "# Written by pgcmk; edits are overwritten at every start.\n"
       << "listen_addresses = '" << o.listen_address << "'\n"
       << "port = " << o.port << "\n"
       << "unix_socket_directories = ''\n"
       << "ssl = on\n"
       << "ssl_min_protocol_version = 'TLSv1.2'\n"
       << "ssl_cert_file = 'server.crt'\n"
       << "ssl_key_file = 'server.key'\n"
       << "password_encryption = 'scram-sha-256'\n"
       << "logging_collector = off\n"
       << "log_connections = on\n"
       << "# Storage settings for the encrypted mount (see docs/storage.md)\n"
       << StoragePostgresSettings();
  const std::string conf_text = conf.str();
  PGCMK_RETURN_IF_ERROR(WriteFileAtomically(o.data_dir / "pgcmk.conf", AsBytes(conf_text), 0600));
  // Include pgcmk.conf from postgresql.conf once.
  const auto main_conf = o.data_dir / "postgresql.conf";
  auto existing = ReadWholeFile(main_conf);
  if (!existing) return existing.error();
  std::string text(AsStringView(*existing));
  const std::string include = "include 'pgcmk.conf'";
  if (text.find(include) == std::string::npos) {
    text += "\n" + include + "\n";
    PGCMK_RETURN_IF_ERROR(WriteFileAtomically(main_conf, AsBytes(text), 0600));
  }
  return Status::Ok();
}

Status ConfigurePostgres(const PostgresOptions& o, std::string_view server_cert_pem,
                         const SecretBytes& server_key_pem) {
  PGCMK_RETURN_IF_ERROR(WriteRuntimeConfig(o));
  const std::string hba =
      "# Written by pgcmk: TLS with SCRAM only; unencrypted connections are rejected.\n"
      "hostssl   all all all         scram-sha-256\n"
      "hostnossl all all 0.0.0.0/0   reject\n"
      "hostnossl all all ::/0        reject\n";
  PGCMK_RETURN_IF_ERROR(WriteFileAtomically(o.data_dir / "pg_hba.conf", AsBytes(hba), 0600));
  PGCMK_RETURN_IF_ERROR(
      WriteFileAtomically(o.data_dir / "server.crt", AsBytes(server_cert_pem), 0644));
  PGCMK_RETURN_IF_ERROR(
      WriteFileAtomically(o.data_dir / "server.key", server_key_pem.reveal(), 0600));
  return Status::Ok();
}

namespace {

// postmaster.pid line 8 is the postmaster's status: "starting", "ready", "stopping", ...
bool PostmasterReady(const std::filesystem::path& data_dir, pid_t pid) {
  std::ifstream in(data_dir / "postmaster.pid");
  std::string line;
  for (int i = 1; i <= 8 && std::getline(in, line); ++i) {
    if (i == 1 && line != std::to_string(pid)) return false;
    if (i == 8) return line.starts_with("ready");
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<PostgresProcess>> PostgresProcess::Start(const PostgresOptions& options,
                                                                std::chrono::seconds timeout) {
  SpawnOptions spawn;
  spawn.argv = {(options.bin_dir / "postgres").string(), "-D", options.data_dir.string()};
  spawn.log_file = options.log_file;
  spawn.parent_death_signal = SIGQUIT;
  PGCMK_ASSIGN_OR_RETURN(ChildProcess child, ChildProcess::Spawn(spawn));
  std::unique_ptr<PostgresProcess> p(new PostgresProcess(options, std::move(child)));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!PostmasterReady(options.data_dir, p->pid())) {
    std::string why;
    if (p->Exited(&why)) {
      p->stopped_ = true;
      return Err(StatusCode::kInternal,
                 "PostgreSQL " + why + " during startup: " + TailOfFile(options.log_file));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      (void)p->Stop(std::chrono::seconds(5));  // the timeout is the error to report
      return Err(StatusCode::kDeadlineExceeded,
                 "PostgreSQL did not become ready in time: " + TailOfFile(options.log_file));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return p;
}

PostgresProcess::~PostgresProcess() { (void)Stop(std::chrono::seconds(30)); }

bool PostgresProcess::Exited(std::string* why) {
  auto st = child_.Poll();
  if (!st) return false;
  if (why != nullptr) *why = DescribeExitStatus(*st);
  return true;
}

Status PostgresProcess::Stop(std::chrono::seconds timeout) {
  if (stopped_) return Status::Ok();
  stopped_ = true;
  if (child_.Poll()) return Status::Ok();
  PGCMK_RETURN_IF_ERROR(child_.Signal(SIGINT));
  if (child_.Wait(timeout)) return Status::Ok();
  (void)child_.Signal(SIGQUIT);  // immediate shutdown; crash recovery at the next start
  if (child_.Wait(std::chrono::seconds(5))) {
    return Status(StatusCode::kDeadlineExceeded,
                  "PostgreSQL did not shut down cleanly in time; it was stopped immediately");
  }
  (void)child_.Signal(SIGKILL);
  (void)child_.Wait(std::chrono::seconds(5));
  return Status(StatusCode::kDeadlineExceeded, "PostgreSQL had to be killed");
}

}  // namespace pgcmk::server
