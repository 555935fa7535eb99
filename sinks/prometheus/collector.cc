#include "sinks/prometheus/collector.h"

#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <sstream>

namespace kpi::sinks {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

// One sample of a gauge or counter family, labels in name order whatever order the caller gives.
void AddSample(MetricFamily& f, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  std::sort(labels.begin(), labels.end());
  m.label = std::move(labels);
  (f.type == MetricType::Counter ? m.counter.value : m.gauge.value) = value;
  f.metric.push_back(std::move(m));
}

MetricFamily HistogramFamily(std::string name, std::string help, const HistogramSnapshot& h) {
  MetricFamily f = Family(std::move(name), std::move(help), MetricType::Histogram);
  ClientMetric m;
  m.histogram.sample_count = h.cumulative.back();
  m.histogram.sample_sum = h.sum;
  for (size_t i = 0; i < h.cumulative.size(); ++i) {
    m.histogram.bucket.push_back({h.cumulative[i], i < h.bounds.size()
                                                       ? h.bounds[i]
                                                       : std::numeric_limits<double>::infinity()});
  }
  f.metric.push_back(std::move(m));
  return f;
}

double UnixSeconds(Date d) { return static_cast<double>(d.days()) * 86400.0; }

// A backlog is the count of a snapshot KPI, or (`not_in_base`) the children of its base not in its
// count: the visits not in timescale.
struct Backlog {
  std::string_view name;
  Kpi kpi;
  bool not_in_base = false;
};
constexpr std::array<Backlog, 18> kBacklogs = {{
    {"assessments_open", Kpi::kAssessmentsOpen},
    {"assessments_overdue", Kpi::kAssessmentsOverdue},
    {"s47_awaiting_icpc", Kpi::kS47AwaitingIcpc},
    {"s47_icpc_overdue", Kpi::kS47IcpcOverdue},
    {"cp_plans_open", Kpi::kCpPlansOpen},
    {"cin_plans_open", Kpi::kCinPlansOpen},
    {"cla_open", Kpi::kClaOpen},
    {"ehc_decisions_overdue", Kpi::kEhcDecisionsOverdue},
    {"ehc_waiting_over_20w", Kpi::kEhcWaitingOver20w},
    {"ehc_reviews_overdue", Kpi::kEhcReviewsOverdue},
    {"cp_reviews_overdue", Kpi::kCpReviewsOverdue},
    {"cla_reviews_overdue", Kpi::kClaReviewsOverdue},
    {"cp_visits_overdue", Kpi::kCpVisitsInTimescale, true},
    {"cla_visits_overdue", Kpi::kClaVisitsInTimescale, true},
    // KPIS-3.md section 2: the cases about to pass their limit.
    {"assessments_due_soon", Kpi::kAssessmentsDueSoon},
    {"s47_icpc_due_soon", Kpi::kS47IcpcDueSoon},
    {"ehc_decisions_due_soon", Kpi::kEhcDecisionsDueSoon},
    {"ehc_plans_due_soon", Kpi::kEhcPlansDueSoon},
}};

}  // namespace

KpiSelection SelectKpiSeries(const KpiView& view, Date as_of, const MetricsOptions& options) {
  KpiSelection out;
  const Date weeks[2] = {as_of.WeekStart(), as_of.WeekStart() - 7};
  const auto wanted = [&](std::string_view kind) {
    return std::find(options.dimension_kinds.begin(), options.dimension_kinds.end(), kind) !=
           options.dimension_kinds.end();
  };
  // One read of the view per week, then the rows by dimension kind.
  std::vector<Row> week_rows[2];
  for (int p = 0; p < 2; ++p) week_rows[p] = view.Query({.week = weeks[p]});
  for (const std::string_view kind : kDimensionKinds) {
    if (!wanted(kind)) continue;
    for (int p = 0; p < 2; ++p) {
      std::vector<Row> rows;
      for (const Row& r : week_rows[p]) {
        if (DimensionKind(r.dimension) == kind) rows.push_back(r);
      }
      if (kind == "all") {  // every KPI, zero-filled
        std::vector<Row> full;
        for (const Kpi kpi : AllKpis()) {
          const auto it =
              std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return r.kpi == kpi; });
          full.push_back(it != rows.end() ? *it : Row{kpi, weeks[p], "all", 0, 0, 0});
        }
        rows = std::move(full);
      }
      for (Row& row : rows) {
        if (out.series.size() >= options.max_series) {
          ++out.dropped;
          continue;
        }
        out.series.push_back({std::move(row), p == 0});
      }
    }
  }
  return out;
}

ProcessorCollector::ProcessorCollector(const RuntimeProbe& probe, MetricsOptions options,
                                       std::shared_ptr<spdlog::logger> log)
    : probe_(probe), options_(std::move(options)), log_(std::move(log)) {}

void ProcessorCollector::WatchHttp(std::shared_ptr<const HttpCounters> counters) {
  http_ = std::move(counters);
}

void AddHttpFamilies(const HttpCounters& counters, std::vector<MetricFamily>& out) {
  MetricFamily open = Family("kpi_http_connections", "HTTP connections open, by endpoint (port)",
                             MetricType::Gauge);
  MetricFamily accepted = Family("kpi_http_connections_accepted_total",
                                 "HTTP connections accepted, those then refused at a cap included",
                                 MetricType::Counter);
  MetricFamily requests =
      Family("kpi_http_requests_total", "HTTP responses sent, by endpoint", MetricType::Counter);
  MetricFamily closed = Family("kpi_http_connections_closed_total",
                               "HTTP connections the server refused or cut off, by reason "
                               "(README, \"HTTP limits\")",
                               MetricType::Counter);
  for (size_t i = 0; i < counters.size(); ++i) {
    const HttpStats s = counters.Get(i);
    const std::string& endpoint = counters.name(i);
    AddSample(open, static_cast<double>(s.open_connections), {{"endpoint", endpoint}});
    AddSample(accepted, static_cast<double>(s.accepted), {{"endpoint", endpoint}});
    AddSample(requests, static_cast<double>(s.requests), {{"endpoint", endpoint}});
    for (size_t r = 0; r < kCloseReasonCount; ++r) {
      AddSample(closed, static_cast<double>(s.closed[r]),
                {{"endpoint", endpoint},
                 {"reason", std::string(CloseReasonName(static_cast<CloseReason>(r)))}});
    }
  }
  for (MetricFamily* f : {&open, &accepted, &requests, &closed}) out.push_back(std::move(*f));
}

namespace {

void Gauge(std::vector<MetricFamily>& out, std::string name, std::string help, double value) {
  MetricFamily f = Family(std::move(name), std::move(help), MetricType::Gauge);
  AddSample(f, value);
  out.push_back(std::move(f));
}

void Counter(std::vector<MetricFamily>& out, std::string name, std::string help, uint64_t value) {
  MetricFamily f = Family(std::move(name), std::move(help), MetricType::Counter);
  AddSample(f, static_cast<double>(value));
  out.push_back(std::move(f));
}

// Records consumed, applied, stale and dead-lettered; commits, their timing and the lag.
void AddEventFamilies(const ProbeSnapshot& s, std::vector<MetricFamily>& out) {
  MetricFamily consumed = Family("kpi_events_consumed_total",
                                 "Input records read, by topic and event kind (unknown: did not "
                                 "decode)",
                                 MetricType::Counter);
  for (size_t t = 0; t < s.topics.size(); ++t) {
    for (int k = 0; k < kKindSlots; ++k) {
      const uint64_t n = s.consumed[t][k];
      if (n == 0) continue;
      const std::string kind =
          k == kKindSlots - 1 ? "unknown" : std::string(KindName(static_cast<Kind>(k + 1)));
      AddSample(consumed, static_cast<double>(n), {{"topic", s.topics[t]}, {"kind", kind}});
    }
  }
  out.push_back(std::move(consumed));

  MetricFamily applied =
      Family("kpi_events_applied_total", "Valid events applied to the state", MetricType::Counter);
  AddSample(applied, static_cast<double>(s.applied));
  out.push_back(std::move(applied));
  MetricFamily stale =
      Family("kpi_events_stale_total", "Valid events older than the stored version (no change)",
             MetricType::Counter);
  AddSample(stale, static_cast<double>(s.stale));
  out.push_back(std::move(stale));

  MetricFamily dlq = Family("kpi_dead_letters_total", "Input records dead-lettered, by reason code",
                            MetricType::Counter);
  for (int r = 0; r < kDeadLetterReasonCount; ++r) {
    AddSample(dlq, static_cast<double>(s.dead_letters[r]),
              {{"reason", std::string(ReasonCode(static_cast<DeadLetterReason>(r)))}});
  }
  out.push_back(std::move(dlq));

  MetricFamily commits =
      Family("kpi_commits_total", "Commits made durable and delivered", MetricType::Counter);
  AddSample(commits, static_cast<double>(s.commits));
  out.push_back(std::move(commits));
  out.push_back(HistogramFamily("kpi_commit_duration_seconds",
                                "Duration of a commit: state batch written and output delivered",
                                s.commit_duration));
  out.push_back(HistogramFamily(
      "kpi_event_to_commit_latency_seconds",
      "From an input record's Kafka timestamp to the delivery of the commit that covers it",
      s.event_to_commit));

  MetricFamily lag = Family("kpi_consumer_lag",
                            "Records of an assigned input partition not yet consumed (high "
                            "watermark minus position)",
                            MetricType::Gauge);
  for (const PartitionStatus& p : s.status.partitions) {
    if (p.lag < 0) continue;
    AddSample(lag, static_cast<double>(p.lag),
              {{"topic", p.topic}, {"partition", std::to_string(p.partition)}});
  }
  out.push_back(std::move(lag));
}

// The commit clock, RocksDB, readiness and delivery.
void AddStateFamilies(const ProbeSnapshot& s, std::vector<MetricFamily>& out) {
  if (s.last_commit_unix_seconds) {
    Gauge(out, "kpi_last_commit_timestamp_seconds",
          "Unix time of the last successful commit (the process start before the first)",
          *s.last_commit_unix_seconds);
  }
  Gauge(out, "kpi_state_sst_bytes", "RocksDB: total size of the SST files",
        static_cast<double>(s.status.state_sst_bytes));
  Gauge(out, "kpi_state_live_bytes", "RocksDB: estimated size of the live data",
        static_cast<double>(s.status.state_live_bytes));
  Gauge(out, "kpi_block_cache_usage_bytes", "RocksDB: block cache in use",
        static_cast<double>(s.status.block_cache_usage_bytes));
  Gauge(out, "kpi_block_cache_capacity_bytes", "RocksDB: block cache capacity",
        static_cast<double>(s.status.block_cache_capacity_bytes));
  Gauge(out, "kpi_ready", "1 once partitions are assigned and restored", s.ready ? 1 : 0);
  Gauge(out, "kpi_delivery_pending_messages",
        "Output messages the current commit waits for the cluster to acknowledge",
        static_cast<double>(s.delivery_pending));
  Gauge(out, "kpi_delivery_wait_seconds",
        "How long the current commit has waited for the cluster to acknowledge its "
        "output (0 when not waiting); it gives up at commit.delivery_timeout_ms (exit 4)",
        s.delivery_wait_seconds);
}

// Scaled out: tasks, restores, fencing, the emitter and the global table.
void AddScaleFamilies(const sinks::ScaleStatus& scale, std::vector<MetricFamily>& out) {
  Gauge(out, "kpi_tasks_owned", "Scaled out: tasks restored and served by this instance",
        scale.tasks_owned);
  Gauge(out, "kpi_tasks_restoring", "Scaled out: tasks being restored from the changelog",
        scale.tasks_restoring);
  Gauge(out, "kpi_restore_records_remaining",
        "Scaled out: changelog records left to read by the restores under way",
        static_cast<double>(scale.restore_records_remaining));
  {
    MetricFamily f = Family("kpi_restores_total",
                            "Scaled out: task restores completed, by where the state came from",
                            MetricType::Counter);
    AddSample(f, static_cast<double>(scale.restored_local), {{"source", "local"}});
    AddSample(f, static_cast<double>(scale.restored_changelog), {{"source", "changelog"}});
    AddSample(f, static_cast<double>(scale.rebuilt), {{"source", "rebuild"}});
    out.push_back(std::move(f));
  }
  Counter(out, "kpi_fencings_total",
          "Scaled out: tasks found claimed by another instance (this one then exits)",
          scale.fencings);
  Gauge(out, "kpi_emitter", "Scaled out: 1 on the instance publishing the global rows",
        scale.emitter ? 1 : 0);
  Gauge(out, "kpi_global_rows", "Scaled out: rows in the global table",
        static_cast<double>(scale.global_rows));
  Gauge(out, "kpi_cells_lag", "Scaled out: cells-topic records not yet read",
        static_cast<double>(scale.cells_lag));
}

}  // namespace

std::vector<MetricFamily> ProcessorCollector::Collect() const {
  const ProbeSnapshot s = probe_.Snapshot();
  std::vector<MetricFamily> out;
  AddEventFamilies(s, out);
  AddStateFamilies(s, out);
  if (http_ != nullptr) AddHttpFamilies(*http_, out);
  MetricFamily build = Family("kpi_build_info", "Build information", MetricType::Gauge);
  AddSample(build, 1, {{"version", KPI_VERSION}});
  out.push_back(std::move(build));
  if (s.status.scale) AddScaleFamilies(*s.status.scale, out);
  AddKpiFamilies(out);
  return out;
}

// The KPI gauges of the current and previous weeks and the backlogs, once there is a table (and,
// scaled out, on the emitter only).
void ProcessorCollector::AddKpiFamilies(std::vector<MetricFamily>& out) const {
  const std::optional<Date> as_of = probe_.view().as_of();
  if (!as_of) return;                // no table yet: no KPI gauges
  if (!probe_.kpi_gauges()) return;  // scaled out: the emitter exports them
  Gauge(out, "kpi_as_of_timestamp_seconds",
        "The reporting date (midnight UTC of as_of): snapshots are taken at it",
        UnixSeconds(*as_of));
  MetricFamily week_start =
      Family("kpi_week_start_timestamp_seconds",
             "Start (Monday) of the weeks the KPI gauges are about", MetricType::Gauge);
  AddSample(week_start, UnixSeconds(as_of->WeekStart()), {{"period", "current"}});
  AddSample(week_start, UnixSeconds(as_of->WeekStart() - 7), {{"period", "previous"}});
  out.push_back(std::move(week_start));

  const KpiSelection selection = SelectKpiSeries(probe_.view(), *as_of, options_);
  MetricFamily count =
      Family("kpi_count", "KPI value (KPIS.md) of the current or previous week, by dimension",
             MetricType::Gauge);
  MetricFamily base =
      Family("kpi_base", "KPI denominator (rates and in-timescale shares)", MetricType::Gauge);
  MetricFamily backlog =
      Family("kpi_backlog", "Backlogs at as_of (the current week's snapshot, all children)",
             MetricType::Gauge);
  for (const KpiSeries& k : selection.series) {
    std::vector<ClientMetric::Label> labels = {{"dimension", k.row.dimension},
                                               {"kpi", std::string(KpiName(k.row.kpi))},
                                               {"period", k.current ? "current" : "previous"}};
    AddSample(count, static_cast<double>(k.row.count), labels);
    if (HasBase(k.row.kpi)) AddSample(base, static_cast<double>(k.row.base), std::move(labels));
  }
  // Backlogs from the view itself, so that the cap never hides them.
  for (const Backlog& b : kBacklogs) {
    ViewQuery q;
    q.kpi = b.kpi;
    q.week = as_of->WeekStart();
    q.dimension = "all";
    const std::vector<Row> rows = probe_.view().Query(q);
    const int64_t value = rows.empty()    ? 0
                          : b.not_in_base ? rows.front().base - rows.front().count
                                          : rows.front().count;
    AddSample(backlog, static_cast<double>(value), {{"backlog", std::string(b.name)}});
  }
  out.push_back(std::move(count));
  out.push_back(std::move(base));
  out.push_back(std::move(backlog));
  Gauge(out, "kpi_metrics_series_dropped",
        "KPI rows without gauges because metrics.max_series was reached",
        static_cast<double>(selection.dropped));
  if (selection.dropped > 0 && !cap_logged_.exchange(true) && log_ != nullptr) {
    log_->warn(
        "metrics.max_series ({}) reached: {} KPI rows have no gauge; narrow metrics.dimensions or "
        "raise the cap (the output topic and /kpi still have every row)",
        options_.max_series, selection.dropped);
  }
}

std::string SerializeText(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace kpi::sinks
