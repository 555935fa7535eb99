#include "sinks/prometheus/server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <sstream>
#include <thread>

#include "sinks/query.h"
#include "sinks/web/basic_auth.h"
#include "sinks/web/tls_context.h"

namespace kpi::sinks {
namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The answer to a request that reached a server: method, path, query.
using Route = std::function<HttpResponse(std::string_view, std::string_view, std::string_view)>;

HttpResponse PlainText(int status, std::string body) {
  return HttpResponse{status, "text/plain; charset=utf-8", std::move(body)};
}

// "host:port" -> host (without IPv6 brackets), port; nullopt when malformed.
std::optional<std::pair<std::string, int>> SplitAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = -1;
  const std::string digits = address.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  port = std::stoi(digits);
  if (port > 65535) return std::nullopt;
  return std::pair{host, port};
}

bool IsLoopback(const std::string& address) {
  const std::string host = address.substr(0, address.rfind(':'));
  return host.starts_with("127.") || host == "localhost" || host == "[::1]";
}

}  // namespace

// What both endpoints use from their threads: the collector, the TLS settings, the users.
struct Server::Shared {
  std::shared_ptr<ProcessorCollector> collector;
  std::optional<TlsServerConfig> tls;  // empty: plain HTTP
  std::optional<BasicAuth> auth;       // empty: no authentication
};

// One HTTP server (cpp-httplib) and its listening thread: TLS when `tls` is set, basic
// authentication when `auth` is set (except on the probes), then `route`.
class Server::Endpoint {
 public:
  static std::expected<std::unique_ptr<Endpoint>, std::string> Start(const std::string& setting,
                                                                     const std::string& address,
                                                                     const Shared& shared,
                                                                     Route route) {
    const auto host_port = SplitAddress(address);
    if (!host_port) return std::unexpected(setting + ": expected host:port, got " + address);
    std::unique_ptr<Endpoint> e(new Endpoint(shared, std::move(route)));
    if (shared.tls) {
      const TlsServerConfig tls = *shared.tls;
      e->server_ = std::make_unique<httplib::SSLServer>(
          [tls](SSL_CTX& ctx) { return ConfigureServerContext(ctx, tls).has_value(); });
    } else {
      e->server_ = std::make_unique<httplib::Server>();
    }
    if (!e->server_->is_valid()) {
      return std::unexpected(setting + ": cannot set up TLS on " + address);
    }
    httplib::Server& s = *e->server_;
    s.new_task_queue = [] { return new httplib::ThreadPool(2); };
    s.set_keep_alive_max_count(1);  // a request per connection: idle clients hold no thread
    s.set_read_timeout(5, 0);
    s.set_payload_max_length(size_t{64} * 1024);
    // SO_REUSEADDR only: SO_REUSEPORT (httplib's default) would let a second process share the
    // port silently.
    s.set_socket_options([](int sock) {
      const int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    const auto handler = [self = e.get()](const httplib::Request& req, httplib::Response& res) {
      self->Serve(req, res);
    };
    s.Get(".*", handler);
    s.Post(".*", handler);
    errno = 0;
    const auto& [host, port] = *host_port;
    e->port_ = port == 0 ? s.bind_to_any_port(host) : (s.bind_to_port(host, port) ? port : -1);
    if (e->port_ <= 0) {
      const int error = errno;
      return std::unexpected(setting + ": cannot listen on " + address +
                             (error != 0 ? std::string(": ") + std::strerror(error) : ""));
    }
    e->thread_ = std::thread([&s, &ended = e->ended_] {
      s.listen_after_bind();
      ended = true;
    });
    // httplib's stop() does nothing until the loop runs: a server stopped sooner would be left
    // listening, and the join in the destructor would wait for ever. So wait for the loop.
    while (!s.is_running() && !e->ended_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (e->ended_) return std::unexpected(setting + ": cannot serve on " + address);
    return e;
  }
  ~Endpoint() {
    if (server_ != nullptr) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return port_; }

 private:
  Endpoint(const Shared& shared, Route route) : shared_(shared), route_(std::move(route)) {}

  void Serve(const httplib::Request& req, httplib::Response& res) const {
    res.set_header("Cache-Control", "no-store");
    if (shared_.auth && req.path != "/healthz" && req.path != "/readyz" &&
        !shared_.auth->Allows(req.get_header_value("Authorization"))) {
      res.status = 401;
      res.set_header("WWW-Authenticate", std::string(BasicAuth::kChallenge));
      res.set_content("unauthorized\n", "text/plain; charset=utf-8");
      return;
    }
    const size_t question = req.target.find('?');
    const std::string_view query = question == std::string::npos
                                       ? std::string_view()
                                       : std::string_view(req.target).substr(question + 1);
    const HttpResponse r = route_(req.method, req.path, query);
    res.status = r.status;
    res.set_content(r.body, r.content_type);
  }

  const Shared& shared_;
  Route route_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> ended_{false};  // the listening loop returned
  int port_ = 0;
};

std::expected<std::unique_ptr<Server>, std::string> Server::Start(
    const RuntimeProbe& probe, const ServerOptions& options, std::shared_ptr<spdlog::logger> log) {
  std::unique_ptr<Server> s(new Server());
  s->shared_ = std::make_unique<Shared>();
  Shared& shared = *s->shared_;
  shared.collector = std::make_shared<ProcessorCollector>(probe, options.metrics, log);
  if (options.web.tls) {
    // Checked here for the message; each server then sets up its own context the same way.
    if (auto tls = MakeServerContext(*options.web.tls); !tls) {
      return std::unexpected("web configuration: " + tls.error());
    }
    shared.tls = options.web.tls;
  }
  if (!options.web.basic_auth_users.empty()) shared.auth.emplace(options.web.basic_auth_users);

  if (!options.metrics_address.empty()) {
    Route metrics = [collector = shared.collector](std::string_view method, std::string_view path,
                                                   std::string_view) {
      if (path != "/metrics") return PlainText(404, "not found\n");
      if (method != "GET" && method != "HEAD") return PlainText(405, "method not allowed\n");
      std::ostringstream text;
      prometheus::TextSerializer().Serialize(text, collector->Collect());
      return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", text.str()};
    };
    auto e = Endpoint::Start("metrics.address", options.metrics_address, shared, metrics);
    if (!e) return std::unexpected(e.error());
    s->metrics_ = std::move(*e);
  }
  if (!options.http_address.empty()) {
    Route queries = [&probe, stall_ms = options.stall_ms](
                        std::string_view method, std::string_view path, std::string_view query) {
      return HandleHttp(probe, method, path, query, SteadyMs(), stall_ms);
    };
    auto e = Endpoint::Start("http.address", options.http_address, shared, queries);
    if (!e) return std::unexpected(e.error());
    s->http_ = std::move(*e);
  }
  if (log != nullptr) {
    log->info("metrics on {} (port {}), queries on {} (port {}); {}, {}",
              options.metrics_address.empty() ? "-" : options.metrics_address, s->metrics_port(),
              options.http_address.empty() ? "-" : options.http_address, s->http_port(),
              shared.tls ? "https" : "http",
              shared.auth ? "basic authentication" : "no authentication");
    for (const std::string& address : {options.metrics_address, options.http_address}) {
      if (!address.empty() && !IsLoopback(address) && (!shared.tls || !shared.auth)) {
        log->warn(
            "{} is reachable beyond this host without {}: set web.config_file "
            "(README, \"Securing the endpoints\")",
            address, shared.tls ? "authentication" : "TLS");
      }
    }
    if (shared.auth && !shared.tls) {
      log->warn("basic authentication without TLS sends passwords in clear text");
    }
  }
  return s;
}

Server::~Server() = default;

int Server::metrics_port() const { return metrics_ != nullptr ? metrics_->port() : 0; }
int Server::http_port() const { return http_ != nullptr ? http_->port() : 0; }

}  // namespace kpi::sinks
