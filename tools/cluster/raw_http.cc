#include "tools/cluster/raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "tools/cluster/web_testing.h"

namespace kpi::testing {
namespace {

SSL_CTX* ClientContext() {
  static SSL_CTX* ctx = [] {
    SSL_CTX* c = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    return c;
  }();
  return ctx;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

}  // namespace

std::expected<RawConnection, std::string> RawConnection::Open(int port, const RawOptions& options) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::unexpected(std::string("socket: ") + std::strerror(errno));
  RawConnection c(fd, nullptr, options.timeout_ms);
  timeval tv{options.timeout_ms / 1000, static_cast<suseconds_t>(options.timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  c.SetReadTimeout(options.timeout_ms);
  const int yes = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  if (!options.source.empty()) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, options.source.c_str(), &local.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      return std::unexpected("bind " + options.source + ": " + std::strerror(errno));
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return std::unexpected(std::string("connect: ") + std::strerror(errno));
  }
  if (options.tls && options.handshake) {
    c.ssl_ = SSL_new(ClientContext());
    SSL_set_fd(c.ssl_, fd);
    ERR_clear_error();
    if (SSL_connect(c.ssl_) != 1) {
      return std::unexpected("TLS handshake failed (error " +
                             std::to_string(SSL_get_error(c.ssl_, -1)) + ")");
    }
  }
  return c;
}

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      ssl_(std::exchange(other.ssl_, nullptr)),
      timeout_ms_(other.timeout_ms_),
      buffered_(std::move(other.buffered_)) {}

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  if (this != &other) {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    ssl_ = std::exchange(other.ssl_, nullptr);
    timeout_ms_ = other.timeout_ms_;
    buffered_ = std::move(other.buffered_);
  }
  return *this;
}

RawConnection::~RawConnection() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (fd_ >= 0) ::close(fd_);
  ssl_ = nullptr;
  fd_ = -1;
}

void RawConnection::SetReadTimeout(int ms) const {
  timeval tv{ms / 1000, static_cast<suseconds_t>(ms % 1000) * 1000};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

bool RawConnection::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = 0;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      n = SSL_write(ssl_, bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), 1 << 20)));
    } else {
      n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    }
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

int RawConnection::ReadSome(char* data, size_t size) {
  if (ssl_ != nullptr) {
    ERR_clear_error();
    const int n = SSL_read(ssl_, data, static_cast<int>(size));
    if (n > 0) return n;
    const int error = SSL_get_error(ssl_, n);
    if (error == SSL_ERROR_ZERO_RETURN) return 0;
    if (error == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)) return -1;
    if (error == SSL_ERROR_WANT_READ) return -1;
    return n == 0 && ERR_peek_error() == 0 ? 0 : -2;
  }
  const ssize_t n = ::recv(fd_, data, size, 0);
  if (n >= 0) return static_cast<int>(n);
  if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
  return errno == ECONNRESET ? 0 : -2;
}

std::expected<RawResponse, std::string> RawConnection::ReadResponse() {
  SetReadTimeout(timeout_ms_);
  std::array<char, 65536> chunk{};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
  size_t head_end = std::string::npos;
  size_t length = 0;
  RawResponse r;
  for (;;) {
    if (head_end == std::string::npos) {
      head_end = buffered_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const std::string head = buffered_.substr(0, head_end);
        if (!head.starts_with("HTTP/1.") || head.size() < 12) return std::unexpected("not HTTP");
        r.status = std::stoi(head.substr(9, 3));
        size_t pos = head.find("\r\n");
        while (pos != std::string::npos) {
          const size_t next = head.find("\r\n", pos + 2);
          const std::string line = head.substr(pos + 2, next - pos - 2);
          const size_t colon = line.find(':');
          if (colon != std::string::npos) {
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            r.headers[Lower(line.substr(0, colon))] = value;
          }
          pos = next;
        }
        length = r.headers.contains("content-length") ? std::stoul(r.headers["content-length"]) : 0;
      }
    }
    if (head_end != std::string::npos && buffered_.size() >= head_end + 4 + length) {
      r.body = buffered_.substr(head_end + 4, length);
      buffered_.erase(0, head_end + 4 + length);
      return r;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return std::unexpected("no whole response within " + std::to_string(timeout_ms_) + " ms");
    }
    const int n = ReadSome(chunk.data(), chunk.size());
    if (n == 0) {
      return std::unexpected("the server closed the connection after " +
                             std::to_string(buffered_.size()) + " bytes of response");
    }
    if (n == -1) continue;
    if (n < 0) return std::unexpected("the connection failed");
    buffered_.append(chunk.data(), static_cast<size_t>(n));
  }
}

bool RawConnection::WaitClosed(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::array<char, 65536> chunk{};
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return false;
    SetReadTimeout(static_cast<int>(std::max<int64_t>(1, left)));
    const int n = ReadSome(chunk.data(), chunk.size());
    if (n == 0 || n == -2) return true;
  }
}

std::expected<RawResponse, std::string> KeptAliveClient::Request(std::string_view request) {
  if (!connection_) {
    auto opened = RawConnection::Open(port_, options_);
    if (!opened) return std::unexpected("connect: " + opened.error());
    connection_.emplace(std::move(*opened));
  }
  if (!connection_->Send(request)) {
    connection_.reset();
    return std::unexpected(std::string("the request could not be sent"));
  }
  auto response = connection_->ReadResponse();
  if (!response || response->headers.contains("connection")) connection_.reset();
  return response;
}

std::string GetRequest(std::string_view path, std::string_view credentials, bool keep_alive) {
  std::string r = "GET " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!credentials.empty()) r += "Authorization: Basic " + EncodeBase64(credentials) + "\r\n";
  if (!keep_alive) r += "Connection: close\r\n";
  return r + "\r\n";
}

TimedResponse TimedGet(int port, std::string_view path, const RawOptions& options,
                       std::string_view credentials) {
  const auto start = std::chrono::steady_clock::now();
  TimedResponse out{std::unexpected(std::string("not sent")), {}};
  auto c = RawConnection::Open(port, options);
  if (!c) {
    out.response = std::unexpected(c.error());
  } else if (!c->Send(GetRequest(path, credentials))) {
    out.response = std::unexpected(std::string("the request could not be sent"));
  } else {
    out.response = c->ReadResponse();
  }
  out.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  return out;
}

}  // namespace kpi::testing
