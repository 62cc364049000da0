#include "server/server_manager.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "common/base64url.h"
#include "common/durable_file.h"
#include "common/log.h"
#include "common/process_hardening.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "crypto/client_certificate.h"
#include "crypto/random.h"
#include "fuse/mount.h"
#include "kms/key_uri.h"
#include "kms/local_key_provider.h"
#include "server/activity_log.h"
#include "server/key_access.h"
#include "server/postgres_instance.h"
#include "server/service_user.h"
#include "server/supervisor_process.h"
#include "server/tls_material.h"
#include "storage/volume.h"

namespace pgcmk::server {
namespace {

using Json = nlohmann::json;

// First line of a small secret file, trailing whitespace removed, in locked memory.
Result<SecretBytes> ReadFirstLineSecret(const std::filesystem::path& path, std::string_view what) {
  auto secret = ReadSecretFile(path, 4096);
  if (!secret) return Err(secret.error().WithContext("reading the " + std::string(what)));
  ByteView b = secret->reveal();
  size_t n = 0;
  while (n < b.size() && b[n] != '\n' && b[n] != '\r') ++n;
  while (n > 0 && (b[n - 1] == ' ' || b[n - 1] == '\t')) --n;
  if (n == 0) {
    return Err(StatusCode::kInvalidArgument,
               "the " + std::string(what) + " file " + path.string() + " is empty");
  }
  secret->Truncate(n);
  return std::move(*secret);
}

// The identity's credential as create/update are given it: exactly one of a client secret file
// and a certificate credential file (RSA private key + certificate PEM, owner-only permissions,
// checked to parse and to belong together before anything is created).
struct GivenCredential {
  bool certificate = false;
  SecretBytes bytes;
};

Result<GivenCredential> ReadIdentityCredential(const std::filesystem::path& secret_file,
                                               const std::filesystem::path& certificate_file) {
  if (secret_file.empty() == certificate_file.empty()) {
    return Err(StatusCode::kInvalidArgument,
               "give exactly one identity credential with --identity: "
               "--identity-secret-file (as written by 'pgcmk vault identity create "
               "--secret-file') or --identity-certificate-file (as written by 'pgcmk vault "
               "identity cert create --out')");
  }
  GivenCredential out;
  if (!secret_file.empty()) {
    PGCMK_ASSIGN_OR_RETURN(out.bytes, ReadFirstLineSecret(secret_file, "identity secret"));
    return out;
  }
  // It holds a private key: only a private regular file is accepted (checked on what is read).
  auto pem = ReadPrivateSecretFile(certificate_file, 1 << 20);
  if (!pem) return Err(pem.error().WithContext("reading the identity certificate credential"));
  if (auto parsed = crypto::ParseClientCertificateCredential(*pem); !parsed) {
    return Err(parsed.error().WithContext(certificate_file.string()));
  }
  out.certificate = true;
  out.bytes = std::move(*pem);
  return out;
}

IdentityConfig ConfigFor(const std::string& client_id, const GivenCredential& credential,
                         std::filesystem::path vault_ca_file) {
  IdentityConfig identity;
  identity.client_id = client_id;
  (credential.certificate ? identity.client_certificate_pem : identity.client_secret) =
      credential.bytes.Clone();
  identity.vault_ca_file = std::move(vault_ca_file);
  return identity;
}

// Stores the credential in the server directory (0600) and removes the other kind, so that
// OpenKeyClient finds exactly the one given.
Status StoreIdentityCredential(const ServerPaths& paths, const std::string& client_id,
                               const GivenCredential& credential) {
  const auto keep = credential.certificate ? paths.identity_certificate(client_id)
                                           : paths.identity_secret(client_id);
  const auto drop = credential.certificate ? paths.identity_secret(client_id)
                                           : paths.identity_certificate(client_id);
  PGCMK_RETURN_IF_ERROR(WriteFileAtomically(keep, credential.bytes.reveal(), 0600));
  // Absent is the common case; a leftover that cannot be removed would be used instead of the
  // credential just given (OpenKeyClient prefers the certificate), so that fails the change.
  std::error_code ec;
  std::filesystem::remove(drop, ec);
  if (ec) {
    return Status(StatusCode::kIoError, "cannot remove the previous identity credential " +
                                            drop.string() + ": " + ec.message());
  }
  return Status::Ok();
}

bool PortIsFree(const std::string& address, int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) return false;
  return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

std::vector<int> PortsInUseByServers(const std::filesystem::path& state_dir) {
  std::vector<int> ports;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator(ServerPaths::ServersDir(state_dir), ec)) {
    if (auto m = Manifest::Load(entry.path() / "manifest.json")) ports.push_back(m->settings.port);
  }
  return ports;
}

Result<int> ChoosePort(const std::filesystem::path& state_dir, const std::string& address,
                       std::optional<int> requested) {
  const auto taken = PortsInUseByServers(state_dir);
  auto used = [&](int p) { return std::find(taken.begin(), taken.end(), p) != taken.end(); };
  if (requested) {
    if (*requested < 1 || *requested > 65535) {
      return Err(StatusCode::kInvalidArgument, "--port must be 1-65535");
    }
    if (used(*requested)) {
      return Err(StatusCode::kAlreadyExists,
                 "port " + std::to_string(*requested) + " is used by another pgcmk server");
    }
    if (!PortIsFree(address, *requested)) {
      return Err(StatusCode::kFailedPrecondition,
                 "port " + std::to_string(*requested) + " on " + address + " is in use");
    }
    return *requested;
  }
  for (int p = 5433; p < 5433 + 1000; ++p) {
    if (!used(p) && PortIsFree(address, p)) return p;
  }
  return Err(StatusCode::kResourceExhausted, "no free port from 5433 up");
}

// Removes a half-created server directory unless released.
class RemoveOnFailure {
 public:
  explicit RemoveOnFailure(std::filesystem::path dir) : dir_(std::move(dir)) {}
  ~RemoveOnFailure() {
    if (dir_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void Release() { dir_.clear(); }

 private:
  std::filesystem::path dir_;
};

Status PrepareServersDir(const std::filesystem::path& state_dir, const ServiceUser& user) {
  std::error_code ec;
  if (!std::filesystem::exists(state_dir, ec)) {
    PGCMK_RETURN_IF_ERROR(CreateDirectoryDurably(state_dir, 0711));
  }
  const auto servers = ServerPaths::ServersDir(state_dir);
  if (!std::filesystem::exists(servers, ec)) {
    PGCMK_RETURN_IF_ERROR(CreateDirectoryDurably(servers, 0700));
    PGCMK_RETURN_IF_ERROR(ChownTree(servers, user));
  }
  return Status::Ok();
}

}  // namespace

std::string PsqlCommand(const Manifest& m, const ServerPaths& paths) {
  return "psql \"host=" + m.settings.listen_address + " port=" + std::to_string(m.settings.port) +
         " dbname=postgres user=" + m.settings.admin_user +
         " sslmode=verify-full sslrootcert=" + paths.client_ca().string() + "\"";
}

Result<CreateResult> CreateServer(const CreateRequest& req) {
  // This process generates the DEK and serves the mount during initdb: no core dumps.
  PGCMK_RETURN_IF_ERROR(DisableCoreDumps());
  PGCMK_RETURN_IF_ERROR(ValidateServerName(req.name));
  const bool cmk = !req.key_uri.empty() || !req.identity_client_id.empty();
  if (cmk && (req.key_uri.empty() || req.identity_client_id.empty())) {
    return Err(StatusCode::kInvalidArgument,
               "the identity and the key vault key need to be provided together: give --identity "
               "and --key together");
  }
  if (cmk) {
    if (auto uri = kms::KeyUri::Parse(req.key_uri); !uri) return Err(uri.error());
  }
  const ServerPaths paths = ServerPaths::For(req.state_dir, req.name);
  std::error_code ec;
  if (std::filesystem::exists(paths.dir, ec)) {
    return Err(StatusCode::kAlreadyExists, "server '" + req.name + "' already exists");
  }
  // Inputs only the invoking user may read; read them before dropping privileges.
  std::optional<GivenCredential> credential;
  if (cmk) {
    PGCMK_ASSIGN_OR_RETURN(credential, ReadIdentityCredential(req.identity_secret_file,
                                                              req.identity_certificate_file));
  }
  std::optional<Bytes> vault_ca;
  if (!req.vault_ca_file.empty()) {
    auto ca = ReadWholeFile(req.vault_ca_file, 1 << 20);
    if (!ca) return Err(ca.error().WithContext("reading the vault CA file"));
    vault_ca = std::move(*ca);
  }
  CreateResult result;
  SecretBytes password;
  if (!req.admin_password_file.empty()) {
    PGCMK_ASSIGN_OR_RETURN(password,
                           ReadFirstLineSecret(req.admin_password_file, "admin password"));
  } else {
    PGCMK_ASSIGN_OR_RETURN(SecretBytes raw, crypto::RandomSecret(18));
    std::string text = Base64UrlEncode(raw.reveal());
    password = SecretBytes::CopyFrom(AsBytes(text));
    SecureZero(text.data(), text.size());
    result.generated_password = password.Clone();
  }
  PGCMK_ASSIGN_OR_RETURN(ServiceUser user, LookupServiceUser());
  PGCMK_RETURN_IF_ERROR(PrepareServersDir(req.state_dir, user));
  PGCMK_RETURN_IF_ERROR(BecomeServiceUser(user));

  // From here on: the service user, in a temporary directory renamed into place at the end.
  const auto tmp = ServerPaths::ServersDir(req.state_dir) /
                   ("." + req.name + ".creating-" + std::to_string(::getpid()));
  std::filesystem::remove_all(tmp, ec);
  PGCMK_RETURN_IF_ERROR(CreateDirectoryDurably(tmp, 0700));
  RemoveOnFailure cleanup(tmp);
  const ServerPaths work{tmp};

  Manifest m;
  m.name = req.name;
  m.created = UnixNow();
  m.generation = 1;
  m.settings = req.settings;
  PGCMK_ASSIGN_OR_RETURN(m.settings.port,
                         ChoosePort(req.state_dir, m.settings.listen_address, req.port));
  PGCMK_ASSIGN_OR_RETURN(SecretBytes dek, crypto::RandomSecret(storage::Volume::kDekSize));
  if (cmk) {
    m.type = EncryptionType::kAzureKeyVault;
    m.key_uri = kms::KeyUri::Parse(req.key_uri)->ToString();
    m.identity_client_id = req.identity_client_id;
    IdentityConfig identity = ConfigFor(req.identity_client_id, *credential, {});
    if (vault_ca) {
      PGCMK_RETURN_IF_ERROR(WriteFileAtomically(work.vault_ca(), *vault_ca, 0644));
      identity.vault_ca_file = work.vault_ca();
    }
    PGCMK_RETURN_IF_ERROR(StoreIdentityCredential(work, req.identity_client_id, *credential));
    PGCMK_ASSIGN_OR_RETURN(auto client, MakeAzureKeyVaultClient(std::move(identity)));
    PGCMK_ASSIGN_OR_RETURN(kms::KeyInfo key,
                           ValidateCustomerManagedKey(*client, m.key_uri, req.allow_purgeable_key));
    PGCMK_ASSIGN_OR_RETURN(kms::WrappedKey wrapped,
                           client->WrapKey(key.kid, kms::kRsaOaep256, dek));
    PGCMK_ASSIGN_OR_RETURN(SecretBytes proof,
                           client->UnwrapKey(wrapped.kid, kms::kRsaOaep256, wrapped.wrapped));
    if (!(proof == dek)) {
      return Err(StatusCode::kDataLoss, "the vault did not unwrap the DEK it wrapped");
    }
    m.wrapping_kid = wrapped.kid;
    m.wrap_alg = std::string(kms::kRsaOaep256);
    m.wrapped_dek = std::move(wrapped.wrapped);
  } else {
    m.type = EncryptionType::kSystemManaged;
    m.key_uri = "local:" + req.name;
    PGCMK_ASSIGN_OR_RETURN(auto local, kms::LocalKeyProvider::Create(work.system_key(), req.name));
    PGCMK_ASSIGN_OR_RETURN(kms::WrappedKey wrapped,
                           local->WrapKey(m.key_uri, kms::kLocalWrapAlg, dek));
    m.wrapping_kid = wrapped.kid;
    m.wrap_alg = std::string(kms::kLocalWrapAlg);
    m.wrapped_dek = std::move(wrapped.wrapped);
  }

  // The encrypted volume, PostgreSQL's data directory inside it, and TLS.
  PGCMK_ASSIGN_OR_RETURN(auto volume, storage::Volume::Create(work.backing(), dek));
  PGCMK_RETURN_IF_ERROR(CreateDirectoryDurably(work.mountpoint(), 0700));
  {
    PGCMK_ASSIGN_OR_RETURN(fuse::Mount mount,
                           fuse::Mount::Start(*volume, work.mountpoint(), fuse::MountOptions{}));
    PostgresOptions pg;
    pg.data_dir = work.data_dir();
    pg.log_file = work.mountpoint() / "initdb.log";
    pg.listen_address = m.settings.listen_address;
    pg.port = m.settings.port;
    pg.superuser = m.settings.admin_user;
    Status s = InitDb(pg, password);
    if (s.ok()) {
      auto tls = IssueServerTlsMaterial(req.name, {"localhost"}, {m.settings.listen_address});
      if (!tls) {
        s = tls.error().WithContext("issuing the TLS certificate");
      } else {
        s = ConfigurePostgres(pg, tls->server_cert_pem, tls->server_key_pem);
        if (s.ok()) s = CreateDirectoryDurably(work.tls_dir(), 0755);
        if (s.ok()) {
          s = WriteFileAtomically(work.client_ca(), AsBytes(tls->ca_cert_pem), 0644);
        }
      }
    }
    Status unmounted = mount.Stop();
    PGCMK_RETURN_IF_ERROR(s);
    PGCMK_RETURN_IF_ERROR(unmounted);
  }
  volume.reset();
  dek = SecretBytes();

  PGCMK_RETURN_IF_ERROR(m.Save(work.manifest()));
  RuntimeStatus status;
  status.state = ServerState::kStopped;
  status.key_valid = true;
  status.last_check = status.last_check_ok = UnixNow();
  status.current_kid = m.wrapping_kid;
  status.updated = UnixNow();
  PGCMK_RETURN_IF_ERROR(status.Save(work.status()));
  ActivityLog activity(work.activity_log(), req.name);
  PGCMK_RETURN_IF_ERROR(activity.Record("ServerCreated",
                                        "created with " + std::string(EncryptionTypeName(m.type)) +
                                            " encryption, key " + m.key_uri + ", DEK wrapped by " +
                                            m.wrapping_kid,
                                        {{"kid", m.wrapping_kid}, {"state", "Stopped"}}));
  if (::rename(tmp.c_str(), paths.dir.c_str()) != 0) {
    return Err(Status::FromErrno(errno, "rename " + tmp.string() + " to " + paths.dir.string()));
  }
  cleanup.Release();
  PGCMK_RETURN_IF_ERROR(FsyncDirectory(ServerPaths::ServersDir(req.state_dir)));
  result.manifest = std::move(m);
  result.paths = paths;
  return result;
}

Result<Manifest> UpdateServerEncryption(const UpdateRequest& req) {
  // This process unwraps and re-wraps the DEK: no core dumps.
  PGCMK_RETURN_IF_ERROR(DisableCoreDumps());
  PGCMK_RETURN_IF_ERROR(ValidateServerName(req.name));
  if (req.key_uri.empty() || req.identity_client_id.empty()) {
    return Err(StatusCode::kInvalidArgument,
               "the identity and the key vault key need to be provided together: give --identity "
               "and --key together");
  }
  PGCMK_ASSIGN_OR_RETURN(kms::KeyUri uri, kms::KeyUri::Parse(req.key_uri));
  const ServerPaths paths = ServerPaths::For(req.state_dir, req.name);
  PGCMK_ASSIGN_OR_RETURN(Manifest current, Manifest::Load(paths.manifest()));
  if (current.type != EncryptionType::kAzureKeyVault) {
    return Err(StatusCode::kFailedPrecondition,
               "server '" + req.name +
                   "' uses a system-managed key; the choice between system-managed and "
                   "customer-managed keys is made at creation and cannot be changed");
  }
  PGCMK_ASSIGN_OR_RETURN(
      GivenCredential credential,
      ReadIdentityCredential(req.identity_secret_file, req.identity_certificate_file));
  std::optional<Bytes> vault_ca;
  if (!req.vault_ca_file.empty()) {
    auto ca = ReadWholeFile(req.vault_ca_file, 1 << 20);
    if (!ca) return Err(ca.error().WithContext("reading the vault CA file"));
    vault_ca = std::move(*ca);
  }
  PGCMK_ASSIGN_OR_RETURN(ServiceUser user, LookupServiceUser());
  PGCMK_RETURN_IF_ERROR(BecomeServiceUser(user));

  std::error_code ec;
  std::filesystem::path new_ca = paths.vault_ca();
  if (vault_ca) {
    new_ca = paths.dir / "vault-ca.pem.new";
    PGCMK_RETURN_IF_ERROR(WriteFileAtomically(new_ca, *vault_ca, 0644));
  } else if (!std::filesystem::exists(new_ca, ec)) {
    new_ca.clear();
  }
  RemoveOnFailure drop_new_ca(vault_ca ? new_ca : std::filesystem::path());
  PGCMK_ASSIGN_OR_RETURN(
      auto fresh, MakeAzureKeyVaultClient(ConfigFor(req.identity_client_id, credential, new_ca)));
  PGCMK_ASSIGN_OR_RETURN(kms::KeyInfo key, ValidateCustomerManagedKey(*fresh, uri.ToString()));
  PGCMK_ASSIGN_OR_RETURN(auto old_client, OpenKeyClient(current, paths));
  auto dek = old_client->UnwrapKey(current.wrapping_kid, current.wrap_alg, current.wrapped_dek);
  if (!dek) {
    // The stored credential may be what broke (a rotated secret, a replaced identity): the new
    // identity may still unwrap with the current key version.
    if (auto retry =
            fresh->UnwrapKey(current.wrapping_kid, current.wrap_alg, current.wrapped_dek)) {
      dek = std::move(retry);
    }
  }
  if (!dek) {
    return Err(dek.error().WithContext(
        "unwrapping the DEK with the current key (it must stay accessible until the update is "
        "done)"));
  }
  PGCMK_ASSIGN_OR_RETURN(kms::WrappedKey wrapped, fresh->WrapKey(key.kid, kms::kRsaOaep256, *dek));
  PGCMK_ASSIGN_OR_RETURN(SecretBytes proof,
                         fresh->UnwrapKey(wrapped.kid, kms::kRsaOaep256, wrapped.wrapped));
  if (!(proof == *dek)) {
    return Err(StatusCode::kDataLoss, "the new key did not unwrap the DEK it wrapped");
  }
  PGCMK_RETURN_IF_ERROR(StoreIdentityCredential(paths, req.identity_client_id, credential));
  if (vault_ca) {
    if (::rename(new_ca.c_str(), paths.vault_ca().c_str()) != 0) {
      return Err(Status::FromErrno(errno, "rename " + new_ca.string()));
    }
    drop_new_ca.Release();
  }
  const std::string old_kid = current.wrapping_kid;
  const std::string old_client_id = current.identity_client_id;
  PGCMK_ASSIGN_OR_RETURN(Manifest updated, UpdateManifest(paths.manifest(), [&](Manifest& m) {
                           m.key_uri = uri.ToString();
                           m.identity_client_id = req.identity_client_id;
                           m.wrapping_kid = wrapped.kid;
                           m.wrap_alg = std::string(kms::kRsaOaep256);
                           m.wrapped_dek = wrapped.wrapped;
                           return Status::Ok();
                         }));
  if (old_client_id != req.identity_client_id) {
    std::filesystem::remove(paths.identity_secret(old_client_id), ec);
    std::filesystem::remove(paths.identity_certificate(old_client_id), ec);
  }
  ActivityLog activity(paths.activity_log(), req.name);
  PGCMK_RETURN_IF_ERROR(activity.Record("EncryptionUpdated",
                                        "data encryption switched to key " + updated.key_uri +
                                            " with identity " + updated.identity_client_id +
                                            "; DEK re-wrapped by " + updated.wrapping_kid,
                                        {{"old_kid", old_kid}, {"new_kid", updated.wrapping_kid}}));
  if (auto pid = RunningSupervisorPid(paths)) ::kill(*pid, SIGHUP);
  return updated;
}

Result<ServerView> ShowServer(const std::filesystem::path& state_dir, const std::string& name) {
  PGCMK_RETURN_IF_ERROR(ValidateServerName(name));
  ServerView v;
  v.paths = ServerPaths::For(state_dir, name);
  std::error_code ec;
  if (!std::filesystem::exists(v.paths.manifest(), ec)) {
    return Err(StatusCode::kNotFound, "server '" + name + "' not found in " + state_dir.string());
  }
  PGCMK_ASSIGN_OR_RETURN(v.manifest, Manifest::Load(v.paths.manifest()));
  if (auto st = RuntimeStatus::Load(v.paths.status())) v.status = std::move(*st);
  v.supervisor_running = RunningSupervisorPid(v.paths).has_value();
  if (!v.supervisor_running && v.status.state != ServerState::kStopped) {
    v.status.reason = "the supervisor is not running (last recorded state: " +
                      std::string(ServerStateName(v.status.state)) + ")";
    v.status.state = ServerState::kStopped;
  }
  v.psql_command = PsqlCommand(v.manifest, v.paths);
  return v;
}

Result<std::vector<ServerView>> ListServers(const std::filesystem::path& state_dir) {
  std::vector<ServerView> out;
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& entry :
       std::filesystem::directory_iterator(ServerPaths::ServersDir(state_dir), ec)) {
    const std::string n = entry.path().filename().string();
    if (!n.starts_with(".")) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    if (auto v = ShowServer(state_dir, n)) out.push_back(std::move(*v));
  }
  // Servers being created live in ".NAME.creating-PID" until the end of `create`: Provisioning.
  for (const auto& entry :
       std::filesystem::directory_iterator(ServerPaths::ServersDir(state_dir), ec)) {
    const std::string n = entry.path().filename().string();
    const size_t mark = n.rfind(".creating-");
    if (!n.starts_with(".") || mark == std::string::npos) continue;
    const std::string pid = n.substr(mark + 10);
    if (pid.empty() || !std::filesystem::exists("/proc/" + pid, ec)) continue;  // abandoned
    ServerView v;
    v.manifest.name = n.substr(1, mark - 1);
    v.paths = ServerPaths::For(state_dir, v.manifest.name);
    v.status.state = ServerState::kProvisioning;
    v.status.reason = "being created by pgcmk process " + pid;
    out.push_back(std::move(v));
  }
  return out;
}

std::string ServerView::ToJson() const {
  Json j{{"name", manifest.name},
         {"state", ServerStateName(status.state)},
         {"supervisorRunning", supervisor_running},
         {"listenAddress", manifest.settings.listen_address},
         {"port", manifest.settings.port},
         {"administratorLogin", manifest.settings.admin_user},
         {"dataEncryption",
          {{"type", EncryptionTypeName(manifest.type)},
           {"primaryKeyURI", manifest.key_uri},
           {"primaryUserAssignedIdentityId", manifest.identity_client_id},
           {"primaryEncryptionKeyStatus", status.key_valid ? "Valid" : "Invalid"},
           {"keyStatusReason", status.reason},
           {"wrappingKeyId", manifest.wrapping_kid},
           {"automaticKeyVersionUpdates", manifest.type == EncryptionType::kAzureKeyVault &&
                                              kms::KeyUri::Parse(manifest.key_uri).has_value() &&
                                              kms::KeyUri::Parse(manifest.key_uri)->versionless()},
           {"lastCheck", status.last_check},
           {"lastSuccessfulCheck", status.last_check_ok}}},
         {"checkIntervalSeconds", manifest.settings.check_interval_seconds},
         {"gracePeriodSeconds", manifest.settings.grace_period_seconds},
         {"webhooks", manifest.settings.webhooks},
         {"caCertificate", paths.client_ca().string()},
         {"connect", psql_command},
         {"manifestGeneration", manifest.generation}};
  return j.dump(2);
}

std::string ServerView::ToHuman() const {
  std::ostringstream o;
  o << "Server:            " << manifest.name << "\n"
    << "State:             " << ServerStateName(status.state) << "\n"
    << "Listen:            " << manifest.settings.listen_address << ":" << manifest.settings.port
    << "\n"
    << "Data encryption:   " << EncryptionTypeName(manifest.type) << "\n"
    << "  Key:             " << manifest.key_uri << "\n";
  if (!manifest.identity_client_id.empty()) {
    o << "  Identity:        " << manifest.identity_client_id << "\n";
  }
  o << "  DEK wrapped by:  " << manifest.wrapping_kid << "\n"
    << "  Key status:      " << (status.key_valid ? "Valid" : "Invalid") << "\n";
  if (!status.reason.empty()) o << "  Reason:          " << status.reason << "\n";
  o << "  Last check:      " << FormatTime(status.last_check)
    << " (last success: " << FormatTime(status.last_check_ok) << ")\n"
    << "  Check interval:  " << manifest.settings.check_interval_seconds << " s, grace period "
    << manifest.settings.grace_period_seconds << " s\n"
    << "Connect:           " << psql_command << "\n";
  return o.str();
}

}  // namespace pgcmk::server
