// AuditRecord: the JSON text of one audit record (docs/vault.md, "Audit record and chain").
//
// Written by hand rather than through a JSON DOM because one is written for every request: the
// output is byte-for-byte what nlohmann::json::dump() gives for the same object (keys in sorted
// order, the same escapes), which audit_record_test.cc checks, except that where dump() would
// throw on invalid UTF-8 this writes U+FFFD for each offending byte, so every request still gets
// its record.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgcmk::vault {

struct AuditRecord {
  std::string_view time;  // RFC 3339, microseconds, "Z"
  std::int64_t time_unix = 0;
  std::string_view operation_name;
  std::string_view operation_version;
  std::string_view result_type;  // "Success" | "Failure"
  std::string_view result_signature;
  std::string_view result_code;
  std::int64_t duration_ms = 0;
  std::string_view caller_ip;
  std::string_view correlation_id;
  std::string_view request_id;
  // identity: {"appid","name","oid"} when known, {} otherwise.
  bool has_identity = false;
  std::string_view identity_oid, identity_appid, identity_name;
  // properties
  std::string_view client_info;
  std::string_view request_uri;
  std::optional<std::string_view> id;  // the object, when there is one
  int http_status_code = 0;

  std::string ToJson() const;
};

// Appends `s` as a JSON string literal (quotes included) with nlohmann's escapes.
void AppendJsonString(std::string_view s, std::string* out);

}  // namespace pgcmk::vault
