#include "vault/audit_record.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace pgcmk::vault {
namespace {

using nlohmann::json;

// What the record used to be built with: the same object through nlohmann::json.
std::string ViaNlohmann(const AuditRecord& a) {
  json r;
  r["time"] = a.time;
  r["timeUnix"] = a.time_unix;
  r["operationName"] = a.operation_name;
  r["operationVersion"] = a.operation_version;
  r["category"] = "AuditEvent";
  r["resultType"] = a.result_type;
  r["resultSignature"] = a.result_signature;
  r["resultCode"] = a.result_code;
  r["durationMs"] = a.duration_ms;
  r["callerIpAddress"] = a.caller_ip;
  r["correlationId"] = a.correlation_id;
  r["requestId"] = a.request_id;
  json identity = json::object();
  if (a.has_identity) {
    identity["oid"] = a.identity_oid;
    identity["appid"] = a.identity_appid;
    identity["name"] = a.identity_name;
  }
  r["identity"] = identity;
  json props;
  props["clientInfo"] = a.client_info;
  props["requestUri"] = a.request_uri;
  if (a.id) props["id"] = *a.id;
  props["httpStatusCode"] = a.http_status_code;
  r["properties"] = props;
  return r.dump();
}

AuditRecord Sample() {
  AuditRecord a;
  a.time = "2026-11-28T09:00:00.123456Z";
  a.time_unix = 1795856400;
  a.operation_name = "KeyUnwrap";
  a.operation_version = "7.6";
  a.result_type = "Success";
  a.result_signature = "OK";
  a.result_code = "OK";
  a.duration_ms = 3;
  a.caller_ip = "127.0.0.1";
  a.correlation_id = "c0ffee";
  a.request_id = "6f1f0000-0000-4000-8000-000000000000";
  a.client_info = "azsdk-python-keyvault-keys/4.9 Python/3.11";
  a.request_uri = "/keys/kek/0123/unwrapkey?api-version=7.6";
  a.id = "https://vault.test/keys/kek/0123";
  a.http_status_code = 200;
  return a;
}

TEST(AuditRecordTest, IsByteForByteWhatNlohmannWrites) {
  AuditRecord a = Sample();
  EXPECT_EQ(a.ToJson(), ViaNlohmann(a));
  a.has_identity = true;
  a.identity_oid = "oid-1";
  a.identity_appid = "app-1";
  a.identity_name = "svc";
  EXPECT_EQ(a.ToJson(), ViaNlohmann(a));
  a.id.reset();
  a.duration_ms = -1;
  a.time_unix = 0;
  a.http_status_code = 503;
  EXPECT_EQ(a.ToJson(), ViaNlohmann(a));
}

TEST(AuditRecordTest, EscapesLikeNlohmann) {
  const std::string all_ascii = [] {
    std::string s;
    for (int c = 0; c < 128; ++c) s.push_back(static_cast<char>(c));
    return s;
  }();
  for (std::string_view text :
       {std::string_view("quote \" backslash \\ slash /"), std::string_view(all_ascii),
        std::string_view("caf\xC3\xA9 \xE2\x82\xAC"), std::string_view("\xF0\x9F\x94\x91 key"),
        std::string_view("")}) {
    AuditRecord a = Sample();
    a.client_info = text;
    a.request_uri = text;
    EXPECT_EQ(a.ToJson(), ViaNlohmann(a));
  }
}

// nlohmann throws on invalid UTF-8 (and the request would go unaudited); the record replaces each
// offending byte with U+FFFD and stays valid JSON.
TEST(AuditRecordTest, InvalidUtf8BecomesReplacementCharacters) {
  for (std::string_view bad :
       {std::string_view("\xFF"), std::string_view("\xC0\xAF"), std::string_view("\xED\xA0\x80"),
        std::string_view("\xF4\x90\x80\x80"), std::string_view("\xE2\x82"),
        std::string_view("a\x80z")}) {
    AuditRecord a = Sample();
    a.id = bad;
    const std::string text = a.ToJson();
    json parsed = json::parse(text, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << text;
    const std::string id = parsed["properties"]["id"].get<std::string>();
    EXPECT_NE(id.find("\xEF\xBF\xBD"), std::string::npos);
  }
}

}  // namespace
}  // namespace pgcmk::vault
