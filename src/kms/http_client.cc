#include "kms/http_client.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace pgcmk::kms {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The one mapping of transport errors to Status.
Status StatusFromTransportError(httplib::Error error, const std::string& origin) {
  switch (error) {
    case httplib::Error::Success:
      return Status::Ok();
    case httplib::Error::Connection:
      return Status(StatusCode::kUnavailable, "cannot connect to " + origin);
    case httplib::Error::ConnectionTimeout:
      return Status(StatusCode::kDeadlineExceeded, "timed out connecting to " + origin);
    case httplib::Error::Read:
    case httplib::Error::Write:
      return Status(StatusCode::kUnavailable,
                    "connection to " + origin + " failed or timed out during the request");
    case httplib::Error::SSLConnection:
      return Status(StatusCode::kUnavailable, "TLS handshake with " + origin + " failed");
    case httplib::Error::SSLServerVerification:
      return Status(StatusCode::kUnavailable,
                    "TLS certificate of " + origin +
                        " did not verify against the configured CA (or does not name the host)");
    case httplib::Error::SSLLoadingCerts:
      return Status(StatusCode::kFailedPrecondition,
                    "cannot load the CA certificates for " + origin);
    case httplib::Error::BindIPAddress:
    case httplib::Error::ExceedRedirectCount:
    case httplib::Error::Canceled:
    case httplib::Error::UnsupportedMultipartBoundaryChars:
    case httplib::Error::Compression:
    case httplib::Error::Unknown:
      return Status(StatusCode::kUnavailable,
                    "request to " + origin + " failed: " + httplib::to_string(error));
  }
  return Status(StatusCode::kUnavailable, "request to " + origin + " failed");
}

}  // namespace

Result<Url> Url::Parse(std::string_view url) {
  auto invalid = [&](std::string_view why) {
    return Err(StatusCode::kInvalidArgument,
               "invalid URL '" + std::string(url) + "': " + std::string(why));
  };
  Url u;
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return invalid("no scheme");
  u.scheme = Lower(url.substr(0, scheme_end));
  if (u.scheme != "https" && u.scheme != "http") return invalid("scheme must be https or http");
  std::string_view rest = url.substr(scheme_end + 3);
  size_t path_start = rest.find('/');
  std::string_view authority = rest.substr(0, path_start);
  u.path = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
  u.port = u.scheme == "http" ? 80 : 443;
  size_t colon = authority.rfind(':');
  std::string_view host = authority;
  if (colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    std::string_view port = authority.substr(colon + 1);
    int value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value < 1 || value > 65535) {
      return invalid("bad port");
    }
    u.port = value;
  }
  if (host.empty() || host.find_first_of("@ ") != std::string_view::npos) {
    return invalid("bad host");
  }
  u.host = Lower(host);
  return u;
}

std::string Url::origin() const {
  std::string o = scheme + "://" + host;
  if (port != (scheme == "http" ? 80 : 443)) o += ":" + std::to_string(port);
  return o;
}

std::string HttpResponse::Header(std::string_view lower_name) const {
  auto it = headers.find(std::string(lower_name));
  return it == headers.end() ? std::string() : it->second;
}

struct HttpClient::Impl {
  std::string origin;
  httplib::Client client;
  explicit Impl(const std::string& o) : origin(o), client(o) {}
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Create(std::string_view origin,
                                                       const HttpOptions& options) {
  PGCMK_ASSIGN_OR_RETURN(Url url, Url::Parse(origin));
  if (url.scheme == "http" && !options.allow_plain_http) {
    return Err(StatusCode::kInvalidArgument,
               "refusing plain http to " + url.origin() + ": use https");
  }
  if (!options.ca_file.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(options.ca_file, ec)) {
      return Err(StatusCode::kFailedPrecondition,
                 "CA file " + options.ca_file.string() + " does not exist or is not readable");
    }
  }
  auto impl = std::make_unique<Impl>(url.origin());
  auto& c = impl->client;
  if (url.scheme == "https") {
    c.enable_server_certificate_verification(true);
    if (!options.ca_file.empty()) c.set_ca_cert_path(options.ca_file.string());
  }
  c.set_connection_timeout(options.connect_timeout);
  c.set_read_timeout(options.io_timeout);
  c.set_write_timeout(options.io_timeout);
  c.set_keep_alive(false);
  // Small request/response exchanges: without TCP_NODELAY each one can stall on delayed ACKs.
  c.set_tcp_nodelay(true);
  c.set_follow_location(false);
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<HttpResponse> HttpClient::Send(std::string_view method, const std::string& path,
                                      const HttpHeaders& headers, const std::string& body,
                                      std::string_view content_type) {
  httplib::Headers h;
  for (const auto& [k, v] : headers) h.emplace(k, v);
  if (h.find("Accept") == h.end()) h.emplace("Accept", "application/json");
  const std::string ct(content_type);
  auto& c = impl_->client;
  httplib::Result r{nullptr, httplib::Error::Unknown};
  if (method == "GET") {
    r = c.Get(path, h);
  } else if (method == "POST") {
    r = c.Post(path, h, body, ct);
  } else if (method == "PUT") {
    r = c.Put(path, h, body, ct);
  } else if (method == "PATCH") {
    r = c.Patch(path, h, body, ct);
  } else if (method == "DELETE") {
    r = c.Delete(path, h, body, ct);
  } else {
    return Err(StatusCode::kInvalidArgument, "unsupported HTTP method " + std::string(method));
  }
  if (!r) return Err(StatusFromTransportError(r.error(), impl_->origin));
  HttpResponse out;
  out.status = r->status;
  out.body = std::move(r->body);
  for (const auto& [k, v] : r->headers) out.headers[Lower(k)] = v;
  return out;
}

}  // namespace pgcmk::kms
