// Gauge selection (dimension kinds and the cardinality cap), the exposition text, and the
// server: /metrics and the queries over real sockets on 127.0.0.1, free ports.
#include "sinks/prometheus/collector.h"

#include <gtest/gtest.h>

#include "sinks/prometheus/server.h"
#include "tools/cluster/http_get.h"

namespace kpi::sinks {
namespace {

using testing::HttpGet;

const Date kMon = Date::FromYmd(2026, 3, 2);
const Date kWed = Date::FromYmd(2026, 3, 4);

Row R(Kpi kpi, Date week, std::string dim, int64_t count, int64_t base = 0) {
  return Row{kpi, week, std::move(dim), count, base, 1};
}

std::vector<Row> SomeRows() {
  return {
      R(Kpi::kContacts, kMon, "all", 3),           R(Kpi::kContacts, kMon, "school=100001", 2),
      R(Kpi::kContacts, kMon, "school=100002", 1), R(Kpi::kContacts, kMon, "year=7", 3),
      R(Kpi::kContacts, kMon, "sen=none", 3),      R(Kpi::kContacts, kMon - 7, "all", 5),
      R(Kpi::kContacts, kMon - 14, "all", 8),  // older: no gauge
      R(Kpi::kAssessmentsOverdue, kMon, "all", 4), R(Kpi::kAttendanceRate, kMon, "all", 95, 100)};
}

TEST(SelectKpiSeriesTest, AllRowsForEveryKpiAndBothWeeksZeroFilled) {
  KpiView view;
  view.Reset(SomeRows(), kWed);
  MetricsOptions options;
  options.dimension_kinds = {"all"};
  const KpiSelection s = SelectKpiSeries(view, kWed, options);
  ASSERT_EQ(s.series.size(), 2u * kKpiCount);
  EXPECT_EQ(s.dropped, 0u);
  int64_t contacts_current = -1;
  int64_t contacts_previous = -1;
  int64_t referrals_current = -1;
  for (const KpiSeries& k : s.series) {
    EXPECT_EQ(k.row.dimension, "all");
    if (k.row.kpi == Kpi::kContacts)
      (k.current ? contacts_current : contacts_previous) = k.row.count;
    if (k.row.kpi == Kpi::kReferrals && k.current) referrals_current = k.row.count;
  }
  EXPECT_EQ(contacts_current, 3);
  EXPECT_EQ(contacts_previous, 5);
  EXPECT_EQ(referrals_current, 0);
}

TEST(SelectKpiSeriesTest, DimensionKindsAreASetting) {
  KpiView view;
  view.Reset(SomeRows(), kWed);
  MetricsOptions options;
  options.dimension_kinds = {"year", "school"};
  const KpiSelection s = SelectKpiSeries(view, kWed, options);
  std::vector<std::string> dims;
  for (const KpiSeries& k : s.series) dims.push_back(k.row.dimension);
  EXPECT_EQ(dims, (std::vector<std::string>{"year=7", "school=100001", "school=100002"}));
}

TEST(SelectKpiSeriesTest, TheCapKeepsAllThenSmallKindsAndCountsTheRest) {
  KpiView view;
  view.Reset(SomeRows(), kWed);
  MetricsOptions options;  // all kinds
  options.max_series = 2 * kKpiCount + 2;
  const KpiSelection s = SelectKpiSeries(view, kWed, options);
  ASSERT_EQ(s.series.size(), options.max_series);
  EXPECT_EQ(s.series[size_t{2} * kKpiCount].row.dimension, "sen=none");
  EXPECT_EQ(s.series[2 * kKpiCount + 1].row.dimension, "year=7");
  EXPECT_EQ(s.dropped, 2u);  // the two schools
}

class CollectorTest : public ::testing::Test {
 protected:
  CollectorTest() : probe_({"contacts", "attendance"}) {}
  RuntimeProbe probe_;
};

TEST_F(CollectorTest, ExpositionHasTheKpiBacklogAndOperationalSeries) {
  probe_.EventConsumed("contacts", Kind::kContact);
  probe_.EventConsumed("attendance", std::nullopt);
  probe_.DeadLettered(DeadLetterReason::kUnknownCode);
  probe_.Assigned(SomeRows(), kWed);
  StatusReport status;
  status.partitions = {{"contacts", 3, 42}, {"attendance", 0, -1}};
  status.block_cache_capacity_bytes = 8 << 20;
  probe_.Status(status, 1);
  probe_.Committed(0.002, std::vector<int64_t>{1000}, 1500, {}, kWed);
  MetricsOptions options;
  options.max_series = 2 * kKpiCount + 1;
  ProcessorCollector collector(probe_, options, nullptr);
  const std::string text = SerializeText(collector.Collect());
  for (const char* line : {
           "kpi_count{dimension=\"all\",kpi=\"contacts\",period=\"current\"} 3",
           "kpi_count{dimension=\"all\",kpi=\"contacts\",period=\"previous\"} 5",
           "kpi_count{dimension=\"all\",kpi=\"referrals\",period=\"current\"} 0",
           "kpi_base{dimension=\"all\",kpi=\"attendance_rate\",period=\"current\"} 100",
           "kpi_count{dimension=\"sen=none\",kpi=\"contacts\",period=\"current\"} 3",
           "kpi_metrics_series_dropped 3",
           "kpi_backlog{backlog=\"assessments_overdue\"} 4",
           "kpi_backlog{backlog=\"s47_icpc_overdue\"} 0",
           "kpi_events_consumed_total{kind=\"contact\",topic=\"contacts\"} 1",
           "kpi_events_consumed_total{kind=\"unknown\",topic=\"attendance\"} 1",
           "kpi_dead_letters_total{reason=\"unknown_code\"} 1",
           "kpi_dead_letters_total{reason=\"key_mismatch\"} 0",
           "kpi_consumer_lag{partition=\"3\",topic=\"contacts\"} 42",
           "kpi_commit_duration_seconds_bucket{le=\"0.0025\"} 1",
           "kpi_event_to_commit_latency_seconds_bucket{le=\"0.5\"} 1",
           "kpi_event_to_commit_latency_seconds_count 1",
           "kpi_last_commit_timestamp_seconds 1.5",
           "kpi_block_cache_capacity_bytes 8388608",
           "kpi_as_of_timestamp_seconds 1772582400",
           "kpi_week_start_timestamp_seconds{period=\"current\"} 1772409600",
           "kpi_ready 1",
       }) {
    EXPECT_NE(text.find(std::string(line) + "\n"), std::string::npos) << line << "\n" << text;
  }
  EXPECT_EQ(text.find("kpi_base{dimension=\"all\",kpi=\"contacts\""), std::string::npos)
      << "plain counts have no base";
  EXPECT_EQ(text.find("partition=\"0\""), std::string::npos) << "unknown lag is left out";
  EXPECT_EQ(text.find("2026-02-16"), std::string::npos);
}

TEST_F(CollectorTest, ScaledOutRestoresAreCountedBySource) {
  StatusReport status;
  ScaleStatus scale;
  scale.tasks_owned = 3;
  scale.restored_local = 1;
  scale.restored_changelog = 2;
  status.scale = scale;
  probe_.Status(status, 1);
  ProcessorCollector collector(probe_, MetricsOptions{}, nullptr);
  const std::string text = SerializeText(collector.Collect());
  for (const char* line : {
           "kpi_tasks_owned 3",
           "kpi_restores_total{source=\"local\"} 1",
           "kpi_restores_total{source=\"changelog\"} 2",
           "kpi_restores_total{source=\"rebuild\"} 0",
       }) {
    EXPECT_NE(text.find(std::string(line) + "\n"), std::string::npos) << line << "\n" << text;
  }
}

TEST_F(CollectorTest, NoKpiGaugesBeforeTheFirstTable) {
  ProcessorCollector collector(probe_, {}, nullptr);
  const std::string text = SerializeText(collector.Collect());
  EXPECT_EQ(text.find("kpi_count{"), std::string::npos);
  EXPECT_NE(text.find("kpi_ready 0\n"), std::string::npos);
}

TEST_F(CollectorTest, ServerAnswersMetricsAndQueriesOnItsPorts) {
  ServerOptions options;
  options.metrics_address = "127.0.0.1:0";
  options.http_address = "127.0.0.1:0";
  auto server = Server::Start(probe_, options, nullptr);
  ASSERT_TRUE(server.has_value()) << server.error();
  const int metrics = (*server)->metrics_port();
  const int http = (*server)->http_port();
  ASSERT_GT(metrics, 0);
  ASSERT_GT(http, 0);
  EXPECT_EQ(HttpGet(http, "/readyz").first, 503);
  probe_.Assigned(SomeRows(), kWed);
  probe_.Status({}, std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
  const auto [status, body] = HttpGet(metrics, "/metrics");
  EXPECT_EQ(status, 200);
  EXPECT_NE(body.find("kpi_count{dimension=\"all\",kpi=\"contacts\",period=\"current\"} 3"),
            std::string::npos);
  EXPECT_EQ(HttpGet(http, "/readyz").first, 200);
  EXPECT_EQ(HttpGet(http, "/healthz").first, 200);
  const auto [kpi_status, kpi_body] = HttpGet(http, "/kpi?kpi=contacts&week=previous");
  EXPECT_EQ(kpi_status, 200);
  EXPECT_NE(kpi_body.find("\"week_start\":\"2026-02-23\",\"dimension\":\"all\",\"count\":5"),
            std::string::npos)
      << kpi_body;
  EXPECT_EQ(HttpGet(http, "/kpi?kpi=nope").first, 400);
  EXPECT_EQ(HttpGet(http, "/metrics").first, 404);
}

TEST_F(CollectorTest, AnAddressInUseIsAClearError) {
  ServerOptions first;
  first.metrics_address = "127.0.0.1:0";
  first.http_address = "";
  auto a = Server::Start(probe_, first, nullptr);
  ASSERT_TRUE(a.has_value()) << a.error();
  ServerOptions second = first;
  second.metrics_address = "127.0.0.1:" + std::to_string((*a)->metrics_port());
  auto b = Server::Start(probe_, second, nullptr);
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.error().rfind("metrics.address: cannot listen on " + second.metrics_address, 0), 0u)
      << b.error();
}

}  // namespace
}  // namespace kpi::sinks
