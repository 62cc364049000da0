#include "server/tls_material.h"

#include <sys/wait.h>
#include <unistd.h>

#include "common/durable_file.h"
#include "server/child_process.h"
#include "server/status_macros.h"

// Certificates come from crypto/x509.h. While that header had not landed, a fallback drove the
// openssl command-line tool in a private 0700 directory on tmpfs (/dev/shm: memory, not disk);
// it stays only for trees without crypto/x509.h. TODO(issue 5): drop the fallback.
#if __has_include("crypto/x509.h")
#include "crypto/x509.h"
#define PGCMK_HAVE_X509 1
#endif

namespace pgcmk::server {

#ifdef PGCMK_HAVE_X509

Result<ServerTlsMaterial> IssueServerTlsMaterial(std::string_view server_name,
                                                 const std::vector<std::string>& dns_names,
                                                 const std::vector<std::string>& ip_addresses) {
  crypto::CertificateAuthorityOptions ca_options;
  ca_options.common_name = "pgcmk private CA for server " + std::string(server_name);
  PGCMK_ASSIGN_OR_RETURN(crypto::CertifiedKey ca, crypto::CreateCertificateAuthority(ca_options));
  crypto::ServerCertificateOptions options;
  options.common_name = std::string(server_name);
  options.dns_names = dns_names;
  options.ip_addresses = ip_addresses;
  PGCMK_ASSIGN_OR_RETURN(crypto::CertifiedKey server, crypto::IssueServerCertificate(ca, options));
  ServerTlsMaterial out;
  out.ca_cert_pem = std::move(ca.certificate_pem);
  out.server_cert_pem = std::move(server.certificate_pem);
  out.server_key_pem = std::move(server.private_key_pem);
  return out;  // `ca` goes out of scope here: its private key is zeroized and gone
}

#else

namespace {

Status RunOpenssl(const std::vector<std::string>& args, const std::filesystem::path& log) {
  SpawnOptions spawn;
  spawn.argv = {"/usr/bin/openssl"};
  spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
  spawn.log_file = log;
  SERVER_ASSIGN_OR_STATUS(ChildProcess child, ChildProcess::Spawn(spawn));
  auto st = child.Wait(std::chrono::seconds(60));
  if (!st) return st.error();
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
    return Status(StatusCode::kInternal, "openssl " + args[0] + " " + DescribeExitStatus(*st));
  }
  return Status::Ok();
}

class ScratchDir {
 public:
  ScratchDir() {
    char tmpl[] = "/dev/shm/pgcmk-tls-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace

Result<ServerTlsMaterial> IssueServerTlsMaterial(std::string_view server_name,
                                                 const std::vector<std::string>& dns_names,
                                                 const std::vector<std::string>& ip_addresses) {
  ScratchDir scratch;
  if (scratch.path().empty()) return Err(Status::FromErrno(errno, "mkdtemp in /dev/shm"));
  const auto dir = scratch.path();
  const auto log = dir / "openssl.log";
  std::string san;
  for (const auto& d : dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  const std::string name(server_name);
  SERVER_TRY(RunOpenssl(
      {"req", "-x509", "-newkey", "rsa:3072", "-nodes", "-sha256", "-days", "3650", "-keyout",
       (dir / "ca.key").string(), "-out", (dir / "ca.pem").string(), "-subj",
       "/CN=pgcmk private CA for " + name, "-addext", "basicConstraints=critical,CA:TRUE",
       "-addext", "keyUsage=critical,keyCertSign,cRLSign"},
      log));
  SERVER_TRY(RunOpenssl(
      {"req", "-newkey", "rsa:3072", "-nodes", "-sha256", "-keyout", (dir / "server.key").string(),
       "-out", (dir / "server.csr").string(), "-subj", "/CN=" + name},
      log));
  const std::string ext = "subjectAltName=" + san +
                          "\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,"
                          "keyEncipherment\nextendedKeyUsage=serverAuth\n";
  SERVER_TRY(WriteFileAtomically(dir / "ext.cnf", AsBytes(ext), 0600));
  SERVER_TRY(RunOpenssl(
      {"x509", "-req", "-in", (dir / "server.csr").string(), "-CA", (dir / "ca.pem").string(),
       "-CAkey", (dir / "ca.key").string(), "-CAcreateserial", "-days", "825", "-sha256",
       "-extfile", (dir / "ext.cnf").string(), "-out", (dir / "server.pem").string()},
      log));
  ServerTlsMaterial out;
  PGCMK_ASSIGN_OR_RETURN(Bytes ca, ReadWholeFile(dir / "ca.pem"));
  PGCMK_ASSIGN_OR_RETURN(Bytes cert, ReadWholeFile(dir / "server.pem"));
  PGCMK_ASSIGN_OR_RETURN(out.server_key_pem, ReadSecretFile(dir / "server.key"));
  out.ca_cert_pem = std::string(AsStringView(ca));
  out.server_cert_pem = std::string(AsStringView(cert));
  return out;
}

#endif  // PGCMK_HAVE_X509

}  // namespace pgcmk::server
