// TLS material for a server's PostgreSQL: a private CA of its own and a server certificate signed
// by it, with subject alternative names for the listen address (IP) and "localhost", so that
// clients can use sslmode=verify-full with sslrootcert = the CA certificate.
// The CA's private key is discarded once the certificate is signed: nobody can issue another
// certificate under this CA. The server key goes into the data directory (on the encrypted
// volume), the CA certificate into <server>/tls/ca.pem for clients.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/secret_bytes.h"
#include "common/status.h"

namespace pgcmk::server {

struct ServerTlsMaterial {
  std::string ca_cert_pem;
  std::string server_cert_pem;
  SecretBytes server_key_pem;
};

Result<ServerTlsMaterial> IssueServerTlsMaterial(std::string_view server_name,
                                                 const std::vector<std::string>& dns_names,
                                                 const std::vector<std::string>& ip_addresses);

}  // namespace pgcmk::server
