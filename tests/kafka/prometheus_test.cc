// The processor's metrics through a real Prometheus server (Debian's `prometheus`), with the
// mock broker and the processor as separate processes on loopback ports: the KPI and backlog
// series that Prometheus scraped, read back through its HTTP API, have the values of the replay
// table for the same input; /kpi serves that whole table; the alert rules load.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include "tools/cluster/harness.h"
#include "tools/cluster/http_get.h"
#include "tools/cluster/raw_http.h"
#include "tools/gen/generator.h"

namespace kpi::testing {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;

double UnixSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::optional<Struct> ParseJson(const std::string& text) {
  Struct s;
  if (!google::protobuf::util::JsonStringToMessage(text, &s).ok()) return std::nullopt;
  return s;
}

// An instant query through Prometheus's API: label set -> value, for every series of the result.
std::map<std::map<std::string, std::string>, double> Query(int port, const std::string& promql) {
  std::map<std::map<std::string, std::string>, double> out;
  const auto [status, body] = HttpGet(port, "/api/v1/query?query=" + UrlEncode(promql));
  if (status != 200) return out;
  const std::optional<Struct> json = ParseJson(body);
  if (!json) return out;
  const ListValue& result =
      json->fields().at("data").struct_value().fields().at("result").list_value();
  for (const auto& item : result.values()) {
    const auto& fields = item.struct_value().fields();
    std::map<std::string, std::string> labels;
    for (const auto& [k, v] : fields.at("metric").struct_value().fields()) {
      labels[k] = v.string_value();
    }
    out[labels] = std::stod(fields.at("value").list_value().values(1).string_value());
  }
  return out;
}

TEST(PrometheusTest, ScrapedKpiAndBacklogSeriesEqualTheReplayTable) {
  ASSERT_TRUE(fs::exists("/usr/bin/prometheus"))
      << "needs Debian's prometheus package (tools/install-deps.sh installs it)";
  const fs::path dir = fs::temp_directory_path() / ("kpi_prometheus_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  MockKafka mock(dir, 1, TopicSpecs(2, 1));
  ASSERT_FALSE(mock.bootstraps().empty()) << Tail(dir / "mock-kafka.log");

  // A generated authority; as_of inside its last week, so that both gauge weeks have data.
  gen::Params p;
  p.children = 250;
  p.weeks = 8;
  p.start = Date::FromYmd(2026, 1, 5);
  p.malformed_rate = 0.01;
  const Date as_of = gen::PeriodEnd(p) - 4;
  std::vector<std::string> lines;
  gen::Generate(p, [&](std::string_view line) { lines.emplace_back(line); });
  ASSERT_TRUE(ProduceAll(mock.bootstraps(), lines));

  const int metrics_port = FreePort();
  const int http_port = FreePort();
  const int prometheus_port = FreePort();
  {
    std::ofstream cfg(dir / "config.yaml");
    cfg << "kafka:\n  bootstrap.servers: " << mock.bootstraps()
        << "\n  session.timeout.ms: 6000\n  fetch.wait.max.ms: 50\n"
        << "state:\n  path: " << (dir / "state").string() << "\n  block_cache_mb: 16\n"
        << "processing:\n  as_of: " << as_of.ToString() << "\n"
        << "metrics:\n  address: 127.0.0.1:" << metrics_port
        << "\n  dimensions: all, school, year, sen, category, age, gender, ethnicity, outcome"
        << "\nhttp:\n  address: 127.0.0.1:" << http_port << "\n  header_timeout_ms: 1500\n";
  }
  Process processor(
      {(BinaryDir() / "kpi-processor").string(), "run", "--config", (dir / "config.yaml").string()},
      dir / "processor.log");
  {
    std::ofstream cfg(dir / "prometheus.yml");
    cfg << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "rule_files:\n  - " << KPI_SOURCE_DIR << "/deploy/prometheus/alerts.yml\n"
        << "scrape_configs:\n  - job_name: kpi-processor\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << metrics_port << "']\n";
  }
  Process prometheus({"/usr/bin/prometheus", "--config.file=" + (dir / "prometheus.yml").string(),
                      "--storage.tsdb.path=" + (dir / "tsdb").string(),
                      "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)},
                     dir / "prometheus.log");

  // Everything consumed and committed, then a scrape after that.
  const int64_t deadline = NowMs() + 120000;
  while (NowMs() < deadline &&
         CommittedRecords(dir / "state") != static_cast<int64_t>(lines.size())) {
    ASSERT_TRUE(processor.running()) << Tail(dir / "processor.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(CommittedRecords(dir / "state"), static_cast<int64_t>(lines.size()))
      << Tail(dir / "processor.log");
  // The view (and so the gauges) changes after a commit is delivered, and lags are reported once
  // a second: wait until /kpi shows the final table, then for a scrape taken after that and after
  // the next status report.
  const Table expected = ReplayTable(lines, as_of);
  while (NowMs() < deadline && ServedTable(http_port) != expected) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const double settled = UnixSeconds() + 1.5;
  double scraped_at = 0;
  while (NowMs() < deadline && scraped_at <= settled) {
    const auto r = Query(prometheus_port, "max(timestamp(kpi_ready))");
    scraped_at = r.empty() ? 0 : r.begin()->second;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  ASSERT_GT(scraped_at, settled) << Tail(dir / "prometheus.log");
  EXPECT_EQ(Query(prometheus_port, "sum(kpi_events_consumed_total)").begin()->second,
            static_cast<double>(lines.size()));
  // Part II records are counted by their kind, not as "unknown" (which is only what did not
  // decode).
  for (const char* kind :
       {"ehc_request", "ehc_advice", "ehc_plan", "ehc_review", "review", "visit"}) {
    EXPECT_FALSE(
        Query(prometheus_port, std::string("kpi_events_consumed_total{kind=\"") + kind + "\"}")
            .empty())
        << kind;
  }

  // The http.* settings reach the processor's server: a connection that sends nothing is cut
  // off at http.header_timeout_ms (1,500 ms here), and counted in the metrics.
  {
    auto silent = kpi::testing::RawConnection::Open(http_port, kpi::testing::RawOptions{});
    ASSERT_TRUE(silent.has_value()) << silent.error();
    const int64_t start = NowMs();
    EXPECT_TRUE(silent->WaitClosed(5000)) << "a silent connection was not cut off within 5 s";
    EXPECT_GE(NowMs() - start, 1400);
    EXPECT_LE(NowMs() - start, 2500) << "http.header_timeout_ms is 1500";
    const auto [status, body] = HttpGet(metrics_port, "/metrics");
    EXPECT_NE(body.find("kpi_http_connections_closed_total{endpoint=\"http\",reason=\"header_"
                        "timeout\"} 1\n"),
              std::string::npos)
        << status;
  }

  const Date weeks[2] = {as_of.WeekStart(), as_of.WeekStart() - 7};
  const auto expect_value = [&](const std::string& kpi, Date week, const std::string& dim,
                                bool base) -> double {
    const auto it = expected.find(kpi + "|" + week.ToString() + "|" + dim);
    if (it == expected.end()) return 0;
    return static_cast<double>(base ? it->second.second : it->second.first);
  };
  // Every scraped KPI series has the replay value ...
  size_t checked = 0;
  for (const bool base : {false, true}) {
    for (const auto& [labels, value] : Query(prometheus_port, base ? "kpi_base" : "kpi_count")) {
      const Date week = labels.at("period") == "current" ? weeks[0] : weeks[1];
      EXPECT_EQ(value, expect_value(labels.at("kpi"), week, labels.at("dimension"), base))
          << (base ? "kpi_base " : "kpi_count ") << labels.at("kpi") << " " << labels.at("period")
          << " " << labels.at("dimension");
      ++checked;
    }
  }
  // ... and every replay row of the two weeks has its series.
  const auto counts = Query(prometheus_port, "kpi_count");
  size_t rows_in_weeks = 0;
  for (const auto& [key, value] : expected) {
    const std::string week = key.substr(key.find('|') + 1, 10);
    const bool current = week == weeks[0].ToString();
    if (!current && week != weeks[1].ToString()) continue;
    ++rows_in_weeks;
    const std::string kpi = key.substr(0, key.find('|'));
    const std::string dim = key.substr(key.rfind('|') + 1);
    bool found = false;
    for (const auto& [labels, v] : counts) {
      if (labels.at("kpi") == kpi && labels.at("dimension") == dim &&
          labels.at("period") == (current ? "current" : "previous")) {
        found = true;
      }
    }
    EXPECT_TRUE(found) << key;
  }
  EXPECT_GT(rows_in_weeks, 100u) << "the input should fill both weeks";
  EXPECT_GT(checked, rows_in_weeks);
  // Backlogs: the current week's snapshot, all children; some must be non-zero.
  double backlog_total = 0;
  for (const auto& [labels, value] : Query(prometheus_port, "kpi_backlog")) {
    const std::string& name = labels.at("backlog");
    const size_t visits = name.find("_visits_overdue");
    if (visits != std::string::npos) {  // the children of the base not in timescale
      const std::string kpi = name.substr(0, visits) + "_visits_in_timescale";
      EXPECT_EQ(value, expect_value(kpi, weeks[0], "all", true) -
                           expect_value(kpi, weeks[0], "all", false))
          << name;
    } else {
      EXPECT_EQ(value, expect_value(name, weeks[0], "all", false)) << name;
    }
    backlog_total += value;
  }
  EXPECT_GT(backlog_total, 0);
  EXPECT_EQ(Query(prometheus_port, "kpi_backlog").size(), 18u);
  EXPECT_EQ(Query(prometheus_port, "kpi_ready").begin()->second, 1);
  EXPECT_FALSE(Query(prometheus_port, "kpi_consumer_lag").empty());
  EXPECT_EQ(Query(prometheus_port, "sum(kpi_consumer_lag)").begin()->second, 0);
  const auto dead = Query(prometheus_port, "sum(kpi_dead_letters_total)");
  EXPECT_GT(dead.begin()->second, 0) << "1% malformed input";

  // The alert rules loaded into the real server.
  const auto [rules_status, rules] = HttpGet(prometheus_port, "/api/v1/rules");
  EXPECT_EQ(rules_status, 200);
  EXPECT_NE(rules.find("S47WithoutIcpcOverdue"), std::string::npos);
  EXPECT_EQ(rules.find("\"health\":\"err\""), std::string::npos) << rules;

  // /kpi serves exactly the replay table (every week), and the probes answer.
  EXPECT_EQ(ServedTable(http_port), expected);
  EXPECT_EQ(HttpGet(http_port, "/readyz").first, 200);
  EXPECT_EQ(HttpGet(http_port, "/healthz").first, 200);

  processor.Signal(SIGTERM);
  EXPECT_EQ(processor.Wait(30000), 0);
  prometheus.Signal(SIGTERM);
  prometheus.Wait(30000);
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace kpi::testing
