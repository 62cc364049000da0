#include "server/inaccessible_responder.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdio>
#include <filesystem>

#include "common/durable_file.h"
#include "crypto/x509.h"

namespace pgcmk::server {
namespace {

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string Exchange(int port, const Bytes& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return reply;
}

Bytes Packet(std::uint32_t code, const std::string& params = "") {
  const std::uint32_t len = static_cast<std::uint32_t>(8 + params.size());
  Bytes p(len);
  for (int i = 0; i < 4; ++i) {
    p[i] = static_cast<std::uint8_t>(len >> (24 - 8 * i));
    p[4 + i] = static_cast<std::uint8_t>(code >> (24 - 8 * i));
  }
  std::copy(params.begin(), params.end(), p.begin() + 8);
  return p;
}

TEST(InaccessibleResponderTest, DeclinesTlsThenAnswersStartupWithAnErrorNamingTheCause) {
  const int port = FreePort();
  auto r = InaccessibleResponder::Start("127.0.0.1", port, "key https://v/keys/k/1 is disabled",
                                        "see pgcmk server show db1");
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  Bytes request = Packet(80877103);
  Bytes startup = Packet(196608, std::string("user\0postgres\0\0", 15));
  request.insert(request.end(), startup.begin(), startup.end());
  std::string reply = Exchange(port, request);
  ASSERT_GT(reply.size(), 2u);
  EXPECT_EQ(reply[0], 'N');
  reply.erase(0, 1);
  EXPECT_EQ(reply[0], 'E');
  EXPECT_NE(reply.find("C08004"), std::string::npos);
  EXPECT_NE(reply.find("Mthe customer-managed key is not accessible: key https://v/keys/k/1 is "
                       "disabled"),
            std::string::npos);
  EXPECT_NE(reply.find("SFATAL"), std::string::npos);
  // The length field covers everything after the type byte.
  std::uint32_t len = (std::uint32_t(std::uint8_t(reply[1])) << 24) |
                      (std::uint32_t(std::uint8_t(reply[2])) << 16) |
                      (std::uint32_t(std::uint8_t(reply[3])) << 8) | std::uint8_t(reply[4]);
  EXPECT_EQ(len + 1, reply.size());
}

TEST(InaccessibleResponderTest, AnswersPlainStartupMessageAndFollowsReasonChanges) {
  const int port = FreePort();
  auto r = InaccessibleResponder::Start("127.0.0.1", port, "first", "");
  ASSERT_TRUE(r.has_value());
  (*r)->SetReason("second reason");
  std::string params = std::string("user\0postgres\0\0", 15);
  std::string reply = Exchange(port, Packet(196608, params));
  EXPECT_NE(reply.find("not accessible: second reason"), std::string::npos);
  EXPECT_EQ((*r)->answered(), 1);
}

TEST(InaccessibleResponderTest, ClosesOnGarbageWithoutAnswer) {
  const int port = FreePort();
  auto r = InaccessibleResponder::Start("127.0.0.1", port, "x", "");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(Exchange(port, Packet(12345)), "");
}

std::string RunPsql(int port, const std::string& sslmode, int* rc,
                    const std::string& rootcert = "/nonexistent") {
  std::string cmd =
      "PGCONNECT_TIMEOUT=5 /usr/bin/psql \"host=127.0.0.1 port=" + std::to_string(port) +
      " user=postgres dbname=postgres sslmode=" + sslmode + " sslrootcert=" + rootcert +
      "\" -c 'select 1' 2>&1 </dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 512> buf{};
  while (p != nullptr && std::fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  *rc = p != nullptr ? ::pclose(p) : -1;
  return out;
}

TEST(InaccessibleResponderTest, PsqlShowsTheErrorUnlessItInsistsOnTls) {
  if (::access("/usr/bin/psql", X_OK) != 0) GTEST_SKIP() << "psql not installed";
  const int port = FreePort();
  auto r = InaccessibleResponder::Start("127.0.0.1", port, "the identity lacks unwrapKey", "");
  ASSERT_TRUE(r.has_value());
  for (const char* mode : {"prefer", "disable"}) {
    int rc = 0;
    std::string out = RunPsql(port, mode, &rc);
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find("FATAL:  the customer-managed key is not accessible: the identity lacks "
                       "unwrapKey"),
              std::string::npos)
        << mode << ": " << out;
  }
  // Documented limitation: TLS-only clients are told the server offers no TLS, not refused.
  int rc = 0;
  std::string out = RunPsql(port, "verify-full", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("server does not support SSL"), std::string::npos) << out;
}

TEST(InaccessibleResponderTest, WithTheServerCertificateVerifyFullClientsSeeTheErrorOverTls) {
  if (::access("/usr/bin/psql", X_OK) != 0) GTEST_SKIP() << "psql not installed";
  ::signal(SIGPIPE, SIG_IGN);  // as in the supervisor
  auto ca = crypto::CreateCertificateAuthority({});
  ASSERT_TRUE(ca.has_value());
  crypto::ServerCertificateOptions o;
  o.common_name = "db1";
  o.dns_names = {"localhost"};
  o.ip_addresses = {"127.0.0.1"};
  auto cert = crypto::IssueServerCertificate(*ca, o);
  ASSERT_TRUE(cert.has_value());
  auto tls = crypto::TlsServerContext::Create(cert->certificate_pem, cert->private_key_pem);
  ASSERT_TRUE(tls.has_value()) << tls.error().ToString();
  const auto ca_file = std::filesystem::temp_directory_path() /
                       ("pgcmk-responder-ca-" + std::to_string(::getpid()) + ".pem");
  ASSERT_TRUE(WriteFileAtomically(ca_file, AsBytes(ca->certificate_pem), 0644).ok());
  const int port = FreePort();
  auto r = InaccessibleResponder::Start("127.0.0.1", port, "the key is disabled", "", *tls);
  ASSERT_TRUE(r.has_value());
  for (const char* mode : {"verify-full", "require", "prefer"}) {
    int rc = 0;
    std::string out = RunPsql(port, mode, &rc, ca_file.string());
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find("FATAL:  the customer-managed key is not accessible: the key is disabled"),
              std::string::npos)
        << mode << ": " << out;
  }
  // A client that does not trust the certificate learns nothing and gets no answer.
  auto other = crypto::CreateCertificateAuthority({});
  ASSERT_TRUE(WriteFileAtomically(ca_file, AsBytes(other->certificate_pem), 0644).ok());
  int rc = 0;
  std::string out = RunPsql(port, "verify-full", &rc, ca_file.string());
  EXPECT_NE(rc, 0);
  EXPECT_EQ(out.find("customer-managed"), std::string::npos) << out;
  std::filesystem::remove(ca_file);
}

}  // namespace
}  // namespace pgcmk::server
