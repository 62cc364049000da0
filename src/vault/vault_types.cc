#include "vault/vault_types.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/status.h"

namespace pgcmk::vault {

namespace {
constexpr std::array<std::string_view, kKeyPermissionCount> kPermissionNames = {"get",
                                                                                "list",
                                                                                "create",
                                                                                "update",
                                                                                "import",
                                                                                "delete",
                                                                                "recover",
                                                                                "backup",
                                                                                "restore",
                                                                                "purge",
                                                                                "rotate",
                                                                                "getrotationpolicy",
                                                                                "setrotationpolicy",
                                                                                "wrapKey",
                                                                                "unwrapKey",
                                                                                "encrypt",
                                                                                "decrypt",
                                                                                "sign",
                                                                                "verify"};

struct Role {
  std::string_view name;
  std::vector<KeyPermission> permissions;
};

const std::vector<Role>& Roles() {
  using P = KeyPermission;
  static const std::vector<Role> roles = {
      {"Key Vault Crypto Service Encryption User", {P::kGet, P::kWrapKey, P::kUnwrapKey}},
      {"Key Vault Crypto User",
       {P::kGet, P::kList, P::kUpdate, P::kWrapKey, P::kUnwrapKey, P::kEncrypt, P::kDecrypt,
        P::kSign, P::kVerify}},
      {"Key Vault Crypto Officer", {}},  // all: filled in RolePermissions
  };
  return roles;
}
}  // namespace

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ToLower(a) == ToLower(b);
}

std::string_view KeyPermissionName(KeyPermission p) {
  return kPermissionNames[static_cast<size_t>(p)];
}

std::optional<KeyPermission> ParseKeyPermission(std::string_view name) {
  for (size_t i = 0; i < kPermissionNames.size(); ++i) {
    if (EqualsIgnoreCase(kPermissionNames[i], name)) return static_cast<KeyPermission>(i);
  }
  return std::nullopt;
}

std::vector<std::string> PermissionSet::Names() const {
  std::vector<std::string> out;
  for (int i = 0; i < kKeyPermissionCount; ++i) {
    if (Has(static_cast<KeyPermission>(i))) out.emplace_back(kPermissionNames[i]);
  }
  return out;
}

Result<PermissionSet> ParsePermissionList(const std::vector<std::string>& names) {
  PermissionSet set;
  for (const auto& n : names) {
    if (EqualsIgnoreCase(n, "all")) {
      set = PermissionSet::All();
      continue;
    }
    auto p = ParseKeyPermission(n);
    if (!p) return Err(StatusCode::kInvalidArgument, "unknown key permission '" + n + "'");
    set.Add(*p);
  }
  return set;
}

std::optional<PermissionSet> RolePermissions(std::string_view role) {
  for (const auto& r : Roles()) {
    if (!EqualsIgnoreCase(r.name, role)) continue;
    if (r.permissions.empty()) return PermissionSet::All();
    PermissionSet set;
    for (auto p : r.permissions) set.Add(p);
    return set;
  }
  return std::nullopt;
}

std::optional<std::string> CanonicalRoleName(std::string_view role) {
  for (const auto& r : Roles()) {
    if (EqualsIgnoreCase(r.name, role)) return std::string(r.name);
  }
  return std::nullopt;
}

PermissionSet AccessPolicy::Effective() const {
  PermissionSet set = key_permissions;
  for (const auto& r : roles) {
    if (auto p = RolePermissions(r)) set = set.Union(*p);
  }
  return set;
}

bool IsValidKeyName(std::string_view name) {
  if (name.empty() || name.size() > 127) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
  });
}

bool IsValidKeyVersion(std::string_view version) {
  return version.size() == 32 && std::all_of(version.begin(), version.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c));
         });
}

Result<std::vector<std::string>> CanonicalKeyOps(const std::vector<std::string>& ops) {
  std::vector<std::string> out;
  for (const auto& op : ops) {
    auto it = std::find_if(std::begin(kAllKeyOps), std::end(kAllKeyOps),
                           [&](std::string_view k) { return EqualsIgnoreCase(k, op); });
    if (it == std::end(kAllKeyOps)) {
      return Err(StatusCode::kInvalidArgument, "unknown key operation '" + op + "'");
    }
    if (std::find(out.begin(), out.end(), *it) == out.end()) out.emplace_back(*it);
  }
  return out;
}

std::string VaultSettings::RecoveryLevel() const {
  if (retention_days >= 90) return purge_protection ? "Recoverable" : "Recoverable+Purgeable";
  return purge_protection ? "CustomizedRecoverable" : "CustomizedRecoverable+Purgeable";
}

Result<std::int64_t> ParseIsoDuration(std::string_view text) {
  auto bad = [&] {
    return Err(StatusCode::kInvalidArgument,
               "invalid ISO 8601 duration '" + std::string(text.substr(0, 64)) + "'");
  };
  if (text.size() < 3 || (text[0] != 'P' && text[0] != 'p')) return bad();
  std::int64_t total = 0;
  bool in_time = false;
  bool any = false;
  std::int64_t number = -1;
  for (size_t i = 1; i < text.size(); ++i) {
    char c = static_cast<char>(std::toupper(static_cast<unsigned char>(text[i])));
    if (std::isdigit(static_cast<unsigned char>(c))) {
      if (number < 0) number = 0;
      if (number > 1'000'000) return bad();
      number = number * 10 + (c - '0');
      continue;
    }
    if (c == 'T') {
      if (in_time || number >= 0) return bad();
      in_time = true;
      continue;
    }
    if (number < 0) return bad();
    std::int64_t unit = 0;
    if (!in_time) {
      if (c == 'Y') unit = 365 * 86400;
      if (c == 'M') unit = 30 * 86400;
      if (c == 'W') unit = 7 * 86400;
      if (c == 'D') unit = 86400;
    } else {
      if (c == 'H') unit = 3600;
      if (c == 'M') unit = 60;
      if (c == 'S') unit = 1;
    }
    if (unit == 0) return bad();
    total += number * unit;
    number = -1;
    any = true;
  }
  if (!any || number >= 0) return bad();
  return total;
}

}  // namespace pgcmk::vault
