#include "kms/azure_key_vault_client.h"

#include <nlohmann/json.hpp>

#include "common/base64url.h"

namespace pgcmk::kms {
namespace {

using Json = nlohmann::json;

// The one mapping from a vault's error answer to Status.
Status StatusFromVaultError(int http_status, std::string_view body, std::string_view operation,
                            const std::string& key) {
  std::string code, inner, message;
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const Json& e = j["error"];
    if (e.contains("code") && e["code"].is_string()) code = e["code"].get<std::string>();
    if (e.contains("message") && e["message"].is_string()) {
      message = e["message"].get<std::string>();
    }
    if (e.contains("innererror") && e["innererror"].is_object() &&
        e["innererror"].contains("code") && e["innererror"]["code"].is_string()) {
      inner = e["innererror"]["code"].get<std::string>();
    }
  }
  if (message.size() > 400) message.resize(400);
  std::string text = "the vault refused " + std::string(operation) + " on " + key + " (HTTP " +
                     std::to_string(http_status) + (code.empty() ? "" : " " + code) +
                     (inner.empty() ? "" : "/" + inner) + ")" +
                     (message.empty() ? "" : ": " + message);
  switch (http_status) {
    case 400:
      return Status(StatusCode::kInvalidArgument, text);
    case 401:
      return Status(StatusCode::kUnauthenticated, text);
    case 403:
      if (inner == "KeyDisabled") return Status(StatusCode::kFailedPrecondition, text);
      return Status(StatusCode::kPermissionDenied, text);
    case 404:
      return Status(StatusCode::kNotFound, text);
    case 408:
      return Status(StatusCode::kDeadlineExceeded, text);
    case 409:
      return Status(StatusCode::kConflict, text);
    case 429:
      return Status(StatusCode::kUnavailable, text);
    default:
      if (http_status >= 500) return Status(StatusCode::kUnavailable, text);
      return Status(StatusCode::kInternal, text);
  }
}

std::optional<std::int64_t> OptionalTime(const Json& attrs, const char* name) {
  if (!attrs.contains(name) || !attrs[name].is_number()) return std::nullopt;
  std::int64_t v = attrs[name].get<std::int64_t>();
  if (v == 0) return std::nullopt;  // falsy values mean "absent" (SDK convention)
  return v;
}

std::string OperationPath(const KeyUri& key, std::string_view op) {
  // A versionless id uses the empty version segment, as the Azure SDK sends it.
  return "/keys/" + key.name + "/" + key.version + "/" + std::string(op);
}

}  // namespace

Result<KeyInfo> ParseKeyBundle(std::string_view json) {
  Json j = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  auto bad = [](std::string_view why) {
    return Err(StatusCode::kInternal,
               "the vault returned a malformed key bundle: " + std::string(why));
  };
  if (!j.is_object() || !j.contains("key") || !j["key"].is_object()) return bad("no key");
  const Json& k = j["key"];
  KeyInfo info;
  if (!k.contains("kid") || !k["kid"].is_string()) return bad("no key.kid");
  info.kid = k["kid"].get<std::string>();
  if (k.contains("kty") && k["kty"].is_string()) info.kty = k["kty"].get<std::string>();
  if (k.contains("n") && k["n"].is_string()) {
    auto n = Base64UrlDecode(k["n"].get<std::string>());
    if (!n) return bad("key.n is not base64url");
    size_t start = 0;
    while (start < n->size() && (*n)[start] == 0) ++start;
    info.key_size_bits = static_cast<int>((n->size() - start) * 8);
  }
  if (k.contains("key_ops") && k["key_ops"].is_array()) {
    for (const Json& op : k["key_ops"]) {
      if (op.is_string()) info.key_ops.push_back(op.get<std::string>());
    }
  }
  info.enabled = true;
  if (j.contains("attributes") && j["attributes"].is_object()) {
    const Json& a = j["attributes"];
    if (a.contains("enabled") && a["enabled"].is_boolean()) info.enabled = a["enabled"].get<bool>();
    info.nbf = OptionalTime(a, "nbf");
    info.exp = OptionalTime(a, "exp");
    if (a.contains("recoveryLevel") && a["recoveryLevel"].is_string()) {
      info.recovery_level = a["recoveryLevel"].get<std::string>();
    }
    if (a.contains("recoverableDays") && a["recoverableDays"].is_number_integer()) {
      info.recoverable_days = a["recoverableDays"].get<int>();
    }
  }
  return info;
}

AzureKeyVaultClient::AzureKeyVaultClient(std::unique_ptr<TokenProvider> tokens,
                                         AzureKeyVaultClientOptions options)
    : tokens_(std::move(tokens)), options_(std::move(options)) {}

Result<HttpClient*> AzureKeyVaultClient::ClientFor(const KeyUri& key) {
  const std::string origin = key.origin();
  auto it = clients_.find(origin);
  if (it == clients_.end()) {
    PGCMK_ASSIGN_OR_RETURN(auto client, HttpClient::Create(origin, options_.http));
    it = clients_.emplace(origin, std::move(client)).first;
  }
  return it->second.get();
}

Result<HttpResponse> AzureKeyVaultClient::Call(const KeyUri& key, std::string_view method,
                                               const std::string& path, const std::string& body,
                                               std::string_view operation) {
  PGCMK_ASSIGN_OR_RETURN(HttpClient * client, ClientFor(key));
  const std::string origin = key.origin();
  const std::string full_path = path + "?api-version=" + options_.api_version;
  const std::string content_type = body.empty() ? "" : "application/json";
  const std::string where = key.ToString();

  auto send = [&](const SecretBytes* token, bool with_body) -> Result<HttpResponse> {
    HttpHeaders headers;
    std::string auth;
    if (token != nullptr) {
      auth = "Bearer " + std::string(AsStringView(token->reveal()));
      headers.emplace_back("Authorization", auth);
    }
    auto r = client->Send(method, full_path, headers, with_body ? body : std::string(),
                          with_body ? content_type : std::string_view());
    SecureZero(auth.data(), auth.size());
    for (auto& h : headers) SecureZero(h.second.data(), h.second.size());
    if (!r) return Err(r.error().WithContext(std::string(operation) + " " + where));
    return r;
  };

  std::optional<HttpResponse> response;
  auto known = challenges_.find(origin);
  if (known == challenges_.end()) {
    // Discovery: no token, no body; expect 401 with a challenge.
    PGCMK_ASSIGN_OR_RETURN(HttpResponse first, send(nullptr, false));
    if (first.status != 401) {
      if (first.status == 200 && body.empty()) {
        response = std::move(first);
      } else if (first.status == 200 || first.status == 400 || first.status == 415) {
        // The vault does not authenticate; send the real request as is.
        PGCMK_ASSIGN_OR_RETURN(HttpResponse second, send(nullptr, true));
        response = std::move(second);
      } else {
        return Err(StatusFromVaultError(first.status, first.body, operation, where));
      }
    } else {
      const std::string header = first.Header("www-authenticate");
      if (header.empty()) {
        return Err(StatusFromVaultError(first.status, first.body, operation, where));
      }
      PGCMK_ASSIGN_OR_RETURN(AuthChallenge ch, ParseBearerChallenge(header));
      if (Status s = CheckChallengeAuthority(ch, origin); !s.ok()) return Err(s);
      known = challenges_.insert_or_assign(origin, std::move(ch)).first;
    }
  }
  if (!response) {
    PGCMK_ASSIGN_OR_RETURN(SecretBytes token, tokens_->GetToken(known->second, false));
    PGCMK_ASSIGN_OR_RETURN(HttpResponse r, send(&token, true));
    if (r.status == 401 && !r.Header("www-authenticate").empty()) {
      // The token was rejected (expired, revoked, new challenge): re-acquire once.
      PGCMK_ASSIGN_OR_RETURN(AuthChallenge ch, ParseBearerChallenge(r.Header("www-authenticate")));
      if (Status s = CheckChallengeAuthority(ch, origin); !s.ok()) return Err(s);
      known = challenges_.insert_or_assign(origin, std::move(ch)).first;
      PGCMK_ASSIGN_OR_RETURN(SecretBytes fresh, tokens_->GetToken(known->second, true));
      PGCMK_ASSIGN_OR_RETURN(r, send(&fresh, true));
    }
    response = std::move(r);
  }
  if (response->status != 200) {
    Status s = StatusFromVaultError(response->status, response->body, operation, where);
    SecureZero(response->body.data(), response->body.size());
    return Err(std::move(s));
  }
  return std::move(*response);
}

Result<KeyInfo> AzureKeyVaultClient::GetKey(std::string_view key_id) {
  PGCMK_ASSIGN_OR_RETURN(KeyUri key, KeyUri::Parse(key_id));
  // Versionless: the trailing-slash form the SDK uses for "latest".
  const std::string path = "/keys/" + key.name + "/" + key.version;
  PGCMK_ASSIGN_OR_RETURN(HttpResponse r, Call(key, "GET", path, "", "get"));
  return ParseKeyBundle(r.body);
}

Result<WrappedKey> AzureKeyVaultClient::WrapKey(std::string_view key_id, std::string_view alg,
                                                const SecretBytes& plaintext_key) {
  PGCMK_ASSIGN_OR_RETURN(KeyUri key, KeyUri::Parse(key_id));
  std::string value = Base64UrlEncode(plaintext_key.reveal());
  std::string body = "{\"alg\":\"" + std::string(alg) + "\",\"value\":\"" + value + "\"}";
  SecureZero(value.data(), value.size());
  auto r = Call(key, "POST", OperationPath(key, "wrapkey"), body, "wrapKey");
  SecureZero(body.data(), body.size());
  if (!r) return Err(r.error());
  Json j = Json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("value") || !j["value"].is_string()) {
    return Err(StatusCode::kInternal,
               "the vault's wrapKey answer for " + key.ToString() + " has no value");
  }
  auto wrapped = Base64UrlDecode(j["value"].get<std::string>());
  if (!wrapped || wrapped->empty()) {
    return Err(StatusCode::kInternal, "the vault's wrapKey answer is not base64url");
  }
  WrappedKey out;
  out.wrapped = std::move(*wrapped);
  out.kid =
      (j.contains("kid") && j["kid"].is_string()) ? j["kid"].get<std::string>() : key.ToString();
  return out;
}

Result<SecretBytes> AzureKeyVaultClient::UnwrapKey(std::string_view kid, std::string_view alg,
                                                   ByteView wrapped) {
  PGCMK_ASSIGN_OR_RETURN(KeyUri key, KeyUri::Parse(kid));
  std::string body =
      "{\"alg\":\"" + std::string(alg) + "\",\"value\":\"" + Base64UrlEncode(wrapped) + "\"}";
  PGCMK_ASSIGN_OR_RETURN(HttpResponse r,
                         Call(key, "POST", OperationPath(key, "unwrapkey"), body, "unwrapKey"));
  Json j = Json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  SecureZero(r.body.data(), r.body.size());
  if (!j.is_object() || !j.contains("value") || !j["value"].is_string()) {
    return Err(StatusCode::kInternal,
               "the vault's unwrapKey answer for " + key.ToString() + " has no value");
  }
  std::string& encoded = j["value"].get_ref<std::string&>();
  auto plain = Base64UrlDecode(encoded);
  SecureZero(encoded.data(), encoded.size());
  if (!plain) return Err(StatusCode::kInternal, "the vault's unwrapKey answer is not base64url");
  SecretBytes out = SecretBytes::CopyFrom(*plain);
  SecureZero(plain->data(), plain->size());
  return out;
}

}  // namespace pgcmk::kms
