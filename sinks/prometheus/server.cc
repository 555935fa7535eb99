#include "sinks/prometheus/server.h"

#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>
#include <optional>
#include <sstream>

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

bool IsLoopback(const std::string& address) {
  const std::string host = address.substr(0, address.rfind(':'));
  return host.starts_with("127.") || host == "localhost" || host == "[::1]";
}

// Basic authentication (when `auth` is set) in front of `route`, except on the probes.
HttpHandler Guarded(const std::optional<BasicAuth>& auth, Route route) {
  return [&auth, route = std::move(route)](const HttpRequest& req) {
    if (auth && req.path != "/healthz" && req.path != "/readyz" &&
        !auth->Allows(req.authorization)) {
      HttpResponse r = PlainText(401, "unauthorized\n");
      r.headers.emplace_back("WWW-Authenticate", std::string(BasicAuth::kChallenge));
      return r;
    }
    return route(req.method, req.path, req.query);
  };
}

}  // namespace

// What the handlers use from the server's threads: the collector and the users.
struct Server::Shared {
  std::shared_ptr<ProcessorCollector> collector;
  std::optional<BasicAuth> auth;  // empty: no authentication
};

std::expected<std::unique_ptr<Server>, std::string> Server::Start(
    const RuntimeProbe& probe, const ServerOptions& options, std::shared_ptr<spdlog::logger> log) {
  std::unique_ptr<Server> s(new Server());
  s->shared_ = std::make_unique<Shared>();
  Shared& shared = *s->shared_;
  shared.collector = std::make_shared<ProcessorCollector>(probe, options.metrics, log);
  std::shared_ptr<SSL_CTX> tls;
  if (options.web.tls) {
    auto ctx = MakeServerContext(*options.web.tls);
    if (!ctx) return std::unexpected("web configuration: " + ctx.error());
    tls = std::shared_ptr<SSL_CTX>(ctx->release(), SslCtxFree());
  }
  if (!options.web.basic_auth_users.empty()) shared.auth.emplace(options.web.basic_auth_users);

  std::vector<HttpListener> listeners;
  if (!options.metrics_address.empty()) {
    Route metrics = [collector = shared.collector](std::string_view method, std::string_view path,
                                                   std::string_view) {
      if (path != "/metrics") return PlainText(404, "not found\n");
      if (method != "GET" && method != "HEAD") return PlainText(405, "method not allowed\n");
      std::ostringstream text;
      prometheus::TextSerializer().Serialize(text, collector->Collect());
      return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", text.str()};
    };
    s->metrics_index_ = static_cast<int>(listeners.size());
    listeners.push_back(HttpListener{"metrics.address",
                                     options.metrics_address,
                                     Guarded(shared.auth, std::move(metrics)),
                                     {},
                                     {}});
  }
  if (!options.http_address.empty()) {
    Route queries = [&probe, stall_ms = options.stall_ms](
                        std::string_view method, std::string_view path, std::string_view query) {
      return HandleHttp(probe, method, path, query, SteadyMs(), stall_ms);
    };
    // The probes are answered on the server's own thread: they read two atomics and never wait
    // behind /kpi, /metrics or a password check.
    HttpHandler probes = [queries](const HttpRequest& req) {
      return queries(req.method, req.path, req.query);
    };
    s->http_index_ = static_cast<int>(listeners.size());
    listeners.push_back(HttpListener{"http.address",
                                     options.http_address,
                                     Guarded(shared.auth, queries),
                                     {"/healthz", "/readyz"},
                                     std::move(probes)});
  }
  std::vector<std::string> names;
  if (s->metrics_index_ >= 0) names.emplace_back("metrics");
  if (s->http_index_ >= 0) names.emplace_back("http");
  auto counters = std::make_shared<HttpCounters>(std::move(names));
  shared.collector->WatchHttp(counters);
  auto events = EventServer::Start(std::move(listeners), options.limits, tls, log, counters);
  if (!events) return std::unexpected(events.error());
  s->events_ = std::move(*events);
  if (log != nullptr) {
    log->info("metrics on {} (port {}), queries on {} (port {}); {}, {}",
              options.metrics_address.empty() ? "-" : options.metrics_address, s->metrics_port(),
              options.http_address.empty() ? "-" : options.http_address, s->http_port(),
              tls != nullptr ? "https" : "http",
              shared.auth ? "basic authentication" : "no authentication");
    for (const std::string& address : {options.metrics_address, options.http_address}) {
      if (!address.empty() && !IsLoopback(address) && (tls == nullptr || !shared.auth)) {
        log->warn(
            "{} is reachable beyond this host without {}: set web.config_file "
            "(README, \"Securing the endpoints\")",
            address, tls != nullptr ? "authentication" : "TLS");
      }
    }
    if (shared.auth && tls == nullptr) {
      log->warn("basic authentication without TLS sends passwords in clear text");
    }
  }
  return s;
}

Server::~Server() = default;

int Server::metrics_port() const {
  return metrics_index_ >= 0 ? events_->port(static_cast<size_t>(metrics_index_)) : 0;
}
int Server::http_port() const {
  return http_index_ >= 0 ? events_->port(static_cast<size_t>(http_index_)) : 0;
}

std::optional<HttpStats> Server::metrics_stats() const {
  if (metrics_index_ < 0) return std::nullopt;
  return events_->stats(static_cast<size_t>(metrics_index_));
}
std::optional<HttpStats> Server::http_stats() const {
  if (http_index_ < 0) return std::nullopt;
  return events_->stats(static_cast<size_t>(http_index_));
}

}  // namespace kpi::sinks
