// AdminClient: what `pgcmk vault ...` uses to reach a running vault. It reads a credential file
// ({"tenantId","clientId","clientSecret","resource"}, as `vault init` writes for the admin; or
// "certificateFile" instead of "clientSecret": a private key+certificate PEM registered with
// `vault identity cert`, path relative to the credential file, used for a client assertion),
// obtains a token from the vault's own token endpoint, and calls the keys and admin APIs.
// Errors come back as Status translated from the vault's JSON error body.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/secret_bytes.h"
#include "common/status.h"

namespace pgcmk::vault_http {

struct AdminClientOptions {
  std::string vault_url;  // scheme://host:port
  std::string ca_file;    // PEM; empty = system trust store (https) or none (http)
  std::string credential_file;
};

class AdminClient {
 public:
  static Result<std::unique_ptr<AdminClient>> Create(AdminClientOptions options);
  ~AdminClient();

  // `path` includes the query; `body` is sent as JSON when present. 204 yields null. The client
  // wipes its own copies of the request and response bodies and of the token header; secrets in
  // `body` and in the returned document are the caller's to wipe.
  Result<nlohmann::json> Call(const std::string& method, const std::string& path,
                              const std::optional<nlohmann::json>& body = std::nullopt);

 private:
  struct Impl;
  explicit AdminClient(std::unique_ptr<Impl> impl);
  Status EnsureToken();
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgcmk::vault_http
