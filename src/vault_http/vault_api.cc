#include "vault_http/vault_api.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/base64url.h"
#include "common/bytes.h"
#include "crypto/random.h"
#include "vault/audit_record.h"
#include "vault_http/route.h"
#include "vault_http/wire_format.h"

namespace pgcmk::vault_http {

using nlohmann::json;
using vault::Principal;
using vault::RequestContext;

namespace {

constexpr std::string_view kLatestApiVersion = "2025-07-01";

std::string Header(const HttpRequest& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : it->second;
}

// Keeps printable ASCII only (header values end up in audit records and response headers).
std::string Printable(std::string_view s, size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) {
    if (c >= 0x20 && c < 0x7f) out.push_back(c);
  }
  return out;
}

bool IsValidHost(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  for (char c : host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
          c == '[' || c == ']')) {
      return false;
    }
  }
  return true;
}

// A GUID-shaped request id, unique per request: a random 64-bit prefix drawn once per thread and a
// per-thread counter (request ids are identifiers, not secrets; a DRBG call per request cost ~1% of
// an unwrap).
std::string NewRequestId() {
  thread_local const std::uint64_t prefix = [] {
    std::uint64_t v = 0;
    if (auto b = crypto::RandomBytes(8)) {
      for (std::uint8_t x : *b) v = (v << 8) | x;
    }
    return v;
  }();
  thread_local std::uint64_t counter = 0;
  const std::uint64_t n = ++counter;
  char out[37];
  std::snprintf(out, sizeof out, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(prefix >> 32),
                static_cast<unsigned>((prefix >> 16) & 0xffff),
                static_cast<unsigned>(prefix & 0xffff), static_cast<unsigned>(n >> 48),
                static_cast<unsigned long long>(n & 0xffffffffffffULL));
  return out;
}

Status BadParameter(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

Result<json> ParseObject(const std::string& body) {
  if (body.empty()) return Err(BadParameter("The request body is missing"));
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return Err(BadParameter("The request body is not valid JSON"));
  if (!j.is_object()) return Err(BadParameter("The request body must be a JSON object"));
  return j;
}

Result<std::optional<std::string>> OptString(const json& j, const char* field) {
  if (!j.contains(field) || j[field].is_null()) return std::optional<std::string>();
  if (!j[field].is_string())
    return Err(BadParameter(std::string("'") + field + "' must be a string"));
  return std::optional<std::string>(j[field].get<std::string>());
}

Result<std::string> ReqString(const json& j, const char* field) {
  auto s = OptString(j, field);
  if (!s) return Err(s.error());
  if (!*s) return Err(BadParameter(std::string("The parameter '") + field + "' is required"));
  return **s;
}

Result<std::optional<std::int64_t>> OptInt(const json& j, const char* field) {
  if (!j.contains(field) || j[field].is_null()) return std::optional<std::int64_t>();
  if (!j[field].is_number_integer())
    return Err(BadParameter(std::string("'") + field + "' must be an integer"));
  return std::optional<std::int64_t>(j[field].get<std::int64_t>());
}

Result<std::optional<bool>> OptBool(const json& j, const char* field) {
  if (!j.contains(field) || j[field].is_null()) return std::optional<bool>();
  if (!j[field].is_boolean())
    return Err(BadParameter(std::string("'") + field + "' must be a boolean"));
  return std::optional<bool>(j[field].get<bool>());
}

Result<std::optional<std::vector<std::string>>> OptStringList(const json& j, const char* field) {
  using R = std::optional<std::vector<std::string>>;
  if (!j.contains(field) || j[field].is_null()) return R();
  if (!j[field].is_array())
    return Err(BadParameter(std::string("'") + field + "' must be an array of strings"));
  std::vector<std::string> out;
  for (const auto& e : j[field]) {
    if (!e.is_string())
      return Err(BadParameter(std::string("'") + field + "' must be an array of strings"));
    out.push_back(e.get<std::string>());
  }
  return R(std::move(out));
}

Result<std::optional<std::map<std::string, std::string>>> OptTags(const json& j) {
  using R = std::optional<std::map<std::string, std::string>>;
  if (!j.contains("tags") || j["tags"].is_null()) return R();
  if (!j["tags"].is_object()) return Err(BadParameter("'tags' must be an object of strings"));
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : j["tags"].items()) {
    if (!v.is_string()) return Err(BadParameter("'tags' must be an object of strings"));
    out[k] = v.get<std::string>();
  }
  return R(std::move(out));
}

Result<Bytes> ReqBase64(const json& j, const char* field) {
  auto s = ReqString(j, field);
  if (!s) return Err(s.error());
  auto b = Base64UrlDecode(*s);
  if (!b)
    return Err(BadParameter(std::string("The parameter '") + field + "' is not valid base64url"));
  return std::move(*b);
}

struct Attributes {
  std::optional<bool> enabled, exportable;
  std::optional<std::int64_t> nbf, exp;
  bool nbf_null = false, exp_null = false;
};

Result<Attributes> ParseAttributes(const json& j) {
  Attributes a;
  if (!j.contains("attributes") || j["attributes"].is_null()) return a;
  const json& at = j["attributes"];
  if (!at.is_object()) return Err(BadParameter("'attributes' must be an object"));
  auto enabled = OptBool(at, "enabled");
  auto exportable = OptBool(at, "exportable");
  auto nbf = OptInt(at, "nbf");
  auto exp = OptInt(at, "exp");
  if (!enabled) return Err(enabled.error());
  if (!exportable) return Err(exportable.error());
  if (!nbf) return Err(nbf.error());
  if (!exp) return Err(exp.error());
  a.enabled = *enabled;
  a.exportable = *exportable;
  a.nbf = *nbf;
  a.exp = *exp;
  a.nbf_null = at.contains("nbf") && at["nbf"].is_null();
  a.exp_null = at.contains("exp") && at["exp"].is_null();
  return a;
}

// A whole number in [min, max] from the query, `fallback` when absent or empty.
Result<std::int64_t> QueryInteger(const Route& route, const std::string& name,
                                  std::int64_t fallback, std::int64_t min, std::int64_t max) {
  auto it = route.query.find(name);
  if (it == route.query.end() || it->second.empty()) return fallback;
  const std::string& text = it->second;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) {
    return Err(BadParameter(name + " must be an integer between " + std::to_string(min) + " and " +
                            std::to_string(max)));
  }
  return v;
}

Result<int> MaxResults(const Route& route) {
  PGCMK_ASSIGN_OR_RETURN(std::int64_t v, QueryInteger(route, "maxresults", 25, 1, 25));
  return static_cast<int>(v);
}

std::string QueryValue(const Route& route, const std::string& name) {
  auto it = route.query.find(name);
  return it == route.query.end() ? std::string() : it->second;
}

// Wipes a string held inside a parsed JSON document (a secret field), if it is a string.
void WipeJsonString(json& j, const char* field) {
  if (!j.is_object() || !j.contains(field) || !j[field].is_string()) return;
  auto& text = j[field].get_ref<std::string&>();
  SecureZero(text.data(), text.size());
}

// {"kid":<kid>,"value":<value>}: the bytes nlohmann would write for this object, built directly.
// `value` is base64url (nothing to escape). The buffer is sized once so that no reallocation
// leaves a copy of a secret value behind in freed memory.
std::string KidValueBody(std::string_view kid, std::string_view value) {
  std::string escaped_kid;
  vault::AppendJsonString(kid, &escaped_kid);
  std::string out;
  out.reserve(escaped_kid.size() + value.size() + 20);
  out += "{\"kid\":";
  out += escaped_kid;
  out += ",\"value\":\"";
  out += value;
  out += "\"}";
  return out;
}

}  // namespace

int VaultApi::Throttle() const {
  if (options_.max_requests_per_10s <= 0) return 0;
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::lock_guard l(throttle_mu_);
  if (now - window_start_ >= 10) {
    window_start_ = now;
    window_count_ = 0;
  }
  if (window_count_ >= options_.max_requests_per_10s) {
    return static_cast<int>(10 - (now - window_start_));
  }
  ++window_count_;
  return 0;
}

const std::string* VaultApi::OwnOrigin(const std::string& origin) const {
  if (!options_.public_url.empty()) return &options_.public_url;  // the origin is always it
  for (const std::string& own : options_.own_origins) {
    if (vault::EqualsIgnoreCase(own, origin)) return &own;
  }
  return nullptr;
}

RequestContext VaultApi::ContextFor(const HttpRequest& request, const Route& route) const {
  RequestContext ctx;
  std::string host = Header(request, "host");
  if (!options_.public_url.empty()) {
    ctx.origin = options_.public_url;
  } else if (IsValidHost(host)) {
    ctx.origin = options_.scheme + "://" + host;
  } else {
    ctx.origin = options_.scheme + "://localhost";
  }
  ctx.operation_name = std::string(AuditOperationName(route.op));
  ctx.api_version = Printable(QueryValue(route, "api-version"), 32);
  ctx.caller_ip = request.remote_addr;
  ctx.correlation_id = Printable(Header(request, "x-ms-client-request-id"), 64);
  ctx.request_id = NewRequestId();
  ctx.client_info = Printable(Header(request, "user-agent"), 256);
  // The token endpoint's query string is never recorded: a client could put its secret there.
  // Whatever the method (a GET, or a request the HTTP layer refused), a query sent to the token
  // endpoint's path could be a credential: it is never recorded.
  const std::string_view target(request.target);
  const std::string_view path = target.substr(0, target.find('?'));
  // Percent-escapes are decoded first: "/t/%6Fauth2/v2.0/token" names the same endpoint.
  const std::string decoded = PercentDecode(path, /*plus_is_space=*/false);
  const bool token_path =
      route.op == Operation::kToken || vault::ToLower(decoded).find("oauth2") != std::string::npos;
  ctx.request_uri = Printable(token_path ? path : target, 2048);
  ctx.start_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::steady_clock::now().time_since_epoch())
                     .count();
  return ctx;
}

void VaultApi::AddCommonHeaders(const RequestContext& ctx, const HttpRequest& request,
                                HttpResponse& res) const {
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.headers.emplace_back("Pragma", "no-cache");
  res.headers.emplace_back("Expires", "-1");
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  res.headers.emplace_back("x-ms-request-id", ctx.request_id);
  if (!ctx.correlation_id.empty())
    res.headers.emplace_back("x-ms-client-request-id", ctx.correlation_id);
  res.headers.emplace_back("x-ms-keyvault-service-version", "pgcmk-vault/1");
  res.headers.emplace_back(
      "x-ms-keyvault-network-info",
      "conn_type=Ipv4;addr=" + Printable(request.remote_addr, 64) + ";act_addr_fam=InterNetwork;");
  if (options_.scheme == "https") {
    res.headers.emplace_back("Strict-Transport-Security", "max-age=31536000;includeSubDomains");
  }
}

HttpResponse VaultApi::RejectTransport(const HttpRequest& partial, int status,
                                       std::string_view code, std::string_view message) const {
  // Whatever of the request line was read names the operation; the rest may be missing.
  Route route = RouteRequest(partial.method, partial.target);
  RequestContext ctx = ContextFor(partial, route);
  ctx.transport_status = status;
  ctx.transport_reason = std::string(code);
  const Status recorded = service_.RecordRejectedRequest(
      ctx, nullptr, Status(StatusCode::kInvalidArgument, std::string(message)));
  HttpResponse res;
  if (recorded.code() == StatusCode::kUnavailable) {  // refused either way; unaudited is a 503
    const HttpError e = ToHttpError(ctx.operation_name, recorded);
    res.status = e.status;
    res.body = ErrorBody(e, recorded.message());
    res.headers.emplace_back("Retry-After", "1");
  } else {
    res.status = status;
    res.body = ErrorBody({status, std::string(code), "", ""}, message);
  }
  AddCommonHeaders(ctx, partial, res);
  return res;
}

HttpResponse VaultApi::Handle(const HttpRequest& request) const {
  Route route = RouteRequest(request.method, request.target);
  RequestContext ctx = ContextFor(request, route);
  vault::VaultSettings settings = service_.settings();
  HttpResponse res;
  auto add_common_headers = [&] { AddCommonHeaders(ctx, request, res); };
  auto error = [&](const Status& s) -> HttpResponse {
    HttpError e = ToHttpError(ctx.operation_name, s);
    res.status = e.status;
    res.body = ErrorBody(e, s.message());
    if (e.status == 401) {
      res.headers.emplace_back("WWW-Authenticate", "Bearer authorization=\"" + ctx.origin + "/" +
                                                       settings.tenant_id + "\", resource=\"" +
                                                       settings.resource + "\"");
    }
    if (e.status == 503 || e.status == 429) res.headers.emplace_back("Retry-After", "1");
    add_common_headers();
    return std::move(res);
  };
  auto ok = [&](json body) -> HttpResponse {
    res.status = 200;
    res.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
    add_common_headers();
    return std::move(res);
  };
  // A body that carries a secret in `field`: the document's copy is wiped here, the server wipes
  // the body once sent.
  auto ok_secret = [&](json body, const char* field) -> HttpResponse {
    res.status = 200;
    res.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
    res.sensitive = true;
    WipeJsonString(body, field);
    add_common_headers();
    return std::move(res);
  };

  // ---- Token endpoint ----
  if (route.op == Operation::kToken) {
    vault::TokenRequest tr;
    tr.tenant = route.tenant;
    std::string ctype = Header(request, "content-type");
    auto form = ParseForm(request.body);
    tr.grant_type = form["grant_type"];
    tr.client_id = form["client_id"];
    tr.scope = form["scope"];
    std::string& secret = form["client_secret"];
    tr.client_secret = SecretBytes::CopyFrom(AsBytes(secret));
    SecureZero(secret.data(), secret.size());
    tr.client_assertion_type = form["client_assertion_type"];
    tr.client_assertion = std::move(form["client_assertion"]);
    // The audience a client assertion must name: the token endpoint at an origin this vault is
    // known by (the path as sent, query dropped). A Host header naming anything else yields no
    // acceptable audience, so an assertion made for another endpoint is useless here.
    if (const std::string* origin = OwnOrigin(ctx.origin)) {
      tr.token_endpoint = *origin + ctx.request_uri;
    }
    Result<vault::IssuedToken> t =
        ctype.starts_with("application/x-www-form-urlencoded")
            ? service_.IssueToken(ctx, tr)
            : Result<vault::IssuedToken>(Err(service_.RecordRejectedRequest(
                  ctx, nullptr,
                  BadParameter("AADSTS900144: The request body must contain the following "
                               "parameter: 'grant_type'. Send it as "
                               "application/x-www-form-urlencoded."))));
    res.headers.emplace_back("Cache-Control", "no-store, no-cache");
    res.headers.emplace_back("Pragma", "no-cache");
    if (!t) {
      TokenError e = ToTokenError(t.error());
      res.status = e.status;
      res.body = TokenErrorBody(e, t.error().message(), ctx.request_id);
      return res;
    }
    res.status = 200;
    json body = {{"token_type", "Bearer"},
                 {"expires_in", t->expires_in},
                 {"ext_expires_in", t->expires_in},
                 {"access_token", t->access_token}};
    res.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
    res.sensitive = true;
    WipeJsonString(body, "access_token");
    SecureZero(t->access_token.data(), t->access_token.size());
    return res;
  }

  // ---- OpenID Connect discovery (public metadata, so MSAL can use the token endpoint) ----
  if (route.op == Operation::kOpenIdConfiguration) {
    const bool known_tenant = vault::EqualsIgnoreCase(route.tenant, settings.tenant_id);
    Status audited = service_.RecordRejectedRequest(
        ctx, nullptr,
        known_tenant
            ? Status::Ok()
            : Status(StatusCode::kNotFound,
                     "AADSTS90002: Tenant '" + Printable(route.tenant, 64) + "' not found."));
    if (!known_tenant || !audited.ok()) {
      TokenError e = ToTokenError(audited);
      res.status = e.status;
      res.body = TokenErrorBody(e, audited.message(), ctx.request_id);
      return res;
    }
    // Names an origin of this vault, whatever the Host header said; never cached by proxies.
    const std::string* origin = OwnOrigin(ctx.origin);
    res.status = 200;
    res.headers.emplace_back("Cache-Control", "no-store");
    res.body =
        OpenIdConfigurationJson(origin                         ? *origin
                                : options_.own_origins.empty() ? ctx.origin
                                                               : options_.own_origins.front(),
                                settings.tenant_id)
            .dump();
    return res;
  }

  // ---- Everything else needs a bearer token, checked before anything else ----
  std::string auth = Header(request, "authorization");
  std::string token;
  if (auth.size() > 7 &&
      (auth.compare(0, 7, "Bearer ") == 0 || auth.compare(0, 7, "bearer ") == 0)) {
    token = auth.substr(7);
  }
  Result<Principal> who = service_.Authenticate(ctx, token);
  if (!who) return error(who.error());
  const Principal& p = *who;

  auto reject = [&](const Status& s) { return error(service_.RecordRejectedRequest(ctx, &p, s)); };
  if (route.op == Operation::kNoRoute) {
    return reject(Status(StatusCode::kNotFound, route.detail));
  }
  if (route.op == Operation::kUnsupported) {
    return reject(Status(StatusCode::kUnimplemented, route.detail));
  }
  if (IsKeysApi(route.op)) {
    auto it = route.query.find("api-version");
    if (it == route.query.end() || it->second.empty()) {
      return reject(BadParameter("The 'api-version' query parameter is missing."));
    }
    if (!IsSupportedApiVersion(it->second)) {
      return reject(
          BadParameter("The specified version (" + ctx.api_version +
                       ") is not recognized. Consider using the latest supported version (" +
                       std::string(kLatestApiVersion) + ")."));
    }
  }
  const std::string api_version = ctx.api_version;
  if (IsKeysApi(route.op)) {
    if (int wait = Throttle(); wait > 0) {
      HttpResponse r = error(service_.RecordRejectedRequest(
          ctx, &p,
          Status(StatusCode::kResourceExhausted,
                 "Request was not processed because too many requests were received. Reason: "
                 "VaultRequestTypeLimitReached")));
      for (auto& [k, v] : r.headers) {
        if (k == "Retry-After") v = std::to_string(wait);
      }
      return r;
    }
  }

  // Each case returns; errors from use cases are already audited.
#define VAULT_HTTP_TRY(var, expr) \
  auto var = (expr);              \
  if (!var) return reject(var.error())

  switch (route.op) {
    case Operation::kCreateKey: {
      VAULT_HTTP_TRY(body, ParseObject(request.body));
      vault::CreateKeyParams cp;
      VAULT_HTTP_TRY(kty, ReqString(*body, "kty"));
      cp.kty = *kty;
      VAULT_HTTP_TRY(size, OptInt(*body, "key_size"));
      if (*size && (**size < 0 || **size > 16384)) return reject(BadParameter("Invalid key_size"));
      cp.key_size = static_cast<int>(size->value_or(0));
      VAULT_HTTP_TRY(pe, OptInt(*body, "public_exponent"));
      cp.public_exponent = *pe;
      VAULT_HTTP_TRY(ops, OptStringList(*body, "key_ops"));
      cp.key_ops = *ops;
      VAULT_HTTP_TRY(crv, OptString(*body, "crv"));
      cp.crv = crv->value_or("");
      VAULT_HTTP_TRY(attrs, ParseAttributes(*body));
      cp.enabled = attrs->enabled;
      cp.nbf = attrs->nbf;
      cp.exp = attrs->exp;
      cp.exportable = attrs->exportable;
      VAULT_HTTP_TRY(tags, OptTags(*body));
      if (*tags) cp.tags = **tags;
      auto k = service_.CreateKey(ctx, p, route.name, cp);
      if (!k) return error(k.error());
      return ok(KeyBundleJson(ctx.origin, *k, settings));
    }
    case Operation::kImportKey: {
      VAULT_HTTP_TRY(body, ParseObject(request.body));
      if (!body->contains("key") || !(*body)["key"].is_object()) {
        return reject(BadParameter("The parameter 'key' is required"));
      }
      VAULT_HTTP_TRY(hsm, OptBool(*body, "Hsm"));
      const json& jwk = (*body)["key"];
      vault::ImportKeyParams ip;
      VAULT_HTTP_TRY(kty, ReqString(jwk, "kty"));
      ip.kty = *kty;
      if (hsm->value_or(false) && (ip.kty == "RSA" || ip.kty == "EC")) ip.kty += "-HSM";
      if (ip.kty == "RSA") {
        VAULT_HTTP_TRY(n, ReqBase64(jwk, "n"));
        VAULT_HTTP_TRY(e, ReqBase64(jwk, "e"));
        ip.public_key = {*n, *e};
        const char* parts[] = {"d", "p", "q", "dp", "dq", "qi"};
        SecretBytes* dest[] = {&ip.d, &ip.p, &ip.q, &ip.dp, &ip.dq, &ip.qi};
        for (int i = 0; i < 6; ++i) {
          if (!jwk.contains(parts[i])) continue;
          VAULT_HTTP_TRY(v, ReqBase64(jwk, parts[i]));
          *dest[i] = SecretBytes::CopyFrom(*v);
          SecureZero(v->data(), v->size());
        }
      }
      if (ip.kty == "EC") {
        VAULT_HTTP_TRY(crv, ReqString(jwk, "crv"));
        VAULT_HTTP_TRY(x, ReqBase64(jwk, "x"));
        VAULT_HTTP_TRY(y, ReqBase64(jwk, "y"));
        ip.crv = *crv;
        ip.x = *x;
        ip.y = *y;
        if (jwk.contains("d")) {
          VAULT_HTTP_TRY(d, ReqBase64(jwk, "d"));
          ip.d = SecretBytes::CopyFrom(*d);
          SecureZero(d->data(), d->size());
        }
      }
      VAULT_HTTP_TRY(ops, OptStringList(jwk, "key_ops"));
      ip.key_ops = *ops;
      VAULT_HTTP_TRY(attrs, ParseAttributes(*body));
      ip.enabled = attrs->enabled;
      ip.nbf = attrs->nbf;
      ip.exp = attrs->exp;
      VAULT_HTTP_TRY(tags, OptTags(*body));
      if (*tags) ip.tags = **tags;
      auto k = service_.ImportKey(ctx, p, route.name, ip);
      if (!k) return error(k.error());
      return ok(KeyBundleJson(ctx.origin, *k, settings));
    }
    case Operation::kGetKey: {
      auto k = service_.GetKey(ctx, p, route.name, route.version);
      if (!k) return error(k.error());
      return ok(KeyBundleJson(ctx.origin, *k, settings));
    }
    case Operation::kListKeys:
    case Operation::kListDeletedKeys: {
      VAULT_HTTP_TRY(max, MaxResults(route));
      std::string skip = QueryValue(route, "$skiptoken");
      bool deleted = route.op == Operation::kListDeletedKeys;
      auto page = deleted ? service_.ListDeletedKeys(ctx, p, *max, skip)
                          : service_.ListKeys(ctx, p, *max, skip);
      if (!page) return error(page.error());
      json value = json::array();
      for (const auto& item : page->items) {
        value.push_back(deleted ? DeletedKeyItemJson(ctx.origin, item, settings)
                                : KeyItemJson(ctx.origin, item.latest, false, settings));
      }
      json out = {{"value", value}, {"nextLink", nullptr}};
      if (page->next_skiptoken) {
        out["nextLink"] = ctx.origin + (deleted ? "/deletedkeys" : "/keys") +
                          "?api-version=" + api_version + "&$skiptoken=" + *page->next_skiptoken +
                          "&maxresults=" + std::to_string(*max);
      }
      return ok(out);
    }
    case Operation::kListKeyVersions: {
      VAULT_HTTP_TRY(max, MaxResults(route));
      std::optional<std::string> next;
      auto versions = service_.ListKeyVersions(ctx, p, route.name, *max,
                                               QueryValue(route, "$skiptoken"), &next);
      if (!versions) return error(versions.error());
      json value = json::array();
      for (const auto& v : *versions) value.push_back(KeyItemJson(ctx.origin, v, true, settings));
      json out = {{"value", value}, {"nextLink", nullptr}};
      if (next) {
        out["nextLink"] = KeyId(ctx.origin, route.name, "") +
                          "/versions?api-version=" + api_version + "&$skiptoken=" + *next +
                          "&maxresults=" + std::to_string(*max);
      }
      return ok(out);
    }
    case Operation::kUpdateKey: {
      VAULT_HTTP_TRY(body, ParseObject(request.body));
      vault::KeyUpdate u;
      VAULT_HTTP_TRY(attrs, ParseAttributes(*body));
      u.enabled = attrs->enabled;
      if (attrs->nbf || attrs->nbf_null) u.nbf = attrs->nbf;
      if (attrs->exp || attrs->exp_null) u.exp = attrs->exp;
      VAULT_HTTP_TRY(ops, OptStringList(*body, "key_ops"));
      u.key_ops = *ops;
      VAULT_HTTP_TRY(tags, OptTags(*body));
      u.tags = *tags;
      auto k = service_.UpdateKey(ctx, p, route.name, route.version, u);
      if (!k) return error(k.error());
      return ok(KeyBundleJson(ctx.origin, *k, settings));
    }
    case Operation::kDeleteKey: {
      auto d = service_.DeleteKey(ctx, p, route.name);
      if (!d) return error(d.error());
      return ok(DeletedKeyBundleJson(ctx.origin, *d, settings));
    }
    case Operation::kGetDeletedKey: {
      auto d = service_.GetDeletedKey(ctx, p, route.name);
      if (!d) return error(d.error());
      return ok(DeletedKeyBundleJson(ctx.origin, *d, settings));
    }
    case Operation::kRecoverDeletedKey: {
      auto k = service_.RecoverDeletedKey(ctx, p, route.name);
      if (!k) return error(k.error());
      return ok(KeyBundleJson(ctx.origin, *k, settings));
    }
    case Operation::kPurgeDeletedKey: {
      Status s = service_.PurgeDeletedKey(ctx, p, route.name);
      if (!s.ok()) return error(s);
      res.status = 204;
      res.content_type.clear();
      add_common_headers();
      return res;
    }
    case Operation::kBackupKey: {
      auto blob = service_.BackupKey(ctx, p, route.name);
      if (!blob) return error(blob.error());
      return ok({{"value", Base64UrlEncode(*blob)}});
    }
    case Operation::kRestoreKey: {
      VAULT_HTTP_TRY(body, ParseObject(request.body));
      VAULT_HTTP_TRY(blob, ReqBase64(*body, "value"));
      auto k = service_.RestoreKey(ctx, p, *blob);
      if (!k) return error(k.error());
      return ok(KeyBundleJson(ctx.origin, *k, settings));
    }
    case Operation::kRotateKey: {
      auto k = service_.RotateKey(ctx, p, route.name);
      if (!k) return error(k.error());
      return ok(KeyBundleJson(ctx.origin, *k, settings));
    }
    case Operation::kGetRotationPolicy: {
      auto pol = service_.GetRotationPolicy(ctx, p, route.name);
      if (!pol) return error(pol.error());
      return ok(RotationPolicyJson(ctx.origin, route.name, *pol));
    }
    case Operation::kSetRotationPolicy: {
      VAULT_HTTP_TRY(body, ParseObject(request.body));
      vault::RotationPolicy pol;
      if (body->contains("lifetimeActions") && !(*body)["lifetimeActions"].is_null()) {
        const json& actions = (*body)["lifetimeActions"];
        if (!actions.is_array()) return reject(BadParameter("'lifetimeActions' must be an array"));
        for (const auto& a : actions) {
          if (!a.is_object() || !a.contains("action") || !a["action"].is_object() ||
              !a.contains("trigger") || !a["trigger"].is_object()) {
            return reject(
                BadParameter("Each lifetime action needs 'trigger' and 'action' objects"));
          }
          vault::LifetimeAction la;
          VAULT_HTTP_TRY(type, ReqString(a["action"], "type"));
          la.type = *type;
          VAULT_HTTP_TRY(tac, OptString(a["trigger"], "timeAfterCreate"));
          VAULT_HTTP_TRY(tbe, OptString(a["trigger"], "timeBeforeExpiry"));
          la.time_after_create = *tac;
          la.time_before_expiry = *tbe;
          pol.lifetime_actions.push_back(std::move(la));
        }
      }
      if (body->contains("attributes") && (*body)["attributes"].is_object()) {
        VAULT_HTTP_TRY(expiry, OptString((*body)["attributes"], "expiryTime"));
        pol.expiry_time = *expiry;
      }
      auto set = service_.SetRotationPolicy(ctx, p, route.name, pol);
      if (!set) return error(set.error());
      return ok(RotationPolicyJson(ctx.origin, route.name, *set));
    }
    case Operation::kEncrypt:
    case Operation::kWrapKey:
    case Operation::kDecrypt:
    case Operation::kUnwrapKey:
    case Operation::kSign: {
      VAULT_HTTP_TRY(body, ParseObject(request.body));
      VAULT_HTTP_TRY(alg, ReqString(*body, "alg"));
      VAULT_HTTP_TRY(value, ReqBase64(*body, "value"));
      if (route.op == Operation::kEncrypt || route.op == Operation::kWrapKey ||
          route.op == Operation::kSign) {
        auto r = route.op == Operation::kEncrypt
                     ? service_.Encrypt(ctx, p, route.name, route.version, *alg, *value)
                 : route.op == Operation::kWrapKey
                     ? service_.WrapKey(ctx, p, route.name, route.version, *alg, *value)
                     : service_.Sign(ctx, p, route.name, route.version, *alg, *value);
        SecureZero(value->data(), value->size());
        WipeJsonString(*body, "value");  // the plaintext key or data, base64url
        if (!r) return error(r.error());
        res.status = 200;
        res.body = KidValueBody(KeyId(ctx.origin, r->name, r->version), Base64UrlEncode(r->value));
        add_common_headers();
        return res;
      }
      auto r = route.op == Operation::kDecrypt
                   ? service_.Decrypt(ctx, p, route.name, route.version, *alg, *value)
                   : service_.UnwrapKey(ctx, p, route.name, route.version, *alg, *value);
      if (!r) return error(r.error());
      std::string encoded = Base64UrlEncode(r->value.reveal());
      res.status = 200;
      res.body = KidValueBody(KeyId(ctx.origin, r->name, r->version), encoded);
      res.sensitive = true;
      SecureZero(encoded.data(), encoded.size());
      add_common_headers();
      return res;
    }
    case Operation::kVerify: {
      VAULT_HTTP_TRY(body, ParseObject(request.body));
      VAULT_HTTP_TRY(alg, ReqString(*body, "alg"));
      VAULT_HTTP_TRY(digest, ReqBase64(*body, "digest"));
      VAULT_HTTP_TRY(sig, ReqBase64(*body, "value"));
      auto r = service_.Verify(ctx, p, route.name, route.version, *alg, *digest, *sig);
      if (!r) return error(r.error());
      return ok({{"value", r->second}});
    }
    // ---- Admin API ----
    case Operation::kAdminGetVault: {
      auto s = service_.GetSettings(ctx, p);
      if (!s) return error(s.error());
      return ok(SettingsJson(*s));
    }
    case Operation::kAdminEnablePurgeProtection: {
      auto s = service_.EnablePurgeProtection(ctx, p);
      if (!s) return error(s.error());
      return ok(SettingsJson(*s));
    }
    case Operation::kAdminCreateIdentity: {
      VAULT_HTTP_TRY(body, ParseObject(request.body));
      VAULT_HTTP_TRY(name, ReqString(*body, "name"));
      auto id = service_.CreateIdentity(ctx, p, *name);
      if (!id) return error(id.error());
      json out = IdentityJson(id->identity, settings.tenant_id);
      out["clientSecret"] = std::string(AsStringView(id->client_secret.reveal()));
      return ok_secret(std::move(out), "clientSecret");
    }
    case Operation::kAdminListIdentities: {
      auto ids = service_.ListIdentities(ctx, p);
      if (!ids) return error(ids.error());
      json value = json::array();
      for (const auto& id : *ids) value.push_back(IdentityJson(id, settings.tenant_id));
      return ok({{"value", value}});
    }
    case Operation::kAdminGetIdentity: {
      auto id = service_.GetIdentity(ctx, p, route.name);
      if (!id) return error(id.error());
      return ok(IdentityJson(*id, settings.tenant_id));
    }
    case Operation::kAdminDeleteIdentity: {
      auto id = service_.DeleteIdentity(ctx, p, route.name);
      if (!id) return error(id.error());
      return ok(IdentityJson(*id, settings.tenant_id));
    }
    case Operation::kAdminRotateIdentitySecret: {
      auto id = service_.RotateIdentitySecret(ctx, p, route.name);
      if (!id) return error(id.error());
      json out = IdentityJson(id->identity, settings.tenant_id);
      out["clientSecret"] = std::string(AsStringView(id->client_secret.reveal()));
      return ok_secret(std::move(out), "clientSecret");
    }
    case Operation::kAdminAddIdentityCertificate: {
      VAULT_HTTP_TRY(body, ParseObject(request.body));
      VAULT_HTTP_TRY(pem, ReqString(*body, "certificate"));
      auto c = service_.AddIdentityCertificate(ctx, p, route.name, *pem);
      if (!c) return error(c.error());
      return ok(CertificateCredentialJson(*c));
    }
    case Operation::kAdminListIdentityCertificates: {
      auto list = service_.ListIdentityCertificates(ctx, p, route.name);
      if (!list) return error(list.error());
      json value = json::array();
      for (const auto& c : *list) value.push_back(CertificateCredentialJson(c));
      return ok({{"value", value}});
    }
    case Operation::kAdminRemoveIdentityCertificate: {
      auto c = service_.RemoveIdentityCertificate(ctx, p, route.name, route.credential);
      if (!c) return error(c.error());
      return ok(CertificateCredentialJson(*c));
    }
    case Operation::kAdminSetPolicy: {
      VAULT_HTTP_TRY(body, ParseObject(request.body));
      VAULT_HTTP_TRY(perms, OptStringList(*body, "keyPermissions"));
      VAULT_HTTP_TRY(roles, OptStringList(*body, "roles"));
      auto pol = service_.SetPolicy(ctx, p, route.name, perms->value_or(std::vector<std::string>{}),
                                    roles->value_or(std::vector<std::string>{}));
      if (!pol) return error(pol.error());
      return ok(PolicyJson(*pol));
    }
    case Operation::kAdminGetPolicy: {
      auto pol = service_.GetPolicy(ctx, p, route.name);
      if (!pol) return error(pol.error());
      return ok(PolicyJson(*pol));
    }
    case Operation::kAdminDeletePolicy: {
      Status s = service_.DeletePolicy(ctx, p, route.name);
      if (!s.ok()) return error(s);
      res.status = 204;
      res.content_type.clear();
      add_common_headers();
      return res;
    }
    case Operation::kAdminQueryAudit: {
      vault::AuditQuery q;
      q.key = QueryValue(route, "key");
      q.identity = QueryValue(route, "identity");
      q.operation = QueryValue(route, "operation");
      if (!QueryValue(route, "since").empty()) {
        VAULT_HTTP_TRY(since, QueryInteger(route, "since", 0, 0, 253402300799));
        q.since = *since;
      }
      if (!QueryValue(route, "until").empty()) {
        VAULT_HTTP_TRY(until, QueryInteger(route, "until", 0, 0, 253402300799));
        q.until = *until;
      }
      VAULT_HTTP_TRY(limit, QueryInteger(route, "limit", 100, 1, 1'000'000));
      q.limit = static_cast<int>(*limit);
      auto records = service_.QueryAudit(ctx, p, q);
      if (!records) return error(records.error());
      json value = json::array();
      for (const auto& r : *records) value.push_back(json::parse(r, nullptr, false));
      return ok({{"value", value}});
    }
    case Operation::kAdminVerifyAudit: {
      std::vector<vault::AuditAnchor> anchors;
      if (std::string text = QueryValue(route, "anchor"); !text.empty()) {
        VAULT_HTTP_TRY(parsed, vault::ParseAuditAnchors(text));
        anchors = std::move(*parsed);
      }
      auto v = service_.VerifyAudit(ctx, p, anchors);
      if (!v) return error(v.error());
      json out = {{"ok", v->ok},
                  {"records", v->records},
                  {"headSeq", v->head_seq},
                  {"headMac", v->head_mac_hex}};
      if (v->first_bad_seq) out["firstBadSeq"] = *v->first_bad_seq;
      if (!v->problem.empty()) out["problem"] = v->problem;
      return ok(out);
    }
    case Operation::kToken:
    case Operation::kOpenIdConfiguration:
    case Operation::kUnsupported:
    case Operation::kNoRoute:
      break;
  }
#undef VAULT_HTTP_TRY
  return reject(Status(StatusCode::kInternal, "unrouted operation"));
}

}  // namespace pgcmk::vault_http
