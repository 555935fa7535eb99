#include "sinks/http/request_head.h"

#include <algorithm>
#include <vector>

namespace kpi::sinks {
namespace {

// Room on the request line besides its target: a method, two spaces, "HTTP/1.1" and CRLF.
constexpr size_t kRequestLineSlack = 64;
// Empty lines tolerated before the request line (RFC 9112 section 2.2 asks for at least one).
constexpr size_t kMaxLeadingEmptyBytes = 8;
constexpr size_t kMaxMethodBytes = 32;

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view s) { return !s.empty() && std::ranges::all_of(s, IsTokenChar); }

// Visible ASCII: what a request target may hold.
bool IsVisible(char c) { return c > 0x20 && c < 0x7f; }

// A field value's bytes: visible, space, tab and obs-text (0x80-0xFF); no other control byte.
bool IsFieldValueChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::ranges::equal(a, b, [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? x + 32 : x) == (y >= 'A' && y <= 'Z' ? y + 32 : y);
         });
}

std::unexpected<HeadError> Fail(int status, std::string reason) {
  return std::unexpected(HeadError{status, std::move(reason)});
}

// The lines of a head, without their line ends, up to (not including) the empty line.
std::vector<std::string_view> Lines(std::string_view head) {
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    const size_t lf = head.find('\n');
    std::string_view line = head.substr(0, lf);
    head = lf == std::string_view::npos ? std::string_view() : head.substr(lf + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() && lines.empty()) continue;  // before the request line
    if (line.empty()) break;
    lines.push_back(line);
  }
  return lines;
}

// The request line: method, target (path and query) and version, into `out`.
std::expected<void, HeadError> ParseRequestLine(std::string_view line, const HttpLimits& limits,
                                                RequestHead& out) {
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Fail(400, "the request line is not a method, a target and a version");
  }
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method) || method.size() > kMaxMethodBytes) return Fail(400, "malformed method");
  if (target.size() > limits.max_url_bytes) {
    return Fail(414, "the request target is longer than http.max_url_bytes");
  }
  if (target.empty() || !std::ranges::all_of(target, IsVisible)) {
    return Fail(400, "malformed request target");
  }
  // Absolute form (as sent to a proxy): the path of it.
  for (const std::string_view scheme : {"http://", "https://"}) {
    if (target.size() > scheme.size() &&
        EqualsIgnoreCase(target.substr(0, scheme.size()), scheme)) {
      const size_t slash = target.find('/', scheme.size());
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  if (target.front() != '/') return Fail(400, "the request target is not a path");
  if (version == "HTTP/1.1") {
    out.minor_version = 1;
  } else if (version == "HTTP/1.0") {
    out.minor_version = 0;
  } else if (version.size() == 8 && version.starts_with("HTTP/") && version[6] == '.') {
    return Fail(505, "only HTTP/1.0 and HTTP/1.1 are served");
  } else {
    return Fail(400, "malformed HTTP version");
  }
  out.method = method;
  const size_t question = target.find('?');
  out.path = target.substr(0, question);
  out.query = question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  out.keep_alive = out.minor_version == 1;
  return {};
}

// One header field: the ones that change how the request is read are kept in `out`.
std::expected<void, HeadError> ParseField(std::string_view line, bool& saw_length,
                                          bool& saw_authorization, RequestHead& out) {
  if (line.front() == ' ' || line.front() == '\t') return Fail(400, "folded header field");
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
    return Fail(400, "malformed header field");
  }
  const std::string_view name = line.substr(0, colon);
  const std::string_view value = TrimOws(line.substr(colon + 1));
  if (!std::ranges::all_of(value, IsFieldValueChar)) return Fail(400, "malformed header value");
  if (EqualsIgnoreCase(name, "content-length")) {
    if (value.empty() || value.size() > 18 ||
        !std::ranges::all_of(value, [](char c) { return c >= '0' && c <= '9'; })) {
      return Fail(400, "malformed Content-Length");
    }
    const uint64_t length = std::stoull(std::string(value));
    if (saw_length && length != out.content_length) return Fail(400, "two Content-Lengths");
    saw_length = true;
    out.content_length = length;
  } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
    return Fail(501, "request bodies framed by Transfer-Encoding are not read");
  } else if (EqualsIgnoreCase(name, "connection")) {
    std::string_view rest = value;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view option = TrimOws(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (EqualsIgnoreCase(option, "close")) out.keep_alive = false;
      if (EqualsIgnoreCase(option, "keep-alive") && out.minor_version == 0) out.keep_alive = true;
    }
  } else if (EqualsIgnoreCase(name, "authorization")) {
    if (saw_authorization) return Fail(400, "two Authorization fields");
    saw_authorization = true;
    out.authorization = value;
  }
  return {};
}

}  // namespace

HeadScanner::State HeadScanner::Refuse(int status, std::string reason) {
  error_ = HeadError{status, std::move(reason)};
  return State::kRefused;
}

HeadScanner::State HeadScanner::Scan(std::string_view buffer) {
  if (head_size_ != 0) return State::kComplete;
  if (!error_.reason.empty()) return State::kRefused;
  for (; pos_ < buffer.size(); ++pos_) {
    if (request_line_end_ == 0 && pos_ - line_start_ > limits_.max_url_bytes + kRequestLineSlack) {
      return Refuse(414, "the request line is longer than http.max_url_bytes allows");
    }
    if (request_line_end_ != 0 && pos_ - request_line_end_ > limits_.max_header_bytes) {
      return Refuse(431, "the header fields are longer than http.max_header_bytes");
    }
    if (buffer[pos_] != '\n') continue;
    const size_t length = pos_ - line_start_;
    const bool empty = length == 0 || (length == 1 && buffer[line_start_] == '\r');
    if (request_line_end_ == 0) {
      if (!empty) {
        request_line_end_ = pos_ + 1;
      } else if (pos_ + 1 > kMaxLeadingEmptyBytes) {
        return Refuse(400, "empty lines before the request line");
      }
    } else if (empty) {
      head_size_ = pos_ + 1;
      return State::kComplete;
    } else if (++lines_ > limits_.max_headers) {
      return Refuse(431, "more header fields than http.max_headers");
    }
    line_start_ = pos_ + 1;
  }
  return State::kIncomplete;
}

std::expected<RequestHead, HeadError> ParseRequestHead(std::string_view head,
                                                       const HttpLimits& limits) {
  const std::vector<std::string_view> lines = Lines(head);
  if (lines.empty()) return Fail(400, "no request line");
  RequestHead out;
  if (auto ok = ParseRequestLine(lines.front(), limits, out); !ok) {
    return std::unexpected(ok.error());
  }
  bool saw_length = false;
  bool saw_authorization = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    if (auto ok = ParseField(lines[i], saw_length, saw_authorization, out); !ok) {
      return std::unexpected(ok.error());
    }
  }
  if (out.content_length > limits.max_body_bytes) {
    return Fail(413, "the request body is longer than http.max_body_bytes");
  }
  return out;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
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
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

}  // namespace kpi::sinks
