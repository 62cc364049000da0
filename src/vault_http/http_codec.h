// The vault server's HTTP/1.1 message codec (RFC 9112, the subset a key vault needs): a request
// parser that works on the bytes received so far, and the response serializer. No sockets here
// (http_server.h drives both); tests feed bytes directly.
//
// Requests: request line `METHOD SP target SP HTTP/1.1|HTTP/1.0`, header fields (names
// lower-cased; the first of repeated names wins, except that differing Content-Length values are
// an error), an empty line, then a body of exactly Content-Length bytes (none without it).
// Lines end with CRLF (a bare LF is accepted); empty lines before the request line are skipped.
// Refused, each with the response the server sends before closing the connection:
//   malformed request line or header, obsolete line folding, control characters   400 BadRequest
//   Transfer-Encoding (chunked bodies are not supported; Node and our clients send Content-Length)
//                                                                                  411
//                                                                                  LengthRequired
//   a head (request line + headers) larger than HttpLimits::max_header_bytes       431
//   a body larger than HttpLimits::max_body_bytes                                  413
//   an Expect other than 100-continue                                              417
//   an HTTP version other than 1.0 and 1.1                                         505
// Persistence: HTTP/1.1 keeps the connection unless `Connection: close`; HTTP/1.0 closes it
// unless `Connection: keep-alive`.
// `Expect: 100-continue`: once the head is parsed and the body has not arrived, the parser says
// so (expects_continue) and the server sends the interim `100 Continue`; an oversize body is
// refused at once instead.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "vault_http/vault_api.h"

namespace pgcmk::vault_http {

struct HttpLimits {
  std::size_t max_header_bytes = 64 << 10;
  std::size_t max_body_bytes = 1 << 20;
};

// A request the server refuses: the JSON error it answers with, then it closes the connection.
struct HttpParseError {
  int status = 400;
  std::string code;  // error.code of the JSON body, e.g. "BadRequest"
  std::string message;
  // Bytes of the announced body still to be read and dropped (after the head, which consumed()
  // counts) before the response is sent, so that a client that writes its whole body before
  // reading sees the response rather than a connection reset. 0 if the body is not awaited.
  std::size_t discard = 0;
};

// Wipes what may carry a credential (the target's query, header values such as the bearer
// token, the body) and empties the request.
void WipeRequest(HttpRequest& request);

class HttpRequestParser {
 public:
  enum class State { kNeedMore, kComplete, kError };

  explicit HttpRequestParser(HttpLimits limits) : limits_(limits) {}
  ~HttpRequestParser() { WipeRequest(request_); }
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  // `data`: every byte received and not yet consumed, starting with the current request's first
  // byte; after kNeedMore, the same bytes again with more appended. After kComplete the next
  // call starts a new request (the caller drops consumed() bytes first).
  State Parse(std::string_view data);

  // After kComplete: the request (method, target, headers and body; remote_addr is the
  // caller's), valid until the next Parse().
  HttpRequest& request() { return request_; }
  // After kComplete: the bytes of `data` this request took. After kError: the bytes of the head.
  std::size_t consumed() const { return consumed_; }
  bool keep_alive() const { return keep_alive_; }
  bool is_head() const { return request_.method == "HEAD"; }
  int minor_version() const { return minor_version_; }
  // After kNeedMore: the head is complete and the client waits for `100 Continue` before it
  // sends the body.
  // (Never for HTTP/1.0: a server must not send 100 Continue to an HTTP/1.0 client, RFC 9110.)
  bool expects_continue() const { return head_done_ && expect_continue_ && minor_version_ == 1; }
  // After kError.
  const HttpParseError& error() const { return error_; }

 private:
  void Reset();
  State Fail(int status, std::string code, std::string message);
  // One line of the head, without its line ending. Returns false after Fail().
  bool ParseLine(std::string_view line);
  bool ParseRequestLine(std::string_view line);
  bool ParseHeaderLine(std::string_view line);
  State CheckHead();

  HttpLimits limits_;
  HttpRequest request_;
  HttpParseError error_;
  bool done_ = false;  // the last Parse() returned kComplete or kError
  // Head scanning state, kept across kNeedMore so that each byte is looked at once.
  std::size_t scan_ = 0;
  std::size_t line_start_ = 0;
  bool have_request_line_ = false;
  bool head_done_ = false;
  std::size_t head_bytes_ = 0;
  // From the head.
  int minor_version_ = 1;
  bool keep_alive_ = true;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  bool has_content_length_ = false;
  bool has_transfer_encoding_ = false;
  bool expect_continue_ = false;
  bool bad_expect_ = false;
  std::size_t content_length_ = 0;
  std::size_t consumed_ = 0;
};

// Appends the whole response (status line, the response's headers, Content-Type,
// Content-Length, Connection when it differs from the version's default, then the body unless
// `head_request`) to `out`: one buffer, written with one call.
void AppendResponse(const HttpResponse& response, bool keep_alive, int minor_version,
                    bool head_request, std::string& out);

// The reason phrase of a status code ("OK", "Not Found"); "Unknown" for codes not listed.
std::string_view ReasonPhrase(int status);

}  // namespace pgcmk::vault_http
