// `pgcmk server ...`: the CLI adapter over server/server_manager.h and server/supervisor.h. Parses
// arguments, prints human or JSON output; no domain logic.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <thread>

#include "cli/args.h"
#include "cli/command_table.h"
#include "common/status.h"
#include "server/activity_log.h"
#include "server/postgres_instance.h"
#include "server/server_manager.h"
#include "server/supervisor.h"
#include "server/supervisor_process.h"

namespace pgcmk::cli {
namespace {

using server::ServerState;

// Every server command but list names one server.
Result<std::string> ServerName(const Args& a) { return a.OnePositional("server NAME"); }

// An integer option copied into `out` when present.
template <typename T>
Status SetInt(const Args& a, std::string_view name, std::int64_t min, std::int64_t max, T& out) {
  PGCMK_ASSIGN_OR_RETURN(auto v, a.GetInt(name, min, max));
  if (v) out = static_cast<T>(*v);
  return Status::Ok();
}

std::filesystem::path StateDir(const Args& a) {
  auto dir = a.Get("state-dir");
  return dir ? std::filesystem::path(*dir) : server::DefaultStateDir();
}

Status Create(std::span<const std::string> argv, CommandContext& ctx) {
  PGCMK_ASSIGN_OR_RETURN(Args a, Args::Parse(argv, {{"state-dir"},
                                                    {"key"},
                                                    {"identity"},
                                                    {"identity-secret-file"},
                                                    {"identity-certificate-file"},
                                                    {"vault-ca"},
                                                    {"admin-password-file"},
                                                    {"admin-user"},
                                                    {"port"},
                                                    {"listen"},
                                                    {"check-interval"},
                                                    {"grace-period"},
                                                    {"webhook", OptionKind::kRepeated},
                                                    {"allow-purgeable-key"}}));
  server::CreateRequest req;
  req.state_dir = StateDir(a);
  PGCMK_ASSIGN_OR_RETURN(req.name, ServerName(a));
  req.key_uri = a.GetOr("key", "");
  req.identity_client_id = a.GetOr("identity", "");
  req.identity_secret_file = a.GetOr("identity-secret-file", "");
  req.identity_certificate_file = a.GetOr("identity-certificate-file", "");
  req.vault_ca_file = a.GetOr("vault-ca", "");
  req.admin_password_file = a.GetOr("admin-password-file", "");
  req.settings.admin_user = a.GetOr("admin-user", req.settings.admin_user);
  req.settings.listen_address = a.GetOr("listen", req.settings.listen_address);
  PGCMK_RETURN_IF_ERROR(SetInt(a, "port", 1, 65535, req.port));
  PGCMK_RETURN_IF_ERROR(SetInt(a, "check-interval", 1, 86400, req.settings.check_interval_seconds));
  PGCMK_RETURN_IF_ERROR(SetInt(a, "grace-period", 0, 7 * 86400, req.settings.grace_period_seconds));
  if (a.Has("webhook")) req.settings.webhooks = a.GetAll("webhook");
  // Takes a value so that it is never given by accident: --allow-purgeable-key=yes-destroy-on-purge
  if (a.Has("allow-purgeable-key")) {
    if (a.Get("allow-purgeable-key") != "yes-destroy-on-purge") {
      return Status(StatusCode::kInvalidArgument,
                    "--allow-purgeable-key must be 'yes-destroy-on-purge' (tests only)");
    }
    req.allow_purgeable_key = true;
  }
  PGCMK_ASSIGN_OR_RETURN(server::CreateResult r, server::CreateServer(req));
  const std::string psql = server::PsqlCommand(r.manifest, r.paths);
  if (ctx.format == OutputFormat::kJson) {
    nlohmann::json j{{"name", r.manifest.name},
                     {"state", "Stopped"},
                     {"dataEncryption",
                      {{"type", server::EncryptionTypeName(r.manifest.type)},
                       {"primaryKeyURI", r.manifest.key_uri},
                       {"wrappingKeyId", r.manifest.wrapping_kid}}},
                     {"port", r.manifest.settings.port},
                     {"caCertificate", r.paths.client_ca().string()},
                     {"connect", psql}};
    if (r.generated_password) {
      j["administratorLoginPassword"] = std::string(AsStringView(r.generated_password->reveal()));
    }
    ctx.out << j.dump(2) << "\n";
    return Status::Ok();
  }
  ctx.out << "Created server '" << r.manifest.name << "' ("
          << server::EncryptionTypeName(r.manifest.type) << " encryption)\n"
          << "  key:            " << r.manifest.key_uri << "\n"
          << "  DEK wrapped by: " << r.manifest.wrapping_kid << "\n"
          << "  listens on:     " << r.manifest.settings.listen_address << ":"
          << r.manifest.settings.port << " (TLS 1.2+ only, SCRAM)\n";
  if (r.manifest.type == server::EncryptionType::kSystemManaged) {
    ctx.out << "  note: a system-managed key is held on this host ("
            << r.paths.system_key().string()
            << "); use --key/--identity for a customer-managed key.\n";
  }
  if (r.generated_password) {
    ctx.out << "  admin password for '" << r.manifest.settings.admin_user
            << "' (shown once, stored nowhere): " << AsStringView(r.generated_password->reveal())
            << "\n";
  }
  ctx.out << "Start it:  pgcmk server start " << r.manifest.name
          << (a.Has("state-dir") ? " --state-dir " + req.state_dir.string() : "") << "\n"
          << "Connect:   " << psql << "\n";
  return Status::Ok();
}

Status Run(std::span<const std::string> argv, CommandContext&) {
  PGCMK_ASSIGN_OR_RETURN(Args a,
                         Args::Parse(argv, {{"state-dir"}, {"check-interval"}, {"grace-period"}}));
  server::SupervisorOptions o;
  o.state_dir = StateDir(a);
  PGCMK_ASSIGN_OR_RETURN(o.name, ServerName(a));
  PGCMK_RETURN_IF_ERROR(SetInt(a, "check-interval", 1, 86400, o.check_interval_seconds));
  PGCMK_RETURN_IF_ERROR(SetInt(a, "grace-period", 0, 7 * 86400, o.grace_period_seconds));
  return server::RunSupervisor(o);
}

// Spawns `pgcmk server run NAME` detached (own session, output appended to supervisor.log) and
// waits until it reports Ready or Inaccessible.
Status StartServer(const std::filesystem::path& state_dir, const std::string& name,
                   int timeout_seconds, CommandContext& ctx) {
  PGCMK_ASSIGN_OR_RETURN(server::ServerView view, server::ShowServer(state_dir, name));
  if (auto pid = server::RunningSupervisorPid(view.paths)) {
    ctx.out << "Server '" << name << "' is already running (supervisor pid " << *pid << ")\n";
    return Status::Ok();
  }
  const std::string log = view.paths.supervisor_log().string();
  const std::string state = state_dir.string();
  const pid_t child = ::fork();
  if (child < 0) return Status::FromErrno(errno, "fork");
  if (child == 0) {
    ::setsid();
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (fd < 0 || devnull < 0) ::_exit(127);
    ::dup2(devnull, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::close_range(3, ~0U, 0);
    const char* args[] = {"pgcmk",       "server",      "run",  name.c_str(),
                          "--state-dir", state.c_str(), nullptr};
    ::execv("/proc/self/exe", const_cast<char* const*>(args));
    ::_exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while (true) {
    int st = 0;
    if (::waitpid(child, &st, WNOHANG) == child) {
      return Status(StatusCode::kFailedPrecondition,
                    "the supervisor exited during startup: " +
                        server::TailOfFile(view.paths.supervisor_log(), 600));
    }
    if (auto s = server::RuntimeStatus::Load(view.paths.status());
        s && s->supervisor_pid == child &&
        (s->state == ServerState::kReady || s->state == ServerState::kInaccessible)) {
      if (s->state == ServerState::kInaccessible) {
        return Status(StatusCode::kFailedPrecondition,
                      "server '" + name + "' started but is Inaccessible: " + s->reason +
                          " (the supervisor, pid " + std::to_string(child) +
                          ", keeps re-checking and becomes Ready when access returns)");
      }
      ctx.out << "Server '" << name << "' is Ready (supervisor pid " << child << ")\n"
              << "Connect: " << view.psql_command << "\n";
      return Status::Ok();
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Status(StatusCode::kDeadlineExceeded,
                    "server '" + name + "' did not become Ready within " +
                        std::to_string(timeout_seconds) + " s; see " + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Status StopServer(const std::filesystem::path& state_dir, const std::string& name,
                  int timeout_seconds, CommandContext& ctx) {
  PGCMK_ASSIGN_OR_RETURN(server::ServerView view, server::ShowServer(state_dir, name));
  auto pid = server::RunningSupervisorPid(view.paths);
  if (!pid) {
    ctx.out << "Server '" << name << "' is not running\n";
    return Status::Ok();
  }
  if (::kill(*pid, SIGTERM) != 0) return Status::FromErrno(errno, "kill");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while (server::RunningSupervisorPid(view.paths)) {
    if (std::chrono::steady_clock::now() > deadline) {
      return Status(StatusCode::kDeadlineExceeded, "server '" + name + "' did not stop within " +
                                                       std::to_string(timeout_seconds) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ctx.out << "Server '" << name << "' stopped\n";
  return Status::Ok();
}

// --timeout SECONDS for start/stop/restart: 1..3600, default 120.
Result<int> TimeoutArg(const Args& a) {
  int timeout = 120;
  PGCMK_RETURN_IF_ERROR(SetInt(a, "timeout", 1, 3600, timeout));
  return timeout;
}

Status Start(std::span<const std::string> argv, CommandContext& ctx) {
  PGCMK_ASSIGN_OR_RETURN(Args a, Args::Parse(argv, {{"state-dir"}, {"timeout"}}));
  PGCMK_ASSIGN_OR_RETURN(std::string name, ServerName(a));
  PGCMK_ASSIGN_OR_RETURN(int timeout, TimeoutArg(a));
  return StartServer(StateDir(a), name, timeout, ctx);
}

Status Stop(std::span<const std::string> argv, CommandContext& ctx) {
  PGCMK_ASSIGN_OR_RETURN(Args a, Args::Parse(argv, {{"state-dir"}, {"timeout"}}));
  PGCMK_ASSIGN_OR_RETURN(std::string name, ServerName(a));
  PGCMK_ASSIGN_OR_RETURN(int timeout, TimeoutArg(a));
  return StopServer(StateDir(a), name, timeout, ctx);
}

Status Restart(std::span<const std::string> argv, CommandContext& ctx) {
  PGCMK_ASSIGN_OR_RETURN(Args a, Args::Parse(argv, {{"state-dir"}, {"timeout"}}));
  PGCMK_ASSIGN_OR_RETURN(std::string name, ServerName(a));
  PGCMK_ASSIGN_OR_RETURN(int timeout, TimeoutArg(a));
  PGCMK_RETURN_IF_ERROR(StopServer(StateDir(a), name, timeout, ctx));
  return StartServer(StateDir(a), name, timeout, ctx);
}

Status Show(std::span<const std::string> argv, CommandContext& ctx) {
  PGCMK_ASSIGN_OR_RETURN(Args a, Args::Parse(argv, {{"state-dir"}}));
  PGCMK_ASSIGN_OR_RETURN(std::string name, ServerName(a));
  PGCMK_ASSIGN_OR_RETURN(server::ServerView v, server::ShowServer(StateDir(a), name));
  ctx.out << (ctx.format == OutputFormat::kJson ? v.ToJson() + "\n" : v.ToHuman());
  return Status::Ok();
}

Status List(std::span<const std::string> argv, CommandContext& ctx) {
  PGCMK_ASSIGN_OR_RETURN(Args a, Args::Parse(argv, {{"state-dir"}}));
  PGCMK_RETURN_IF_ERROR(a.NoPositional());
  PGCMK_ASSIGN_OR_RETURN(auto views, server::ListServers(StateDir(a)));
  if (ctx.format == OutputFormat::kJson) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& v : views) arr.push_back(nlohmann::json::parse(v.ToJson()));
    ctx.out << nlohmann::json{{"value", arr}}.dump(2) << "\n";
    return Status::Ok();
  }
  if (views.empty()) {
    ctx.out << "No servers in " << StateDir(a).string() << "\n";
    return Status::Ok();
  }
  ctx.out << "NAME                 STATE         PORT   ENCRYPTION      KEY STATUS  KEY\n";
  for (const auto& v : views) {
    std::string line = v.manifest.name;
    auto pad = [&](size_t width) { line.resize(std::max(line.size() + 1, width), ' '); };
    pad(21);
    line += server::ServerStateName(v.status.state);
    pad(35);
    line += std::to_string(v.manifest.settings.port);
    pad(42);
    line += server::EncryptionTypeName(v.manifest.type);
    pad(58);
    line += v.status.key_valid ? "Valid" : "Invalid";
    pad(70);
    line += v.manifest.key_uri;
    ctx.out << line << "\n";
  }
  return Status::Ok();
}

Status Update(std::span<const std::string> argv, CommandContext& ctx) {
  PGCMK_ASSIGN_OR_RETURN(Args a, Args::Parse(argv, {{"state-dir"},
                                                    {"key"},
                                                    {"identity"},
                                                    {"identity-secret-file"},
                                                    {"identity-certificate-file"},
                                                    {"vault-ca"}}));
  server::UpdateRequest req;
  req.state_dir = StateDir(a);
  PGCMK_ASSIGN_OR_RETURN(req.name, ServerName(a));
  req.key_uri = a.GetOr("key", "");
  req.identity_client_id = a.GetOr("identity", "");
  req.identity_secret_file = a.GetOr("identity-secret-file", "");
  req.identity_certificate_file = a.GetOr("identity-certificate-file", "");
  req.vault_ca_file = a.GetOr("vault-ca", "");
  PGCMK_ASSIGN_OR_RETURN(server::Manifest m, server::UpdateServerEncryption(req));
  if (ctx.format == OutputFormat::kJson) {
    ctx.out << nlohmann::json{{"name", m.name},
                              {"primaryKeyURI", m.key_uri},
                              {"primaryUserAssignedIdentityId", m.identity_client_id},
                              {"wrappingKeyId", m.wrapping_kid},
                              {"manifestGeneration", m.generation}}
                   .dump(2)
            << "\n";
  } else {
    ctx.out << "Server '" << m.name << "' now uses key " << m.key_uri << " with identity "
            << m.identity_client_id << "\n  DEK wrapped by " << m.wrapping_kid << "\n";
  }
  return Status::Ok();
}

Status Activity(std::span<const std::string> argv, CommandContext& ctx) {
  PGCMK_ASSIGN_OR_RETURN(Args a, Args::Parse(argv, {{"state-dir"}}));
  PGCMK_ASSIGN_OR_RETURN(std::string name, ServerName(a));
  PGCMK_ASSIGN_OR_RETURN(server::ServerView v, server::ShowServer(StateDir(a), name));
  PGCMK_ASSIGN_OR_RETURN(auto lines, server::ActivityLog::ReadAll(v.paths.activity_log()));
  if (ctx.format == OutputFormat::kJson) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& l : lines) arr.push_back(nlohmann::json::parse(l, nullptr, false));
    ctx.out << nlohmann::json{{"value", arr}}.dump(2) << "\n";
    return Status::Ok();
  }
  for (const auto& l : lines) {
    auto j = nlohmann::json::parse(l, nullptr, false);
    if (!j.is_object()) continue;
    ctx.out << j.value("time", "") << "  " << j.value("event", "");
    if (j.contains("state")) ctx.out << " [" << j.value("state", "") << "]";
    ctx.out << "  " << j.value("message", "") << "\n";
  }
  return Status::Ok();
}

Status Delete(std::span<const std::string> argv, CommandContext& ctx) {
  PGCMK_ASSIGN_OR_RETURN(Args a, Args::Parse(argv, {{"state-dir"}}));
  PGCMK_ASSIGN_OR_RETURN(std::string name, ServerName(a));
  PGCMK_ASSIGN_OR_RETURN(server::ServerView v, server::ShowServer(StateDir(a), name));
  if (server::RunningSupervisorPid(v.paths)) {
    return Status(StatusCode::kFailedPrecondition,
                  "server '" + v.manifest.name + "' is running; stop it first");
  }
  std::error_code ec;
  std::filesystem::remove_all(v.paths.dir, ec);
  if (ec)
    return Status(StatusCode::kIoError, "removing " + v.paths.dir.string() + ": " + ec.message());
  ctx.out << "Deleted server '" << v.manifest.name << "' (its wrapped DEK and encrypted data)\n";
  return Status::Ok();
}

Status PostgresSettings(std::span<const std::string> argv, CommandContext& ctx) {
  if (!argv.empty()) {
    return Status(StatusCode::kInvalidArgument, "postgres-settings takes no arguments");
  }
  if (ctx.format == OutputFormat::kJson) {
    ctx.out << nlohmann::json{{"settings", server::StoragePostgresSettings()}}.dump() << "\n";
  } else {
    ctx.out << server::StoragePostgresSettings();
  }
  return Status::Ok();
}

}  // namespace

void RegisterServerCommands(CommandTable& table) {
  const std::string sd = " [--state-dir DIR]";
  table.Add({"server create",
             "NAME [--key KEY_URI --identity CLIENT_ID (--identity-secret-file FILE | "
             "--identity-certificate-file KEY_AND_CERT.pem) [--vault-ca FILE]] "
             "[--admin-password-file FILE] [--admin-user NAME] [--port N] [--listen "
             "ADDR] [--check-interval S] [--grace-period S] [--webhook URL]..." +
                 sd,
             "Create a PostgreSQL server on encrypted storage (customer-managed key with --key)",
             Create});
  table.Add({"server run", "NAME [--check-interval S] [--grace-period S]" + sd,
             "Run the server's supervisor in the foreground (systemd-friendly)", Run});
  table.Add({"server start", "NAME [--timeout S]" + sd,
             "Start the supervisor in the background and wait for Ready", Start});
  table.Add({"server stop", "NAME [--timeout S]" + sd, "Stop the server cleanly", Stop});
  table.Add({"server restart", "NAME [--timeout S]" + sd, "Stop, then start", Restart});
  table.Add({"server show", "NAME" + sd, "Show state and data-encryption settings", Show});
  table.Add({"server list", sd.substr(1), "List servers", List});
  table.Add({"server update",
             "NAME --key KEY_URI --identity CLIENT_ID (--identity-secret-file FILE | "
             "--identity-certificate-file KEY_AND_CERT.pem) [--vault-ca FILE]" +
                 sd,
             "Switch the key and identity (after the same checks as create)", Update});
  table.Add({"server activity", "NAME" + sd, "Show the server's activity log", Activity});
  table.Add({"server postgres-settings", "",
             "Print the PostgreSQL settings pgcmk servers use on the encrypted mount",
             PostgresSettings});
  table.Add(
      {"server delete", "NAME" + sd, "Delete a stopped server and its encrypted data", Delete});
}

}  // namespace pgcmk::cli
