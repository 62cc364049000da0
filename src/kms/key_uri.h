// KeyUri: an Azure Key Vault key identifier, `https://host[:port]/keys/NAME[/VERSION]`.
//
// The vault sits at the URL root (Azure's rule: no path prefix). A URI without VERSION is
// *versionless*: it names the key's current version, whatever that is at the time of the request
// (automatic key version updates). A URI with VERSION is *versioned* and pins that version.
// A trailing slash ("/keys/NAME/") is accepted as versionless. Names are 1-127 characters of
// [0-9a-zA-Z-]; versions are 1-64 characters of [0-9a-zA-Z] (Azure uses 32 lower-case hex digits).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace pgcmk::kms {

struct KeyUri {
  std::string scheme;  // "https" (or "http", which clients refuse unless told otherwise)
  std::string host;    // as written (DNS name or IPv4 literal)
  int port = 443;
  std::string name;
  std::string version;  // empty for a versionless URI

  static Result<KeyUri> Parse(std::string_view uri);

  bool versionless() const { return version.empty(); }
  // "https://host:port" (the port is omitted when it is the scheme's default).
  std::string origin() const;
  // "/keys/NAME" or "/keys/NAME/VERSION".
  std::string path() const;
  // origin() + path().
  std::string ToString() const;
  // The same key without a version.
  KeyUri Versionless() const;
  KeyUri WithVersion(std::string_view v) const;
  // True if both name the same vault and key (names compare case-insensitively, as Azure does).
  bool SameKeyAs(const KeyUri& other) const;
};

}  // namespace pgcmk::kms
