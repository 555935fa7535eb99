#include "sinks/prometheus/server.h"

#include <CivetServer.h>
#include <prometheus/exposer.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "sinks/query.h"

namespace kpi::sinks {
namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

class Server::Handler final : public CivetHandler {
 public:
  Handler(const RuntimeProbe& probe, int64_t stall_ms) : probe_(probe), stall_ms_(stall_ms) {}
  bool handleGet(CivetServer*, mg_connection* conn) override { return Serve(conn, true); }
  bool handleHead(CivetServer*, mg_connection* conn) override { return Serve(conn, false); }
  bool handlePost(CivetServer*, mg_connection* conn) override { return Serve(conn, false); }

 private:
  bool Serve(mg_connection* conn, bool body) {
    const mg_request_info* info = mg_get_request_info(conn);
    const HttpResponse r =
        HandleHttp(probe_, info->request_method != nullptr ? info->request_method : "",
                   info->local_uri != nullptr ? info->local_uri : "",
                   info->query_string != nullptr ? info->query_string : "", SteadyMs(), stall_ms_);
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
              r.status, mg_get_response_code_text(conn, r.status), r.content_type.c_str(),
              r.body.size());
    if (body) mg_write(conn, r.body.data(), r.body.size());
    return true;
  }
  const RuntimeProbe& probe_;
  int64_t stall_ms_;
};

std::expected<std::unique_ptr<Server>, std::string> Server::Start(
    const RuntimeProbe& probe, const ServerOptions& options, std::shared_ptr<spdlog::logger> log) {
  std::unique_ptr<Server> s(new Server());
  s->collector_ = std::make_shared<ProcessorCollector>(probe, options.metrics, log);
  // Both servers are civetweb underneath, which throws when it cannot listen.
  if (!options.metrics_address.empty()) {
    try {
      s->exposer_ = std::make_unique<prometheus::Exposer>(options.metrics_address, 2);
      s->exposer_->RegisterCollectable(s->collector_);
      const std::vector<int> ports = s->exposer_->GetListeningPorts();
      s->metrics_port_ = ports.empty() ? 0 : ports.front();
    } catch (const std::exception& e) {
      return std::unexpected("metrics.address: cannot listen on " + options.metrics_address + ": " +
                             e.what());
    }
  }
  if (!options.http_address.empty()) {
    try {
      s->http_ = std::make_unique<CivetServer>(
          std::vector<std::string>{"listening_ports", options.http_address, "num_threads", "2"});
      s->handler_ = std::make_unique<Handler>(probe, options.stall_ms);
      s->http_->addHandler("/", s->handler_.get());
      const std::vector<int> ports = s->http_->getListeningPorts();
      s->http_port_ = ports.empty() ? 0 : ports.front();
    } catch (const std::exception& e) {
      return std::unexpected("http.address: cannot listen on " + options.http_address + ": " +
                             e.what());
    }
  }
  if (log != nullptr) {
    log->info("metrics on {} (port {}), queries on {} (port {})",
              options.metrics_address.empty() ? "-" : options.metrics_address, s->metrics_port_,
              options.http_address.empty() ? "-" : options.http_address, s->http_port_);
  }
  return s;
}

Server::~Server() {
  if (http_ != nullptr) http_->close();  // stop serving before the handler goes
}

}  // namespace kpi::sinks
