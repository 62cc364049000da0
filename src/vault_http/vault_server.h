// VaultServer: serves VaultApi over HTTP(S) with cpp-httplib (the only file of the vault that
// includes <httplib.h> on the server side). One catch-all handler per method hands the raw request
// target to VaultApi, so httplib's own path handling cannot interfere with the SDK's URL quirks.
// Oversize bodies and transport-level errors get JSON bodies too.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "vault/vault_service.h"
#include "vault_http/vault_api.h"

namespace pgcmk::vault_http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8443;  // 0 = any free port
  std::string public_url;
  // Host names and IP addresses this vault is reached by (its TLS certificate's names; with
  // --insecure-http, the listening host and loopback). With the bound port they make the origins
  // a client assertion's audience may name (ApiOptions::own_origins).
  std::vector<std::string> own_hosts;
  bool insecure_http = false;      // tests only
  std::string tls_cert_chain_pem;  // server certificate + CA (PEM), HTTPS mode
  std::string tls_key_pem;         // server private key (PEM); wiped once loaded
  int threads = 16;
  int max_requests_per_10s = 0;  // keys API throttle for the vault; 0 = unlimited
  size_t max_body_bytes = 1 << 20;
};

class VaultServer {
 public:
  static Result<std::unique_ptr<VaultServer>> Create(vault::VaultService& service,
                                                     ServerOptions options);
  ~VaultServer();

  // Binds the listening socket; returns the port.
  Result<int> Bind();
  // Serves until Stop(); returns when stopped.
  Status Serve();
  void Stop();
  std::string url() const;

 private:
  struct Impl;
  explicit VaultServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgcmk::vault_http
