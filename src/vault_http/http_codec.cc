#include "vault_http/http_codec.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "common/secret_bytes.h"

namespace pgcmk::vault_http {
namespace {

// An oversize body up to this size is read and dropped before the 413 is sent; a larger one
// is not waited for (the connection is closed after the response, possibly with a reset).
constexpr std::size_t kMaxDiscardBytes = 64 << 20;

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view TrimWhitespace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

void WipeRequest(HttpRequest& request) {
  SecureZero(request.target.data(), request.target.size());
  for (auto& [name, value] : request.headers) SecureZero(value.data(), value.size());
  SecureZero(request.body.data(), request.body.size());
  request.method.clear();
  request.target.clear();
  request.headers.clear();
  request.body.clear();
}

void HttpRequestParser::Reset() {
  WipeRequest(request_);
  error_ = HttpParseError{};
  done_ = false;
  scan_ = 0;
  line_start_ = 0;
  have_request_line_ = false;
  head_done_ = false;
  head_bytes_ = 0;
  minor_version_ = 1;
  keep_alive_ = true;
  connection_close_ = false;
  connection_keep_alive_ = false;
  has_content_length_ = false;
  has_transfer_encoding_ = false;
  expect_continue_ = false;
  bad_expect_ = false;
  content_length_ = 0;
  consumed_ = 0;
}

HttpRequestParser::State HttpRequestParser::Fail(int status, std::string code,
                                                 std::string message) {
  error_.status = status;
  error_.code = std::move(code);
  error_.message = std::move(message);
  keep_alive_ = false;
  done_ = true;
  consumed_ = head_done_ ? head_bytes_ : 0;
  return State::kError;
}

HttpRequestParser::State HttpRequestParser::Parse(std::string_view data) {
  if (done_) Reset();
  while (!head_done_) {
    const std::size_t limit = std::min(data.size(), limits_.max_header_bytes);
    const void* nl =
        scan_ < limit ? std::memchr(data.data() + scan_, '\n', limit - scan_) : nullptr;
    if (nl == nullptr) {
      scan_ = limit;
      if (data.size() >= limits_.max_header_bytes) {
        return Fail(431, "RequestHeaderFieldsTooLarge",
                    "The request line and headers exceed " +
                        std::to_string(limits_.max_header_bytes) + " bytes");
      }
      return State::kNeedMore;
    }
    const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - data.data());
    std::string_view line = data.substr(line_start_, end - line_start_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    scan_ = end + 1;
    line_start_ = end + 1;
    if (line.empty()) {
      if (have_request_line_) {
        head_done_ = true;
        head_bytes_ = end + 1;
        State s = CheckHead();
        if (s == State::kError) return s;
      }
      continue;  // empty lines before the request line are skipped
    }
    if (!ParseLine(line)) return State::kError;
  }
  const std::size_t available = data.size() - head_bytes_;
  if (available < content_length_) return State::kNeedMore;
  request_.body.assign(data.substr(head_bytes_, content_length_));
  consumed_ = head_bytes_ + content_length_;
  done_ = true;
  return State::kComplete;
}

bool HttpRequestParser::ParseLine(std::string_view line) {
  return have_request_line_ ? ParseHeaderLine(line) : ParseRequestLine(line);
}

bool HttpRequestParser::ParseRequestLine(std::string_view line) {
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) {
    Fail(400, "BadRequest", "Malformed request line");
    return false;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method) || target.empty()) {
    Fail(400, "BadRequest", "Malformed request line");
    return false;
  }
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      Fail(400, "BadRequest", "Malformed request target");
      return false;
    }
  }
  if (version == "HTTP/1.1") {
    minor_version_ = 1;
  } else if (version == "HTTP/1.0") {
    minor_version_ = 0;
  } else if (version.size() == 8 && version.starts_with("HTTP/") && version[6] == '.' &&
             version[5] >= '0' && version[5] <= '9' && version[7] >= '0' && version[7] <= '9') {
    Fail(505, "HttpVersionNotSupported", "Only HTTP/1.1 and HTTP/1.0 are supported");
    return false;
  } else {
    Fail(400, "BadRequest", "Malformed request line");
    return false;
  }
  request_.method.assign(method);
  request_.target.assign(target);
  have_request_line_ = true;
  return true;
}

bool HttpRequestParser::ParseHeaderLine(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') {
    Fail(400, "BadRequest", "Obsolete header line folding is not supported");
    return false;
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
    Fail(400, "BadRequest", "Malformed header field");
    return false;
  }
  std::string_view value = TrimWhitespace(line.substr(colon + 1));
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) {
      Fail(400, "BadRequest", "Control character in a header field");
      return false;
    }
  }
  std::string name(line.substr(0, colon));
  for (char& c : name) c = Lower(c);
  if (name == "content-length") {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size()) {
      Fail(400, "BadRequest", "Malformed Content-Length");
      return false;
    }
    if (has_content_length_ && n != content_length_) {
      Fail(400, "BadRequest", "Conflicting Content-Length headers");
      return false;
    }
    has_content_length_ = true;
    content_length_ = n;
  } else if (name == "transfer-encoding") {
    has_transfer_encoding_ = true;
  } else if (name == "expect") {
    if (EqualsIgnoreCase(value, "100-continue")) {
      expect_continue_ = true;
    } else {
      bad_expect_ = true;
    }
  } else if (name == "connection") {
    std::string_view rest = value;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      std::string_view option = TrimWhitespace(rest.substr(0, comma));
      if (EqualsIgnoreCase(option, "close")) connection_close_ = true;
      if (EqualsIgnoreCase(option, "keep-alive")) connection_keep_alive_ = true;
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  request_.headers.emplace(std::move(name), std::string(value));
  return true;
}

HttpRequestParser::State HttpRequestParser::CheckHead() {
  keep_alive_ =
      minor_version_ == 1 ? !connection_close_ : connection_keep_alive_ && !connection_close_;
  if (has_transfer_encoding_) {
    return Fail(411, "LengthRequired",
                "Transfer-Encoding is not supported: send the body with a Content-Length");
  }
  if (bad_expect_) {
    return Fail(417, "ExpectationFailed", "Only Expect: 100-continue is supported");
  }
  if (content_length_ > limits_.max_body_bytes) {
    const bool awaited = !expect_continue_ && content_length_ <= kMaxDiscardBytes;
    Fail(413, "RequestEntityTooLarge", "The request body is too large");
    error_.discard = awaited ? content_length_ : 0;
    return State::kError;
  }
  return State::kNeedMore;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

void AppendResponse(const HttpResponse& response, bool keep_alive, int minor_version,
                    bool head_request, std::string& out) {
  const bool no_body = response.status == 204 || response.status == 304 ||
                       (response.status >= 100 && response.status < 200);
  std::size_t size = 64 + response.content_type.size() + (no_body ? 0 : response.body.size());
  for (const auto& [name, value] : response.headers) size += name.size() + value.size() + 4;
  out.reserve(out.size() + size);
  char status[4];
  auto [end, ec] = std::to_chars(status, status + sizeof(status), response.status);
  (void)ec;  // 3-digit status codes fit
  out.append("HTTP/1.1 ").append(status, end).append(" ").append(ReasonPhrase(response.status));
  out.append("\r\n");
  for (const auto& [name, value] : response.headers) {
    out.append(name).append(": ").append(value).append("\r\n");
  }
  if (!no_body) {
    if (!response.content_type.empty()) {
      out.append("Content-Type: ").append(response.content_type).append("\r\n");
    }
    out.append("Content-Length: ").append(std::to_string(response.body.size())).append("\r\n");
  }
  if (!keep_alive) {
    out.append("Connection: close\r\n");
  } else if (minor_version == 0) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
  if (!no_body && !head_request) out.append(response.body);
}

}  // namespace pgcmk::vault_http
