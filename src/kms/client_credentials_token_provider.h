// Bearer tokens for the vault, obtained the way the Azure SDK does it.
//
// Discovery: the vault answers an unauthenticated request with 401 and
//   WWW-Authenticate: Bearer authorization="<authority>/<tenant>", resource="<resource>"
// The token endpoint is "<authorization>/oauth2/v2.0/token" and the scope "<resource>/.default"
// (a challenge carrying `scope` instead of `resource` uses it as is). For Azure the authority is
// https://login.microsoftonline.com; for pgcmk's vault it is the vault's own origin.
//
// ClientCredentialsTokenProvider sends the OAuth2 client-credentials request
//   POST grant_type=client_credentials&client_id=..&client_secret=..&scope=..
// or, with a certificate credential (as Entra ID accepts from a confidential client),
//   POST grant_type=client_credentials&client_id=..&scope=..&client_assertion_type=
//        urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=<JWT>
// where the JWT is signed PS256 with the certificate's private key, its header names the
// certificate by "x5t#S256", and its claims are aud = the token endpoint, iss = sub = client id,
// a random jti, nbf = iat = now, exp = now + 5 minutes (a fresh assertion per token request).
// It caches each token (per token endpoint and scope) until shortly before it expires: 60 s, or
// half the lifetime for tokens shorter than 2 minutes. The client secret is held in SecretBytes
// (the certificate's key in an OpenSSL key object, parsed from SecretBytes) and the credential is
// sent only to an https token endpoint named by a challenge (http only when the HttpOptions
// allow it). An answer of 400/401 from the token endpoint (invalid_client, unauthorized_client,
// ...) is kUnauthenticated: the identity was deleted or its secret rotated, or its certificate
// removed or expired.
// Thread safety: GetToken may be called concurrently.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "crypto/rsa_key.h"
#include "kms/http_client.h"

namespace pgcmk::kms {

struct AuthChallenge {
  std::string authorization;  // authority URL including the tenant, no trailing slash
  std::string scope;          // e.g. "https://vault.azure.net/.default"
  std::string TokenEndpoint() const { return authorization + "/oauth2/v2.0/token"; }
};

// Parses a `WWW-Authenticate: Bearer ...` header value. kUnauthenticated if it is not a usable
// Bearer challenge.
Result<AuthChallenge> ParseBearerChallenge(std::string_view www_authenticate);

// The client credential may only go to a token endpoint we trust: the vault's own origin (pgcmk's
// self-hosted vault serves its token endpoint there) or Microsoft Entra ID's https authorities.
// A challenge naming anything else is refused (kFailedPrecondition), so a vault URL pointing at a
// hostile or misconfigured server cannot harvest the identity's secret (or an assertion).
Status CheckChallengeAuthority(const AuthChallenge& challenge, std::string_view vault_origin);

class TokenProvider {
 public:
  virtual ~TokenProvider() = default;
  // A bearer token for `challenge`; cached unless `force_refresh`.
  virtual Result<SecretBytes> GetToken(const AuthChallenge& challenge, bool force_refresh) = 0;
};

class ClientCredentialsTokenProvider : public TokenProvider {
 public:
  ClientCredentialsTokenProvider(std::string client_id, SecretBytes client_secret,
                                 HttpOptions http);
  // Reads the secret from `secret_file` (its first line; trailing whitespace dropped).
  static Result<std::unique_ptr<ClientCredentialsTokenProvider>> FromSecretFile(
      std::string client_id, const std::filesystem::path& secret_file, HttpOptions http);
  // Certificate credential: `credential_pem` holds the RSA private key (PKCS#8 or traditional
  // PEM, unencrypted) and its certificate, as `pgcmk vault identity cert create` writes them.
  // kInvalidArgument if either is missing or they do not belong together.
  static Result<std::unique_ptr<ClientCredentialsTokenProvider>> WithCertificate(
      std::string client_id, const SecretBytes& credential_pem, HttpOptions http);
  // The same, read from a file (which should be readable by its owner only).
  static Result<std::unique_ptr<ClientCredentialsTokenProvider>> FromCertificateFile(
      std::string client_id, const std::filesystem::path& credential_file, HttpOptions http);

  Result<SecretBytes> GetToken(const AuthChallenge& challenge, bool force_refresh) override;

  const std::string& client_id() const { return client_id_; }
  // Number of token requests sent (for tests: proves caching).
  int token_requests() const;

 private:
  struct CachedToken {
    SecretBytes token;
    std::chrono::steady_clock::time_point refresh_at;
  };
  Result<CachedToken> RequestToken(const AuthChallenge& challenge);
  // The form's credential part: client_secret=.. or client_assertion_type=..&client_assertion=..
  Result<std::string> CredentialParameters(const std::string& token_endpoint) const;

  struct Certificate {
    crypto::RsaPrivateKey key;
    std::string x5t_s256;  // base64url SHA-256 of the certificate's DER
  };
  ClientCredentialsTokenProvider(std::string client_id, Certificate certificate, HttpOptions http);

  const std::string client_id_;
  const SecretBytes client_secret_;
  const std::optional<Certificate> certificate_;
  const HttpOptions http_;
  mutable std::mutex mu_;                     // guards cache_ and token_requests_
  std::map<std::string, CachedToken> cache_;  // key: endpoint + " " + scope
  int token_requests_ = 0;
};

}  // namespace pgcmk::kms
