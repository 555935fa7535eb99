// The HTTP queries, as pure functions of the probe's state: GET /kpi, /healthz, /readyz.
// sinks/prometheus serves them over a socket; tests call them directly.
//
//   /kpi?kpi=contacts&week=2026-03-02&dimension=all
//     kpi: a KPI name; week: YYYY-MM-DD (the week containing it), `current` or `previous`;
//     dimension: a dimension value (`school=100001`), or a kind (`school`, `year`, `sen`, `all`)
//     for every value of it. Each is optional. 200 with {"as_of", "rows": [...]}, 400 with
//     {"error"} naming the bad parameter, 503 before partitions are assigned and restored.
//   /healthz  200 while the main loop reports (within `stall_ms`), else 503.
//   /readyz   200 once partitions are assigned and restored, else 503.
//
// Thread-safety: pure functions over thread-safe state.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sinks/probe.h"

namespace kpi::sinks {

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers = {};  // besides the usual ones
};

// Decodes an application/x-www-form-urlencoded query string; nullopt on a malformed escape.
std::optional<std::map<std::string, std::string>> ParseQueryString(std::string_view query);

HttpResponse HandleKpiQuery(const RuntimeProbe& probe, std::string_view query);
HttpResponse HandleHealth(const RuntimeProbe& probe, int64_t now_steady_ms, int64_t stall_ms);
HttpResponse HandleReady(const RuntimeProbe& probe);

// Dispatches on the path; 404 for other paths, 405 for other methods.
HttpResponse HandleHttp(const RuntimeProbe& probe, std::string_view method, std::string_view path,
                        std::string_view query, int64_t now_steady_ms, int64_t stall_ms);

}  // namespace kpi::sinks
