// Test support for the known-answer suites: where the vector files live and how to read them.
// A missing or unreadable vector file is a test failure, never a skip (CI always has them).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"

namespace pgcmk::crypto::testing {

// $PGCMK_SHARED_DIR, else the compile-time default (../shared beside the checkout).
std::filesystem::path SharedDir();
// $PGCMK_CAVP_DIR, else Debian's python3-cryptography-vectors install.
std::filesystem::path CavpDir();

// The file's contents, or nullopt after recording a test failure that names the path.
std::optional<std::string> ReadVectorFile(const std::filesystem::path& path);

// Hex to bytes; odd lengths get a leading zero nibble ("10001" -> 01 00 01). Records a test failure
// on a bad digit.
Bytes Hex(std::string_view hex);

// One record of a NIST CAVP .rsp file: its "name = value" lines, the bracketed parameters in force
// ("[Taglen = 128]" -> params["Taglen"]), the section ("[ENCRYPT]"), and whether it said FAIL.
struct RspRecord {
  std::map<std::string, std::string> fields;
  std::map<std::string, std::string> params;
  std::string section;
  bool fail = false;
};
std::vector<RspRecord> ParseRsp(std::string_view text);

}  // namespace pgcmk::crypto::testing
