#include "vault_http/admin_client.h"

#include <httplib.h>

#include <chrono>

#include "common/base64url.h"
#include "common/durable_file.h"
#include "common/percent_encoding.h"
#include "crypto/client_certificate.h"
#include "crypto/jwt.h"
#include "vault_http/route.h"

namespace pgcmk::vault_http {

using nlohmann::json;

namespace {
StatusCode CodeForHttp(int status) {
  switch (status) {
    case 400:
    case 413:
      return StatusCode::kInvalidArgument;
    case 401:
      return StatusCode::kUnauthenticated;
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 409:
      return StatusCode::kConflict;
    case 429:
      return StatusCode::kResourceExhausted;
    case 503:
      return StatusCode::kUnavailable;
    default:
      return StatusCode::kInternal;
  }
}

// Wipes a string in place (credentials and keys that passed through JSON or httplib buffers).
void Wipe(std::string& s) { SecureZero(s.data(), s.size()); }

void WipeJsonString(json& j, const char* field) {
  if (j.is_object() && j.contains(field) && j[field].is_string())
    Wipe(j[field].get_ref<std::string&>());
}

}  // namespace

struct AdminClient::Impl {
  AdminClientOptions options;
  std::string tenant_id, client_id, resource;
  SecretBytes client_secret;
  // With a certificate credential instead of a secret: its key and SHA-256 thumbprint.
  std::optional<crypto::RsaPrivateKey> certificate_key;
  std::string x5t_s256;
  std::string token;  // a credential; never printed
  std::unique_ptr<httplib::Client> http;
};

AdminClient::AdminClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminClient::~AdminClient() {
  if (impl_) SecureZero(impl_->token.data(), impl_->token.size());
}

Result<std::unique_ptr<AdminClient>> AdminClient::Create(AdminClientOptions options) {
  auto impl = std::make_unique<Impl>();
  auto cred = ReadSecretFile(options.credential_file, 64 * 1024);
  if (!cred) return Err(cred.error().WithContext("reading the credential file"));
  json j = json::parse(AsStringView(cred->reveal()), nullptr, false);
  const auto is_string = [&](const char* field) {
    return j.contains(field) && j[field].is_string() && !j[field].get_ref<std::string&>().empty();
  };
  if (!j.is_object() || !is_string("tenantId") || !is_string("clientId") ||
      is_string("clientSecret") == is_string("certificateFile")) {
    if (j.is_object()) WipeJsonString(j, "clientSecret");
    return Err(StatusCode::kInvalidArgument,
               "credential file " + options.credential_file +
                   " needs tenantId, clientId and either clientSecret or certificateFile");
  }
  impl->tenant_id = j["tenantId"].get<std::string>();
  impl->client_id = j["clientId"].get<std::string>();
  impl->resource = j.value("resource", "https://vault.pgcmk.local");
  if (is_string("clientSecret")) {
    std::string secret = j["clientSecret"].get<std::string>();
    impl->client_secret = SecretBytes::CopyFrom(AsBytes(secret));
    Wipe(secret);
    WipeJsonString(j, "clientSecret");
  } else {
    // A key+certificate PEM as `pgcmk vault identity cert create` writes it; a relative path is
    // relative to the credential file. It must be private (0600, not a symlink).
    std::filesystem::path pem_path = j["certificateFile"].get<std::string>();
    if (pem_path.is_relative())
      pem_path = std::filesystem::path(options.credential_file).parent_path() / pem_path;
    auto pem = ReadPrivateSecretFile(pem_path, 1 << 20);
    if (!pem) return Err(pem.error().WithContext("reading the certificate credential"));
    auto parsed = crypto::ParseClientCertificateCredential(*pem);
    if (!parsed) return Err(parsed.error().WithContext(pem_path.string()));
    auto key = crypto::RsaPrivateKey::FromPem(parsed->private_key_pem);
    if (!key) return Err(key.error().WithContext(pem_path.string()));
    impl->certificate_key.emplace(std::move(*key));
    impl->x5t_s256 = Base64UrlEncode(parsed->certificate.sha256);
  }
  while (options.vault_url.ends_with("/")) options.vault_url.pop_back();
  impl->http = std::make_unique<httplib::Client>(options.vault_url);
  if (!impl->http->is_valid())
    return Err(StatusCode::kInvalidArgument, "invalid vault URL " + options.vault_url);
  if (!options.ca_file.empty()) impl->http->set_ca_cert_path(options.ca_file.c_str());
  impl->http->set_connection_timeout(10, 0);
  impl->http->set_tcp_nodelay(true);
  impl->http->set_read_timeout(120, 0);
  impl->options = std::move(options);
  return std::unique_ptr<AdminClient>(new AdminClient(std::move(impl)));
}

Status AdminClient::EnsureToken() {
  Impl& m = *impl_;
  if (!m.token.empty()) return Status::Ok();
  const std::string token_path = "/" + m.tenant_id + "/oauth2/v2.0/token";
  std::string form = "grant_type=client_credentials&client_id=" + PercentEncode(m.client_id) +
                     "&scope=" + PercentEncode(m.resource + "/.default");
  if (m.certificate_key) {
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    auto assertion = crypto::MakeClientAssertion(*m.certificate_key, m.x5t_s256, m.client_id,
                                                 m.options.vault_url + token_path, now);
    if (!assertion) return assertion.error();
    form += "&client_assertion_type=" +
            PercentEncode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
            "&client_assertion=" + *assertion;
  } else {
    form += "&client_secret=" + PercentEncode(AsStringView(m.client_secret.reveal()));
  }
  auto res = m.http->Post(token_path.c_str(), form, "application/x-www-form-urlencoded");
  SecureZero(form.data(), form.size());
  if (!res) {
    return Status(StatusCode::kUnavailable, "cannot reach the vault at " + m.options.vault_url +
                                                ": " + httplib::to_string(res.error()));
  }
  json body = json::parse(res->body, nullptr, false);
  if (res->status != 200 || !body.is_object() || !body.contains("access_token")) {
    std::string desc = body.is_object() ? body.value("error_description", res->body) : res->body;
    return Status(res->status == 401 ? StatusCode::kUnauthenticated : CodeForHttp(res->status),
                  "token request failed: " + desc.substr(0, 300));
  }
  m.token = body["access_token"].get<std::string>();
  WipeJsonString(body, "access_token");
  Wipe(res->body);
  return Status::Ok();
}

Result<json> AdminClient::Call(const std::string& method, const std::string& path,
                               const std::optional<json>& body) {
  Status t = EnsureToken();
  if (!t.ok()) return Err(t);
  Impl& m = *impl_;
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.set_header("Authorization", "Bearer " + m.token);
  req.set_header("Accept", "application/json");
  req.set_header("User-Agent", "pgcmk-vault-cli");
  if (body) {
    req.body = body->dump();
    req.set_header("Content-Type", "application/json");
  } else if (method == "POST" || method == "PUT" || method == "PATCH") {
    req.set_header("Content-Length", "0");
  }
  auto res = m.http->send(req);
  // The request may carry a key to wrap or import, and always carries the token.
  Wipe(req.body);
  for (auto& [name, value] : req.headers) Wipe(value);
  if (!res) {
    return Err(StatusCode::kUnavailable, "cannot reach the vault at " + m.options.vault_url + ": " +
                                             httplib::to_string(res.error()));
  }
  if (res->status == 204) return json();
  json out = json::parse(res->body, nullptr, false);
  Wipe(res->body);  // may hold an unwrapped key or a client secret; `out` goes to the caller
  if (res->status >= 200 && res->status < 300) {
    if (out.is_discarded())
      return Err(StatusCode::kInternal, "the vault answered with invalid JSON");
    return out;
  }
  std::string message = "HTTP " + std::to_string(res->status);
  if (out.is_object() && out.contains("error") && out["error"].is_object()) {
    message = out["error"].value("message", message);
  }
  return Err(CodeForHttp(res->status), message);
}

}  // namespace pgcmk::vault_http
