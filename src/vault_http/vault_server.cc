#include "vault_http/vault_server.h"

#include <memory>

#include "common/secret_bytes.h"
#include "crypto/tls_server.h"
#include "vault_http/http_server.h"

namespace pgcmk::vault_http {

struct VaultServer::Impl {
  ServerOptions options;
  std::unique_ptr<VaultApi> api;
  std::unique_ptr<HttpServer> server;
  int port = 0;
};

VaultServer::VaultServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VaultServer::~VaultServer() {
  if (impl_ && impl_->server) impl_->server->Stop();
}

Result<std::unique_ptr<VaultServer>> VaultServer::Create(vault::VaultService& service,
                                                         ServerOptions options) {
  auto impl = std::make_unique<Impl>();
  ApiOptions api_options;
  api_options.public_url = options.public_url;
  while (api_options.public_url.ends_with("/")) api_options.public_url.pop_back();
  api_options.scheme = options.insecure_http ? "http" : "https";
  api_options.max_requests_per_10s = options.max_requests_per_10s;

  HttpServerOptions http;
  http.host = options.host;
  http.port = options.port;
  http.threads = options.threads > 0 ? options.threads : 16;
  http.max_connections = options.max_connections;
  http.limits.max_body_bytes = options.max_body_bytes;
  http.limits.max_header_bytes = options.max_header_bytes;
  http.request_timeout = options.request_timeout;
  http.idle_timeout = options.idle_timeout;
  if (!options.insecure_http) {
    if (options.tls_cert_chain_pem.empty() || options.tls_key_pem.empty()) {
      return Err(StatusCode::kFailedPrecondition, "HTTPS needs a certificate and key");
    }
    // The key goes from the caller's string into SecretBytes and from there only into OpenSSL.
    SecretBytes key = SecretBytes::CopyFrom(AsBytes(options.tls_key_pem));
    SecureZero(options.tls_key_pem.data(), options.tls_key_pem.size());
    options.tls_key_pem.clear();
    auto tls = crypto::TlsServerContext::Create(options.tls_cert_chain_pem, key);
    if (!tls) return Err(tls.error().WithContext("the TLS certificate or key could not be loaded"));
    http.tls = std::move(*tls);
  }
  impl->api = std::make_unique<VaultApi>(service, api_options);

  VaultApi* api = impl->api.get();
  auto handler = [api](const HttpRequest& request) { return api->Handle(request); };
  // Refusals below the API (malformed, oversize, unsupported framing) are answered and audited
  // like every other request.
  auto error_responder = [api](const HttpRequest& partial, int status, std::string_view code,
                               std::string_view message) {
    return api->RejectTransport(partial, status, code, message);
  };
  auto server = HttpServer::Create(std::move(http), handler, error_responder);
  if (!server) return Err(server.error());
  impl->server = std::move(*server);
  impl->options = std::move(options);
  return std::unique_ptr<VaultServer>(new VaultServer(std::move(impl)));
}

Result<int> VaultServer::Bind() {
  Impl& m = *impl_;
  auto port = m.server->Bind();
  if (!port) return Err(port.error());
  m.port = *port;
  const std::string scheme = m.options.insecure_http ? "http" : "https";
  const int default_port = m.options.insecure_http ? 80 : 443;
  std::vector<std::string> origins;
  for (const std::string& host : m.options.own_hosts) {
    const bool ipv6 = host.find(':') != std::string::npos;
    const std::string authority = ipv6 ? "[" + host + "]" : host;
    origins.push_back(scheme + "://" + authority + ":" + std::to_string(m.port));
    if (m.port == default_port) origins.push_back(scheme + "://" + authority);
  }
  m.api->SetOwnOrigins(std::move(origins));
  return m.port;
}

Status VaultServer::Serve() { return impl_->server->Serve(); }

void VaultServer::Stop() { impl_->server->Stop(); }

std::string VaultServer::url() const {
  std::string host = impl_->options.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(impl_->options.insecure_http ? "http" : "https") + "://" + host + ":" +
         std::to_string(impl_->port);
}

}  // namespace pgcmk::vault_http
