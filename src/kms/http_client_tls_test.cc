// verify-full for the vault connection: a FAKE HTTPS endpoint (in-process httplib::SSLServer with
// certificates from crypto/x509.h) answers only if the client trusts its CA and the certificate
// names the host the client dialled.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <thread>

#include "common/durable_file.h"
#include "crypto/x509.h"
#include "kms/http_client.h"

namespace pgcmk::kms {
namespace {

struct TlsFixture {
  std::filesystem::path dir;
  std::filesystem::path ca_file, other_ca_file;
  std::unique_ptr<httplib::SSLServer> server;
  std::thread thread;
  int port = 0;

  // `names_ip` = true: the certificate names 127.0.0.1; false: only "vault.example".
  explicit TlsFixture(bool names_ip) {
    dir = std::filesystem::temp_directory_path() /
          ("pgcmk-kms-tls-" + std::to_string(::getpid()) + (names_ip ? "-ip" : "-dns"));
    std::filesystem::create_directories(dir);
    auto ca = crypto::CreateCertificateAuthority({});
    auto other = crypto::CreateCertificateAuthority({});
    EXPECT_TRUE(ca.has_value() && other.has_value());
    crypto::ServerCertificateOptions o;
    o.common_name = "vault.example";
    o.dns_names = {"vault.example"};
    if (names_ip) o.ip_addresses = {"127.0.0.1"};
    auto cert = crypto::IssueServerCertificate(*ca, o);
    EXPECT_TRUE(cert.has_value());
    ca_file = dir / "ca.pem";
    other_ca_file = dir / "other-ca.pem";
    EXPECT_TRUE(WriteFileAtomically(ca_file, AsBytes(ca->certificate_pem), 0644).ok());
    EXPECT_TRUE(WriteFileAtomically(other_ca_file, AsBytes(other->certificate_pem), 0644).ok());
    EXPECT_TRUE(WriteFileAtomically(dir / "cert.pem", AsBytes(cert->certificate_pem), 0644).ok());
    EXPECT_TRUE(WriteFileAtomically(dir / "key.pem", cert->private_key_pem.reveal(), 0600).ok());
    server =
        std::make_unique<httplib::SSLServer>((dir / "cert.pem").c_str(), (dir / "key.pem").c_str());
    std::filesystem::remove(dir / "key.pem");
    server->Get("/ping", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{}", "application/json");
    });
    port = server->bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server->listen_after_bind(); });
    while (!server->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ~TlsFixture() {
    server->stop();
    thread.join();
    std::filesystem::remove_all(dir);
  }
  Result<HttpResponse> Ping(const std::filesystem::path& ca) {
    HttpOptions o;
    o.ca_file = ca;
    o.connect_timeout = std::chrono::milliseconds(1000);
    o.io_timeout = std::chrono::milliseconds(2000);
    auto c = HttpClient::Create("https://127.0.0.1:" + std::to_string(port), o);
    if (!c) return Err(c.error());
    return (*c)->Send("GET", "/ping", {}, "", "");
  }
};

TEST(HttpClientTlsTest, ConnectsWhenTheCaIsTrustedAndTheCertificateNamesTheHost) {
  TlsFixture f(/*names_ip=*/true);
  auto r = f.Ping(f.ca_file);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->status, 200);
}

TEST(HttpClientTlsTest, RefusesAServerSignedByAnotherCa) {
  TlsFixture f(/*names_ip=*/true);
  auto r = f.Ping(f.other_ca_file);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.error().message().find("did not verify"), std::string::npos) << r.error().message();
}

TEST(HttpClientTlsTest, RefusesACertificateThatDoesNotNameTheHost) {
  TlsFixture f(/*names_ip=*/false);
  auto r = f.Ping(f.ca_file);
  ASSERT_FALSE(r.has_value()) << "hostname verification must be on (verify-full)";
  EXPECT_EQ(r.error().code(), StatusCode::kUnavailable);
}

TEST(HttpClientTlsTest, MissingCaFileIsAClearPreconditionFailure) {
  HttpOptions o;
  o.ca_file = "/nonexistent/ca.pem";
  auto c = HttpClient::Create("https://127.0.0.1:1", o);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace pgcmk::kms
