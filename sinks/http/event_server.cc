#include "sinks/http/event_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <ctime>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

namespace kpi::sinks {
namespace {

// Scheduling niceness of the server's threads: under load they yield the CPU to the processing
// loop. The Linux scheduler weighs nice 19 at 15 and nice 5 at 335 against nice 0's 1024. The
// network thread only moves bytes and answers the probes, so it stays close to the processing loop;
// the workers (/kpi, /metrics, bcrypt) take what is left.
constexpr int kWorkerNice = 19;
constexpr int kNetworkNice = 5;
constexpr int kLingerMs = 1000;        // reading and dropping what follows a refused request
constexpr int64_t kSweepEveryMs = 25;  // deadline checks
constexpr int64_t kLogEveryMs = 10000;
constexpr int kAcceptPauseMs = 100;  // after accept fails for want of descriptors
constexpr size_t kReadChunk = 16384;
constexpr uint64_t kListenerTag = uint64_t{1} << 63;
constexpr uint64_t kWakeTag = uint64_t{1} << 62;
constexpr std::string_view kTimeoutResponse =
    "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// "host:port" -> host (without IPv6 brackets), port; nullopt when malformed.
std::optional<std::pair<std::string, int>> SplitAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string digits = address.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const int port = std::stoi(digits);
  if (port > 65535) return std::nullopt;
  return std::pair{host, port};
}

// A listening, non-blocking socket on `address`, and the port it got.
std::expected<std::pair<int, int>, std::string> Listen(const std::string& setting,
                                                       const std::string& address) {
  const auto host_port = SplitAddress(address);
  if (!host_port) return std::unexpected(setting + ": expected host:port, got " + address);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port_text = std::to_string(host_port->second);
  const int gai = ::getaddrinfo(host_port->first.empty() ? nullptr : host_port->first.c_str(),
                                port_text.c_str(), &hints, &found);
  if (gai != 0) {
    return std::unexpected(setting + ": cannot resolve " + address + ": " + gai_strerror(gai));
  }
  std::string error = "no address";
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    // SO_REUSEADDR only: SO_REUSEPORT would let a second process share the port silently.
    const int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    sockaddr_storage bound{};
    socklen_t length = sizeof bound;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
    const int port = bound.ss_family == AF_INET6
                         ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
                         : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
    ::freeaddrinfo(found);
    return std::pair{fd, port};
  }
  ::freeaddrinfo(found);
  return std::unexpected(setting + ": cannot listen on " + address + ": " + error);
}

// The address bytes of a peer (an IPv4-mapped IPv6 address as IPv4): the per-client cap's key.
std::string ClientKey(const sockaddr_storage& peer) {
  if (peer.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(peer).sin_addr;
    return {reinterpret_cast<const char*>(&in), sizeof in};
  }
  if (peer.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&in6)) return {reinterpret_cast<const char*>(&in6) + 12, 4};
    return {reinterpret_cast<const char*>(&in6), sizeof in6};
  }
  return {};
}

// An RFC 9110 IMF-fixdate of now, remade at most once a second.
std::string_view HttpDate() {
  thread_local std::time_t made = 0;
  thread_local std::array<char, 40> text{};
  const std::time_t now = std::time(nullptr);
  if (now != made) {
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    std::strftime(text.data(), text.size(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    made = now;
  }
  return text.data();
}

}  // namespace

HttpStats HttpCounters::Get(size_t i) const {
  const Port& p = ports_.at(i);
  HttpStats out;
  out.open_connections = p.open.load();
  out.accepted = p.accepted.load();
  out.requests = p.requests.load();
  for (size_t r = 0; r < kCloseReasonCount; ++r) out.closed[r] = p.closed[r].load();
  return out;
}

std::string_view CloseReasonName(CloseReason reason) {
  switch (reason) {
    case CloseReason::kRefusedAtCap:
      return "refused_at_cap";
    case CloseReason::kEvictedAtCap:
      return "evicted_at_cap";
    case CloseReason::kHeaderTimeout:
      return "header_timeout";
    case CloseReason::kWriteTimeout:
      return "write_timeout";
    case CloseReason::kTooLarge:
      return "too_large";
    case CloseReason::kMalformed:
      return "malformed";
    case CloseReason::kTlsFailed:
      return "tls_failed";
    case CloseReason::kCount:
      break;
  }
  return "unknown";
}

class EventServer::Loop {
 public:
  Loop(const HttpLimits& limits, std::shared_ptr<SSL_CTX> tls, std::shared_ptr<spdlog::logger> log,
       std::shared_ptr<HttpCounters> counters)
      : limits_(limits),
        tls_(std::move(tls)),
        log_(std::move(log)),
        counters_(std::move(counters)) {}

  ~Loop() {
    {
      const std::lock_guard lock(mu_);
      stopping_ = true;
    }
    jobs_ready_.notify_all();
    Wake();
    if (thread_.joinable()) thread_.join();
    for (std::thread& w : workers_) w.join();
    for (auto& [id, c] : conns_) {
      if (c->ssl != nullptr) SSL_free(c->ssl);
      ::close(c->fd);
    }
    for (const auto& p : ports_) ::close(p->fd);
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
  }

  std::expected<void, std::string> Start(std::vector<HttpListener> listeners, int workers) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0) {
      return std::unexpected(std::string("cannot start the HTTP server: ") + std::strerror(errno));
    }
    Watch(wake_fd_, kWakeTag, EPOLLIN);
    for (HttpListener& l : listeners) {
      auto bound = Listen(l.setting, l.address);
      if (!bound) return std::unexpected(bound.error());
      auto port = std::make_unique<Port>(counters_->port(ports_.size()));
      port->index = ports_.size();
      port->fd = bound->first;
      port->port = bound->second;
      port->spec = std::move(l);
      ports_.push_back(std::move(port));
      Watch(ports_.back()->fd, kListenerTag | ports_.back()->index, EPOLLIN);
    }
    // A client that closes while TLS writes to it must not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { WorkerMain(); });
    thread_ = std::thread([this] { Run(); });
    return {};
  }

  int port(size_t i) const { return ports_.at(i)->port; }

  HttpStats stats(size_t i) const { return counters_->Get(i); }

 private:
  enum class Phase { kHandshake, kHead, kBody, kWorking, kWrite, kLinger };

  struct Conn {
    uint64_t id = 0;
    int fd = -1;
    size_t port = 0;
    std::string client;
    SSL* ssl = nullptr;
    Phase phase = Phase::kHead;
    int64_t deadline_ms = 0;
    uint32_t events = 0;  // the epoll interest set now
    bool begun = false;   // bytes of the current request have arrived
    int served = 0;       // responses sent
    std::string in;       // received, not yet used
    std::optional<HeadScanner> scanner;
    RequestHead head;
    uint64_t body_left = 0;
    std::string out;
    size_t out_pos = 0;
    bool close_after = false;
    bool linger = false;
    bool waiting = false;  // on the waiting lists (no whole request head yet)
    std::list<uint64_t>::iterator wait_it;
    std::list<uint64_t>::iterator client_wait_it;
  };

  struct Client {
    int count = 0;
    std::list<uint64_t> waiting;  // this client's connections without a request head, oldest first
  };

  struct Port {
    explicit Port(HttpCounters::Port& counters) : stats(counters) {}
    HttpListener spec;
    size_t index = 0;  // in ports_, and in the counters
    int fd = -1;
    int port = 0;
    size_t open = 0;
    std::list<uint64_t> waiting;  // connections without a request head, oldest first
    std::unordered_map<std::string, Client> clients;
    HttpCounters::Port& stats;
    std::array<uint64_t, kCloseReasonCount> logged{};  // closed[] at the last log line
    uint64_t accept_failures = 0;
    uint64_t accept_failures_logged = 0;
    int64_t paused_until_ms = 0;  // accept paused (no descriptors) until then; 0: not paused
  };

  struct Job {
    uint64_t conn = 0;
    size_t port = 0;
    std::string method, path, query, authorization;
  };
  struct Done {
    uint64_t conn = 0;
    HttpResponse response;
  };

  // --- epoll ---

  void Watch(int fd, uint64_t tag, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }

  void Want(Conn& c, uint32_t events) {
    if (c.events == events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = c.id;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
    c.events = events;
  }

  void Wake() const {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }

  void Run() {
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), kNetworkNice);
    std::array<epoll_event, 256> events{};
    int64_t last_sweep = NowMs();
    int64_t last_log = last_sweep;
    for (;;) {
      if (stopping_.load()) return;
      const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                                 static_cast<int>(kSweepEveryMs));
      now_ = NowMs();
      for (int i = 0; i < n; ++i) {
        const uint64_t tag = events[i].data.u64;
        if (tag == kWakeTag) {
          TakeDone();
        } else if ((tag & kListenerTag) != 0) {
          Accept(*ports_[tag & ~kListenerTag]);
        } else if (const auto it = conns_.find(tag); it != conns_.end()) {
          Conn& c = *it->second;
          if ((events[i].events & (EPOLLERR | EPOLLHUP)) != 0 && c.phase == Phase::kWorking) {
            Close(c, std::nullopt);
          } else {
            Advance(c);
          }
        }
      }
      if (now_ - last_sweep >= kSweepEveryMs) {
        Sweep();
        last_sweep = now_;
      }
      if (now_ - last_log >= kLogEveryMs) {
        LogSummary(now_ - last_log);
        last_log = now_;
      }
    }
  }

  // --- accepting ---

  void Accept(Port& p) {
    for (int i = 0; i < 64; ++i) {
      sockaddr_storage peer{};
      socklen_t length = sizeof peer;
      const int fd = ::accept4(p.fd, reinterpret_cast<sockaddr*>(&peer), &length,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Level-triggered: the listener would wake the loop at once, for ever. Rest it.
          ++p.accept_failures;
          p.paused_until_ms = now_ + kAcceptPauseMs;
          ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, p.fd, nullptr);
        }
        return;
      }
      p.stats.accepted.fetch_add(1);
      const std::string client = ClientKey(peer);
      if (!MakeRoom(p, client)) {
        Count(p, CloseReason::kRefusedAtCap);  // before the close that the client may see
        ::close(fd);
        continue;
      }
      const int yes = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      auto owned = std::make_unique<Conn>();
      Conn& c = *owned;
      c.id = next_id_++;
      c.fd = fd;
      c.port = p.index;
      c.client = client;
      c.deadline_ms = now_ + limits_.header_timeout_ms;
      c.scanner.emplace(limits_);
      if (tls_ != nullptr) {
        c.ssl = SSL_new(tls_.get());
        SSL_set_fd(c.ssl, fd);
        SSL_set_accept_state(c.ssl);
        SSL_set_mode(c.ssl, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        c.phase = Phase::kHandshake;
      }
      c.events = EPOLLIN;
      Watch(fd, c.id, EPOLLIN);
      ++p.open;
      p.stats.open.fetch_add(1);
      ++p.clients[client].count;
      conns_.emplace(c.id, std::move(owned));
      StartWaiting(c);
    }
  }

  // Room for one more connection from `client`: true, after closing the longest-waiting
  // connection of that client (at max_connections_per_client) or of anyone (at max_connections)
  // when needed; false when every connection in the way is busy with a request.
  bool MakeRoom(Port& p, const std::string& client) {
    if (const auto it = p.clients.find(client);
        it != p.clients.end() && it->second.count >= limits_.max_connections_per_client) {
      if (it->second.waiting.empty()) return false;
      Close(*conns_.at(it->second.waiting.front()), CloseReason::kEvictedAtCap);
    }
    if (p.open >= static_cast<size_t>(limits_.max_connections)) {
      if (p.waiting.empty()) return false;
      Close(*conns_.at(p.waiting.front()), CloseReason::kEvictedAtCap);
    }
    return true;
  }

  void StartWaiting(Conn& c) {
    if (c.waiting) return;
    Port& p = *ports_[c.port];
    c.wait_it = p.waiting.insert(p.waiting.end(), c.id);
    std::list<uint64_t>& mine = p.clients[c.client].waiting;
    c.client_wait_it = mine.insert(mine.end(), c.id);
    c.waiting = true;
  }

  void StopWaiting(Conn& c) {
    if (!c.waiting) return;
    Port& p = *ports_[c.port];
    p.waiting.erase(c.wait_it);
    p.clients[c.client].waiting.erase(c.client_wait_it);
    c.waiting = false;
  }

  void Count(Port& p, CloseReason reason) {
    p.stats.closed[static_cast<size_t>(reason)].fetch_add(1);
  }

  void Close(Conn& c, std::optional<CloseReason> reason) {
    Port& p = *ports_[c.port];
    StopWaiting(c);
    if (const auto it = p.clients.find(c.client);
        it != p.clients.end() && --it->second.count == 0) {
      p.clients.erase(it);
    }
    --p.open;
    p.stats.open.fetch_sub(1);
    if (reason) Count(p, *reason);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
    if (c.ssl != nullptr) SSL_free(c.ssl);
    ::close(c.fd);
    conns_.erase(c.id);  // destroys c
  }

  // --- reading and writing ---

  enum class Io { kDone, kBlocked, kClosed };

  // Reads at most `room` bytes onto c.in (or nowhere, when `keep` is false).
  Io Read(Conn& c, size_t room, bool keep) {
    std::array<char, kReadChunk> buffer{};
    const size_t want = std::min(room, buffer.size());
    ssize_t n = 0;
    if (c.ssl != nullptr && c.phase != Phase::kLinger) {
      ERR_clear_error();
      const int r = SSL_read(c.ssl, buffer.data(), static_cast<int>(want));
      if (r <= 0) return TlsBlocked(c, r) ? Io::kBlocked : Io::kClosed;
      n = r;
    } else {
      n = ::recv(c.fd, buffer.data(), want, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        Want(c, EPOLLIN);
        return Io::kBlocked;
      }
      if (n <= 0) return Io::kClosed;
    }
    if (keep) c.in.append(buffer.data(), static_cast<size_t>(n));
    return Io::kDone;
  }

  // After an SSL call returned `r` <= 0: true (with the interest set) when it only has to wait.
  bool TlsBlocked(Conn& c, int r) {
    const int error = SSL_get_error(c.ssl, r);
    if (error == SSL_ERROR_WANT_READ) {
      Want(c, EPOLLIN);
      return true;
    }
    if (error == SSL_ERROR_WANT_WRITE) {
      Want(c, EPOLLOUT);
      return true;
    }
    return false;
  }

  Io Write(Conn& c) {
    while (c.out_pos < c.out.size()) {
      const size_t left = c.out.size() - c.out_pos;
      ssize_t n = 0;
      if (c.ssl != nullptr) {
        ERR_clear_error();
        const int r = SSL_write(c.ssl, c.out.data() + c.out_pos,
                                static_cast<int>(std::min<size_t>(left, 1 << 20)));
        if (r <= 0) return TlsBlocked(c, r) ? Io::kBlocked : Io::kClosed;
        n = r;
      } else {
        n = ::send(c.fd, c.out.data() + c.out_pos, left, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
          Want(c, EPOLLOUT);
          return Io::kBlocked;
        }
        if (n < 0) return Io::kClosed;
      }
      c.out_pos += static_cast<size_t>(n);
    }
    return Io::kDone;
  }

  // Runs a connection's state machine until it has to wait; may close (and destroy) it.
  void Advance(Conn& c) {
    for (;;) {
      switch (c.phase) {
        case Phase::kHandshake: {
          ERR_clear_error();
          const int r = SSL_do_handshake(c.ssl);
          if (r == 1) {
            c.phase = Phase::kHead;
            break;
          }
          if (TlsBlocked(c, r)) return;
          // A peer that connects and leaves is not a failed handshake; one that sent bytes that
          // are not TLS, or a certificate that does not verify, is.
          const bool quiet = ERR_peek_error() == 0;
          Close(c, quiet ? std::nullopt : std::optional(CloseReason::kTlsFailed));
          return;
        }
        case Phase::kHead: {
          const HeadScanner::State state = c.scanner->Scan(c.in);
          if (state == HeadScanner::State::kComplete) {
            OnHead(c);
            break;
          }
          if (state == HeadScanner::State::kRefused) {
            Refuse(c, c.scanner->error());
            break;
          }
          const size_t cap = limits_.max_url_bytes + limits_.max_header_bytes + 256;
          if (c.in.size() >= cap) {  // the scanner refuses sooner; this bounds the buffer anyway
            Refuse(c, HeadError{431, "the request head is too long"});
            break;
          }
          const Io io = Read(c, cap - c.in.size(), true);
          if (io == Io::kBlocked) return;
          if (io == Io::kClosed) return Close(c, std::nullopt);
          c.begun = true;
          break;
        }
        case Phase::kBody: {
          const uint64_t used = std::min<uint64_t>(c.body_left, c.in.size());
          c.in.erase(0, used);
          c.body_left -= used;
          if (c.body_left == 0) {
            Dispatch(c);
            break;
          }
          const Io io = Read(c, c.body_left, false);
          if (io == Io::kBlocked) return;
          if (io == Io::kClosed) return Close(c, std::nullopt);
          break;
        }
        case Phase::kWorking:
          Want(c, 0);
          return;
        case Phase::kWrite: {
          const Io io = Write(c);
          if (io == Io::kBlocked) return;
          if (io == Io::kClosed) return Close(c, std::nullopt);
          if (!FinishResponse(c)) return;
          break;
        }
        case Phase::kLinger: {
          const Io io = Read(c, kReadChunk, false);
          if (io == Io::kBlocked) return;
          if (io == Io::kClosed) return Close(c, std::nullopt);
          break;
        }
      }
    }
  }

  void OnHead(Conn& c) {
    StopWaiting(c);
    auto head = ParseRequestHead(std::string_view(c.in).substr(0, c.scanner->head_size()), limits_);
    c.in.erase(0, c.scanner->head_size());
    c.scanner->Reset();
    if (!head) return Refuse(c, head.error());
    c.head = std::move(*head);
    c.body_left = c.head.content_length;
    c.phase = Phase::kBody;  // dispatched once the body (if any) is read and dropped
  }

  void Dispatch(Conn& c) {
    const Port& p = *ports_[c.port];
    const HttpListener& spec = p.spec;
    if (std::ranges::find(spec.inline_paths, c.head.path) != spec.inline_paths.end()) {
      const HttpRequest request{c.head.method, c.head.path, c.head.query, c.head.authorization};
      return Respond(c, spec.inline_handler(request));
    }
    c.phase = Phase::kWorking;
    Want(c, 0);
    {
      const std::lock_guard lock(mu_);
      jobs_.push_back(
          Job{c.id, c.port, c.head.method, c.head.path, c.head.query, c.head.authorization});
    }
    jobs_ready_.notify_one();
  }

  void Respond(Conn& c, const HttpResponse& r) {
    const bool last = !c.head.keep_alive || c.served + 1 >= limits_.max_requests_per_connection;
    c.close_after = c.close_after || last;
    std::string& out = c.out;
    out.clear();
    out.reserve(256 + r.body.size());
    out += "HTTP/1.1 ";
    out += std::to_string(r.status);
    out += ' ';
    out += ReasonPhrase(r.status);
    out += "\r\nContent-Type: ";
    out += r.content_type;
    out += "\r\nContent-Length: ";
    out += std::to_string(r.body.size());
    out += "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nDate: ";
    out += HttpDate();
    for (const auto& [name, value] : r.headers) {
      out += "\r\n";
      out += name;
      out += ": ";
      out += value;
    }
    if (c.close_after) {
      out += "\r\nConnection: close";
    } else if (c.head.minor_version == 0) {
      out += "\r\nConnection: keep-alive";
    }
    out += "\r\n\r\n";
    if (c.head.method != "HEAD") out += r.body;
    c.out_pos = 0;
    c.phase = Phase::kWrite;
    c.deadline_ms = now_ + limits_.write_timeout_ms;
    ports_[c.port]->stats.requests.fetch_add(1);
  }

  // Answers a request refused before any handler, then closes after lingering.
  void Refuse(Conn& c, const HeadError& error) {
    StopWaiting(c);
    Count(*ports_[c.port], error.status == 413 || error.status == 414 || error.status == 431
                               ? CloseReason::kTooLarge
                               : CloseReason::kMalformed);
    c.in.clear();
    c.close_after = true;
    c.linger = true;
    c.head = RequestHead{};
    Respond(c, HttpResponse{error.status, "text/plain; charset=utf-8",
                            std::string(ReasonPhrase(error.status)) + ": " + error.reason + "\n"});
  }

  // A response is written: false when the connection was closed.
  bool FinishResponse(Conn& c) {
    ++c.served;
    c.out.clear();
    c.out.shrink_to_fit();
    c.out_pos = 0;
    if (c.close_after && c.linger) {
      if (c.ssl != nullptr) {
        ERR_clear_error();
        SSL_shutdown(c.ssl);
      }
      ::shutdown(c.fd, SHUT_WR);
      c.phase = Phase::kLinger;
      c.deadline_ms = now_ + kLingerMs;
      return true;
    }
    if (c.close_after) {
      if (c.ssl != nullptr) {  // close_notify, best effort: nothing waits for it
        ERR_clear_error();
        SSL_shutdown(c.ssl);
      }
      Close(c, std::nullopt);
      return false;
    }
    c.phase = Phase::kHead;
    c.begun = !c.in.empty();
    c.deadline_ms = now_ + limits_.idle_timeout_ms;
    StartWaiting(c);
    return true;
  }

  // --- deadlines, workers, logs ---

  void Sweep() {
    std::vector<uint64_t> late;
    for (const auto& [id, c] : conns_) {
      if (c->phase != Phase::kWorking && c->deadline_ms <= now_) late.push_back(id);
    }
    for (const uint64_t id : late) {
      Conn& c = *conns_.at(id);
      switch (c.phase) {
        case Phase::kHandshake:
          Close(c, CloseReason::kHeaderTimeout);
          break;
        case Phase::kHead:
        case Phase::kBody:
          if (!c.begun && c.served > 0) {  // a kept-alive connection left idle: normal
            Close(c, std::nullopt);
            break;
          }
          if (c.begun) SendTimeoutResponse(c);
          Close(c, CloseReason::kHeaderTimeout);
          break;
        case Phase::kWrite:
          Close(c, CloseReason::kWriteTimeout);
          break;
        case Phase::kLinger:
        case Phase::kWorking:
          Close(c, std::nullopt);
          break;
      }
    }
    for (auto& p : ports_) {
      if (p->paused_until_ms != 0 && p->paused_until_ms <= now_) {
        p->paused_until_ms = 0;
        Watch(p->fd, kListenerTag | p->index, EPOLLIN);
      }
    }
  }

  // A best-effort 408 to a request cut off at its deadline (nothing waits for it to be sent).
  static void SendTimeoutResponse(Conn& c) {
    if (c.ssl != nullptr) {
      ERR_clear_error();
      SSL_write(c.ssl, kTimeoutResponse.data(), static_cast<int>(kTimeoutResponse.size()));
      ERR_clear_error();
    } else {
      [[maybe_unused]] const ssize_t n = ::send(
          c.fd, kTimeoutResponse.data(), kTimeoutResponse.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
  }

  void WorkerMain() {
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), kWorkerNice);
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mu_);
        jobs_ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (stopping_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      Done done{job.conn, {}};
      try {
        done.response = ports_[job.port]->spec.handler(
            HttpRequest{job.method, job.path, job.query, job.authorization});
      } catch (const std::exception&) {
        done.response = HttpResponse{500, "text/plain; charset=utf-8", "internal error\n"};
      }
      {
        const std::lock_guard lock(mu_);
        done_.push_back(std::move(done));
      }
      Wake();
    }
  }

  void TakeDone() {
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = ::read(wake_fd_, &count, sizeof count);
    std::vector<Done> done;
    {
      const std::lock_guard lock(mu_);
      done.swap(done_);
    }
    for (Done& d : done) {
      const auto it = conns_.find(d.conn);
      if (it == conns_.end() || it->second->phase != Phase::kWorking) continue;
      Respond(*it->second, d.response);
      Advance(*it->second);
    }
  }

  void LogSummary(int64_t elapsed_ms) {
    for (auto& p : ports_) {
      std::string what;
      for (size_t r = 0; r < kCloseReasonCount; ++r) {
        const uint64_t now = p->stats.closed[r].load();
        if (now == p->logged[r]) continue;
        if (!what.empty()) what += ", ";
        what += std::string(CloseReasonName(static_cast<CloseReason>(r))) + " " +
                std::to_string(now - p->logged[r]);
        p->logged[r] = now;
      }
      if (p->accept_failures != p->accept_failures_logged) {
        if (!what.empty()) what += ", ";
        what += "accept paused for want of file descriptors " +
                std::to_string(p->accept_failures - p->accept_failures_logged) + " time(s)";
        p->accept_failures_logged = p->accept_failures;
      }
      if (what.empty() || log_ == nullptr) continue;
      log_->warn(
          "{} (port {}): connections turned away or cut off in the last {} s: {}; {} open "
          "(limits: README, \"HTTP limits\")",
          p->spec.setting, p->port, elapsed_ms / 1000, what, p->open);
    }
  }

  const HttpLimits limits_;
  const std::shared_ptr<SSL_CTX> tls_;
  const std::shared_ptr<spdlog::logger> log_;
  const std::shared_ptr<HttpCounters> counters_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::vector<std::unique_ptr<Port>> ports_;
  // The loop thread's own: connections by id (ids are never reused).
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  uint64_t next_id_ = 1;
  int64_t now_ = 0;
  std::thread thread_;
  std::vector<std::thread> workers_;
  std::mutex mu_;  // guards jobs_, done_ (and stopping_'s changes, for jobs_ready_)
  std::condition_variable jobs_ready_;
  std::atomic<bool> stopping_{false};
  std::deque<Job> jobs_;
  std::vector<Done> done_;
};

std::expected<std::unique_ptr<EventServer>, std::string> EventServer::Start(
    std::vector<HttpListener> listeners, const HttpLimits& limits, std::shared_ptr<SSL_CTX> tls,
    std::shared_ptr<spdlog::logger> log, std::shared_ptr<HttpCounters> counters, int workers) {
  if (counters == nullptr) {
    std::vector<std::string> names;
    for (const HttpListener& l : listeners) names.push_back(l.setting);
    counters = std::make_shared<HttpCounters>(std::move(names));
  }
  if (counters->size() != listeners.size()) {
    return std::unexpected("HTTP server: " + std::to_string(counters->size()) + " counters for " +
                           std::to_string(listeners.size()) + " listeners");
  }
  std::unique_ptr<EventServer> server(new EventServer());
  server->loop_ =
      std::make_unique<Loop>(limits, std::move(tls), std::move(log), std::move(counters));
  if (auto started = server->loop_->Start(std::move(listeners), workers); !started) {
    return std::unexpected(started.error());
  }
  return server;
}

EventServer::~EventServer() = default;

int EventServer::port(size_t listener) const { return loop_->port(listener); }
HttpStats EventServer::stats(size_t listener) const { return loop_->stats(listener); }

}  // namespace kpi::sinks
