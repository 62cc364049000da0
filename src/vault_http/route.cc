#include "vault_http/route.h"

#include <cctype>
#include <vector>

namespace pgcmk::vault_http {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> segments;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  size_t start = 0;
  while (true) {
    size_t end = path.find('/', start);
    std::string_view seg =
        path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    segments.push_back(PercentDecode(seg, false));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return segments;
}

bool IsCryptoWord(std::string_view w, Operation* op) {
  static const std::pair<std::string_view, Operation> kOps[] = {
      {"wrapkey", Operation::kWrapKey}, {"unwrapkey", Operation::kUnwrapKey},
      {"encrypt", Operation::kEncrypt}, {"decrypt", Operation::kDecrypt},
      {"sign", Operation::kSign},       {"verify", Operation::kVerify}};
  for (const auto& [word, o] : kOps) {
    if (w == word) {
      *op = o;
      return true;
    }
  }
  return false;
}

Route NoRoute(std::string detail) {
  Route r;
  r.op = Operation::kNoRoute;
  r.detail = std::move(detail);
  return r;
}

Route Unsupported(std::string detail) {
  Route r;
  r.op = Operation::kUnsupported;
  r.detail = std::move(detail);
  return r;
}

Route KeysRoute(std::string_view method, const std::vector<std::string>& s) {
  // s[0] == "keys"
  Route r;
  const size_t n = s.size();
  auto wrong_method = [&] {
    return NoRoute("The HTTP method '" + std::string(method) + "' is not supported here");
  };
  if (n == 1 || (n == 2 && s[1].empty())) {
    if (method != "GET") return wrong_method();
    r.op = Operation::kListKeys;
    return r;
  }
  if (n == 2 && Lower(s[1]) == "restore" && method == "POST") {
    r.op = Operation::kRestoreKey;
    return r;
  }
  r.name = s[1];
  if (n == 2 || (n == 3 && s[2].empty())) {
    if (method == "GET")
      r.op = Operation::kGetKey;
    else if (method == "PATCH")
      r.op = Operation::kUpdateKey;
    else if (method == "DELETE")
      r.op = Operation::kDeleteKey;
    else if (method == "PUT")
      r.op = Operation::kImportKey;
    else
      return wrong_method();
    return r;
  }
  if (n == 3) {
    std::string word = Lower(s[2]);
    Operation crypto;
    if (IsCryptoWord(word, &crypto)) {
      if (method != "POST") return wrong_method();
      r.op = crypto;
      return r;
    }
    if (word == "create" || word == "backup" || word == "rotate") {
      if (method != "POST") return wrong_method();
      r.op = word == "create"   ? Operation::kCreateKey
             : word == "backup" ? Operation::kBackupKey
                                : Operation::kRotateKey;
      return r;
    }
    if (word == "rotationpolicy") {
      if (method == "GET")
        r.op = Operation::kGetRotationPolicy;
      else if (method == "PUT")
        r.op = Operation::kSetRotationPolicy;
      else
        return wrong_method();
      return r;
    }
    if (word == "versions") {
      if (method != "GET") return wrong_method();
      r.op = Operation::kListKeyVersions;
      return r;
    }
    if (word == "release" || word == "attestation") {
      return Unsupported("Key release and attestation need a Managed HSM; this vault has none");
    }
    r.version = s[2];
    if (method == "GET")
      r.op = Operation::kGetKey;
    else if (method == "PATCH")
      r.op = Operation::kUpdateKey;
    else
      return wrong_method();
    return r;
  }
  if (n == 4) {
    r.version = s[2];
    std::string word = Lower(s[3]);
    Operation crypto;
    if (IsCryptoWord(word, &crypto)) {
      if (method != "POST") return wrong_method();
      r.op = crypto;
      return r;
    }
    if (word == "release" || word == "attestation") {
      return Unsupported("Key release and attestation need a Managed HSM; this vault has none");
    }
    if (word.empty() && !r.version.empty()) {
      if (method == "GET")
        r.op = Operation::kGetKey;
      else if (method == "PATCH")
        r.op = Operation::kUpdateKey;
      else
        return wrong_method();
      return r;
    }
    if (word == "versions" && r.version.empty() && method == "GET") {
      r.op = Operation::kListKeyVersions;
      return r;
    }
  }
  return NoRoute("The request URI does not name a Key Vault operation");
}

Route DeletedKeysRoute(std::string_view method, const std::vector<std::string>& s) {
  Route r;
  const size_t n = s.size();
  if (n == 1 || (n == 2 && s[1].empty())) {
    if (method != "GET") return NoRoute("method not supported");
    r.op = Operation::kListDeletedKeys;
    return r;
  }
  r.name = s[1];
  if (n == 2 || (n == 3 && s[2].empty())) {
    if (method == "GET")
      r.op = Operation::kGetDeletedKey;
    else if (method == "DELETE")
      r.op = Operation::kPurgeDeletedKey;
    else
      return NoRoute("method not supported");
    return r;
  }
  if (n == 3 && Lower(s[2]) == "recover" && method == "POST") {
    r.op = Operation::kRecoverDeletedKey;
    return r;
  }
  return NoRoute("The request URI does not name a Key Vault operation");
}

Route AdminRoute(std::string_view method, const std::vector<std::string>& s) {
  Route r;
  const size_t n = s.size();
  std::string what = n >= 2 ? Lower(s[1]) : "";
  auto set = [&](Operation op) {
    r.op = op;
    return r;
  };
  if (what == "vault") {
    if (n == 2 && method == "GET") return set(Operation::kAdminGetVault);
    if (n == 3 && Lower(s[2]) == "purgeprotection" && method == "POST")
      return set(Operation::kAdminEnablePurgeProtection);
  } else if (what == "identities") {
    if (n == 2 && method == "GET") return set(Operation::kAdminListIdentities);
    if (n == 2 && method == "POST") return set(Operation::kAdminCreateIdentity);
    if (n >= 3) r.name = s[2];
    if (n == 3 && method == "GET") return set(Operation::kAdminGetIdentity);
    if (n == 3 && method == "DELETE") return set(Operation::kAdminDeleteIdentity);
    if (n == 4 && Lower(s[3]) == "rotatesecret" && method == "POST")
      return set(Operation::kAdminRotateIdentitySecret);
    if (n == 4 && Lower(s[3]) == "certificates" && method == "POST")
      return set(Operation::kAdminAddIdentityCertificate);
    if (n == 4 && Lower(s[3]) == "certificates" && method == "GET")
      return set(Operation::kAdminListIdentityCertificates);
    if (n == 5 && Lower(s[3]) == "certificates" && method == "DELETE" && !s[4].empty()) {
      r.credential = s[4];
      return set(Operation::kAdminRemoveIdentityCertificate);
    }
  } else if (what == "policies" && n == 3) {
    r.name = s[2];
    if (method == "PUT") return set(Operation::kAdminSetPolicy);
    if (method == "GET") return set(Operation::kAdminGetPolicy);
    if (method == "DELETE") return set(Operation::kAdminDeletePolicy);
  } else if (what == "audit") {
    if (n == 2 && method == "GET") return set(Operation::kAdminQueryAudit);
    if (n == 3 && Lower(s[2]) == "verify" && method == "GET")
      return set(Operation::kAdminVerifyAudit);
  }
  return NoRoute("The request URI does not name an admin operation");
}

}  // namespace

std::string PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

std::map<std::string, std::string> ParseForm(std::string_view text) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('&', start);
    std::string_view pair =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      std::string key = PercentDecode(pair.substr(0, eq), true);
      std::string value =
          eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1), true);
      out.emplace(std::move(key), std::move(value));  // first occurrence wins
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

bool IsSupportedApiVersion(std::string_view v) {
  auto digits = [](std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    }
    return true;
  };
  if (v.starts_with("7.")) {
    std::string_view rest = v.substr(2);
    size_t dash = rest.find('-');
    return digits(rest.substr(0, dash)) &&
           (dash == std::string_view::npos || rest.substr(dash).starts_with("-preview"));
  }
  if (v.size() >= 10 && digits(v.substr(0, 4)) && v[4] == '-' && digits(v.substr(5, 2)) &&
      v[7] == '-' && digits(v.substr(8, 2))) {
    return v.size() == 10 || v.substr(10).starts_with("-preview");
  }
  return false;
}

Route RouteRequest(std::string_view method, std::string_view target) {
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  if (path.empty() || path.front() != '/')
    return NoRoute("The request URI is not an absolute path");
  std::vector<std::string> s = SplitPath(path);
  Route r;
  std::string first = Lower(s[0]);
  if (first == "keys") {
    r = KeysRoute(method, s);
  } else if (first == "deletedkeys") {
    r = DeletedKeysRoute(method, s);
  } else if (first == "admin") {
    r = AdminRoute(method, s);
  } else if (first == "rng") {
    r = Unsupported("Random bytes are available from a Managed HSM only");
  } else if (s.size() == 4 && Lower(s[1]) == "oauth2" && Lower(s[2]) == "v2.0" &&
             Lower(s[3]) == "token") {
    if (method == "POST") {
      r.op = Operation::kToken;
      r.tenant = s[0];
    } else {
      r = NoRoute("The token endpoint accepts POST only");
    }
  } else if (s.size() == 4 && Lower(s[1]) == "v2.0" && Lower(s[2]) == ".well-known" &&
             Lower(s[3]) == "openid-configuration" && method == "GET") {
    r.op = Operation::kOpenIdConfiguration;
    r.tenant = s[0];
  } else {
    r = NoRoute("The request URI does not name a Key Vault operation");
  }
  r.query = ParseForm(query);
  return r;
}

bool IsKeysApi(Operation op) {
  switch (op) {
    case Operation::kCreateKey:
    case Operation::kImportKey:
    case Operation::kGetKey:
    case Operation::kListKeys:
    case Operation::kListKeyVersions:
    case Operation::kUpdateKey:
    case Operation::kDeleteKey:
    case Operation::kGetDeletedKey:
    case Operation::kListDeletedKeys:
    case Operation::kRecoverDeletedKey:
    case Operation::kPurgeDeletedKey:
    case Operation::kBackupKey:
    case Operation::kRestoreKey:
    case Operation::kRotateKey:
    case Operation::kGetRotationPolicy:
    case Operation::kSetRotationPolicy:
    case Operation::kEncrypt:
    case Operation::kDecrypt:
    case Operation::kWrapKey:
    case Operation::kUnwrapKey:
    case Operation::kSign:
    case Operation::kVerify:
    case Operation::kUnsupported:
      return true;
    case Operation::kToken:
    case Operation::kOpenIdConfiguration:
    case Operation::kAdminAddIdentityCertificate:
    case Operation::kAdminListIdentityCertificates:
    case Operation::kAdminRemoveIdentityCertificate:
    case Operation::kAdminGetVault:
    case Operation::kAdminEnablePurgeProtection:
    case Operation::kAdminCreateIdentity:
    case Operation::kAdminListIdentities:
    case Operation::kAdminGetIdentity:
    case Operation::kAdminDeleteIdentity:
    case Operation::kAdminRotateIdentitySecret:
    case Operation::kAdminSetPolicy:
    case Operation::kAdminGetPolicy:
    case Operation::kAdminDeletePolicy:
    case Operation::kAdminQueryAudit:
    case Operation::kAdminVerifyAudit:
    case Operation::kNoRoute:
      return false;
  }
  return false;
}

std::string_view AuditOperationName(Operation op) {
  switch (op) {
    case Operation::kCreateKey:
      return "KeyCreate";
    case Operation::kImportKey:
      return "KeyImport";
    case Operation::kGetKey:
      return "KeyGet";
    case Operation::kListKeys:
      return "KeyList";
    case Operation::kListKeyVersions:
      return "KeyListVersions";
    case Operation::kUpdateKey:
      return "KeyUpdate";
    case Operation::kDeleteKey:
      return "KeyDelete";
    case Operation::kGetDeletedKey:
      return "KeyGetDeleted";
    case Operation::kListDeletedKeys:
      return "KeyListDeleted";
    case Operation::kRecoverDeletedKey:
      return "KeyRecover";
    case Operation::kPurgeDeletedKey:
      return "KeyPurge";
    case Operation::kBackupKey:
      return "KeyBackup";
    case Operation::kRestoreKey:
      return "KeyRestore";
    case Operation::kRotateKey:
      return "KeyRotate";
    case Operation::kGetRotationPolicy:
      return "KeyRotationPolicyGet";
    case Operation::kSetRotationPolicy:
      return "KeyRotationPolicySet";
    case Operation::kEncrypt:
      return "KeyEncrypt";
    case Operation::kDecrypt:
      return "KeyDecrypt";
    case Operation::kWrapKey:
      return "KeyWrap";
    case Operation::kUnwrapKey:
      return "KeyUnwrap";
    case Operation::kSign:
      return "KeySign";
    case Operation::kVerify:
      return "KeyVerify";
    case Operation::kToken:
      return "Authentication";
    case Operation::kAdminGetVault:
      return "VaultGet";
    case Operation::kAdminEnablePurgeProtection:
      return "VaultPatch";
    case Operation::kAdminCreateIdentity:
      return "IdentityCreate";
    case Operation::kAdminListIdentities:
      return "IdentityList";
    case Operation::kAdminGetIdentity:
      return "IdentityGet";
    case Operation::kAdminDeleteIdentity:
      return "IdentityDelete";
    case Operation::kAdminRotateIdentitySecret:
      return "IdentityRotateSecret";
    case Operation::kAdminAddIdentityCertificate:
      return "IdentityCertificateAdd";
    case Operation::kAdminListIdentityCertificates:
      return "IdentityCertificateList";
    case Operation::kAdminRemoveIdentityCertificate:
      return "IdentityCertificateRemove";
    case Operation::kOpenIdConfiguration:
      return "OpenIdConfiguration";
    case Operation::kAdminSetPolicy:
      return "VaultAccessPolicySet";
    case Operation::kAdminGetPolicy:
      return "VaultAccessPolicyGet";
    case Operation::kAdminDeletePolicy:
      return "VaultAccessPolicyDelete";
    case Operation::kAdminQueryAudit:
      return "AuditQuery";
    case Operation::kAdminVerifyAudit:
      return "AuditVerify";
    case Operation::kUnsupported:
      return "Unsupported";
    case Operation::kNoRoute:
      return "Unknown";
  }
  return "Unknown";
}

}  // namespace pgcmk::vault_http
