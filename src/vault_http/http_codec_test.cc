#include "vault_http/http_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pgcmk::vault_http {
namespace {

using State = HttpRequestParser::State;

constexpr char kWrap[] =
    "POST /keys/kek/v1/wrapkey?api-version=7.6 HTTP/1.1\r\n"
    "Host: 127.0.0.1:8443\r\n"
    "Authorization: Bearer abc\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 12\r\n"
    "\r\n"
    "{\"value\":\"\"}";

HttpLimits SmallLimits() {
  HttpLimits l;
  l.max_header_bytes = 1024;
  l.max_body_bytes = 100;
  return l;
}

TEST(HttpRequestParserTest, ParsesARequestSplitAtEveryByteBoundary) {
  const std::string whole = kWrap;
  for (std::size_t cut = 0; cut <= whole.size(); ++cut) {
    HttpRequestParser p(SmallLimits());
    // The first part, then everything: a prefix is never complete, the whole always is.
    if (cut < whole.size()) {
      ASSERT_EQ(p.Parse(std::string_view(whole).substr(0, cut)), State::kNeedMore) << cut;
    }
    ASSERT_EQ(p.Parse(whole), State::kComplete) << cut;
    EXPECT_EQ(p.consumed(), whole.size());
    EXPECT_EQ(p.request().method, "POST");
    EXPECT_EQ(p.request().target, "/keys/kek/v1/wrapkey?api-version=7.6");
    EXPECT_EQ(p.request().headers.at("authorization"), "Bearer abc");
    EXPECT_EQ(p.request().headers.at("host"), "127.0.0.1:8443");
    EXPECT_EQ(p.request().body, "{\"value\":\"\"}");
    EXPECT_TRUE(p.keep_alive());
  }
}

TEST(HttpRequestParserTest, ParsesARequestFedOneByteAtATime) {
  const std::string whole = kWrap;
  HttpRequestParser p(SmallLimits());
  for (std::size_t n = 1; n < whole.size(); ++n) {
    ASSERT_EQ(p.Parse(std::string_view(whole).substr(0, n)), State::kNeedMore) << n;
  }
  ASSERT_EQ(p.Parse(whole), State::kComplete);
  EXPECT_EQ(p.request().body, "{\"value\":\"\"}");
}

TEST(HttpRequestParserTest, PipelinedRequestsAreParsedOneAfterTheOther) {
  std::string two = std::string(kWrap) + "GET /keys?api-version=7.6 HTTP/1.1\r\nHost: h\r\n\r\n";
  HttpRequestParser p(SmallLimits());
  ASSERT_EQ(p.Parse(two), State::kComplete);
  EXPECT_EQ(p.request().method, "POST");
  std::string_view rest = std::string_view(two).substr(p.consumed());
  ASSERT_EQ(p.Parse(rest), State::kComplete);
  EXPECT_EQ(p.request().method, "GET");
  EXPECT_EQ(p.request().target, "/keys?api-version=7.6");
  EXPECT_TRUE(p.request().body.empty());
  EXPECT_TRUE(p.request().headers.count("authorization") == 0);
  EXPECT_EQ(p.consumed(), rest.size());
}

TEST(HttpRequestParserTest, AcceptsBareLineFeedsAndSkipsLeadingEmptyLines) {
  HttpRequestParser p(SmallLimits());
  ASSERT_EQ(p.Parse("\r\nGET / HTTP/1.1\nHost: h\n\n"), State::kComplete);
  EXPECT_EQ(p.request().target, "/");
  EXPECT_EQ(p.request().headers.at("host"), "h");
}

TEST(HttpRequestParserTest, LowerCasesNamesTrimsValuesAndKeepsTheFirstOfRepeatedNames) {
  HttpRequestParser p(SmallLimits());
  ASSERT_EQ(p.Parse("GET /x%2Fy?a=b HTTP/1.1\r\nX-Ms-Client-Request-Id: \t 42 \t\r\n"
                    "x-ms-client-request-id: 43\r\n\r\n"),
            State::kComplete);
  EXPECT_EQ(p.request().target, "/x%2Fy?a=b");  // raw, undecoded
  EXPECT_EQ(p.request().headers.at("x-ms-client-request-id"), "42");
}

TEST(HttpRequestParserTest, ConnectionPersistenceFollowsTheVersion) {
  struct Case {
    std::string head;
    bool keep_alive;
    int minor;
  };
  std::vector<Case> cases = {
      {"GET / HTTP/1.1\r\n\r\n", true, 1},
      {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false, 1},
      {"GET / HTTP/1.1\r\nConnection: TE, Close\r\n\r\n", false, 1},
      {"GET / HTTP/1.0\r\n\r\n", false, 0},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true, 0},
  };
  for (const Case& c : cases) {
    HttpRequestParser p(SmallLimits());
    ASSERT_EQ(p.Parse(c.head), State::kComplete) << c.head;
    EXPECT_EQ(p.keep_alive(), c.keep_alive) << c.head;
    EXPECT_EQ(p.minor_version(), c.minor) << c.head;
  }
}

TEST(HttpRequestParserTest, RefusesMalformedRequestsWithTheirStatus) {
  struct Case {
    std::string bytes;
    int status;
  };
  std::vector<Case> cases = {
      {"GET\r\n\r\n", 400},
      {"GET /\r\n\r\n", 400},
      {"GET  / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1 \r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\n\r\n", 400},
      {"GET /a\x01 HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1x\r\n\r\n", 400},
      {"GET / FTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET / HTTP/0.9\r\n\r\n", 505},
      {"GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nBad name: x\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n: empty name\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 411},
      {"POST / HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417},
  };
  for (const Case& c : cases) {
    HttpRequestParser p(SmallLimits());
    ASSERT_EQ(p.Parse(c.bytes), State::kError) << c.bytes;
    EXPECT_EQ(p.error().status, c.status) << c.bytes;
    EXPECT_FALSE(p.error().code.empty());
    EXPECT_FALSE(p.error().message.empty());
    EXPECT_FALSE(p.keep_alive());
  }
}

TEST(HttpRequestParserTest, RepeatedEqualContentLengthsAreAccepted) {
  HttpRequestParser p(SmallLimits());
  ASSERT_EQ(p.Parse("POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab"),
            State::kComplete);
  EXPECT_EQ(p.request().body, "ab");
}

TEST(HttpRequestParserTest, RefusesAnOversizeHeadEvenWithoutALineEnd) {
  HttpRequestParser p(SmallLimits());
  std::string head = "GET /" + std::string(2000, 'a');
  EXPECT_EQ(p.Parse(head.substr(0, 1023)), State::kNeedMore);
  ASSERT_EQ(p.Parse(head), State::kError);
  EXPECT_EQ(p.error().status, 431);
  HttpRequestParser q(SmallLimits());
  std::string many = "GET / HTTP/1.1\r\n";
  while (many.size() < 1100) many += "X-A: b\r\n";
  ASSERT_EQ(q.Parse(many + "\r\n"), State::kError);
  EXPECT_EQ(q.error().status, 431);
}

TEST(HttpRequestParserTest, OversizeBodyIsRefusedFromTheHeadAndDiscardedBeforeTheAnswer) {
  HttpRequestParser p(SmallLimits());
  std::string head = "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n";
  ASSERT_EQ(p.Parse(head + "abc"), State::kError);
  EXPECT_EQ(p.error().status, 413);
  EXPECT_EQ(p.error().code, "RequestEntityTooLarge");
  EXPECT_EQ(p.consumed(), head.size());
  EXPECT_EQ(p.error().discard, 101u);
  // A body at the limit is fine.
  HttpRequestParser q(SmallLimits());
  EXPECT_EQ(q.Parse("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x')),
            State::kComplete);
}

TEST(HttpRequestParserTest, ExpectContinueIsSignalledOnceTheHeadIsComplete) {
  HttpRequestParser p(SmallLimits());
  std::string head = "POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
  ASSERT_EQ(p.Parse(head.substr(0, head.size() - 1)), State::kNeedMore);
  EXPECT_FALSE(p.expects_continue());
  ASSERT_EQ(p.Parse(head), State::kNeedMore);
  EXPECT_TRUE(p.expects_continue());
  ASSERT_EQ(p.Parse(head + "abc"), State::kComplete);
  EXPECT_EQ(p.request().body, "abc");
  // Oversize with Expect: refused at once, nothing to discard (the client has not sent it).
  HttpRequestParser q(SmallLimits());
  ASSERT_EQ(q.Parse("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 500\r\n\r\n"),
            State::kError);
  EXPECT_EQ(q.error().status, 413);
  EXPECT_EQ(q.error().discard, 0u);
  // An HTTP/1.0 client gets no 100 Continue (RFC 9110 10.1.1); it sends its body anyway.
  HttpRequestParser old(SmallLimits());
  ASSERT_EQ(old.Parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"),
            State::kNeedMore);
  EXPECT_FALSE(old.expects_continue());
}

TEST(HttpRequestParserTest, WipeRequestClearsTargetHeadersAndBody) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/t/oauth2/v2.0/token?client_secret=s";
  r.headers["authorization"] = "Bearer token";
  r.body = "client_secret=s";
  const char* target = r.target.data();
  const std::size_t target_size = r.target.size();
  WipeRequest(r);
  EXPECT_TRUE(r.target.empty() && r.headers.empty() && r.body.empty() && r.method.empty());
  // The target's old bytes (still this string's buffer: clear() keeps the capacity) are zero.
  EXPECT_EQ(std::string(target, target_size), std::string(target_size, '\0'));
}

TEST(HttpResponseTest, WritesStatusHeadersAndBodyAsOneMessage) {
  HttpResponse r;
  r.status = 200;
  r.headers = {{"x-ms-request-id", "abc"}};
  r.body = "{\"a\":1}";
  std::string out;
  AppendResponse(r, /*keep_alive=*/true, 1, false, out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nx-ms-request-id: abc\r\n"
            "Content-Type: application/json; charset=utf-8\r\nContent-Length: 7\r\n\r\n"
            "{\"a\":1}");
  out.clear();
  AppendResponse(r, /*keep_alive=*/false, 1, /*head_request=*/true, out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nx-ms-request-id: abc\r\n"
            "Content-Type: application/json; charset=utf-8\r\nContent-Length: 7\r\n"
            "Connection: close\r\n\r\n");
  out.clear();
  AppendResponse(r, /*keep_alive=*/true, 0, false, out);
  EXPECT_NE(out.find("Connection: keep-alive\r\n"), std::string::npos);
  HttpResponse empty;
  empty.status = 204;
  out.clear();
  AppendResponse(empty, true, 1, false, out);
  EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\n\r\n");
}

}  // namespace
}  // namespace pgcmk::vault_http
