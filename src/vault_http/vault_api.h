// VaultApi: the vault's HTTP protocol, independent of any HTTP library. It turns one request
// (method, raw target, headers, body) into one response, calling VaultService use cases; the
// socket server (vault_server.h) is a thin shell around it, and tests call it in-process.
//
// Order of checks for the keys API (the SDK depends on it): route, then the bearer token (401
// with the WWW-Authenticate challenge before anything about the body is looked at), then
// api-version, then the body.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "vault/vault_service.h"

namespace pgcmk::vault_http {

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
};

struct ApiOptions {
  // Origin used in kid/nextLink/issuer/challenge; empty = scheme + "://" + Host header.
  std::string public_url;
  std::string scheme = "https";
};

class VaultApi {
 public:
  VaultApi(vault::VaultService& service, ApiOptions options)
      : service_(service), options_(std::move(options)) {}

  HttpResponse Handle(const HttpRequest& request) const;

 private:
  vault::VaultService& service_;
  ApiOptions options_;
};

}  // namespace pgcmk::vault_http
