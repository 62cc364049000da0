#include "crypto/vector_files.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace pgcmk::crypto::testing {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::filesystem::path SharedDir() {
  if (const char* env = std::getenv("PGCMK_SHARED_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return PGCMK_SHARED_DIR_DEFAULT;
}

std::filesystem::path CavpDir() {
  if (const char* env = std::getenv("PGCMK_CAVP_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return "/usr/lib/python3/dist-packages/cryptography_vectors";
}

std::optional<std::string> ReadVectorFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "vector file missing or unreadable: " << path;
    return std::nullopt;
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Bytes Hex(std::string_view hex) {
  std::string padded(hex);
  if (padded.size() % 2 == 1) padded.insert(padded.begin(), '0');
  Bytes out;
  if (!FromHex(padded, &out)) ADD_FAILURE() << "bad hex in vector: " << hex.substr(0, 40);
  return out;
}

std::vector<RspRecord> ParseRsp(std::string_view text) {
  std::vector<RspRecord> records;
  RspRecord current;
  std::map<std::string, std::string> params;
  std::string section;
  auto flush = [&] {
    if (!current.fields.empty()) records.push_back(std::move(current));
    current = RspRecord{};
    current.params = params;
    current.section = section;
  };
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = Trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (line.starts_with('#')) continue;
    if (line.empty()) {
      flush();
      continue;
    }
    if (line.starts_with('[') && line.ends_with(']')) {
      flush();
      const std::string_view inner = line.substr(1, line.size() - 2);
      if (const size_t eq = inner.find('='); eq != std::string_view::npos) {
        params[std::string(Trim(inner.substr(0, eq)))] = std::string(Trim(inner.substr(eq + 1)));
      } else {
        section = std::string(inner);
        params.clear();
      }
      current.params = params;
      current.section = section;
      continue;
    }
    if (line == "FAIL") {
      current.fail = true;
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string key(Trim(line.substr(0, eq)));
    if ((key == "COUNT" || key == "Count") && !current.fields.empty()) flush();
    current.fields[key] = std::string(Trim(line.substr(eq + 1)));
  }
  flush();
  return records;
}

}  // namespace pgcmk::crypto::testing
