// HttpClient: a small HTTPS client for the vault, the token endpoint and webhooks. The only file
// in pgcmk's client side that includes the HTTP library (http_client.cc).
//
// TLS: verify-full — the server certificate must chain to `ca_file` (or to the system trust store
// when `ca_file` is empty) and name the host (DNS or IP subject alternative name). Plain http is
// refused unless `allow_plain_http` is set (tests, local webhooks).
// Transport failures map to kUnavailable (cannot connect, connection broken, TLS failure) or
// kDeadlineExceeded (connect timeout); any HTTP response, whatever its status, is a value.
// Bodies may carry secrets (client secrets, tokens, wrapped/unwrapped keys): callers wipe their
// copies with SecureZero; the library's internal buffers are outside our control (documented in
// docs/server.md).
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace pgcmk::kms {

struct Url {
  std::string scheme;  // "https" or "http"
  std::string host;
  int port = 443;
  std::string path;  // starts with '/', may include a query

  static Result<Url> Parse(std::string_view url);
  std::string origin() const;  // scheme://host[:port]
};

struct HttpOptions {
  std::filesystem::path ca_file;  // PEM; empty = system trust store
  bool allow_plain_http = false;
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds io_timeout{10000};
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string Header(std::string_view lower_name) const;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class HttpClient {
 public:
  // `origin` is scheme://host[:port]; every request goes there.
  static Result<std::unique_ptr<HttpClient>> Create(std::string_view origin,
                                                    const HttpOptions& options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // method: GET, POST, PUT, PATCH, DELETE. `path` includes the query string.
  Result<HttpResponse> Send(std::string_view method, const std::string& path,
                            const HttpHeaders& headers, const std::string& body,
                            std::string_view content_type);

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgcmk::kms
