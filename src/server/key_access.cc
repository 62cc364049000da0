#include "server/key_access.h"

#include <chrono>

#include "common/durable_file.h"
#include "crypto/random.h"
#include "kms/azure_key_vault_client.h"
#include "kms/key_uri.h"
#include "kms/local_key_provider.h"

namespace pgcmk::server {

kms::HttpOptions VaultHttpOptions(const std::filesystem::path& ca_file) {
  kms::HttpOptions o;
  o.ca_file = ca_file;
  o.connect_timeout = std::chrono::milliseconds(3000);
  o.io_timeout = std::chrono::milliseconds(10000);
  return o;
}

Result<std::unique_ptr<kms::KmsClient>> MakeAzureKeyVaultClient(IdentityConfig identity) {
  auto http = VaultHttpOptions(identity.vault_ca_file);
  std::unique_ptr<kms::ClientCredentialsTokenProvider> tokens;
  if (!identity.client_certificate_pem.empty()) {
    PGCMK_ASSIGN_OR_RETURN(
        tokens, kms::ClientCredentialsTokenProvider::WithCertificate(
                    std::move(identity.client_id), identity.client_certificate_pem, http));
  } else {
    tokens = std::make_unique<kms::ClientCredentialsTokenProvider>(
        std::move(identity.client_id), std::move(identity.client_secret), http);
  }
  kms::AzureKeyVaultClientOptions options;
  options.http = http;
  return std::unique_ptr<kms::KmsClient>(
      std::make_unique<kms::AzureKeyVaultClient>(std::move(tokens), options));
}

Result<std::unique_ptr<kms::KmsClient>> OpenKeyClient(const Manifest& manifest,
                                                      const ServerPaths& paths) {
  switch (manifest.type) {
    case EncryptionType::kSystemManaged: {
      PGCMK_ASSIGN_OR_RETURN(auto local,
                             kms::LocalKeyProvider::Open(paths.system_key(), manifest.name));
      return std::unique_ptr<kms::KmsClient>(std::move(local));
    }
    case EncryptionType::kAzureKeyVault: {
      IdentityConfig identity;
      identity.client_id = manifest.identity_client_id;
      std::error_code ec;
      const auto certificate = paths.identity_certificate(manifest.identity_client_id);
      const bool has_certificate = std::filesystem::exists(certificate, ec);
      if (ec) {  // never fall back to the secret because the certificate could not be looked at
        return Err(StatusCode::kIoError, "cannot look for the certificate credential " +
                                             certificate.string() + ": " + ec.message());
      }
      if (has_certificate) {
        auto pem = ReadSecretFile(certificate, 1 << 20);
        if (!pem) {
          return Err(
              pem.error().WithContext("reading the stored certificate credential of identity " +
                                      manifest.identity_client_id));
        }
        identity.client_certificate_pem = std::move(*pem);
      } else {
        auto secret = ReadSecretFile(paths.identity_secret(manifest.identity_client_id), 4096);
        if (!secret) {
          return Err(secret.error().WithContext("reading the stored client secret of identity " +
                                                manifest.identity_client_id));
        }
        identity.client_secret = std::move(*secret);
      }
      if (std::filesystem::exists(paths.vault_ca(), ec)) identity.vault_ca_file = paths.vault_ca();
      return MakeAzureKeyVaultClient(std::move(identity));
    }
  }
  return Err(StatusCode::kInternal, "unknown encryption type");
}

std::string_view WrapAlgorithmFor(EncryptionType type) {
  return type == EncryptionType::kSystemManaged ? kms::kLocalWrapAlg : kms::kRsaOaep256;
}

Result<kms::KeyInfo> ValidateCustomerManagedKey(kms::KmsClient& client, const std::string& key_uri,
                                                bool allow_purgeable_key) {
  PGCMK_ASSIGN_OR_RETURN(kms::KeyUri uri, kms::KeyUri::Parse(key_uri));
  auto key = client.GetKey(uri.ToString());
  if (!key) {
    const Status& s = key.error();
    std::string need;
    switch (s.code()) {
      case StatusCode::kNotFound:
        need = "the key must exist (and the identity needs the 'get' permission on it)";
        break;
      case StatusCode::kPermissionDenied:
        need = "the identity needs the 'get' permission on the key";
        break;
      case StatusCode::kUnauthenticated:
        need =
            "the identity's client id and credential (secret or certificate) must be valid in "
            "the vault's tenant";
        break;
      default:
        need = "the vault must be reachable";
        break;
    }
    return Err(Status(s.code(), "requirement not met: " + need + " (" + s.message() + ")"));
  }
  if (Status s = kms::CheckCustomerManagedKeyRequirements(*key, std::chrono::system_clock::now(),
                                                          !allow_purgeable_key);
      !s.ok()) {
    return Err(Status(s.code(), "requirement not met: " + s.message()));
  }
  PGCMK_ASSIGN_OR_RETURN(SecretBytes probe, crypto::RandomSecret(32));
  auto wrapped = client.WrapKey(key->kid, kms::kRsaOaep256, probe);
  if (!wrapped) {
    return Err(Status(wrapped.error().code(),
                      "requirement not met: the identity needs the 'wrapKey' permission on the "
                      "key (" +
                          wrapped.error().message() + ")"));
  }
  auto unwrapped = client.UnwrapKey(wrapped->kid, kms::kRsaOaep256, wrapped->wrapped);
  if (!unwrapped) {
    return Err(Status(unwrapped.error().code(),
                      "requirement not met: the identity needs the 'unwrapKey' permission on "
                      "the key (" +
                          unwrapped.error().message() + ")"));
  }
  if (!(*unwrapped == probe)) {
    return Err(StatusCode::kDataLoss,
               "requirement not met: the vault's unwrapKey did not return what wrapKey wrapped");
  }
  return key;
}

}  // namespace pgcmk::server
