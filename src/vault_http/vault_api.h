// VaultApi: the vault's HTTP protocol, independent of any HTTP library. It turns one request
// (method, raw target, headers, body) into one response, calling VaultService use cases; the
// socket server (vault_server.h) is a thin shell around it, and tests call it in-process.
//
// Order of checks for the keys API (the SDK depends on it): route, then the bearer token (401
// with the WWW-Authenticate challenge before anything about the body is looked at), then
// api-version, then the body.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vault/vault_service.h"

namespace pgcmk::vault_http {

// The body may carry secrets (wrapKey/encrypt plaintext, client secrets, imported private keys):
// the server wipes its copies after the request is handled.
struct HttpRequest {
  std::string method;
  std::string target;                          // raw request target: path and query
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string remote_addr;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "application/json; charset=utf-8";
  // The body carries a secret (an unwrapped key, a client secret, an access token): the server
  // sends it without copying it and wipes it once sent. VaultApi wipes its own temporary copies.
  bool sensitive = false;
};

struct ApiOptions {
  // Origin used in kid/nextLink/issuer/challenge; empty = scheme + "://" + Host header.
  std::string public_url;
  std::string scheme = "https";
  // Keys-API requests allowed per 10-second window for the whole vault (Azure's throttling unit);
  // 0 = unlimited. Beyond it: 429 Throttled with Retry-After (the SDK then retries).
  int max_requests_per_10s = 0;
  // Without public_url: the origins ("https://host:port") this vault is known by — its TLS
  // certificate's names and addresses with the listening port. A client assertion's audience must
  // be the token endpoint at one of them (or at public_url), never at whatever the Host header
  // names, so that an assertion made for another endpoint cannot be used here; discovery documents
  // name one of them too. Empty (and no public_url): certificate logins are refused.
  std::vector<std::string> own_origins;
};

struct Route;  // route.h

class VaultApi {
 public:
  VaultApi(vault::VaultService& service, ApiOptions options)
      : service_(service), options_(std::move(options)) {}

  HttpResponse Handle(const HttpRequest& request) const;

  // The answer to a request the HTTP server refused itself (malformed, too large, unsupported
  // framing: `status` with the JSON error `code` and `message`), audited like every other request
  // with that status (operation from whatever method and target were read, never the body).
  // `partial` may lack anything but remote_addr. 503 if the audit record cannot be written.
  HttpResponse RejectTransport(const HttpRequest& partial, int status, std::string_view code,
                               std::string_view message) const;

  // Sets ApiOptions::own_origins once the listening port is known; before serving only.
  void SetOwnOrigins(std::vector<std::string> origins) {
    options_.own_origins = std::move(origins);
  }

 private:
  vault::RequestContext ContextFor(const HttpRequest& request, const Route& route) const;
  void AddCommonHeaders(const vault::RequestContext& ctx, const HttpRequest& request,
                        HttpResponse& res) const;
  // The configured origin equal (ignoring case) to `origin`, or null.
  const std::string* OwnOrigin(const std::string& origin) const;
  // Fixed 10-second windows; returns the seconds to wait, or 0 if the request may proceed.
  int Throttle() const;

  vault::VaultService& service_;
  ApiOptions options_;
  mutable std::mutex throttle_mu_;
  mutable std::int64_t window_start_ = 0;
  mutable int window_count_ = 0;
};

}  // namespace pgcmk::vault_http
