// A raw HTTP/1.1 client for the tests and benchmarks of the endpoints' limits: a connection that
// can be left idle, fed part of a request or a byte at a time, over TCP or TLS (OpenSSL; the
// server's certificate is not verified: the tests make their own), from a chosen loopback source
// address, with every wait bounded.
//
// Thread-safety: a RawConnection is used from one thread at a time; different ones are
// independent.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace kpi::testing {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct RawOptions {
  bool tls = false;
  bool handshake = true;  // with tls: false connects over TCP and sends nothing at all
  std::string source;     // a local address to connect from ("127.0.0.2"); empty: any
  int timeout_ms = 5000;  // for the connect, the handshake and each later wait
};

class RawConnection {
 public:
  // Connects to 127.0.0.1:port (and shakes hands, with tls). Errors say which step failed.
  static std::expected<RawConnection, std::string> Open(int port, const RawOptions& options);
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) noexcept;
  ~RawConnection();

  // Sends all of `bytes`; false when the connection failed (reset, closed, timed out).
  bool Send(std::string_view bytes);
  // Reads one response (framed by Content-Length) within the timeout.
  std::expected<RawResponse, std::string> ReadResponse();
  // True when the server closes the connection within `timeout_ms` (anything it sends first is
  // read and dropped); false when it is still open then.
  bool WaitClosed(int timeout_ms);

 private:
  RawConnection(int fd, SSL* ssl, int timeout_ms) : fd_(fd), ssl_(ssl), timeout_ms_(timeout_ms) {}
  // >0 bytes read, 0 closed, -1 timed out, -2 failed.
  int ReadSome(char* data, size_t size);
  void SetReadTimeout(int ms) const;

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  int timeout_ms_ = 5000;
  std::string buffered_;
};

// Requests one after another on a kept-alive connection, opening a new connection when there is
// none: at the first request, after the server closed the last ("Connection: close", as it does
// after its per-connection cap), and after a failure.
class KeptAliveClient {
 public:
  KeptAliveClient(int port, RawOptions options) : port_(port), options_(std::move(options)) {}
  // Sends `request` and reads its response; errors say which step failed.
  std::expected<RawResponse, std::string> Request(std::string_view request);

 private:
  int port_;
  RawOptions options_;
  std::optional<RawConnection> connection_;
};

// "GET path HTTP/1.1" with Host and, when given, an Authorization: Basic header for user:password.
std::string GetRequest(std::string_view path, std::string_view credentials = {},
                       bool keep_alive = false);

// One GET on a new connection, and the time it took (connect and handshake included).
struct TimedResponse {
  std::expected<RawResponse, std::string> response;
  std::chrono::microseconds elapsed{};
};
TimedResponse TimedGet(int port, std::string_view path, const RawOptions& options,
                       std::string_view credentials = {});

}  // namespace kpi::testing
