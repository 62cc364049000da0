#include "server/tls_material.h"

#include "crypto/x509.h"

namespace pgcmk::server {

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

}  // namespace pgcmk::server
