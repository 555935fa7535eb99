// The head of an HTTP/1.x request (RFC 9112: request line and header fields), read under limits.
// The event server (event_server.h) feeds a connection's bytes to a HeadScanner as they arrive,
// which finds the end of the head or refuses it once a limit is passed, looking at each byte once
// however the bytes are split; then ParseRequestHead reads the complete head.
//
// Strict where laxness would let a request mean two things (a request line that is not three
// parts, header folding, two different Content-Lengths, a body framed by Transfer-Encoding);
// lenient where it costs nothing (bare LF line ends, empty lines before the request line).
//
// Thread-safety: value types and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace kpi::sinks {

// The limits of the HTTP endpoints, each configurable (`http.*`, README "Operating"). The reasons
// for each default are in docs/DESIGN.md, "HTTP endpoints".
struct HttpLimits {
  int max_connections = 1024;            // open connections per port
  int max_connections_per_client = 128;  // per port and client address
  int header_timeout_ms = 5000;          // from accept to a whole request head (TLS included)
  int idle_timeout_ms = 5000;            // between requests on a kept-alive connection
  int write_timeout_ms = 10000;          // to send a whole response
  size_t max_url_bytes = 8192;           // the request target (path and query)
  size_t max_header_bytes = 16384;       // the header fields, after the request line
  int max_headers = 100;                 // header field lines
  size_t max_body_bytes = 65536;         // a request body (read and discarded: no path takes one)
  int max_requests_per_connection = 1000;
};

// A request refused before any handler sees it: the status (400, 413, 414, 431, 501, 505) and why.
struct HeadError {
  int status = 400;
  std::string reason;  // never quotes the request: it may hold a child's identifier
};

struct RequestHead {
  std::string method;
  std::string path;   // the target up to '?', as sent (not percent-decoded)
  std::string query;  // after '?', without it; empty when absent
  int minor_version = 1;
  bool keep_alive = true;  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only if asked
  uint64_t content_length = 0;
  std::string authorization;  // the Authorization field; empty when absent
};

// Finds where a request head ends in a growing buffer.
class HeadScanner {
 public:
  enum class State { kIncomplete, kComplete, kRefused };

  explicit HeadScanner(const HttpLimits& limits) : limits_(limits) {}

  // `buffer` is what has arrived so far (it only grows between calls, until Reset). kComplete:
  // the head is buffer[0, head_size()); kRefused: error() says why.
  State Scan(std::string_view buffer);
  size_t head_size() const { return head_size_; }
  const HeadError& error() const { return error_; }
  // Ready for the next request, whose bytes start the buffer.
  void Reset() { *this = HeadScanner(limits_); }

 private:
  State Refuse(int status, std::string reason);

  HttpLimits limits_;
  size_t pos_ = 0;               // bytes looked at
  size_t line_start_ = 0;        // where the current line began
  size_t request_line_end_ = 0;  // 0 until the request line has ended
  int lines_ = 0;                // header lines seen
  size_t head_size_ = 0;
  HeadError error_;
};

// Reads a complete head (as HeadScanner found it, line ends included).
std::expected<RequestHead, HeadError> ParseRequestHead(std::string_view head,
                                                       const HttpLimits& limits);

// The reason phrase of a status code ("Not Found"); "Unknown" for codes not used here.
std::string_view ReasonPhrase(int status);

}  // namespace kpi::sinks
