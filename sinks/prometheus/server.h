// Server: the processor's network endpoints. Prometheus exposition at GET /metrics on
// `metrics_address`, and the HTTP queries of sinks/query.h (/kpi, /healthz, /readyz) on
// `http_address`, both served by one EventServer (sinks/http/event_server.h) under `limits`: the
// probes on its own thread, so that they answer in time whatever else is connected, the rest on
// its workers. Either address may be empty to turn that endpoint off;
// the defaults bind to 127.0.0.1 only, so listening elsewhere is an explicit choice in the
// configuration.
//
// `web` secures both (sinks/web/web_config.h): with `tls`, they speak only HTTPS; with users,
// /metrics and /kpi answer 401 without the credentials of one of them. /healthz and /readyz stay
// open to anyone who reaches the port (they say only whether the processor is alive and ready,
// and Kubernetes probes cannot send credentials without writing them into the pod spec), but
// over TLS when TLS is on.
//
// Ownership: borrows the probe, which must outlive the server. Stopping is destruction.
// Thread-safety: the servers run their own threads; the object itself is used from one thread.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sinks/http/event_server.h"
#include "sinks/probe.h"
#include "sinks/prometheus/collector.h"
#include "sinks/web/web_config.h"

namespace spdlog {
class logger;
}

namespace kpi::sinks {

struct ServerOptions {
  std::string metrics_address = "127.0.0.1:9464";  // host:port; port 0 picks a free one
  std::string http_address = "127.0.0.1:9465";
  int64_t stall_ms = 120000;  // /healthz fails when the main loop is silent this long
  MetricsOptions metrics;
  WebConfig web;  // default: plain HTTP, no authentication
  HttpLimits limits;
};

class Server {
 public:
  // Fails with a message naming the address when a port cannot be bound, or naming the file
  // when TLS cannot be set up from the web configuration.
  static std::expected<std::unique_ptr<Server>, std::string> Start(
      const RuntimeProbe& probe, const ServerOptions& options, std::shared_ptr<spdlog::logger> log);
  ~Server();

  int metrics_port() const;  // 0 when off
  int http_port() const;
  // Each port's connection counters; nullopt when that endpoint is off.
  std::optional<HttpStats> metrics_stats() const;
  std::optional<HttpStats> http_stats() const;

 private:
  struct Shared;
  Server() = default;
  std::unique_ptr<Shared> shared_;  // outlives the server, whose threads use it
  std::unique_ptr<EventServer> events_;
  int metrics_index_ = -1;  // listener index in events_; -1 when off
  int http_index_ = -1;
};

}  // namespace kpi::sinks
