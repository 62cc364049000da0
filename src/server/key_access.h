// Key access for one server: building the KmsClient its manifest calls for, and the checks that
// `create` and `update` run before anything is created or changed.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "common/secret_bytes.h"
#include "kms/http_client.h"
#include "kms/kms_client.h"
#include "server/manifest.h"
#include "server/server_paths.h"

namespace pgcmk::server {

struct IdentityConfig {
  std::string client_id;
  SecretBytes client_secret;
  std::filesystem::path vault_ca_file;  // empty: system trust store
  // Certificate credential (RSA private key + certificate PEM); when set, used instead of
  // client_secret (the token request carries a signed client assertion).
  SecretBytes client_certificate_pem;
};

// Network policy for vault calls (timeouts; plain http only for tests that ask for it).
kms::HttpOptions VaultHttpOptions(const std::filesystem::path& ca_file);

// kInvalidArgument if a certificate credential does not parse (the key and certificate must
// belong together).
Result<std::unique_ptr<kms::KmsClient>> MakeAzureKeyVaultClient(IdentityConfig identity);

// The client for the server's current manifest: the Azure client with the identity credential
// (identity-<clientId>.pem if present, else identity-<clientId>.secret) and vault CA stored in
// the server directory, or the system-managed local key.
Result<std::unique_ptr<kms::KmsClient>> OpenKeyClient(const Manifest& manifest,
                                                      const ServerPaths& paths);

// What create/update verify with the identity's own token before touching anything:
//   1. GET the key (needs the `get` permission; a 404 or 403 names that),
//   2. the key meets every CMK requirement (enabled, nbf/exp, RSA 2048/3072/4096, soft delete
//      with purge protection, key_ops),
//   3. a wrap + unwrap round trip of a random probe key under the current version (proves the
//      wrapKey and unwrapKey permissions).
// Returns the key's current version. Each failure names the unmet requirement.
// `allow_purgeable_key` skips the purge-protection requirement (tests of crypto-shredding only).
Result<kms::KeyInfo> ValidateCustomerManagedKey(kms::KmsClient& client, const std::string& key_uri,
                                                bool allow_purgeable_key = false);

// The algorithm the manifest's key type wraps with.
std::string_view WrapAlgorithmFor(EncryptionType type);

}  // namespace pgcmk::server
