#include "crypto/client_certificate.h"

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>

#include "common/base64url.h"
#include "crypto/openssl_handles.h"
#include "crypto/pkey_codec.h"
#include "crypto/rsa_key.h"

namespace pgcmk::crypto {
namespace {

using internal::BioPtr;
using internal::BnPtr;
using internal::PkeyPtr;
using internal::X509Ptr;

Status Failed(std::string_view what) { return internal::OpenSslError(StatusCode::kInternal, what); }

std::int64_t ToUnix(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::string OneLineName(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len > 0 ? len : 0));
}

Result<ClientCertificate> Describe(X509* cert) {
  ClientCertificate c;
  unsigned char* der = nullptr;
  const int der_len = i2d_X509(cert, &der);
  if (der_len <= 0) return Err(Failed("certificate encoding failed"));
  c.der.assign(der, der + der_len);
  OPENSSL_free(der);
  EVP_PKEY* pkey = X509_get0_pubkey(cert);
  if (pkey == nullptr || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
    internal::DiscardOpenSslErrors();
    return Err(StatusCode::kInvalidArgument,
               "the certificate's public key must be RSA (Entra ID certificate credentials are "
               "RSA)");
  }
  c.key_bits = EVP_PKEY_get_bits(pkey);
  if (c.key_bits < kMinClientCertificateRsaBits || c.key_bits > 16384) {
    return Err(StatusCode::kInvalidArgument, "the certificate's RSA key has " +
                                                 std::to_string(c.key_bits) +
                                                 " bits; 2048 to 16384 are accepted");
  }
  c.public_key_der = internal::PublicKeyDer(pkey);
  // The same shape checks as at every login (odd exponent > 1, ...), so that a certificate that
  // could never log in is refused when it is registered.
  if (auto key = RsaPublicKey::FromDer(c.public_key_der); !key) {
    return Err(StatusCode::kInvalidArgument,
               "the certificate's RSA key is not acceptable: " + key.error().message());
  }
  c.sha1 = internal::Digest(EVP_sha1(), c.der);
  c.sha256 = internal::Digest(EVP_sha256(), c.der);
  if (c.public_key_der.empty() || c.sha1.size() != 20 || c.sha256.size() != 32) {
    return Err(Failed("certificate digest failed"));
  }
  c.subject = OneLineName(X509_get_subject_name(cert));
  c.not_before = ToUnix(X509_get0_notBefore(cert));
  c.not_after = ToUnix(X509_get0_notAfter(cert));
  return c;
}

// The text between "-----BEGIN <label>-----" and the matching END line, inclusive, for the first
// block whose label satisfies `match`. Empty if none.
template <typename Match>
std::string_view FindPemBlock(std::string_view text, Match&& match) {
  size_t pos = 0;
  while ((pos = text.find("-----BEGIN ", pos)) != std::string_view::npos) {
    const size_t label_start = pos + 11;
    const size_t label_end = text.find("-----", label_start);
    if (label_end == std::string_view::npos) return {};
    const std::string_view label = text.substr(label_start, label_end - label_start);
    if (match(label)) {
      const std::string end_marker = "-----END " + std::string(label) + "-----";
      const size_t end = text.find(end_marker, label_end);
      if (end == std::string_view::npos) return {};
      return text.substr(pos, end + end_marker.size() - pos);
    }
    pos = label_end;
  }
  return {};
}

}  // namespace

Result<ClientCertificate> ParseClientCertificatePem(std::string_view pem) {
  const std::string_view block =
      FindPemBlock(pem, [](std::string_view label) { return label == "CERTIFICATE"; });
  if (block.empty()) {
    return Err(StatusCode::kInvalidArgument, "no PEM certificate (BEGIN CERTIFICATE) found");
  }
  BioPtr bio(BIO_new_mem_buf(block.data(), static_cast<int>(block.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) {
    internal::DiscardOpenSslErrors();
    return Err(StatusCode::kInvalidArgument, "cannot parse certificate");
  }
  return Describe(cert.get());
}

Result<ClientCertificate> ParseClientCertificateDer(ByteView der) {
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert || p != der.data() + der.size()) {
    internal::DiscardOpenSslErrors();
    return Err(StatusCode::kInvalidArgument, "cannot parse certificate");
  }
  return Describe(cert.get());
}

std::string ClientCertificatePem(const ClientCertificate& certificate) {
  const std::string body = Base64Encode(certificate.der);
  std::string pem = "-----BEGIN CERTIFICATE-----\n";
  for (size_t i = 0; i < body.size(); i += 64) pem += body.substr(i, 64) + "\n";
  pem += "-----END CERTIFICATE-----\n";
  return pem;
}

Result<CertifiedKey> CreateSelfSignedClientCertificate(
    const SelfSignedClientCertificateOptions& options) {
  if (options.rsa_bits != 2048 && options.rsa_bits != 3072 && options.rsa_bits != 4096) {
    return Err(StatusCode::kInvalidArgument, "RSA key size must be 2048, 3072 or 4096");
  }
  if (options.common_name.empty() || options.common_name.size() > 64) {
    return Err(StatusCode::kInvalidArgument, "certificate common name must be 1..64 bytes");
  }
  if (options.validity.count() < 1 || options.validity.count() > 3650) {
    return Err(StatusCode::kInvalidArgument, "certificate validity must be 1..3650 days");
  }
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(options.rsa_bits)));
  if (!key) return Err(Failed("RSA key generation failed"));
  X509Ptr cert(X509_new());
  if (!cert) return Err(Failed("certificate allocation failed"));
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) return Err(Failed("random failed"));
  serial_bytes[0] = static_cast<unsigned char>((serial_bytes[0] & 0x7f) | 0x40);
  BnPtr serial(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (!serial || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(options.validity.count()),
                       0, nullptr) == nullptr ||
      X509_set_pubkey(cert.get(), key.get()) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(options.common_name.data()),
                                 static_cast<int>(options.common_name.size()), -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1) {
    return Err(Failed("certificate setup failed"));
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  const std::pair<int, const char*> extensions[] = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage, "clientAuth"},
      {NID_subject_key_identifier, "hash"},
  };
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    const bool ok = ext != nullptr && X509_add_ext(cert.get(), ext, -1) == 1;
    X509_EXTENSION_free(ext);
    if (!ok) return Err(Failed("certificate extension failed"));
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
    return Err(Failed("certificate signing failed"));
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert.get()) != 1) {
    return Err(Failed("certificate encoding failed"));
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  std::string cert_pem(data, static_cast<size_t>(len));
  PGCMK_ASSIGN_OR_RETURN(SecretBytes key_pem, internal::EncodePrivateKeyPkcs8(key.get(), "PEM"));
  return CertifiedKey{std::move(cert_pem), std::move(key_pem)};
}

Result<ClientCertificateCredential> ParseClientCertificateCredential(
    const SecretBytes& pem_bundle) {
  const std::string_view text = AsStringView(pem_bundle.reveal());
  if (!FindPemBlock(text, [](std::string_view l) {
         return l == "ENCRYPTED PRIVATE KEY";
       }).empty()) {
    return Err(StatusCode::kInvalidArgument,
               "the certificate credential's private key is encrypted; give an unencrypted "
               "PKCS#8 key in a file only its owner can read");
  }
  const std::string_view key_block = FindPemBlock(
      text, [](std::string_view l) { return l == "PRIVATE KEY" || l == "RSA PRIVATE KEY"; });
  if (key_block.empty()) {
    return Err(StatusCode::kInvalidArgument,
               "the certificate credential holds no private key (BEGIN PRIVATE KEY)");
  }
  ClientCertificateCredential out;
  out.private_key_pem = SecretBytes::CopyFrom(AsBytes(key_block));
  PGCMK_ASSIGN_OR_RETURN(out.certificate, ParseClientCertificatePem(text));
  out.certificate_pem =
      std::string(FindPemBlock(text, [](std::string_view l) { return l == "CERTIFICATE"; }));
  auto key = RsaPrivateKey::FromPem(out.private_key_pem);
  if (!key) {
    return Err(StatusCode::kInvalidArgument,
               "the certificate credential's private key is not a usable RSA key");
  }
  if (key->PublicKey().ToDer() != out.certificate.public_key_der) {
    return Err(StatusCode::kInvalidArgument,
               "the certificate credential's private key does not belong to its certificate");
  }
  return out;
}

}  // namespace pgcmk::crypto
