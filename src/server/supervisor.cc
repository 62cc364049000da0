#include "server/supervisor.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <optional>

#include "common/durable_file.h"
#include "common/log.h"
#include "common/process_hardening.h"
#include "common/status.h"
#include "fuse/mount.h"
#include "kms/key_uri.h"
#include "server/activity_log.h"
#include "server/child_process.h"
#include "server/inaccessible_responder.h"
#include "server/key_access.h"
#include "server/key_health.h"
#include "server/manifest.h"
#include "server/postgres_instance.h"
#include "server/server_state.h"
#include "server/service_user.h"
#include "server/supervisor_process.h"
#include "server/webhook_notifier.h"
#include "storage/volume.h"

namespace pgcmk::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kComponent = "supervisor";

// A FUSE mount left behind by a supervisor that died (kill -9) answers ENOTCONN; a live one has a
// different device than its parent. Either way, detach it lazily before mounting again.
Status DetachLeftoverMount(const std::filesystem::path& mountpoint) {
  struct stat st {
  }, parent{};
  bool leftover = false;
  if (::stat(mountpoint.c_str(), &st) != 0) {
    if (errno == ENOTCONN || errno == ECONNABORTED)
      leftover = true;
    else if (errno == ENOENT)
      return CreateDirectoryDurably(mountpoint, 0700);
    else
      return Status::FromErrno(errno, "stat " + mountpoint.string());
  } else if (::stat(mountpoint.parent_path().c_str(), &parent) == 0 && st.st_dev != parent.st_dev) {
    leftover = true;
  }
  if (!leftover) return Status::Ok();
  log::Warning(kComponent, "detaching a leftover mount at " + mountpoint.string());
  SpawnOptions spawn;
  spawn.argv = {"/usr/bin/fusermount3", "-u", "-z", mountpoint.string()};
  spawn.log_file = "/dev/null";
  PGCMK_ASSIGN_OR_RETURN(ChildProcess child, ChildProcess::Spawn(spawn));
  auto st2 = child.Wait(std::chrono::seconds(10));
  if (!st2) return st2.error();
  return Status::Ok();
}

class Supervisor {
 public:
  Supervisor(const SupervisorOptions& options, ServerPaths paths, Manifest manifest)
      : options_(options),
        paths_(std::move(paths)),
        manifest_(std::move(manifest)),
        notifier_(std::make_unique<WebhookNotifier>(manifest_.settings.webhooks)),
        activity_(paths_.activity_log(), manifest_.name, notifier_.get()) {
    ApplySettings();
  }

  Status Run(const sigset_t& signals);

 private:
  void ApplySettings() {
    interval_ = options_.check_interval_seconds > 0 ? options_.check_interval_seconds
                                                    : manifest_.settings.check_interval_seconds;
    grace_ = options_.grace_period_seconds > 0 ? options_.grace_period_seconds
                                               : manifest_.settings.grace_period_seconds;
    if (interval_ < 1) interval_ = 1;
    if (grace_ < 0) grace_ = 0;
    health_.set_grace(std::chrono::seconds(grace_));
  }

  void Record(const std::string& event, const std::string& message,
              const std::map<std::string, std::string>& fields = {}) {
    log::Info(kComponent, event + ": " + message);
    if (Status s = activity_.Record(event, message, fields); !s.ok()) {
      log::Error(kComponent, "cannot append to the activity log: " + s.ToString());
    }
  }

  void SaveStatus() {
    status_.supervisor_pid = ::getpid();
    status_.updated = UnixNow();
    if (Status s = status_.Save(paths_.status()); !s.ok()) {
      log::Error(kComponent, "cannot write status: " + s.ToString());
    }
  }

  void SetState(ServerState state, const std::string& message) {
    if (status_.state != state) {
      status_.state = state;
      Record("StateChanged", message, {{"state", std::string(ServerStateName(state))}});
    }
    SaveStatus();
  }

  PostgresOptions PgOptions() const {
    PostgresOptions o;
    o.data_dir = paths_.data_dir();
    o.log_file = paths_.mountpoint() / "postgresql.log";
    o.listen_address = manifest_.settings.listen_address;
    o.port = manifest_.settings.port;
    o.superuser = manifest_.settings.admin_user;
    return o;
  }

  Result<SecretBytes> VerifyKeyAccess();
  Status Rewrap(const std::string& current_kid, const SecretBytes& dek);
  void Activate();
  void PeriodicCheck();
  void HandleKeyFailure(const Status& failure);
  void EnterInaccessible(const std::string& reason);
  void Deactivate();
  bool ReloadManifestIfChanged();
  void WatchPostgres();
  void LoadResponderTls();

  const SupervisorOptions options_;
  const ServerPaths paths_;
  Manifest manifest_;
  std::unique_ptr<WebhookNotifier> notifier_;
  ActivityLog activity_;
  std::unique_ptr<kms::KmsClient> kms_;
  RuntimeStatus status_;
  int interval_ = 30;
  int grace_ = 300;
  struct timespec manifest_mtime_ {};

  // The running server (all empty unless Ready/Updating). Destruction order matters:
  // PostgreSQL before the mount, the mount before the volume, the DEK last.
  SecretBytes dek_;
  std::unique_ptr<storage::Volume> volume_;
  std::optional<fuse::Mount> mount_;
  std::unique_ptr<PostgresProcess> pg_;
  std::unique_ptr<InaccessibleResponder> responder_;
  // The server's TLS certificate and key, read from the volume while it is mounted and kept (in
  // OpenSSL's memory) so that the responder can speak TLS after the volume is gone.
  std::shared_ptr<const crypto::TlsServerContext> responder_tls_;

  KeyHealth health_{std::chrono::seconds(300)};
  std::string last_rewrap_error_;
};

Result<SecretBytes> Supervisor::VerifyKeyAccess() {
  if (!kms_) {
    PGCMK_ASSIGN_OR_RETURN(kms_, OpenKeyClient(manifest_, paths_));
  }
  std::string current_kid;
  if (manifest_.type == EncryptionType::kAzureKeyVault) {
    PGCMK_ASSIGN_OR_RETURN(kms::KeyInfo key, kms_->GetKey(manifest_.key_uri));
    if (Status s = kms::CheckKeyUsableAt(key, std::chrono::system_clock::now()); !s.ok()) {
      return Err(s);
    }
    current_kid = key.kid;
  }
  const std::string alg(WrapAlgorithmFor(manifest_.type));
  PGCMK_ASSIGN_OR_RETURN(SecretBytes dek,
                         kms_->UnwrapKey(manifest_.wrapping_kid, alg, manifest_.wrapped_dek));
  if (dek.size() != storage::Volume::kDekSize) {
    return Err(StatusCode::kDataLoss, "the unwrapped DEK has the wrong size");
  }
  if (!dek_.empty() && !(dek == dek_)) {
    return Err(StatusCode::kDataLoss,
               "the key unwrapped a different DEK than the one in use (wrong key)");
  }
  if (manifest_.type == EncryptionType::kAzureKeyVault) {
    auto uri = kms::KeyUri::Parse(manifest_.key_uri);
    if (uri && uri->versionless() && current_kid != manifest_.wrapping_kid) {
      // The DEK is still reachable through the version that wrapped it, so a failed re-wrap does
      // not take the server down: it is recorded once and retried at the next check (a
      // concurrent `update` shows up as kConflict and is picked up by the manifest reload).
      if (Status s = Rewrap(current_kid, dek); !s.ok()) {
        if (s.code() != StatusCode::kConflict && s.message() != last_rewrap_error_) {
          Record("KeyRewrapFailed", s.ToString(), {{"new_kid", current_kid}});
        }
        last_rewrap_error_ = s.message();
      } else {
        last_rewrap_error_.clear();
      }
    }
  }
  status_.current_kid = manifest_.wrapping_kid;
  return dek;
}

// Re-wraps the DEK under the key's new current version. The new wrap is proven by unwrapping it
// before the manifest is replaced; the old version is not needed afterwards.
Status Supervisor::Rewrap(const std::string& current_kid, const SecretBytes& dek) {
  const std::string alg(WrapAlgorithmFor(manifest_.type));
  auto wrapped = kms_->WrapKey(current_kid, alg, dek);
  if (!wrapped) return wrapped.error().WithContext("re-wrapping the DEK under " + current_kid);
  auto proof = kms_->UnwrapKey(wrapped->kid, alg, wrapped->wrapped);
  if (!proof) return proof.error().WithContext("verifying the re-wrapped DEK");
  if (!(*proof == dek)) {
    return Status(StatusCode::kDataLoss, "the re-wrapped DEK does not unwrap to the DEK");
  }
  const std::string old_kid = manifest_.wrapping_kid;
  const std::string expected_uri = manifest_.key_uri;
  auto updated = UpdateManifest(paths_.manifest(), [&](Manifest& m) {
    if (m.key_uri != expected_uri) {
      return Status(StatusCode::kConflict, "the key was changed by an update meanwhile");
    }
    m.wrapping_kid = wrapped->kid;
    m.wrapped_dek = wrapped->wrapped;
    return Status::Ok();
  });
  if (!updated) return updated.error();
  // manifest_mtime_ is deliberately left alone: the next poll re-reads the file and finds the
  // same generation, unless an `update` landed in between, which must not be missed.
  manifest_ = std::move(*updated);
  Record("KeyRewrapped", "the DEK was re-wrapped under the key's new version " + wrapped->kid,
         {{"old_kid", old_kid}, {"new_kid", wrapped->kid}});
  return Status::Ok();
}

void Supervisor::Activate() {
  status_.last_check = UnixNow();
  auto dek = VerifyKeyAccess();
  if (!dek) {
    HandleKeyFailure(dek.error());
    return;
  }
  status_.key_valid = true;
  status_.last_check_ok = status_.last_check;
  if (status_.state == ServerState::kInaccessible) {
    Record("KeyCheckRecovered", "the key is accessible again; starting the server");
  }
  SetState(ServerState::kStarting, "key access verified; mounting the encrypted storage");
  if (responder_) {
    responder_->Stop();
    responder_.reset();
  }
  auto fail = [&](const Status& s) {
    Record("StartFailed", s.ToString());
    status_.reason = "start failed: " + s.message();
    Deactivate();
    SaveStatus();
  };
  if (Status s = DetachLeftoverMount(paths_.mountpoint()); !s.ok()) return fail(s);
  auto volume = storage::Volume::Open(paths_.backing(), *dek);
  if (!volume) return fail(volume.error().WithContext("opening the encrypted volume"));
  volume_ = std::move(*volume);
  auto mount = fuse::Mount::Start(*volume_, paths_.mountpoint(), fuse::MountOptions{});
  if (!mount) return fail(mount.error().WithContext("mounting the encrypted volume"));
  mount_.emplace(std::move(*mount));
  dek_ = std::move(*dek);
  if (Status s = WriteRuntimeConfig(PgOptions()); !s.ok()) return fail(s);
  auto pg = PostgresProcess::Start(PgOptions(), std::chrono::seconds(300));
  if (!pg) return fail(pg.error());
  pg_ = std::move(*pg);
  LoadResponderTls();
  status_.reason.clear();
  health_.OnSuccess();
  SetState(ServerState::kReady, "PostgreSQL is accepting TLS connections on " +
                                    manifest_.settings.listen_address + ":" +
                                    std::to_string(manifest_.settings.port));
}

void Supervisor::LoadResponderTls() {
  auto cert = ReadWholeFile(paths_.data_dir() / "server.crt", 1 << 20);
  auto key = ReadSecretFile(paths_.data_dir() / "server.key", 1 << 20);
  if (!cert || !key) {
    log::Warning(kComponent,
                 "cannot read the server's TLS files; the inaccessible responder "
                 "will not offer TLS");
    return;
  }
  auto tls = crypto::TlsServerContext::Create(AsStringView(*cert), *key);
  if (!tls) {
    log::Warning(kComponent,
                 "the server's TLS files are not usable by the inaccessible "
                 "responder: " +
                     tls.error().ToString());
    return;
  }
  responder_tls_ = std::move(*tls);
}

void Supervisor::PeriodicCheck() {
  status_.last_check = UnixNow();
  auto dek = VerifyKeyAccess();
  if (!dek) {
    HandleKeyFailure(dek.error());
    return;
  }
  status_.key_valid = true;
  status_.last_check_ok = status_.last_check;
  status_.reason.clear();
  if (health_.OnSuccess().recovered) {
    Record("KeyCheckRecovered", "key access checks succeed again");
  }
  if (status_.state == ServerState::kUpdating) {
    SetState(ServerState::kReady, "the updated data-encryption settings are in effect");
  } else {
    SaveStatus();
  }
}

void Supervisor::HandleKeyFailure(const Status& failure) {
  const kms::FailureKind kind = kms::ClassifyFailure(failure);
  const bool serving = pg_ != nullptr;
  const KeyHealth::Decision d = health_.OnFailure(kind, serving, Clock::now());
  const std::string kind_name(kms::FailureKindName(kind));
  if (!d.inaccessible) {
    if (d.first_failure) {
      Record("KeyCheckFailed",
             "transient: " + failure.message() + "; still serving for up to " +
                 std::to_string(grace_) + " s (grace period)",
             {{"kind", kind_name}});
    }
    status_.reason = "key vault unreachable, serving within the grace period: " + failure.message();
    SaveStatus();
    return;
  }
  std::string reason = failure.message();
  if (kind == kms::FailureKind::kTransient) {
    reason = serving ? "the key vault has been unreachable for " +
                           std::to_string(d.failing_for.count()) + " s (grace period " +
                           std::to_string(grace_) + " s): " + failure.message()
                     : "the key vault is unreachable: " + failure.message();
  }
  if (status_.state != ServerState::kInaccessible) {
    Record("KeyCheckFailed", reason, {{"kind", kind_name}});
  }
  EnterInaccessible(reason);
}

void Supervisor::EnterInaccessible(const std::string& reason) {
  const bool changed = status_.state != ServerState::kInaccessible || status_.reason != reason;
  Deactivate();
  status_.key_valid = false;
  status_.reason = reason;
  if (!responder_) {
    auto responder = InaccessibleResponder::Start(
        manifest_.settings.listen_address, manifest_.settings.port, reason,
        "The server's data-encryption key cannot be unwrapped; access is re-checked every " +
            std::to_string(interval_) + " s. See: pgcmk server show " + manifest_.name,
        responder_tls_);
    if (responder) {
      responder_ = std::move(*responder);
    } else {
      log::Error(kComponent,
                 "cannot start the inaccessible responder: " + responder.error().ToString());
    }
  } else {
    responder_->SetReason(reason);
  }
  if (status_.state == ServerState::kInaccessible && changed) {
    Record("KeyCheckFailed", reason, {{"kind", "still-inaccessible"}});
  }
  SetState(ServerState::kInaccessible, "the customer-managed key is not accessible: " + reason);
}

void Supervisor::Deactivate() {
  if (pg_) {
    if (Status s = pg_->Stop(std::chrono::seconds(60)); !s.ok()) {
      log::Error(kComponent, "stopping PostgreSQL: " + s.ToString());
    }
    pg_.reset();
  }
  if (mount_) {
    if (Status s = mount_->Stop(); !s.ok()) {
      log::Error(kComponent, "unmounting: " + s.ToString());
    }
    mount_.reset();
  }
  volume_.reset();
  dek_ = SecretBytes();  // the old buffer is zeroized as it is released
}

bool Supervisor::ReloadManifestIfChanged() {
  struct stat st {};
  if (::stat(paths_.manifest().c_str(), &st) != 0) return false;
  if (st.st_mtim.tv_sec == manifest_mtime_.tv_sec &&
      st.st_mtim.tv_nsec == manifest_mtime_.tv_nsec) {
    return false;
  }
  manifest_mtime_ = st.st_mtim;
  auto fresh = Manifest::Load(paths_.manifest());
  if (!fresh) {
    log::Error(kComponent, "cannot re-read the manifest: " + fresh.error().ToString());
    return false;
  }
  if (fresh->generation == manifest_.generation) return false;
  const bool key_changed = fresh->key_uri != manifest_.key_uri ||
                           fresh->identity_client_id != manifest_.identity_client_id;
  const bool rewrapped = fresh->wrapping_kid != manifest_.wrapping_kid;
  manifest_ = std::move(*fresh);
  ApplySettings();
  // Rebuild the client from disk at every change: `update` may have stored a new client secret
  // for the same identity (after a secret rotation) without changing the key or client id.
  kms_.reset();
  if (key_changed) {
    Record("SettingsReloaded", "data encryption now uses key " + manifest_.key_uri +
                                   (manifest_.identity_client_id.empty()
                                        ? ""
                                        : " with identity " + manifest_.identity_client_id));
    if (pg_) SetState(ServerState::kUpdating, "applying updated data-encryption settings");
    return true;
  }
  return rewrapped;
}

void Supervisor::WatchPostgres() {
  std::string why;
  if (!pg_ || !pg_->Exited(&why)) return;
  pg_.reset();
  Record("PostgresRestarted", "PostgreSQL " + why + "; restarting it");
  auto pg = PostgresProcess::Start(PgOptions(), std::chrono::seconds(300));
  if (pg) {
    pg_ = std::move(*pg);
  } else {
    Record("StartFailed", pg.error().ToString());
    // Without PostgreSQL the server is not Ready; the next check starts it again.
    Deactivate();
    status_.reason = "PostgreSQL failed: " + pg.error().message();
    SetState(ServerState::kStarting, "PostgreSQL stopped unexpectedly");
  }
}

Status Supervisor::Run(const sigset_t& signals) {
  struct stat st {};
  if (::stat(paths_.manifest().c_str(), &st) == 0) manifest_mtime_ = st.st_mtim;
  status_.state = ServerState::kStopped;
  SetState(ServerState::kStarting, "supervisor started (pid " + std::to_string(::getpid()) + ")");
  auto next_check = Clock::now();
  bool stop = false;
  while (!stop) {
    if (ReloadManifestIfChanged()) next_check = Clock::now();
    if (Clock::now() >= next_check) {
      if (pg_) {
        PeriodicCheck();
      } else {
        Activate();
      }
      next_check = Clock::now() + std::chrono::seconds(interval_);
    }
    WatchPostgres();
    auto wait = std::min<Clock::duration>(next_check - Clock::now(), std::chrono::seconds(1));
    if (wait < Clock::duration::zero()) wait = Clock::duration::zero();
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
    timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    int sig = ::sigtimedwait(&signals, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      stop = true;
    } else if (sig == SIGHUP) {
      ReloadManifestIfChanged();
      next_check = Clock::now();
    }
  }
  SetState(ServerState::kStopping, "stop requested");
  Deactivate();
  if (responder_) {
    responder_->Stop();
    responder_.reset();
  }
  SetState(ServerState::kStopped, "PostgreSQL stopped, storage unmounted, DEK zeroized");
  notifier_->Stop();
  return Status::Ok();
}

}  // namespace

Status RunSupervisor(const SupervisorOptions& options) {
  PGCMK_RETURN_IF_ERROR(ValidateServerName(options.name));
  const ServerPaths paths = ServerPaths::For(options.state_dir, options.name);
  auto user = LookupServiceUser();
  if (!user) return user.error();
  PGCMK_RETURN_IF_ERROR(BecomeServiceUser(*user));
  PGCMK_RETURN_IF_ERROR(DisableCoreDumps());
  if (Status s = RaiseOpenFileLimit(); !s.ok()) {
    log::Warning(kComponent, "cannot raise the open-file limit: " + s.ToString());
  }
  // Block the signals we wait for before any thread exists, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
  ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto manifest = Manifest::Load(paths.manifest());
  if (!manifest) {
    return manifest.error().WithContext("server '" + options.name + "' (" + paths.dir.string() +
                                        ")");
  }
  // Held until this function returns; the kernel releases it if the process is killed.
  PGCMK_ASSIGN_OR_RETURN(SupervisorLock lock, AcquireSupervisorLock(paths));
  const std::string pid_text = std::to_string(::getpid()) + "\n";
  PGCMK_RETURN_IF_ERROR(WriteFileAtomically(paths.pid_file(), AsBytes(pid_text), 0644));
  Status result;
  {
    Supervisor supervisor(options, paths, std::move(*manifest));
    result = supervisor.Run(signals);
  }
  std::error_code ec;
  std::filesystem::remove(paths.pid_file(), ec);
  return result;
}

}  // namespace pgcmk::server
