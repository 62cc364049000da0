#include "crypto/x509.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cstring>

#include "crypto/openssl_handles.h"
#include "crypto/pkey_codec.h"

namespace pgcmk::crypto {
namespace {

using internal::BioPtr;
using internal::BnPtr;
using internal::PkeyPtr;
using internal::X509Ptr;

struct X509StoreFree {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct X509StoreCtxFree {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
using StorePtr = std::unique_ptr<X509_STORE, X509StoreFree>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, X509StoreCtxFree>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, GeneralNamesFree>;

Status Failed(std::string_view what) { return internal::OpenSslError(StatusCode::kInternal, what); }

Result<PkeyPtr> GenerateKey(CertificateKeyType type) {
  EVP_PKEY* pkey = type == CertificateKeyType::kRsa3072
                       ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{3072})
                       : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (pkey == nullptr) return Err(Failed("certificate key generation failed"));
  return PkeyPtr(pkey);
}

Result<X509Ptr> LoadCertificate(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) {
    internal::DiscardOpenSslErrors();
    return Err(StatusCode::kInvalidArgument, "cannot parse certificate");
  }
  return cert;
}

Result<std::string> CertificatePem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return Err(Failed("certificate encoding failed"));
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

bool IsValidDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  if (name.starts_with("*.")) name.remove_prefix(2);
  size_t label = 0;
  char prev = '.';
  for (char c : name) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else if (alnum || (c == '-' && label > 0)) {
      if (++label > 63) return false;
    } else {
      return false;
    }
    prev = c;
  }
  return label > 0 && prev != '-';
}

// Parses an IPv4 or IPv6 literal into its 4 or 16 network-order bytes.
bool ParseIp(std::string_view text, Bytes* out) {
  const std::string s(text);
  unsigned char buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
    out->assign(buf, buf + 4);
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    out->assign(buf, buf + 16);
    return true;
  }
  return false;
}

Status SetName(X509_NAME* name, std::string_view common_name) {
  if (common_name.empty() || common_name.size() > 64) {
    return Status(StatusCode::kInvalidArgument, "certificate common name must be 1..64 bytes");
  }
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>("pgcmk"), -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1) {
    return Failed("certificate name failed");
  }
  return Status::Ok();
}

// Version 3, random positive serial, validity window, subject, public key.
Status FillBasics(X509* cert, EVP_PKEY* subject_key, std::string_view common_name,
                  std::chrono::days validity) {
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) return Failed("random serial failed");
  serial_bytes[0] &= 0x7f;  // positive
  serial_bytes[0] |= 0x40;  // and always 16 bytes long
  BnPtr serial(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  if (!serial || X509_set_version(cert, X509_VERSION_3) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr ||
      X509_gmtime_adj(X509_getm_notBefore(cert), -300) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert), static_cast<int>(validity.count()), 0, nullptr) ==
          nullptr ||
      X509_set_pubkey(cert, subject_key) != 1) {
    return Failed("certificate setup failed");
  }
  return SetName(X509_get_subject_name(cert), common_name);
}

Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  if (ext == nullptr) return Failed("certificate extension failed");
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? Status::Ok() : Failed("certificate extension failed");
}

Status Sign(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, EVP_sha256()) <= 0) return Failed("certificate signing failed");
  return Status::Ok();
}

std::chrono::system_clock::time_point ToTimePoint(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string CommonName(const X509_NAME* name) {
  char buf[256] = {};
  const int len = X509_NAME_get_text_by_NID(name, NID_commonName, buf, sizeof(buf));
  return len > 0 ? std::string(buf, static_cast<size_t>(len)) : std::string();
}

}  // namespace

Result<CertifiedKey> CreateCertificateAuthority(const CertificateAuthorityOptions& options) {
  PGCMK_ASSIGN_OR_RETURN(PkeyPtr key, GenerateKey(options.key_type));
  X509Ptr cert(X509_new());
  if (!cert) return Err(Failed("certificate allocation failed"));
  PGCMK_RETURN_IF_ERROR_R(FillBasics(cert.get(), key.get(), options.common_name, options.validity));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1) {
    return Err(Failed("certificate issuer failed"));
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  PGCMK_RETURN_IF_ERROR_R(
      AddExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  PGCMK_RETURN_IF_ERROR_R(
      AddExtension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
  PGCMK_RETURN_IF_ERROR_R(AddExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  PGCMK_RETURN_IF_ERROR_R(Sign(cert.get(), key.get()));
  PGCMK_ASSIGN_OR_RETURN(std::string cert_pem, CertificatePem(cert.get()));
  PGCMK_ASSIGN_OR_RETURN(SecretBytes key_pem, internal::EncodePrivateKeyPkcs8(key.get(), "PEM"));
  return CertifiedKey{std::move(cert_pem), std::move(key_pem)};
}

Result<CertifiedKey> IssueServerCertificate(const CertifiedKey& ca,
                                            const ServerCertificateOptions& options) {
  PGCMK_ASSIGN_OR_RETURN(X509Ptr ca_cert, LoadCertificate(ca.certificate_pem));
  PGCMK_ASSIGN_OR_RETURN(PkeyPtr ca_key,
                         internal::DecodeKey(ca.private_key_pem.reveal(), "PEM", nullptr,
                                             EVP_PKEY_KEYPAIR, "CA private key"));
  if (X509_check_private_key(ca_cert.get(), ca_key.get()) != 1) {
    internal::DiscardOpenSslErrors();
    return Err(StatusCode::kInvalidArgument, "CA private key does not match its certificate");
  }
  if (X509_check_ca(ca_cert.get()) == 0) {
    return Err(StatusCode::kInvalidArgument, "issuer certificate is not a CA");
  }

  // subjectAltName, built as GENERAL_NAMEs so no caller text is ever parsed as configuration.
  std::vector<std::string> dns = options.dns_names;
  if (dns.empty() && options.ip_addresses.empty()) dns.push_back(options.common_name);
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return Err(Failed("allocation failed"));
  for (const std::string& d : dns) {
    if (!IsValidDnsName(d)) return Err(StatusCode::kInvalidArgument, "invalid DNS name: " + d);
    GENERAL_NAME* gn = GENERAL_NAME_new();
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    if (gn == nullptr || s == nullptr ||
        ASN1_STRING_set(s, d.data(), static_cast<int>(d.size())) != 1) {
      GENERAL_NAME_free(gn);
      ASN1_IA5STRING_free(s);
      return Err(Failed("allocation failed"));
    }
    GENERAL_NAME_set0_value(gn, GEN_DNS, s);
    sk_GENERAL_NAME_push(names.get(), gn);
  }
  for (const std::string& ip : options.ip_addresses) {
    Bytes raw;
    if (!ParseIp(ip, &raw)) return Err(StatusCode::kInvalidArgument, "invalid IP address: " + ip);
    GENERAL_NAME* gn = GENERAL_NAME_new();
    ASN1_OCTET_STRING* s = ASN1_OCTET_STRING_new();
    if (gn == nullptr || s == nullptr ||
        ASN1_OCTET_STRING_set(s, raw.data(), static_cast<int>(raw.size())) != 1) {
      GENERAL_NAME_free(gn);
      ASN1_OCTET_STRING_free(s);
      return Err(Failed("allocation failed"));
    }
    GENERAL_NAME_set0_value(gn, GEN_IPADD, s);
    sk_GENERAL_NAME_push(names.get(), gn);
  }

  PGCMK_ASSIGN_OR_RETURN(PkeyPtr key, GenerateKey(options.key_type));
  X509Ptr cert(X509_new());
  if (!cert) return Err(Failed("certificate allocation failed"));
  PGCMK_RETURN_IF_ERROR_R(FillBasics(cert.get(), key.get(), options.common_name, options.validity));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())) != 1) {
    return Err(Failed("certificate issuer failed"));
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca_cert.get(), cert.get(), nullptr, nullptr, 0);
  PGCMK_RETURN_IF_ERROR_R(
      AddExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
  PGCMK_RETURN_IF_ERROR_R(AddExtension(cert.get(), &ctx, NID_key_usage,
                                       options.key_type == CertificateKeyType::kRsa3072
                                           ? "critical,digitalSignature,keyEncipherment"
                                           : "critical,digitalSignature"));
  PGCMK_RETURN_IF_ERROR_R(AddExtension(cert.get(), &ctx, NID_ext_key_usage, "serverAuth"));
  PGCMK_RETURN_IF_ERROR_R(AddExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  PGCMK_RETURN_IF_ERROR_R(
      AddExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  if (X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) !=
      1) {
    return Err(Failed("subjectAltName failed"));
  }
  PGCMK_RETURN_IF_ERROR_R(Sign(cert.get(), ca_key.get()));
  PGCMK_ASSIGN_OR_RETURN(std::string cert_pem, CertificatePem(cert.get()));
  PGCMK_ASSIGN_OR_RETURN(SecretBytes key_pem, internal::EncodePrivateKeyPkcs8(key.get(), "PEM"));
  return CertifiedKey{std::move(cert_pem), std::move(key_pem)};
}

Status VerifyServerCertificate(std::string_view ca_pem, std::string_view certificate_pem,
                               std::string_view host) {
  auto ca = LoadCertificate(ca_pem);
  if (!ca) return ca.error();
  auto cert = LoadCertificate(certificate_pem);
  if (!cert) return cert.error();
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca->get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert->get(), nullptr) != 1) {
    return Failed("certificate verification setup failed");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  const std::string host_str(host);
  Bytes ip;
  const bool host_ok = ParseIp(host, &ip) ? X509_VERIFY_PARAM_set1_ip_asc(param, host_str.c_str())
                                          : X509_VERIFY_PARAM_set1_host(param, host_str.c_str(), 0);
  if (host_ok != 1 || X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER) != 1) {
    internal::DiscardOpenSslErrors();
    return Status(StatusCode::kInvalidArgument, "invalid host name for verification");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    internal::DiscardOpenSslErrors();
    return Status(StatusCode::kFailedPrecondition, std::string("certificate does not verify: ") +
                                                       X509_verify_cert_error_string(err));
  }
  return Status::Ok();
}

Result<CertificateInfo> InspectCertificate(std::string_view certificate_pem) {
  PGCMK_ASSIGN_OR_RETURN(X509Ptr cert, LoadCertificate(certificate_pem));
  CertificateInfo info;
  info.subject_common_name = CommonName(X509_get_subject_name(cert.get()));
  info.issuer_common_name = CommonName(X509_get_issuer_name(cert.get()));
  info.is_ca = X509_check_ca(cert.get()) != 0;
  info.not_before = ToTimePoint(X509_get0_notBefore(cert.get()));
  info.not_after = ToTimePoint(X509_get0_notAfter(cert.get()));
  GENERAL_NAMES* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    int type = 0;
    const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(gn, &type));
    const auto* bytes = ASN1_STRING_get0_data(value);
    const int len = ASN1_STRING_length(value);
    if (type == GEN_DNS) {
      info.dns_names.emplace_back(reinterpret_cast<const char*>(bytes), static_cast<size_t>(len));
    } else if (type == GEN_IPADD && (len == 4 || len == 16)) {
      char text[INET6_ADDRSTRLEN] = {};
      inet_ntop(len == 4 ? AF_INET : AF_INET6, bytes, text, sizeof(text));
      info.ip_addresses.emplace_back(text);
    }
  }
  GENERAL_NAMES_free(names);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(cert.get(), EVP_sha256(), md, &md_len) != 1) {
    return Err(Failed("certificate digest failed"));
  }
  info.sha256_fingerprint = ToHex(ByteView(md, md_len));
  return info;
}

}  // namespace pgcmk::crypto
