// EventServer: the HTTP/1.1 server of the processor's endpoints, built so that no client can stop
// it answering others. One thread waits on every socket with epoll and does all the network work
// (accepting, TLS handshakes, reading request heads, writing responses); a connection costs a few
// hundred bytes while it waits, never a thread. Handlers run either on that thread (`inline`
// paths: cheap, for the probes, which so never queue behind other work) or on a small pool of
// worker threads (everything else, including basic authentication's bcrypt). The network thread
// runs at nice 5 and the workers at nice 19, so that HTTP load yields the CPU to the processing
// loop.
//
// Limits (HttpLimits, request_head.h), per port:
//   - a request head must arrive whole within header_timeout_ms of the connection being accepted
//     (the TLS handshake included), and a kept-alive connection's next one within idle_timeout_ms;
//     a response must be written within write_timeout_ms; a connection past its deadline is closed
//     (with 408 when a request had begun);
//   - at max_connections, or at max_connections_per_client from one address, a new connection
//     takes the place of the connection, of all or of that address, that has waited longest for a
//     request head; when every such connection is busy with a request the new one is refused
//     (closed at once). Nothing is queued;
//   - a head longer than the limits is answered 414 or 431 and the connection closed, after the
//     rest of what the client sends is read and dropped for at most a second, so that the client
//     reads the answer instead of a reset.
// Refusals and cut-offs are counted (stats()) and logged at most once every 10 s per port, as
// counts: never an address, a path or a header.
//
// Ownership: the handlers are moved in; the TLS context is shared. Stopping is destruction: it
//   closes every connection and waits for the threads (a handler running is finished first).
// Thread-safety: Start and the destructor from one thread; ports() and stats() from any.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sinks/http/request_head.h"
#include "sinks/query.h"

namespace spdlog {
class logger;
}

namespace kpi::sinks {

// What a handler sees of a request.
struct HttpRequest {
  std::string_view method;
  std::string_view path;
  std::string_view query;
  std::string_view authorization;  // the Authorization field; empty when absent
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Why connections were closed by the server or turned away; index of HttpStats::closed.
enum class CloseReason {
  kRefusedAtCap,   // no room under max_connections or max_connections_per_client
  kEvictedAtCap,   // made room for a new connection at a cap
  kHeaderTimeout,  // no whole request head (or TLS handshake) by the deadline
  kWriteTimeout,   // the client did not read its response in time
  kTooLarge,       // 413, 414 or 431
  kMalformed,      // 400, 501 or 505
  kTlsFailed,      // the TLS handshake failed (not a timeout)
  kCount,
};
inline constexpr size_t kCloseReasonCount = static_cast<size_t>(CloseReason::kCount);
// "refused_at_cap", ...: the metric label of a reason.
std::string_view CloseReasonName(CloseReason reason);

// One port's counters.
struct HttpStats {
  uint64_t open_connections = 0;
  uint64_t accepted = 0;  // connections accepted (refused ones included)
  uint64_t requests = 0;  // responses sent
  std::array<uint64_t, kCloseReasonCount> closed{};
};

// Each port's counters, written by the server's thread and read from any (the metrics read them
// while the server runs, so they live apart from it).
class HttpCounters {
 public:
  struct Port {
    std::atomic<uint64_t> open{0};
    std::atomic<uint64_t> accepted{0};
    std::atomic<uint64_t> requests{0};
    std::array<std::atomic<uint64_t>, kCloseReasonCount> closed{};
  };
  // `names`: a label for each port, in listener order ("metrics", "http").
  explicit HttpCounters(std::vector<std::string> names)
      : names_(std::move(names)), ports_(names_.size()) {}
  size_t size() const { return names_.size(); }
  const std::string& name(size_t i) const { return names_.at(i); }
  Port& port(size_t i) { return ports_.at(i); }
  HttpStats Get(size_t i) const;

 private:
  std::vector<std::string> names_;
  std::vector<Port> ports_;
};

struct HttpListener {
  std::string setting;  // the configuration key of the address, for messages ("http.address")
  std::string address;  // host:port; port 0 picks a free one
  HttpHandler handler;  // on a worker thread
  // Paths answered on the server's own thread by `inline_handler`: it must be quick and never
  // block (the probes). Empty: none.
  std::vector<std::string> inline_paths;
  HttpHandler inline_handler;
};

class EventServer {
 public:
  // Binds every listener (failing with a message naming the setting and address when one cannot
  // be bound) and starts serving. `tls`: every port speaks TLS with it; null: plain HTTP.
  // `counters`: one port per listener; null: the server keeps its own.
  static std::expected<std::unique_ptr<EventServer>, std::string> Start(
      std::vector<HttpListener> listeners, const HttpLimits& limits, std::shared_ptr<SSL_CTX> tls,
      std::shared_ptr<spdlog::logger> log, std::shared_ptr<HttpCounters> counters = nullptr,
      int workers = 2);
  ~EventServer();
  EventServer(const EventServer&) = delete;
  EventServer& operator=(const EventServer&) = delete;

  int port(size_t listener) const;
  HttpStats stats(size_t listener) const;

 private:
  class Loop;
  EventServer() = default;
  std::unique_ptr<Loop> loop_;
};

}  // namespace kpi::sinks
