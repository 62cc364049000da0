#include "vault/audit_record.h"

#include <charconv>

namespace pgcmk::vault {

namespace {

// Length of the valid UTF-8 sequence starting at s[i] (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF), or 0 if it is invalid.
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

void AppendInt(std::int64_t v, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;  // 24 bytes always hold an int64
  out->append(buf, end);
}

void AppendKey(std::string_view key, std::string* out) {
  out->push_back('"');
  out->append(key);  // our own ASCII names
  out->append("\":");
}

}  // namespace

void AppendJsonString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = Utf8SequenceLength(s, i);
      if (n == 0) {
        out->append("\xEF\xBF\xBD");  // U+FFFD
        ++i;
      } else {
        out->append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out->push_back('"');
}

std::string AuditRecord::ToJson() const {
  std::string out;
  out.reserve(512 + request_uri.size() + client_info.size() + (id ? id->size() : 0));
  // Keys in sorted order, as nlohmann's std::map-backed objects print them.
  out.push_back('{');
  AppendKey("callerIpAddress", &out);
  AppendJsonString(caller_ip, &out);
  out.push_back(',');
  AppendKey("category", &out);
  out.append("\"AuditEvent\",");
  AppendKey("correlationId", &out);
  AppendJsonString(correlation_id, &out);
  out.push_back(',');
  AppendKey("durationMs", &out);
  AppendInt(duration_ms, &out);
  out.push_back(',');
  AppendKey("identity", &out);
  if (has_identity) {
    out.push_back('{');
    AppendKey("appid", &out);
    AppendJsonString(identity_appid, &out);
    out.push_back(',');
    AppendKey("name", &out);
    AppendJsonString(identity_name, &out);
    out.push_back(',');
    AppendKey("oid", &out);
    AppendJsonString(identity_oid, &out);
    out.append("},");
  } else {
    out.append("{},");
  }
  AppendKey("operationName", &out);
  AppendJsonString(operation_name, &out);
  out.push_back(',');
  AppendKey("operationVersion", &out);
  AppendJsonString(operation_version, &out);
  out.push_back(',');
  AppendKey("properties", &out);
  out.push_back('{');
  AppendKey("clientInfo", &out);
  AppendJsonString(client_info, &out);
  out.push_back(',');
  AppendKey("httpStatusCode", &out);
  AppendInt(http_status_code, &out);
  out.push_back(',');
  if (id) {
    AppendKey("id", &out);
    AppendJsonString(*id, &out);
    out.push_back(',');
  }
  AppendKey("requestUri", &out);
  AppendJsonString(request_uri, &out);
  out.append("},");
  AppendKey("requestId", &out);
  AppendJsonString(request_id, &out);
  out.push_back(',');
  AppendKey("resultCode", &out);
  AppendJsonString(result_code, &out);
  out.push_back(',');
  AppendKey("resultSignature", &out);
  AppendJsonString(result_signature, &out);
  out.push_back(',');
  AppendKey("resultType", &out);
  AppendJsonString(result_type, &out);
  out.push_back(',');
  AppendKey("time", &out);
  AppendJsonString(time, &out);
  out.push_back(',');
  AppendKey("timeUnix", &out);
  AppendInt(time_unix, &out);
  out.push_back('}');
  return out;
}

}  // namespace pgcmk::vault
