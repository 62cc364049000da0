#include "kms/client_credentials_token_provider.h"

#include <nlohmann/json.hpp>

#include "common/base64url.h"
#include "common/durable_file.h"
#include "common/percent_encoding.h"
#include "crypto/client_certificate.h"
#include "crypto/jwt.h"
#include "crypto/random.h"

namespace pgcmk::kms {
namespace {

using Json = nlohmann::json;

std::string TrimTrailingSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

Result<AuthChallenge> ParseBearerChallenge(std::string_view header) {
  auto bad = [&](std::string_view why) {
    return Err(StatusCode::kUnauthenticated,
               "the vault's authentication challenge is not usable: " + std::string(why));
  };
  size_t i = 0;
  while (i < header.size() && header[i] == ' ') ++i;
  if (header.size() - i < 6 || header.substr(i, 6) != "Bearer") return bad("not a Bearer scheme");
  i += 6;
  std::map<std::string, std::string> params;
  while (i < header.size()) {
    while (i < header.size() && (header[i] == ' ' || header[i] == ',')) ++i;
    size_t eq = header.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string key(header.substr(i, eq - i));
    i = eq + 1;
    std::string value;
    if (i < header.size() && header[i] == '"') {
      size_t close = header.find('"', i + 1);
      if (close == std::string_view::npos) return bad("unterminated quoted value");
      value = std::string(header.substr(i + 1, close - i - 1));
      i = close + 1;
    } else {
      size_t end = header.find_first_of(", ", i);
      if (end == std::string_view::npos) end = header.size();
      value = std::string(header.substr(i, end - i));
      i = end;
    }
    params[key] = value;
  }
  AuthChallenge c;
  c.authorization =
      params.count("authorization") ? params["authorization"] : params["authorization_uri"];
  c.authorization = TrimTrailingSlash(c.authorization);
  if (c.authorization.empty()) return bad("no authorization URL");
  if (!params["resource"].empty()) {
    c.scope = TrimTrailingSlash(params["resource"]) + "/.default";
  } else if (!params["scope"].empty()) {
    c.scope = params["scope"];
  } else {
    return bad("neither resource nor scope");
  }
  if (auto url = Url::Parse(c.authorization); !url) return bad("bad authorization URL");
  return c;
}

Status CheckChallengeAuthority(const AuthChallenge& challenge, std::string_view vault_origin) {
  auto url = Url::Parse(challenge.authorization);
  if (!url) return url.error();
  if (url->origin() == vault_origin) return Status::Ok();
  static constexpr std::string_view kEntraHosts[] = {
      "login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
      "login.partner.microsoftonline.cn"};
  for (std::string_view host : kEntraHosts) {
    if (url->scheme == "https" && url->host == host && url->port == 443) return Status::Ok();
  }
  return Status(StatusCode::kFailedPrecondition,
                "the key vault at " + std::string(vault_origin) + " names the token authority " +
                    url->origin() +
                    ", which is neither the vault itself nor Microsoft Entra ID; refusing to send "
                    "the identity's client credential there");
}

ClientCredentialsTokenProvider::ClientCredentialsTokenProvider(std::string client_id,
                                                               SecretBytes client_secret,
                                                               HttpOptions http)
    : client_id_(std::move(client_id)),
      client_secret_(std::move(client_secret)),
      http_(std::move(http)) {}

Result<std::unique_ptr<ClientCredentialsTokenProvider>>
ClientCredentialsTokenProvider::FromSecretFile(std::string client_id,
                                               const std::filesystem::path& secret_file,
                                               HttpOptions http) {
  auto secret = ReadSecretFile(secret_file, 4096);
  if (!secret) {
    return Err(secret.error().WithContext("reading the identity's client secret file"));
  }
  size_t n = 0;
  ByteView b = secret->reveal();
  while (n < b.size() && b[n] != '\n' && b[n] != '\r') ++n;
  while (n > 0 && (b[n - 1] == ' ' || b[n - 1] == '\t')) --n;
  if (n == 0) {
    return Err(StatusCode::kInvalidArgument,
               "the client secret file " + secret_file.string() + " is empty");
  }
  secret->Truncate(n);
  return std::make_unique<ClientCredentialsTokenProvider>(std::move(client_id), std::move(*secret),
                                                          std::move(http));
}

ClientCredentialsTokenProvider::ClientCredentialsTokenProvider(std::string client_id,
                                                               Certificate certificate,
                                                               HttpOptions http)
    : client_id_(std::move(client_id)),
      certificate_(std::move(certificate)),
      http_(std::move(http)) {}

Result<std::unique_ptr<ClientCredentialsTokenProvider>>
ClientCredentialsTokenProvider::WithCertificate(std::string client_id,
                                                const SecretBytes& credential_pem,
                                                HttpOptions http) {
  PGCMK_ASSIGN_OR_RETURN(crypto::ClientCertificateCredential credential,
                         crypto::ParseClientCertificateCredential(credential_pem));
  PGCMK_ASSIGN_OR_RETURN(crypto::RsaPrivateKey key,
                         crypto::RsaPrivateKey::FromPem(credential.private_key_pem));
  Certificate certificate{std::move(key), Base64UrlEncode(credential.certificate.sha256)};
  return std::unique_ptr<ClientCredentialsTokenProvider>(new ClientCredentialsTokenProvider(
      std::move(client_id), std::move(certificate), std::move(http)));
}

Result<std::unique_ptr<ClientCredentialsTokenProvider>>
ClientCredentialsTokenProvider::FromCertificateFile(std::string client_id,
                                                    const std::filesystem::path& credential_file,
                                                    HttpOptions http) {
  auto pem = ReadSecretFile(credential_file, 1 << 20);
  if (!pem) {
    return Err(pem.error().WithContext("reading the identity's certificate credential file"));
  }
  auto provider = WithCertificate(std::move(client_id), *pem, std::move(http));
  if (!provider) return Err(provider.error().WithContext(credential_file.string()));
  return provider;
}

Result<std::string> ClientCredentialsTokenProvider::CredentialParameters(
    const std::string& token_endpoint) const {
  if (!certificate_) {
    return "client_secret=" + PercentEncode(AsStringView(client_secret_.reveal()));
  }
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  PGCMK_ASSIGN_OR_RETURN(std::string assertion,
                         crypto::MakeClientAssertion(certificate_->key, certificate_->x5t_s256,
                                                     client_id_, token_endpoint, now));
  return "client_assertion_type=" +
         PercentEncode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
         "&client_assertion=" + assertion;
}

int ClientCredentialsTokenProvider::token_requests() const {
  std::lock_guard lock(mu_);
  return token_requests_;
}

Result<SecretBytes> ClientCredentialsTokenProvider::GetToken(const AuthChallenge& challenge,
                                                             bool force_refresh) {
  const std::string cache_key = challenge.TokenEndpoint() + " " + challenge.scope;
  std::lock_guard lock(mu_);
  auto it = cache_.find(cache_key);
  if (!force_refresh && it != cache_.end() &&
      std::chrono::steady_clock::now() < it->second.refresh_at) {
    return it->second.token.Clone();
  }
  if (it != cache_.end()) cache_.erase(it);
  ++token_requests_;
  PGCMK_ASSIGN_OR_RETURN(CachedToken fresh, RequestToken(challenge));
  SecretBytes copy = fresh.token.Clone();
  cache_.emplace(cache_key, std::move(fresh));
  return copy;
}

Result<ClientCredentialsTokenProvider::CachedToken> ClientCredentialsTokenProvider::RequestToken(
    const AuthChallenge& challenge) {
  const std::string endpoint = challenge.TokenEndpoint();
  PGCMK_ASSIGN_OR_RETURN(Url url, Url::Parse(endpoint));
  if (url.scheme != "https" && !http_.allow_plain_http) {
    return Err(StatusCode::kFailedPrecondition,
               "refusing to send the client credential to a non-https token endpoint " + endpoint);
  }
  PGCMK_ASSIGN_OR_RETURN(auto client, HttpClient::Create(url.origin(), http_));
  PGCMK_ASSIGN_OR_RETURN(std::string credential, CredentialParameters(endpoint));
  std::string form = "grant_type=client_credentials&client_id=" + PercentEncode(client_id_) + "&" +
                     credential + "&scope=" + PercentEncode(challenge.scope);
  SecureZero(credential.data(), credential.size());
  auto response = client->Send("POST", url.path, {}, form, "application/x-www-form-urlencoded");
  SecureZero(form.data(), form.size());
  if (!response) {
    return Err(response.error().WithContext("requesting a token from " + endpoint));
  }
  Json body = Json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  SecureZero(response->body.data(), response->body.size());
  if (response->status != 200) {
    std::string detail;
    if (body.is_object() && body.contains("error") && body["error"].is_string()) {
      detail = body["error"].get<std::string>();
      if (body.contains("error_description") && body["error_description"].is_string()) {
        detail += ": " + body["error_description"].get<std::string>();
      }
    }
    const std::string msg = "the token endpoint " + endpoint + " refused identity " + client_id_ +
                            " (HTTP " + std::to_string(response->status) +
                            (detail.empty() ? "" : ", " + detail) + ")";
    if (response->status == 400 || response->status == 401 || response->status == 403) {
      return Err(StatusCode::kUnauthenticated, msg);
    }
    if (response->status == 429 || response->status >= 500) {
      return Err(StatusCode::kUnavailable, msg);
    }
    return Err(StatusCode::kInternal, msg);
  }
  if (!body.is_object() || !body.contains("access_token") || !body["access_token"].is_string()) {
    return Err(StatusCode::kInternal,
               "the token endpoint " + endpoint + " answered without an access_token");
  }
  std::string token = body["access_token"].get<std::string>();
  long long expires_in = 3600;
  if (body.contains("expires_in")) {
    const Json& e = body["expires_in"];
    if (e.is_number_integer()) {
      expires_in = e.get<long long>();
    } else if (e.is_string()) {
      expires_in = std::atoll(e.get<std::string>().c_str());
    }
  }
  body["access_token"] = "";
  if (expires_in <= 0) expires_in = 1;
  const long long margin = expires_in >= 120 ? 60 : expires_in / 2;
  CachedToken cached{SecretBytes::CopyFrom(AsBytes(token)),
                     std::chrono::steady_clock::now() + std::chrono::seconds(expires_in - margin)};
  SecureZero(token.data(), token.size());
  return cached;
}

}  // namespace pgcmk::kms
