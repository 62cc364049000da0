// AzureKeyVaultClient: KmsClient over the Azure Key Vault keys REST API (api-version 7.6), the
// same wire protocol for Azure Key Vault and for pgcmk's own vault.
//
//   GET  {vault}/keys/{name}/{version?}?api-version=7.6            -> KeyBundle
//   POST {vault}/keys/{name}/{version}/wrapkey   {"alg","value"}   -> {"kid","value"}
//   POST {vault}/keys/{name}/{version}/unwrapkey {"alg","value"}   -> {"kid","value"}
//
// Authentication follows the SDK: the first request to a vault goes without a token and without
// its body; the 401 challenge names the authority and resource, the TokenProvider gets a token,
// and the request is sent again with it. A later 401 carrying a challenge makes the client fetch a
// fresh token and retry once. Error mapping (one switch, StatusFromVaultError):
//   400 kInvalidArgument, 401 kUnauthenticated, 403 kPermissionDenied (kFailedPrecondition for a
//   disabled key), 404 kNotFound, 408 kDeadlineExceeded, 409 kConflict, 429 and 5xx
//   kUnavailable, anything else kInternal.
// Thread safety: not thread-safe; use one client per thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "kms/client_credentials_token_provider.h"
#include "kms/http_client.h"
#include "kms/key_uri.h"
#include "kms/kms_client.h"

namespace pgcmk::kms {

struct AzureKeyVaultClientOptions {
  HttpOptions http;
  std::string api_version = "7.6";
};

class AzureKeyVaultClient final : public KmsClient {
 public:
  AzureKeyVaultClient(std::unique_ptr<TokenProvider> tokens, AzureKeyVaultClientOptions options);

  Result<KeyInfo> GetKey(std::string_view key_id) override;
  Result<WrappedKey> WrapKey(std::string_view key_id, std::string_view alg,
                             const SecretBytes& key) override;
  Result<SecretBytes> UnwrapKey(std::string_view kid, std::string_view alg,
                                ByteView wrapped) override;

 private:
  // Sends one request to the key's vault with challenge-based auth; non-200 answers become the
  // mapped Status. `operation` names the operation in messages ("get", "wrapKey", "unwrapKey").
  Result<HttpResponse> Call(const KeyUri& key, std::string_view method, const std::string& path,
                            const std::string& body, std::string_view operation);
  Result<HttpClient*> ClientFor(const KeyUri& key);

  std::unique_ptr<TokenProvider> tokens_;
  AzureKeyVaultClientOptions options_;
  std::map<std::string, std::unique_ptr<HttpClient>> clients_;  // by origin
  std::map<std::string, AuthChallenge> challenges_;             // by origin
};

// Parses a KeyBundle JSON body (exposed for tests).
Result<KeyInfo> ParseKeyBundle(std::string_view json);

}  // namespace pgcmk::kms
