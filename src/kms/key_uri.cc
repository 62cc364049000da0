#include "kms/key_uri.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace pgcmk::kms {
namespace {

bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; }
bool IsVersionChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool IsHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
}

int DefaultPort(std::string_view scheme) { return scheme == "http" ? 80 : 443; }

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

Result<KeyUri> KeyUri::Parse(std::string_view uri) {
  auto invalid = [&](std::string_view why) {
    return Err(StatusCode::kInvalidArgument,
               "invalid key URI '" + std::string(uri) + "': " + std::string(why) +
                   " (expected https://VAULT-HOST[:PORT]/keys/NAME[/VERSION])");
  };
  KeyUri k;
  size_t scheme_end = uri.find("://");
  if (scheme_end == std::string_view::npos) return invalid("no scheme");
  k.scheme = Lower(uri.substr(0, scheme_end));
  if (k.scheme != "https" && k.scheme != "http") return invalid("scheme must be https");
  std::string_view rest = uri.substr(scheme_end + 3);
  size_t path_start = rest.find('/');
  if (path_start == std::string_view::npos) return invalid("no /keys/NAME path");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path = rest.substr(path_start);
  if (path.find_first_of("?#") != std::string_view::npos) return invalid("query or fragment");
  size_t colon = authority.rfind(':');
  std::string_view host = authority;
  k.port = DefaultPort(k.scheme);
  if (colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    std::string_view port = authority.substr(colon + 1);
    int value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value < 1 || value > 65535) {
      return invalid("bad port");
    }
    k.port = value;
  }
  if (host.empty() || !std::all_of(host.begin(), host.end(), IsHostChar)) {
    return invalid("bad host");
  }
  k.host = Lower(host);
  if (!path.starts_with("/keys/")) return invalid("path must start with /keys/");
  path.remove_prefix(6);
  size_t slash = path.find('/');
  std::string_view name = path.substr(0, slash);
  std::string_view version;
  if (slash != std::string_view::npos) {
    version = path.substr(slash + 1);
    if (version.find('/') != std::string_view::npos) return invalid("too many path segments");
  }
  if (name.empty() || name.size() > 127 || !std::all_of(name.begin(), name.end(), IsNameChar)) {
    return invalid("bad key name");
  }
  if (version.size() > 64 || !std::all_of(version.begin(), version.end(), IsVersionChar)) {
    return invalid("bad key version");
  }
  k.name = std::string(name);
  k.version = std::string(version);
  return k;
}

std::string KeyUri::origin() const {
  std::string o = scheme + "://" + host;
  if (port != DefaultPort(scheme)) o += ":" + std::to_string(port);
  return o;
}

std::string KeyUri::path() const {
  std::string p = "/keys/" + name;
  if (!version.empty()) p += "/" + version;
  return p;
}

std::string KeyUri::ToString() const { return origin() + path(); }

KeyUri KeyUri::Versionless() const {
  KeyUri k = *this;
  k.version.clear();
  return k;
}

KeyUri KeyUri::WithVersion(std::string_view v) const {
  KeyUri k = *this;
  k.version = std::string(v);
  return k;
}

bool KeyUri::SameKeyAs(const KeyUri& other) const {
  return scheme == other.scheme && host == other.host && port == other.port &&
         Lower(name) == Lower(other.name);
}

}  // namespace pgcmk::kms
