#include "vault_http/vault_server.h"

#include <httplib.h>
#include <sys/mman.h>

#include <cctype>
#include <memory>

#include "common/unique_fd.h"
#include "vault_http/wire_format.h"

namespace pgcmk::vault_http {

struct VaultServer::Impl {
  ServerOptions options;
  std::unique_ptr<VaultApi> api;
  std::unique_ptr<httplib::Server> server;
  int port = 0;
};

VaultServer::VaultServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VaultServer::~VaultServer() {
  if (impl_ && impl_->server) impl_->server->stop();
}

Result<std::unique_ptr<VaultServer>> VaultServer::Create(vault::VaultService& service,
                                                         ServerOptions options) {
  auto impl = std::make_unique<Impl>();
  ApiOptions api_options;
  api_options.public_url = options.public_url;
  while (api_options.public_url.ends_with("/")) api_options.public_url.pop_back();
  api_options.scheme = options.insecure_http ? "http" : "https";
  api_options.max_requests_per_10s = options.max_requests_per_10s;
  if (options.insecure_http) {
    impl->server = std::make_unique<httplib::Server>();
  } else {
    if (options.tls_cert_chain_pem.empty() || options.tls_key_pem.empty()) {
      return Err(StatusCode::kFailedPrecondition, "HTTPS needs a certificate and key");
    }
    // httplib loads certificate and key from paths. The private key goes through an anonymous
    // memory file (memfd) so that it never exists in clear on disk; both are closed once loaded.
    auto memfd = [](const char* name, std::string_view contents) -> Result<UniqueFd> {
      UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
      if (!fd.valid()) return Err(Status::FromErrno(errno, "memfd_create"));
      Status w = WriteAll(fd.get(), AsBytes(contents));
      if (!w.ok()) return Err(w);
      return fd;
    };
    auto cert_fd = memfd("vault-cert", options.tls_cert_chain_pem);
    if (!cert_fd) return Err(cert_fd.error());
    auto key_fd = memfd("vault-key", options.tls_key_pem);
    SecureZero(options.tls_key_pem.data(), options.tls_key_pem.size());
    if (!key_fd) return Err(key_fd.error());
    std::string cert_path = "/proc/self/fd/" + std::to_string(cert_fd->get());
    std::string key_path = "/proc/self/fd/" + std::to_string(key_fd->get());
    auto ssl = std::make_unique<httplib::SSLServer>(cert_path.c_str(), key_path.c_str());
    if (!ssl->is_valid())
      return Err(StatusCode::kFailedPrecondition, "the TLS certificate or key could not be loaded");
    // TLS 1.2 is the floor (the one OpenSSL call here, on the context httplib exposes).
    SSL_CTX_set_min_proto_version(ssl->ssl_context(), TLS1_2_VERSION);
    impl->server = std::move(ssl);
  }
  impl->api = std::make_unique<VaultApi>(service, api_options);
  httplib::Server& srv = *impl->server;
  int threads = options.threads > 0 ? options.threads : 16;
  srv.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  srv.set_tcp_nodelay(true);
  srv.set_keep_alive_max_count(100000);
  srv.set_keep_alive_timeout(30);
  srv.set_payload_max_length(options.max_body_bytes);
  srv.set_read_timeout(30, 0);
  srv.set_write_timeout(30, 0);

  VaultApi* api = impl->api.get();
  auto handler = [api](const httplib::Request& req, httplib::Response& res) {
    HttpRequest r;
    r.method = req.method;
    r.target = req.target;
    for (const auto& [k, v] : req.headers) {
      std::string lower = k;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers.emplace(std::move(lower), v);
    }
    r.body = req.body;
    r.remote_addr = req.remote_addr;
    HttpResponse out = api->Handle(r);
    // Request bodies may carry secrets: wipe our copy and httplib's (the Request is httplib's own
    // non-const object, handed to us as const; nothing reads the body after the handler).
    SecureZero(r.body.data(), r.body.size());
    auto& received = const_cast<std::string&>(req.body);
    SecureZero(received.data(), received.size());
    res.status = out.status;
    for (auto& [k, v] : out.headers) res.set_header(k, v);
    if (out.status == 204) return;
    if (!out.sensitive) {
      res.set_content(out.body, out.content_type.c_str());
      return;
    }
    // A secret body is handed over without a copy and wiped when httplib releases it (after
    // sending, or when the connection fails).
    auto body = std::make_shared<std::string>(std::move(out.body));
    const std::size_t length = body->size();
    res.set_content_provider(
        length, out.content_type,
        [body](std::size_t offset, std::size_t size, httplib::DataSink& sink) {
          return sink.write(body->data() + offset, size);
        },
        [body](bool) { SecureZero(body->data(), body->size()); });
  };
  srv.Get(".*", handler);
  srv.Post(".*", handler);
  srv.Put(".*", handler);
  srv.Patch(".*", handler);
  srv.Delete(".*", handler);
  srv.Options(".*", handler);
  srv.set_error_handler([api](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    // httplib refused the request itself: answer and audit it like any other request.
    HttpRequest partial;
    partial.method = req.method;
    partial.target = req.target;
    partial.remote_addr = req.remote_addr;
    HttpResponse out = api->RejectTransport(
        partial, res.status == 413 ? TransportError::kBodyTooLarge : TransportError::kMalformed);
    res.status = out.status;
    for (auto& [k, v] : out.headers) res.set_header(k, v);
    res.set_content(out.body, out.content_type.c_str());
  });
  srv.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        res.status = 500;
        res.set_content(ErrorBody({500, "InternalServerError", "", ""}, "internal error"),
                        "application/json; charset=utf-8");
      });
  impl->options = std::move(options);
  return std::unique_ptr<VaultServer>(new VaultServer(std::move(impl)));
}

Result<int> VaultServer::Bind() {
  Impl& m = *impl_;
  if (m.options.port == 0) {
    m.port = m.server->bind_to_any_port(m.options.host);
    if (m.port <= 0) return Err(StatusCode::kUnavailable, "cannot bind to " + m.options.host);
  } else {
    if (!m.server->bind_to_port(m.options.host, m.options.port)) {
      return Err(StatusCode::kUnavailable,
                 "cannot bind to " + m.options.host + ":" + std::to_string(m.options.port));
    }
    m.port = m.options.port;
  }
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

Status VaultServer::Serve() {
  if (!impl_->server->listen_after_bind())
    return Status(StatusCode::kUnavailable, "the server stopped with an error");
  return Status::Ok();
}

void VaultServer::Stop() { impl_->server->stop(); }

std::string VaultServer::url() const {
  std::string host = impl_->options.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(impl_->options.insecure_http ? "http" : "https") + "://" + host + ":" +
         std::to_string(impl_->port);
}

}  // namespace pgcmk::vault_http
