// Server: the processor's network endpoints. Prometheus exposition at GET /metrics through
// prometheus-cpp's Exposer on `metrics_address`, and the HTTP queries of sinks/query.h (/kpi,
// /healthz, /readyz) on `http_address` (civetweb, the server the Exposer is built on). Either
// address may be empty to turn that endpoint off; the defaults bind to 127.0.0.1 only, so
// listening elsewhere is an explicit choice in the configuration.
//
// Ownership: borrows the probe, which must outlive the server. Stopping is destruction.
// Thread-safety: the servers run their own threads; the object itself is used from one thread.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <string>

#include "sinks/probe.h"
#include "sinks/prometheus/collector.h"

class CivetServer;
namespace prometheus {
class Exposer;
}
namespace spdlog {
class logger;
}

namespace kpi::sinks {

struct ServerOptions {
  std::string metrics_address = "127.0.0.1:9464";  // host:port; port 0 picks a free one
  std::string http_address = "127.0.0.1:9465";
  int64_t stall_ms = 120000;  // /healthz fails when the main loop is silent this long
  MetricsOptions metrics;
};

class Server {
 public:
  // Fails with a message naming the address when a port cannot be bound.
  static std::expected<std::unique_ptr<Server>, std::string> Start(
      const RuntimeProbe& probe, const ServerOptions& options, std::shared_ptr<spdlog::logger> log);
  ~Server();

  int metrics_port() const { return metrics_port_; }  // 0 when off
  int http_port() const { return http_port_; }

 private:
  Server() = default;
  class Handler;
  std::shared_ptr<ProcessorCollector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<CivetServer> http_;
  int metrics_port_ = 0;
  int http_port_ = 0;
};

}  // namespace kpi::sinks
