// VaultServer: serves VaultApi over HTTPS (or plain HTTP for tests) with the event-driven
// HttpServer (http_server.h). The raw request target goes to VaultApi unchanged, header names
// lower-cased, with the peer's address; requests refused below the API (malformed, oversize,
// unsupported framing) and handler failures get the same JSON error bodies as the API's own.
// The TLS private key is loaded from memory and never written anywhere.
#pragma once

#include <chrono>
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
  // Worker threads; each runs one request's handler at a time (handlers wait for the audit
  // log's group commit, so many in flight let one fsync cover many requests).
  int threads = 16;
  int max_requests_per_10s = 0;  // keys API throttle for the vault; 0 = unlimited
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 64 << 10;  // request line + headers
  int max_connections = 1000;
  // A request (and a new connection's TLS handshake) must arrive within request_timeout; a
  // keep-alive connection may stay idle for idle_timeout.
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds idle_timeout{30'000};
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
  // Any thread, any time; Serve() returns once running requests are answered.
  void Stop();
  std::string url() const;

 private:
  struct Impl;
  explicit VaultServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgcmk::vault_http
