// ProcessorCollector: the processor's Prometheus metrics, built from a RuntimeProbe snapshot at
// scrape time (prometheus-cpp Collectable). Families, all prefixed kpi_:
//   KPI gauges      kpi_count / kpi_base {kpi, period="current"|"previous", dimension}
//                   kpi_week_start_timestamp_seconds{period}
//   backlogs        kpi_backlog{backlog}: assessments open and overdue, S47s awaiting an ICPC
//                   and overdue, open CP, CIN and looked-after: the current week at as_of
//   operations      kpi_events_consumed_total{topic,kind}, kpi_events_applied_total,
//                   kpi_events_stale_total, kpi_dead_letters_total{reason}, kpi_commits_total,
//                   kpi_commit_duration_seconds, kpi_event_to_commit_latency_seconds,
//                   kpi_consumer_lag{topic,partition}, kpi_last_commit_timestamp_seconds,
//                   kpi_state_sst_bytes, kpi_state_live_bytes, kpi_block_cache_usage_bytes,
//                   kpi_block_cache_capacity_bytes, kpi_as_of_timestamp_seconds, kpi_ready,
//                   kpi_metrics_series_dropped, kpi_build_info
//   HTTP            kpi_http_connections{endpoint}, kpi_http_connections_accepted_total{endpoint},
//                   kpi_http_requests_total{endpoint},
//                   kpi_http_connections_closed_total{endpoint,reason} (when WatchHttp was called)
// No label carries a child's identifier: dimension values are school URNs, year groups and SEN
// statuses, as in the output rows.
//
// Thread-safety: Collect() may run on several exposer threads at once.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "sinks/http/event_server.h"
#include "sinks/probe.h"

namespace spdlog {
class logger;
}

namespace kpi::sinks {

struct MetricsOptions {
  // Dimension kinds that get KPI gauges: any of all, school, year, sen.
  std::vector<std::string> dimension_kinds = {"all", "school", "year", "sen"};
  // At most this many kpi_count series (each with its kpi_base where the KPI has one). The `all`
  // rows come first, then sen, year, school; the rest are dropped and counted in
  // kpi_metrics_series_dropped, and the first drop is logged.
  size_t max_series = 10000;
};

// The KPI rows that get gauges, in export order. `all` rows are present for every KPI and both
// periods (0 when the table has none), so that dashboards and alerts always have the series.
struct KpiSeries {
  Row row;
  bool current = true;  // else the previous week
};
struct KpiSelection {
  std::vector<KpiSeries> series;
  size_t dropped = 0;
};
KpiSelection SelectKpiSeries(const KpiView& view, Date as_of, const MetricsOptions& options);

class ProcessorCollector final : public prometheus::Collectable {
 public:
  // Borrows `probe`, which must outlive the collector.
  ProcessorCollector(const RuntimeProbe& probe, MetricsOptions options,
                     std::shared_ptr<spdlog::logger> log);
  // Exports the HTTP servers' counters too. Call before Collect() can run on another thread.
  void WatchHttp(std::shared_ptr<const HttpCounters> counters);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  void AddKpiFamilies(std::vector<prometheus::MetricFamily>& out) const;

  const RuntimeProbe& probe_;
  MetricsOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  mutable std::atomic<bool> cap_logged_{false};
  std::shared_ptr<const HttpCounters> http_;
};

// The kpi_http_* families of `counters`, appended to `out`.
void AddHttpFamilies(const HttpCounters& counters, std::vector<prometheus::MetricFamily>& out);

// The families as Prometheus text exposition (what /metrics serves).
std::string SerializeText(const std::vector<prometheus::MetricFamily>& families);

}  // namespace kpi::sinks
