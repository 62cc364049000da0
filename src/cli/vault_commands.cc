// `pgcmk vault ...`: the key vault daemon (init, serve) and the administration commands, which
// reach a running vault through its HTTP API with the admin credential (see docs/vault.md).
// Secrets (client secrets, unwrapped keys) are only ever written to files with mode 0600.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <thread>

#include "cli/args.h"
#include "cli/command_table.h"
#include "common/base64url.h"
#include "common/durable_file.h"
#include "common/log.h"
#include "common/percent_encoding.h"
#include "common/process_hardening.h"
#include "common/unique_fd.h"
#include "crypto/client_certificate.h"
#include "vault/vault_service.h"
#include "vault_http/admin_client.h"
#include "vault_http/vault_server.h"
#include "vault_http/wire_format.h"

namespace pgcmk::cli {

namespace {

using nlohmann::json;

// Options every administration command takes to reach the vault.
constexpr OptionSpec kConnection[] = {{"data-dir"}, {"vault"}, {"credential-file"}, {"ca"}};

Result<Args> ParseWithConnection(std::span<const std::string> argv,
                                 std::initializer_list<OptionSpec> extra) {
  std::vector<OptionSpec> all(std::begin(kConnection), std::end(kConnection));
  all.insert(all.end(), extra.begin(), extra.end());
  return Args::Parse(argv, all);
}

std::filesystem::path DataDir(const Args& a) {
  if (auto d = a.Get("data-dir")) return *d;
  if (const char* env = std::getenv("PGCMK_VAULT_DIR")) return env;
  return "/var/lib/pgcmk/vault";
}

Result<std::unique_ptr<vault_http::AdminClient>> Connect(const Args& a) {
  vault_http::AdminClientOptions o;
  std::filesystem::path dir = DataDir(a);
  if (auto url = a.Get("vault")) {
    o.vault_url = *url;
  } else {
    auto url_file = ReadWholeFile(dir / "vault.url", 4096);
    if (!url_file) {
      return Err(StatusCode::kUnavailable,
                 "no running vault found (" + (dir / "vault.url").string() +
                     " missing); start `pgcmk vault serve` or pass --vault URL");
    }
    o.vault_url = std::string(AsStringView(*url_file));
    while (!o.vault_url.empty() && std::isspace(static_cast<unsigned char>(o.vault_url.back())))
      o.vault_url.pop_back();
  }
  o.credential_file =
      a.Get("credential-file").value_or((dir / vault::kAdminCredentialFile).string());
  if (auto ca = a.Get("ca")) {
    o.ca_file = *ca;
  } else if (std::filesystem::exists(dir / "tls" / "ca.pem")) {
    o.ca_file = (dir / "tls" / "ca.pem").string();
  }
  return vault_http::AdminClient::Create(std::move(o));
}

std::string FormatTime(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string ApiVersion() { return "api-version=7.6"; }

void PrintJson(CommandContext& ctx, const json& j) { ctx.out << j.dump(2) << "\n"; }

void PrintKey(CommandContext& ctx, const json& bundle) {
  if (ctx.format == OutputFormat::kJson) return PrintJson(ctx, bundle);
  const json& k = bundle["key"];
  const json& a = bundle["attributes"];
  ctx.out << "kid:      " << k.value("kid", "") << "\n";
  ctx.out << "kty:      " << k.value("kty", "");
  if (k.contains("n")) {
    auto n = Base64UrlDecode(k["n"].get<std::string>());
    if (n) ctx.out << " (" << n->size() * 8 << " bits)";
  }
  ctx.out << "\nkey_ops:  ";
  for (const auto& op : k.value("key_ops", json::array())) ctx.out << op.get<std::string>() << " ";
  ctx.out << "\nenabled:  " << (a.value("enabled", false) ? "yes" : "no") << "\n";
  if (a.contains("nbf"))
    ctx.out << "nbf:      " << FormatTime(a["nbf"].get<std::int64_t>()) << "\n";
  if (a.contains("exp"))
    ctx.out << "exp:      " << FormatTime(a["exp"].get<std::int64_t>()) << "\n";
  if (a.contains("created"))
    ctx.out << "created:  " << FormatTime(a["created"].get<std::int64_t>()) << "\n";
  if (bundle.contains("deletedDate")) {
    ctx.out << "deleted:  " << FormatTime(bundle["deletedDate"].get<std::int64_t>())
            << " (purge after " << FormatTime(bundle["scheduledPurgeDate"].get<std::int64_t>())
            << ")\n";
  }
}

Status WriteSecretFile(const std::string& path, std::string_view secret) {
  return WriteFileAtomically(path, AsBytes(secret), 0600);
}

// ---- init / serve ----

Status RunInit(std::span<const std::string> argv, CommandContext& ctx) {
  auto a = Args::Parse(
      argv,
      {{"data-dir"}, {"retention-days"}, {"purge-protection", OptionKind::kFlag}, {"resource"}});
  if (!a) return a.error();
  PGCMK_RETURN_IF_ERROR(a->NoPositional());
  vault::InitOptions o;
  PGCMK_ASSIGN_OR_RETURN(auto retention, a->GetInt("retention-days", 7, 90));
  if (retention) o.retention_days = static_cast<int>(*retention);
  o.purge_protection = a->Has("purge-protection");
  if (auto r = a->Get("resource")) o.resource = *r;
  std::filesystem::path dir = DataDir(*a);
  auto r = vault::VaultService::Initialize(dir, o);
  if (!r) return r.error();
  if (ctx.format == OutputFormat::kJson) {
    PrintJson(ctx, {{"dataDir", dir.string()},
                    {"tenantId", r->settings.tenant_id},
                    {"resource", r->settings.resource},
                    {"retentionDays", r->settings.retention_days},
                    {"purgeProtection", r->settings.purge_protection},
                    {"adminClientId", r->admin.client_id},
                    {"adminCredentialFile", (dir / vault::kAdminCredentialFile).string()}});
  } else {
    ctx.out << "Initialised vault in " << dir.string()
            << "\n  tenant:           " << r->settings.tenant_id
            << "\n  resource:         " << r->settings.resource
            << "\n  retention:        " << r->settings.retention_days << " days"
            << "\n  purge protection: " << (r->settings.purge_protection ? "on" : "off")
            << "\n  admin credential: " << (dir / vault::kAdminCredentialFile).string()
            << " (mode 0600)\n";
  }
  return Status::Ok();
}

Status RunServe(std::span<const std::string> argv, CommandContext& ctx) {
  auto a = Args::Parse(argv, {{"data-dir"},
                              {"listen"},
                              {"public-url"},
                              {"insecure-http", OptionKind::kFlag},
                              {"threads"},
                              {"max-requests-per-10s"},
                              {"scheduler-interval"},
                              {"tls-cert"},
                              {"tls-key"},
                              {"test-clock-offset"}});
  if (!a) return a.error();
  PGCMK_RETURN_IF_ERROR(a->NoPositional());
  // The daemon holds the master key and every key's private material in memory: refuse to run
  // in a process that could write them into a core dump.
  if (Status s = DisableCoreDumps(); !s.ok()) {
    return s.WithContext("refusing to serve the vault without disabling core dumps");
  }
  // Every option is checked before anything is created.
  vault_http::ServerOptions o;
  std::string listen = a->Get("listen").value_or("127.0.0.1:8443");
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos)
    return Status(StatusCode::kInvalidArgument, "--listen must be HOST:PORT");
  o.host = listen.substr(0, colon);
  if (o.host.starts_with("[") && o.host.ends_with("]"))
    o.host = o.host.substr(1, o.host.size() - 2);
  PGCMK_ASSIGN_OR_RETURN(std::int64_t listen_port,
                         ParseInteger(listen.substr(colon + 1), "the --listen port", 0, 65535));
  o.port = static_cast<int>(listen_port);
  o.public_url = a->Get("public-url").value_or("");
  o.insecure_http = a->Has("insecure-http");
  PGCMK_ASSIGN_OR_RETURN(auto threads, a->GetInt("threads", 1, 1024));
  if (threads) o.threads = static_cast<int>(*threads);
  PGCMK_ASSIGN_OR_RETURN(auto limit, a->GetInt("max-requests-per-10s", 1, 1'000'000'000));
  if (limit) o.max_requests_per_10s = static_cast<int>(*limit);
  PGCMK_ASSIGN_OR_RETURN(auto scheduler_interval, a->GetInt("scheduler-interval", 1, 86400));
  const int interval = static_cast<int>(scheduler_interval.value_or(60));
  // The operator's own certificate (chain PEM) and key instead of the vault's private CA.
  const auto tls_cert_file = a->Get("tls-cert");
  const auto tls_key_file = a->Get("tls-key");
  if (tls_cert_file.has_value() != tls_key_file.has_value()) {
    return Status(StatusCode::kInvalidArgument, "--tls-cert and --tls-key go together");
  }
  if (tls_cert_file && o.insecure_http) {
    return Status(StatusCode::kInvalidArgument, "--tls-cert makes no sense with --insecure-http");
  }
  std::string own_cert_pem;
  SecretBytes own_key_pem;
  if (tls_cert_file) {
    auto cert = ReadWholeFile(*tls_cert_file, 1 << 20);
    if (!cert) return cert.error().WithContext("reading --tls-cert " + *tls_cert_file);
    own_cert_pem.assign(AsStringView(*cert));
    if (own_cert_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return Status(StatusCode::kInvalidArgument,
                    "--tls-cert " + *tls_cert_file + " holds no PEM certificate");
    }
    // The key must be private to the vault's user (0600, a regular file, not a symlink).
    auto key = ReadPrivateSecretFile(*tls_key_file, 1 << 20);
    if (!key) return key.error().WithContext("reading --tls-key " + *tls_key_file);
    own_key_pem = std::move(*key);
  }
  // Tests only: runs the vault's clock ahead (or behind), so that retention, rotation policies and
  // validity windows can be exercised against the real daemon without waiting days.
  PGCMK_ASSIGN_OR_RETURN(auto clock_offset,
                         a->GetInt("test-clock-offset", -3'650LL * 86'400, 3'650LL * 86'400));
  if (clock_offset && *clock_offset != 0) {
    const char* allow = std::getenv("PGCMK_ALLOW_TEST_CLOCK");
    if (allow == nullptr || std::string_view(allow) != "1") {
      return Status(StatusCode::kInvalidArgument,
                    "--test-clock-offset is for tests only (it moves token, key-validity, "
                    "retention and rotation times); set PGCMK_ALLOW_TEST_CLOCK=1 as well");
    }
  }

  std::filesystem::path dir = DataDir(*a);
  if (!vault::VaultService::IsInitialized(dir)) {
    auto r = vault::VaultService::Initialize(dir, {});
    if (!r) return r.error();
    ctx.out << "Initialised a new vault in " << dir.string() << " (tenant " << r->settings.tenant_id
            << "); admin credential in " << (dir / vault::kAdminCredentialFile).string() << "\n";
  }
  vault::VaultServiceOptions so;
  so.audit_outcome = vault_http::AuditOutcomeFor;
  if (clock_offset && *clock_offset != 0) {
    const std::int64_t offset = *clock_offset;
    so.now = [offset] {
      return std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count() +
             offset;
    };
    ctx.out << "TEST CLOCK: the vault's clock is " << offset
            << " seconds off the system clock (--test-clock-offset; tests only)\n";
  }
  auto service = vault::VaultService::Open(dir, so);
  if (!service) return service.error();
  if (clock_offset && *clock_offset != 0) {
    if ((*service)->settings().purge_protection) {
      return Status(StatusCode::kFailedPrecondition,
                    "refusing --test-clock-offset on a vault with purge protection (a clock "
                    "ahead would purge soft-deleted keys before their retention ends)");
    }
    log::Warning("vault", "TEST CLOCK: running " + std::to_string(*clock_offset) +
                              " seconds off the system clock (--test-clock-offset)");
  }

  if (o.insecure_http) {
    o.own_hosts = {"localhost", "127.0.0.1", "::1"};
    if (!o.host.empty() && o.host != "0.0.0.0" && o.host != "::") o.own_hosts.push_back(o.host);
  } else {
    std::vector<std::string> dns = {"localhost"};
    std::vector<std::string> ips = {"127.0.0.1", "::1"};
    auto add_host = [&](std::string h) {
      if (h.empty() || h == "0.0.0.0" || h == "::") return;
      bool ip = h.find_first_not_of("0123456789.") == std::string::npos ||
                h.find(':') != std::string::npos;
      auto& list = ip ? ips : dns;
      if (std::find(list.begin(), list.end(), h) == list.end()) list.push_back(h);
    };
    add_host(o.host);
    if (!o.public_url.empty()) {
      std::string h = o.public_url.substr(
          o.public_url.find("://") == std::string::npos ? 0 : o.public_url.find("://") + 3);
      h = h.substr(0, h.find('/'));
      if (h.starts_with("[")) {
        h = h.substr(1, h.find(']') - 1);
      } else if (h.find(':') != std::string::npos) {
        h = h.substr(0, h.find(':'));
      }
      add_host(h);
    }
    o.own_hosts = dns;
    o.own_hosts.insert(o.own_hosts.end(), ips.begin(), ips.end());
    if (tls_cert_file) {
      // Clients reach the vault by the names in this certificate; a client assertion's audience
      // is checked against the listening host, loopback and --public-url (give --public-url when
      // clients use another name).
      o.tls_cert_chain_pem = std::move(own_cert_pem);
      o.tls_key_pem = std::string(AsStringView(own_key_pem.reveal()));
      ctx.out << "TLS: serving the certificate in " << *tls_cert_file << "\n";
    } else {
      auto tls = (*service)->ServerTlsMaterial(dns, ips);
      if (!tls) return tls.error();
      o.tls_cert_chain_pem = tls->certificate_chain_pem;
      o.tls_key_pem = std::string(AsStringView(tls->private_key_pem.reveal()));
      ctx.out << "TLS: the vault's CA certificate is " << tls->ca_file.string() << "\n";
    }
  }
  auto server = vault_http::VaultServer::Create(**service, o);
  // Create took its own copy of the TLS private key (and wiped it once loaded); wipe ours.
  SecureZero(o.tls_key_pem.data(), o.tls_key_pem.size());
  o.tls_key_pem.clear();
  if (!server) return server.error();
  auto port = (*server)->Bind();
  if (!port) return port.error();
  std::string url = (*server)->url();
  PGCMK_RETURN_IF_ERROR(WriteFileAtomically(dir / "vault.url", AsBytes(url + "\n"), 0644));

  // Signals: handled by one thread with sigwait, so the stop is orderly.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::atomic<bool> stopping = false;
  std::mutex mu;
  std::condition_variable cv;
  vault_http::VaultServer* srv = server->get();
  std::thread signals([&] {
    int sig = 0;
    sigwait(&set, &sig);
    stopping = true;
    cv.notify_all();
    srv->Stop();
  });
  // The audit head goes to the daemon's log (journald, a log shipper) whenever it moved since the
  // last pass: an anchor kept outside the vault's disk for `audit verify --anchor`, so that
  // removing the newest records is caught even if no operator saved a head by hand.
  auto log_audit_head = [&, last = std::int64_t{-1}](std::string_view when) mutable {
    vault::AuditAnchor head = (*service)->AuditHead();
    if (head.seq == last) return;
    last = head.seq;
    log::Info("vault", "audit head " + std::to_string(head.seq) + ":" + ToHex(head.mac) + " " +
                           std::string(when) + " (anchor for 'pgcmk vault audit verify --anchor')");
  };
  log_audit_head("at start");
  std::thread scheduler([&] {
    std::unique_lock l(mu);
    while (!stopping) {
      cv.wait_for(l, std::chrono::seconds(interval), [&] { return stopping.load(); });
      if (stopping) break;
      l.unlock();
      auto r = (*service)->RunScheduledWork();
      if (!r) log::Error("vault", "scheduled work failed: " + r.error().ToString());
      log_audit_head("after a scheduler pass");
      l.lock();
    }
  });
  vault::VaultSettings st = (*service)->settings();
  ctx.out << "pgcmk vault listening on " << url << " (tenant " << st.tenant_id << ", resource "
          << st.resource << ")" << (o.insecure_http ? " -- plain HTTP, for tests only" : "")
          << "\n";
  ctx.out.flush();
  Status served = (*server)->Serve();
  stopping = true;
  cv.notify_all();
  // Wake the signal thread if the server stopped on its own.
  pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  scheduler.join();
  log_audit_head("at stop");  // the last head, after the final requests
  std::error_code ec;
  std::filesystem::remove(dir / "vault.url", ec);  // best effort: a stale URL only misleads the CLI
  return served;
}

// ---- identities ----

Status RunIdentity(std::string_view verb, std::span<const std::string> argv, CommandContext& ctx) {
  const bool with_secret = verb == "create" || verb == "rotate-secret";
  auto a = with_secret ? ParseWithConnection(argv, {{"secret-file"}, {"identity-credential-file"}})
                       : ParseWithConnection(argv, {});
  if (!a) return a.error();
  if (verb == "list") PGCMK_RETURN_IF_ERROR(a->NoPositional());
  auto client = Connect(*a);
  if (!client) return client.error();
  auto& c = **client;
  if (verb == "list") {
    auto r = c.Call("GET", "/admin/identities");
    if (!r) return r.error();
    if (ctx.format == OutputFormat::kJson) {
      PrintJson(ctx, *r);
    } else {
      for (const auto& id : (*r)["value"]) {
        ctx.out << id["name"].get<std::string>()
                << "  clientId=" << id["clientId"].get<std::string>()
                << "  objectId=" << id["objectId"].get<std::string>()
                << (id.value("admin", false) ? "  (admin)" : "") << "\n";
      }
    }
    return Status::Ok();
  }
  auto name = a->OnePositional("identity name");
  if (!name) return name.error();
  Result<json> r;
  if (verb == "create" || verb == "rotate-secret") {
    auto file = a->Get("secret-file");
    auto credential_file = a->Get("identity-credential-file");
    if (!file && !credential_file) {
      return Status(StatusCode::kInvalidArgument,
                    "--secret-file PATH (the bare secret, for servers) and/or "
                    "--identity-credential-file PATH (a credential file for this CLI) is required; "
                    "the secret is never printed");
    }
    std::string resource;
    if (credential_file) {
      auto settings = c.Call("GET", "/admin/vault");
      if (!settings) return settings.error();
      resource = (*settings)["resource"].get<std::string>();
    }
    r = verb == "create" ? c.Call("POST", "/admin/identities", json{{"name", *name}})
                         : c.Call("POST", "/admin/identities/" + *name + "/rotatesecret");
    if (!r) return r.error();
    std::string secret = (*r)["clientSecret"].get<std::string>();
    Status w = file ? WriteSecretFile(*file, secret) : Status::Ok();
    if (w.ok() && credential_file) {
      // The same shape as the admin credential `vault init` writes, so that `--credential-file`
      // works with it: the CLI then acts as this identity.
      std::string text = json{
          {"tenantId", (*r)["tenantId"]},
          {"clientId", (*r)["clientId"]},
          {"objectId", (*r)["objectId"]},
          {"resource", resource},
          {"clientSecret",
           secret}}.dump();
      w = WriteSecretFile(*credential_file, text);
      SecureZero(text.data(), text.size());
    }
    SecureZero(secret.data(), secret.size());
    r->erase("clientSecret");
    PGCMK_RETURN_IF_ERROR(w);
    if (file) (*r)["secretFile"] = *file;
    if (credential_file) (*r)["credentialFile"] = *credential_file;
  } else if (verb == "show") {
    r = c.Call("GET", "/admin/identities/" + *name);
  } else {
    r = c.Call("DELETE", "/admin/identities/" + *name);
  }
  if (!r) return r.error();
  if (ctx.format == OutputFormat::kJson) {
    PrintJson(ctx, *r);
  } else {
    ctx.out << (verb == "delete" ? "deleted " : "") << "identity "
            << (*r)["name"].get<std::string>()
            << "\n  clientId:  " << (*r)["clientId"].get<std::string>()
            << "\n  objectId:  " << (*r)["objectId"].get<std::string>()
            << "\n  tenantId:  " << (*r)["tenantId"].get<std::string>() << "\n";
    if (r->contains("secretFile"))
      ctx.out << "  secret written to " << (*r)["secretFile"].get<std::string>()
              << " (mode 0600)\n";
    if (r->contains("credentialFile"))
      ctx.out << "  credential file for --credential-file written to "
              << (*r)["credentialFile"].get<std::string>() << " (mode 0600)\n";
  }
  return Status::Ok();
}

// ---- certificate credentials of identities ----

// Creates `path` (which must not exist) with mode 0600, writes `contents`, and makes it durable.
// Never follows a symlink and never replaces an existing file: a credential is not overwritten
// by accident.
Status WriteNewPrivateFile(const std::filesystem::path& path, ByteView contents) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    if (errno == EEXIST) {
      return Status(StatusCode::kAlreadyExists,
                    path.string() + " already exists; refusing to overwrite a credential file");
    }
    return Status::FromErrno(errno, "create " + path.string());
  }
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd.get(), contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = Status::FromErrno(errno, "write " + path.string());
      ::unlink(path.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) {
    Status s = Status::FromErrno(errno, "fsync " + path.string());
    ::unlink(path.c_str());
    return s;
  }
  std::filesystem::path dir = path.parent_path();
  return FsyncDirectory(dir.empty() ? std::filesystem::path(".") : dir);
}

void PrintCertificate(CommandContext& ctx, const json& c, std::string_view prefix) {
  ctx.out << prefix << c.value("thumbprint", "") << "  " << c.value("subject", "") << "  RSA "
          << c.value("keySize", 0) << "  valid "
          << FormatTime(c.value("notBefore", std::int64_t{0})) << " .. "
          << FormatTime(c.value("notAfter", std::int64_t{0})) << "\n"
          << prefix << "  keyId " << c.value("keyId", "") << "  x5t#S256 "
          << c.value("x5t#S256", "") << "\n";
}

Status RunIdentityCert(std::string_view verb, std::span<const std::string> argv,
                       CommandContext& ctx) {
  auto a = verb == "add" ? ParseWithConnection(argv, {{"cert"}})
           : verb == "create"
               ? ParseWithConnection(argv, {{"out"}, {"subject"}, {"size"}, {"days"}})
               : ParseWithConnection(argv, {});
  if (!a) return a.error();
  if (verb == "remove" && a->positional().size() != 2) {
    return Status(StatusCode::kInvalidArgument,
                  "expected the identity name and the certificate's thumbprint or keyId");
  }
  if (verb != "remove" && a->positional().size() != 1) {
    return Status(StatusCode::kInvalidArgument, "expected exactly one identity name");
  }
  const std::string name = a->positional()[0];
  const std::string base = "/admin/identities/" + name + "/certificates";
  Result<json> r;
  std::optional<std::filesystem::path> created_file;
  if (verb == "add" || verb == "create") {
    std::string certificate_pem;
    if (verb == "add") {
      auto file = a->Get("cert");
      if (!file) return Status(StatusCode::kInvalidArgument, "--cert FILE.pem is required");
      // The file may be a key+certificate bundle: read it as a secret, send the certificate only.
      auto text = ReadSecretFile(*file, 1 << 20);
      if (!text) return text.error().WithContext("reading " + *file);
      auto cert = crypto::ParseClientCertificatePem(AsStringView(text->reveal()));
      if (!cert) return cert.error().WithContext(*file);
      certificate_pem = crypto::ClientCertificatePem(*cert);
    } else {
      auto out = a->Get("out");
      if (!out) {
        return Status(StatusCode::kInvalidArgument,
                      "--out FILE is required (a new file that will hold the private key)");
      }
      crypto::SelfSignedClientCertificateOptions o;
      o.common_name = a->Get("subject").value_or(name);
      PGCMK_ASSIGN_OR_RETURN(auto bits, a->GetInt("size", 2048, 8192));
      if (bits) o.rsa_bits = static_cast<int>(*bits);
      PGCMK_ASSIGN_OR_RETURN(auto days, a->GetInt("days", 1, 3650));
      if (days) o.validity = std::chrono::days(*days);
      auto ck = crypto::CreateSelfSignedClientCertificate(o);
      if (!ck) return ck.error();
      // Private key then certificate: the PEM file ClientCertificateCredential and the pgcmk
      // server's --identity-certificate-file read.
      SecretBytes bundle(ck->private_key_pem.size() + ck->certificate_pem.size());
      std::copy(ck->private_key_pem.reveal().begin(), ck->private_key_pem.reveal().end(),
                bundle.reveal_mutable().begin());
      std::copy(ck->certificate_pem.begin(), ck->certificate_pem.end(),
                bundle.reveal_mutable().begin() + static_cast<long>(ck->private_key_pem.size()));
      PGCMK_RETURN_IF_ERROR(WriteNewPrivateFile(*out, bundle.reveal()));
      created_file = *out;
      certificate_pem = ck->certificate_pem;
    }
    auto client = Connect(*a);
    if (!client) {
      if (created_file) ::unlink(created_file->c_str());
      return client.error();
    }
    r = (*client)->Call("POST", base, json{{"certificate", certificate_pem}});
    if (!r && created_file) ::unlink(created_file->c_str());  // useless unregistered
    if (!r) return r.error();
    if (created_file) (*r)["credentialFile"] = created_file->string();
  } else {
    auto client = Connect(*a);
    if (!client) return client.error();
    r = verb == "list" ? (*client)->Call("GET", base)
                       : (*client)->Call("DELETE", base + "/" + a->positional()[1]);
    if (!r) return r.error();
  }
  if (ctx.format == OutputFormat::kJson) {
    PrintJson(ctx, *r);
    return Status::Ok();
  }
  if (verb == "list") {
    const json& value = (*r)["value"];
    if (value.empty()) ctx.out << "identity " << name << " has no certificates\n";
    for (const auto& c : value) PrintCertificate(ctx, c, "");
    return Status::Ok();
  }
  ctx.out << (verb == "remove" ? "removed" : "registered") << " certificate for identity " << name
          << "\n";
  PrintCertificate(ctx, *r, "  ");
  if (created_file) {
    ctx.out << "  private key and certificate written to " << created_file->string()
            << " (mode 0600; only the certificate was sent to the vault)\n";
  }
  if (verb == "remove") {
    ctx.out << "  tokens the identity already holds are revoked; it needs a new one\n";
  }
  return Status::Ok();
}

// ---- policies ----

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    std::string item = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!item.empty()) out.push_back(item);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

Status RunPolicy(std::string_view verb, std::span<const std::string> argv, CommandContext& ctx) {
  auto a = verb == "set"
               ? ParseWithConnection(argv, {{"key-permissions"}, {"role", OptionKind::kRepeated}})
               : ParseWithConnection(argv, {});
  if (!a) return a.error();
  auto name = a->OnePositional("identity name");
  if (!name) return name.error();
  auto client = Connect(*a);
  if (!client) return client.error();
  Result<json> r;
  if (verb == "set") {
    json body = {{"keyPermissions", SplitComma(a->Get("key-permissions").value_or(""))},
                 {"roles", json::array()}};
    for (const auto& role : a->GetAll("role")) body["roles"].push_back(role);
    r = (*client)->Call("PUT", "/admin/policies/" + *name, body);
  } else if (verb == "show") {
    r = (*client)->Call("GET", "/admin/policies/" + *name);
  } else {
    r = (*client)->Call("DELETE", "/admin/policies/" + *name);
    if (!r) return r.error();
    if (ctx.format == OutputFormat::kJson)
      PrintJson(ctx, {{"deleted", *name}});
    else
      ctx.out << "policy of " << *name << " deleted\n";
    return Status::Ok();
  }
  if (!r) return r.error();
  if (ctx.format == OutputFormat::kJson) return PrintJson(ctx, *r), Status::Ok();
  ctx.out << "identity " << (*r)["identity"].get<std::string>() << "\n  key permissions: ";
  for (const auto& p : (*r)["keyPermissions"]) ctx.out << p.get<std::string>() << " ";
  ctx.out << "\n  roles:           ";
  for (const auto& p : (*r)["roles"]) ctx.out << "\"" << p.get<std::string>() << "\" ";
  ctx.out << "\n  effective:       ";
  for (const auto& p : (*r)["effectivePermissions"]) ctx.out << p.get<std::string>() << " ";
  ctx.out << "\n";
  return Status::Ok();
}

// ---- keys ----

Result<Args> ParseKeyArgs(std::string_view verb, std::span<const std::string> argv) {
  if (verb == "create") {
    return ParseWithConnection(argv, {{"kty"}, {"size"}, {"curve"}, {"ops"}, {"exp"}, {"nbf"}});
  }
  if (verb == "update") {
    return ParseWithConnection(argv, {{"version"}, {"exp"}, {"nbf"}, {"enabled"}, {"ops"}});
  }
  if (verb == "wrap" || verb == "unwrap") {
    return ParseWithConnection(argv, {{"in"}, {"out"}, {"alg"}, {"version"}});
  }
  if (verb == "show" || verb == "enable" || verb == "disable") {
    return ParseWithConnection(argv, {{"version"}});
  }
  return ParseWithConnection(argv, {});
}

// A Unix time option (seconds); with `none_clears`, "none" means JSON null (remove it).
Result<std::optional<json>> TimeOption(const Args& a, std::string_view name, bool none_clears) {
  auto v = a.Get(name);
  if (!v) return std::optional<json>();
  if (none_clears && *v == "none") return std::optional<json>(json(nullptr));
  PGCMK_ASSIGN_OR_RETURN(std::int64_t t, ParseInteger(*v,
                                                      "--" + std::string(name) +
                                                          (none_clears ? " (Unix seconds or none)"
                                                                       : " (Unix seconds)"),
                                                      0, 253402300799));
  return std::optional<json>(json(t));
}

Status RunKey(std::string_view verb, std::span<const std::string> argv, CommandContext& ctx) {
  auto a = ParseKeyArgs(verb, argv);
  if (!a) return a.error();
  if (verb == "list") PGCMK_RETURN_IF_ERROR(a->NoPositional());
  auto client = Connect(*a);
  if (!client) return client.error();
  auto& c = **client;
  if (verb == "list") {
    json all = json::array();
    std::string path = "/keys?" + ApiVersion();
    while (true) {
      auto r = c.Call("GET", path);
      if (!r) return r.error();
      for (auto& item : (*r)["value"]) all.push_back(item);
      if (!(*r)["nextLink"].is_string()) break;
      std::string next = (*r)["nextLink"].get<std::string>();
      size_t p = next.find("/keys?");
      if (p == std::string::npos) break;
      path = next.substr(p);
    }
    if (ctx.format == OutputFormat::kJson) return PrintJson(ctx, {{"value", all}}), Status::Ok();
    for (const auto& item : all) {
      ctx.out << item["kid"].get<std::string>()
              << (item["attributes"].value("enabled", true) ? "" : "  (disabled)") << "\n";
    }
    return Status::Ok();
  }
  auto name = a->OnePositional("key name");
  if (!name) return name.error();
  std::string version = a->Get("version").value_or("");
  std::string key_path = "/keys/" + *name + "/" + version;
  Result<json> r;
  if (verb == "create") {
    json body = {{"kty", a->Get("kty").value_or("RSA")}};
    if (body["kty"] == "RSA" || body["kty"] == "RSA-HSM") {
      PGCMK_ASSIGN_OR_RETURN(auto size, a->GetInt("size", 1, 16384));
      body["key_size"] = size.value_or(3072);
    }
    if (auto crv = a->Get("curve")) body["crv"] = *crv;
    if (auto ops = a->Get("ops")) body["key_ops"] = SplitComma(*ops);
    json attrs = json::object();
    for (const char* f : {"exp", "nbf"}) {
      PGCMK_ASSIGN_OR_RETURN(auto t, TimeOption(*a, f, /*none_clears=*/false));
      if (t) attrs[f] = *t;
    }
    if (!attrs.empty()) body["attributes"] = attrs;
    r = c.Call("POST", "/keys/" + *name + "/create?" + ApiVersion(), body);
  } else if (verb == "show") {
    r = c.Call("GET", key_path + "?" + ApiVersion());
  } else if (verb == "versions") {
    r = c.Call("GET", "/keys/" + *name + "/versions?" + ApiVersion());
    if (!r) return r.error();
    if (ctx.format == OutputFormat::kJson) return PrintJson(ctx, *r), Status::Ok();
    for (const auto& item : (*r)["value"]) ctx.out << item["kid"].get<std::string>() << "\n";
    return Status::Ok();
  } else if (verb == "rotate") {
    r = c.Call("POST", "/keys/" + *name + "/rotate?" + ApiVersion());
  } else if (verb == "enable" || verb == "disable") {
    r = c.Call("PATCH", key_path + "?" + ApiVersion(),
               json{{"attributes", {{"enabled", verb == "enable"}}}});
  } else if (verb == "update") {
    json attrs = json::object();
    for (const char* f : {"exp", "nbf"}) {
      PGCMK_ASSIGN_OR_RETURN(auto t, TimeOption(*a, f, /*none_clears=*/true));
      if (t) attrs[f] = *t;
    }
    if (auto en = a->Get("enabled")) {
      if (*en != "true" && *en != "false") {
        return Status(StatusCode::kInvalidArgument, "--enabled takes true or false");
      }
      attrs["enabled"] = *en == "true";
    }
    json body = {{"attributes", attrs}};
    if (auto ops = a->Get("ops")) body["key_ops"] = SplitComma(*ops);
    r = c.Call("PATCH", key_path + "?" + ApiVersion(), body);
  } else if (verb == "delete") {
    r = c.Call("DELETE", "/keys/" + *name + "?" + ApiVersion());
  } else if (verb == "recover") {
    r = c.Call("POST", "/deletedkeys/" + *name + "/recover?" + ApiVersion());
  } else if (verb == "purge") {
    r = c.Call("DELETE", "/deletedkeys/" + *name + "?" + ApiVersion());
    if (!r) return r.error();
    if (ctx.format == OutputFormat::kJson)
      PrintJson(ctx, {{"purged", *name}});
    else
      ctx.out << "purged " << *name << "\n";
    return Status::Ok();
  } else if (verb == "wrap" || verb == "unwrap") {
    auto in = a->Get("in");
    auto out = a->Get("out");
    if (!in || !out)
      return Status(StatusCode::kInvalidArgument, "--in FILE and --out FILE are required");
    auto data =
        verb == "wrap" ? ReadSecretFile(*in) : Result<SecretBytes>(Err(StatusCode::kOk, ""));
    Bytes wrapped;
    json body = {{"alg", a->Get("alg").value_or("RSA-OAEP-256")}};
    if (verb == "wrap") {
      if (!data) return data.error();
      body["value"] = Base64UrlEncode(data->reveal());
    } else {
      auto w = ReadWholeFile(*in);
      if (!w) return w.error();
      body["value"] = Base64UrlEncode(*w);
    }
    r = c.Call("POST",
               "/keys/" + *name + "/" + version + "/" + std::string(verb) + "key?" + ApiVersion(),
               body);
    if (!r) return r.error();
    auto value = Base64UrlDecode((*r)["value"].get<std::string>());
    if (!value) return Status(StatusCode::kInternal, "the vault returned an invalid value");
    Status w = WriteFileAtomically(*out, *value, 0600);
    SecureZero(value->data(), value->size());
    PGCMK_RETURN_IF_ERROR(w);
    if (ctx.format == OutputFormat::kJson)
      PrintJson(ctx, {{"kid", (*r)["kid"]}, {"out", *out}});
    else
      ctx.out << verb << "ped with " << (*r)["kid"].get<std::string>() << "; wrote " << *out
              << "\n";
    return Status::Ok();
  } else {
    return Status(StatusCode::kInvalidArgument, "unknown key command");
  }
  if (!r) return r.error();
  PrintKey(ctx, *r);
  return Status::Ok();
}

// ---- audit and settings ----

Status RunAudit(std::string_view verb, std::span<const std::string> argv, CommandContext& ctx) {
  auto a = verb == "show"
               ? ParseWithConnection(
                     argv, {{"key"}, {"identity"}, {"operation"}, {"since"}, {"until"}, {"limit"}})
               : ParseWithConnection(argv, {{"anchor", OptionKind::kRepeated}});
  if (!a) return a.error();
  PGCMK_RETURN_IF_ERROR(a->NoPositional());
  auto client = Connect(*a);
  if (!client) return client.error();
  if (verb == "verify") {
    std::string path = "/admin/audit/verify";
    // --anchor SEQ:MAC, any number of times (or comma-separated): every head recorded
    // elsewhere — e.g. each "audit head" line of the daemon's log — is checked in one pass.
    std::string anchors;
    for (const std::string& anchor : a->GetAll("anchor")) {
      if (auto parsed = vault::ParseAuditAnchors(anchor); !parsed) return parsed.error();
      anchors += (anchors.empty() ? "" : ",") + anchor;
    }
    if (!anchors.empty()) path += "?anchor=" + PercentEncode(anchors);
    auto r = (*client)->Call("GET", path);
    if (!r) return r.error();
    if (ctx.format == OutputFormat::kJson) {
      PrintJson(ctx, *r);
    } else if ((*r)["ok"].get<bool>()) {
      ctx.out << "audit log intact: " << (*r)["records"] << " records"
              << (anchors.empty() ? "" : ", anchors matched") << "\n"
              << "head (record it outside the vault; verify later with --anchor): "
              << (*r)["headSeq"] << ":" << (*r)["headMac"].get<std::string>() << "\n";
    } else {
      ctx.out << "AUDIT LOG TAMPERED: " << (*r)["problem"].get<std::string>()
              << " (first bad record " << (*r)["firstBadSeq"] << ")\n";
    }
    if (!(*r)["ok"].get<bool>())
      return Status(StatusCode::kDataLoss, "the audit log failed verification");
    return Status::Ok();
  }
  std::string query;
  if (auto since = a->GetInt("since", 0, 253402300799); !since) return since.error();
  if (auto until = a->GetInt("until", 0, 253402300799); !until) return until.error();
  if (auto limit = a->GetInt("limit", 1, 1'000'000); !limit) return limit.error();
  for (const char* f : {"key", "identity", "operation", "since", "until", "limit"}) {
    if (auto v = a->Get(f)) {
      query += std::string(query.empty() ? "?" : "&") + f + "=" + PercentEncode(*v);
    }
  }
  auto r = (*client)->Call("GET", "/admin/audit" + query);
  if (!r) return r.error();
  if (ctx.format == OutputFormat::kJson) return PrintJson(ctx, *r), Status::Ok();
  for (const auto& rec : (*r)["value"]) {
    const json& props = rec.value("properties", json::object());
    ctx.out << rec.value("time", "") << "  " << rec.value("operationName", "") << "  "
            << props.value("httpStatusCode", 0) << "  "
            << rec.value("identity", json::object()).value("name", "-") << "  "
            << props.value("id", "") << "  " << rec.value("callerIpAddress", "") << "\n";
  }
  return Status::Ok();
}

Status RunSettings(std::string_view verb, std::span<const std::string> argv, CommandContext& ctx) {
  auto a = ParseWithConnection(argv, {});
  if (!a) return a.error();
  PGCMK_RETURN_IF_ERROR(a->NoPositional());
  auto client = Connect(*a);
  if (!client) return client.error();
  auto r = verb == "show" ? (*client)->Call("GET", "/admin/vault")
                          : (*client)->Call("POST", "/admin/vault/purgeprotection");
  if (!r) return r.error();
  if (ctx.format == OutputFormat::kJson) return PrintJson(ctx, *r), Status::Ok();
  ctx.out << "tenant:           " << (*r)["tenantId"].get<std::string>()
          << "\nresource:         " << (*r)["resource"].get<std::string>()
          << "\nretention:        " << (*r)["retentionDays"]
          << " days\npurge protection: " << ((*r)["purgeProtection"].get<bool>() ? "on" : "off")
          << "\nrecovery level:   " << (*r)["recoveryLevel"].get<std::string>() << "\n";
  return Status::Ok();
}

}  // namespace

void RegisterVaultCommands(CommandTable& table) {
  const std::string conn = "[--data-dir DIR | --vault URL --credential-file FILE [--ca FILE]]";
  table.Add({"vault init",
             "--data-dir DIR [--retention-days 7..90] [--purge-protection] [--resource URL]",
             "Create a new key vault (master key, database, tenant, admin credential)", RunInit});
  table.Add({"vault serve",
             "--data-dir DIR [--listen 127.0.0.1:8443] [--public-url URL] [--insecure-http] "
             "[--tls-cert CHAIN.pem --tls-key KEY.pem] [--threads N] "
             "[--scheduler-interval SECONDS] [--max-requests-per-10s N] "
             "[--test-clock-offset SECONDS]",
             "Run the key vault daemon (initialises DIR on first start)", RunServe});
  for (std::string verb : {"create", "list", "show", "delete", "rotate-secret"}) {
    std::string usage = verb == "list" ? conn : "NAME " + conn;
    if (verb == "create" || verb == "rotate-secret")
      usage = "NAME [--secret-file PATH] [--identity-credential-file PATH] " + conn;
    table.Add({"vault identity " + verb, usage, "Identities (client credentials) of the vault",
               [verb](std::span<const std::string> args, CommandContext& ctx) {
                 return RunIdentity(verb, args, ctx);
               }});
  }
  for (std::string verb : {"add", "create", "list", "remove"}) {
    std::string usage = "NAME " + conn;
    if (verb == "add") usage = "NAME --cert FILE.pem " + conn;
    if (verb == "create")
      usage = "NAME --out NEW_FILE.pem [--subject CN] [--size 2048] [--days 365] " + conn;
    if (verb == "remove") usage = "NAME THUMBPRINT|KEY_ID " + conn;
    table.Add({"vault identity cert " + verb, usage,
               verb == "create" ? "Generate an RSA key and self-signed certificate into a new "
                                  "0600 file and register the certificate"
                                : "Certificate credentials of an identity (public part only)",
               [verb](std::span<const std::string> args, CommandContext& ctx) {
                 return RunIdentityCert(verb, args, ctx);
               }});
  }
  for (std::string verb : {"set", "show", "delete"}) {
    std::string usage = "IDENTITY " + conn;
    if (verb == "set")
      usage = "IDENTITY [--key-permissions get,wrapKey,unwrapKey] [--role ROLE] " + conn;
    table.Add({"vault policy " + verb, usage, "Access policies (deny by default)",
               [verb](std::span<const std::string> args, CommandContext& ctx) {
                 return RunPolicy(verb, args, ctx);
               }});
  }
  for (std::string verb : {"create", "list", "show", "versions", "rotate", "enable", "disable",
                           "update", "delete", "recover", "purge", "wrap", "unwrap"}) {
    std::string usage = "NAME " + conn;
    if (verb == "list") usage = conn;
    if (verb == "create")
      usage = "NAME [--kty RSA] [--size 3072] [--ops a,b] [--exp UNIX] [--nbf UNIX] " + conn;
    if (verb == "update")
      usage =
          "NAME [--version V] [--exp UNIX|none] [--nbf UNIX|none] [--enabled true|false] " + conn;
    if (verb == "wrap" || verb == "unwrap")
      usage = "NAME --in FILE --out FILE [--alg RSA-OAEP-256] [--version V] " + conn;
    table.Add({"vault key " + verb, usage, "Keys in the vault",
               [verb](std::span<const std::string> args, CommandContext& ctx) {
                 return RunKey(verb, args, ctx);
               }});
  }
  table.Add(
      {"vault audit show",
       "[--key K] [--identity I] [--operation Op] [--since UNIX] [--until UNIX] [--limit N] " +
           conn,
       "Show audit records", [](std::span<const std::string> args, CommandContext& ctx) {
         return RunAudit("show", args, ctx);
       }});
  table.Add({"vault audit verify", "[--anchor SEQ:MAC[,SEQ:MAC...]]... " + conn,
             "Verify the audit log's hash chain (and a head recorded earlier)",
             [](std::span<const std::string> args, CommandContext& ctx) {
               return RunAudit("verify", args, ctx);
             }});
  table.Add({"vault settings show", conn, "Show the vault's settings",
             [](std::span<const std::string> args, CommandContext& ctx) {
               return RunSettings("show", args, ctx);
             }});
  table.Add({"vault settings enable-purge-protection", conn,
             "Turn purge protection on (irreversible)",
             [](std::span<const std::string> args, CommandContext& ctx) {
               return RunSettings("enable", args, ctx);
             }});
}

}  // namespace pgcmk::cli
