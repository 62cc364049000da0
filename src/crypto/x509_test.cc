#include "crypto/x509.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "crypto/ec_key.h"
#include "crypto/rsa_key.h"

namespace pgcmk::crypto {
namespace {

const CertifiedKey& TestCa() {
  static const CertifiedKey* ca = [] {
    auto r = CreateCertificateAuthority(
        {"pgcmk test CA", CertificateKeyType::kEcdsaP256, std::chrono::days(30)});
    EXPECT_TRUE(r.has_value());
    return new CertifiedKey(std::move(*r));
  }();
  return *ca;
}

ServerCertificateOptions LocalServer(CertificateKeyType type = CertificateKeyType::kEcdsaP256) {
  ServerCertificateOptions o;
  o.common_name = "vault";
  o.dns_names = {"localhost", "vault.pgcmk.test"};
  o.ip_addresses = {"127.0.0.1", "::1"};
  o.key_type = type;
  return o;
}

TEST(X509Test, CaCertificateIsSelfSignedCa) {
  auto info = InspectCertificate(TestCa().certificate_pem);
  ASSERT_TRUE(info.has_value());
  EXPECT_TRUE(info->is_ca);
  EXPECT_EQ(info->subject_common_name, "pgcmk test CA");
  EXPECT_EQ(info->issuer_common_name, "pgcmk test CA");
  EXPECT_EQ(info->sha256_fingerprint.size(), 64u);
  EXPECT_NE(AsStringView(TestCa().private_key_pem.reveal()).find("BEGIN PRIVATE KEY"),
            std::string_view::npos);
  // The key is a usable P-256 key.
  auto key = EcPrivateKey::FromPem(TestCa().private_key_pem);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->curve(), EcCurve::kP256);
}

TEST(X509Test, IssuedCertificateVerifiesForEveryNameAndOnlyThose) {
  for (auto type : {CertificateKeyType::kEcdsaP256, CertificateKeyType::kRsa3072}) {
    auto cert = IssueServerCertificate(TestCa(), LocalServer(type));
    ASSERT_TRUE(cert.has_value()) << cert.error().ToString();
    const std::string& ca = TestCa().certificate_pem;
    for (const char* host : {"localhost", "vault.pgcmk.test", "127.0.0.1", "::1"}) {
      EXPECT_TRUE(VerifyServerCertificate(ca, cert->certificate_pem, host).ok()) << host;
    }
    for (const char* host : {"evil.example", "127.0.0.2", "::2", "vault"}) {
      EXPECT_EQ(VerifyServerCertificate(ca, cert->certificate_pem, host).code(),
                StatusCode::kFailedPrecondition)
          << host;
    }
    auto info = InspectCertificate(cert->certificate_pem);
    ASSERT_TRUE(info.has_value());
    EXPECT_FALSE(info->is_ca);
    EXPECT_EQ(info->issuer_common_name, "pgcmk test CA");
    EXPECT_EQ(info->dns_names, (std::vector<std::string>{"localhost", "vault.pgcmk.test"}));
    EXPECT_EQ(info->ip_addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
    EXPECT_LT(info->not_before, std::chrono::system_clock::now());
    EXPECT_GT(info->not_after, std::chrono::system_clock::now() + std::chrono::days(300));
  }
}

TEST(X509Test, RsaServerKeyLoadsAsRsa3072) {
  auto cert = IssueServerCertificate(TestCa(), LocalServer(CertificateKeyType::kRsa3072));
  ASSERT_TRUE(cert.has_value());
  auto key = RsaPrivateKey::FromPem(cert->private_key_pem);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->bits(), 3072);
}

TEST(X509Test, CertificateFromAnotherCaDoesNotVerify) {
  auto other =
      CreateCertificateAuthority({"other CA", CertificateKeyType::kRsa3072, std::chrono::days(30)});
  ASSERT_TRUE(other.has_value());
  auto cert = IssueServerCertificate(*other, LocalServer());
  ASSERT_TRUE(cert.has_value());
  EXPECT_TRUE(
      VerifyServerCertificate(other->certificate_pem, cert->certificate_pem, "localhost").ok());
  EXPECT_FALSE(
      VerifyServerCertificate(TestCa().certificate_pem, cert->certificate_pem, "localhost").ok());
}

TEST(X509Test, ServerCertificateCannotIssue) {
  auto cert = IssueServerCertificate(TestCa(), LocalServer());
  ASSERT_TRUE(cert.has_value());
  auto leaf_as_ca = IssueServerCertificate(*cert, LocalServer());
  ASSERT_FALSE(leaf_as_ca.has_value());
  EXPECT_EQ(leaf_as_ca.error().code(), StatusCode::kInvalidArgument);
}

TEST(X509Test, RejectsMalformedNamesAndMismatchedCaKey) {
  auto bad_dns = LocalServer();
  bad_dns.dns_names = {"localhost,DNS:evil.example"};
  EXPECT_EQ(IssueServerCertificate(TestCa(), bad_dns).error().code(), StatusCode::kInvalidArgument);
  auto bad_ip = LocalServer();
  bad_ip.ip_addresses = {"127.0.0.256"};
  EXPECT_EQ(IssueServerCertificate(TestCa(), bad_ip).error().code(), StatusCode::kInvalidArgument);
  auto other = CreateCertificateAuthority({});
  ASSERT_TRUE(other.has_value());
  CertifiedKey mixed{TestCa().certificate_pem, other->private_key_pem.Clone()};
  EXPECT_EQ(IssueServerCertificate(mixed, LocalServer()).error().code(),
            StatusCode::kInvalidArgument);
}

// The chain also verifies with OpenSSL's verifier used directly (not through our wrapper).
TEST(X509Test, ChainVerifiesWithX509VerifyCert) {
  auto cert = IssueServerCertificate(TestCa(), LocalServer());
  ASSERT_TRUE(cert.has_value());
  auto load = [](const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    return x;
  };
  X509* ca = load(TestCa().certificate_pem);
  X509* leaf = load(cert->certificate_pem);
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(leaf, nullptr);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_VERIFY_PARAM_set_purpose(X509_STORE_CTX_get0_param(ctx), X509_PURPOSE_SSL_SERVER);
  EXPECT_EQ(X509_verify_cert(ctx), 1)
      << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(leaf);
  X509_free(ca);
}

// A full TLS 1.3 handshake in memory: server with the issued certificate and key, client trusting
// only the CA and checking the host name.
TEST(X509Test, TlsHandshakeSucceedsWithIssuedCertificate) {
  auto cert = IssueServerCertificate(TestCa(), LocalServer());
  ASSERT_TRUE(cert.has_value());
  SSL_CTX* server_ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  ASSERT_NE(server_ctx, nullptr);
  ASSERT_NE(client_ctx, nullptr);
  {
    BIO* b = BIO_new_mem_buf(cert->certificate_pem.data(), -1);
    X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    ASSERT_EQ(SSL_CTX_use_certificate(server_ctx, x), 1);
    X509_free(x);
    BIO* kb = BIO_new_mem_buf(cert->private_key_pem.reveal().data(),
                              static_cast<int>(cert->private_key_pem.size()));
    EVP_PKEY* k = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO_free(kb);
    ASSERT_EQ(SSL_CTX_use_PrivateKey(server_ctx, k), 1);
    EVP_PKEY_free(k);
    BIO* cb = BIO_new_mem_buf(TestCa().certificate_pem.data(), -1);
    X509* ca = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    BIO_free(cb);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(client_ctx), ca);
    X509_free(ca);
  }
  SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, nullptr);
  SSL* server = SSL_new(server_ctx);
  SSL* client = SSL_new(client_ctx);
  SSL_set1_host(client, "localhost");
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  ASSERT_EQ(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0), 1);
  SSL_set_bio(client, client_bio, client_bio);
  SSL_set_bio(server, server_bio, server_bio);
  SSL_set_connect_state(client);
  SSL_set_accept_state(server);
  int client_done = 0, server_done = 0;
  for (int i = 0; i < 20 && (client_done != 1 || server_done != 1); ++i) {
    if (client_done != 1) client_done = SSL_do_handshake(client);
    if (server_done != 1) server_done = SSL_do_handshake(server);
  }
  EXPECT_EQ(client_done, 1);
  EXPECT_EQ(server_done, 1);
  EXPECT_EQ(SSL_get_verify_result(client), X509_V_OK);
  SSL_free(client);
  SSL_free(server);
  SSL_CTX_free(client_ctx);
  SSL_CTX_free(server_ctx);
}

}  // namespace
}  // namespace pgcmk::crypto
