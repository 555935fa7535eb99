// The runtime probe, the committed KPI view and the HTTP query handlers.
#include <gtest/gtest.h>

#include "sinks/kpi_view.h"
#include "sinks/probe.h"
#include "sinks/query.h"

namespace kpi::sinks {
namespace {

const Date kMon = Date::FromYmd(2026, 3, 2);
const Date kWed = Date::FromYmd(2026, 3, 4);

Row R(Kpi kpi, Date week, std::string dim, int64_t count, int64_t base = 0, uint64_t rev = 1) {
  return Row{kpi, week, std::move(dim), count, base, rev};
}

TEST(KpiViewTest, ResetSumsTheTasksPartsAndDropsEmptyRows) {
  KpiView view;
  view.Reset({R(Kpi::kContacts, kMon, "all", 2, 0, 3), R(Kpi::kContacts, kMon, "all", 1, 0, 4),
              R(Kpi::kReferrals, kMon, "all", 0, 0, 1)},
             kWed);
  const std::vector<Row> rows = view.Query({});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].count, 3);
  EXPECT_EQ(rows[0].revision, 7u);  // the sum of the tasks' revisions, as on the topic
  EXPECT_EQ(view.as_of(), kWed);
}

TEST(KpiViewTest, UpsertReplacesAndAZeroRowIsRemoved) {
  KpiView view;
  EXPECT_FALSE(view.as_of().has_value());
  view.Reset({R(Kpi::kContacts, kMon, "all", 2)}, kWed);
  view.Upsert({R(Kpi::kContacts, kMon, "all", 5, 0, 2), R(Kpi::kReferrals, kMon, "year=7", 1)},
              kWed + 1);
  ASSERT_EQ(view.size(), 2u);
  EXPECT_EQ(view.Query({.kpi = Kpi::kContacts})[0].count, 5);
  view.Upsert({R(Kpi::kContacts, kMon, "all", 0, 0, 3)}, kWed + 1);
  EXPECT_TRUE(view.Query({.kpi = Kpi::kContacts}).empty());
  EXPECT_EQ(view.as_of(), kWed + 1);
}

TEST(KpiViewTest, QueryFiltersAndKeepsTheTableOrder) {
  KpiView view;
  view.Reset({R(Kpi::kReferrals, kMon, "all", 1), R(Kpi::kContacts, kMon, "school=100001", 1),
              R(Kpi::kContacts, kMon - 7, "all", 4), R(Kpi::kContacts, kMon, "all", 2),
              R(Kpi::kContacts, kMon, "year=7", 1)},
             kWed);
  std::vector<std::string> order;
  for (const Row& r : view.Query({}))
    order.push_back(std::string(KpiName(r.kpi)) + "|" + r.week.ToString() + "|" + r.dimension);
  EXPECT_EQ(order,
            (std::vector<std::string>{"contacts|2026-02-23|all", "contacts|2026-03-02|all",
                                      "contacts|2026-03-02|school=100001",
                                      "contacts|2026-03-02|year=7", "referrals|2026-03-02|all"}));
  EXPECT_EQ(view.Query({.kpi = Kpi::kContacts, .week = kMon}).size(), 3u);
  EXPECT_EQ(view.Query({.dimension = "year=7"}).size(), 1u);
  EXPECT_EQ(view.Query({.dimension_kind = "school"}).size(), 1u);
  EXPECT_EQ(view.Query({.dimension_kind = "all"}).size(), 3u);
  EXPECT_EQ(DimensionKind("school=1"), "school");
  EXPECT_EQ(DimensionKind("all"), "all");
}

TEST(KpiViewTest, AWeekQueryAcrossKpisEqualsFilteringTheWholeTable) {
  // The scrape's query: one week, every KPI. Some KPIs lack the week, some have weeks on both
  // sides of it, and one has only later weeks.
  KpiView view;
  std::vector<Row> rows;
  for (const Kpi kpi : {Kpi::kContacts, Kpi::kReferrals, Kpi::kAttendanceRate, Kpi::kClaOpen}) {
    for (const int weeks : {-2, -1, 0, 1}) {
      if (kpi == Kpi::kReferrals && weeks == 0) continue;
      if (kpi == Kpi::kClaOpen && weeks <= 0) continue;
      for (const char* dim : {"all", "school=100001", "year=7"}) {
        rows.push_back(R(kpi, kMon + 7 * weeks, dim, 1 + weeks + 2));
      }
    }
  }
  view.Reset(rows, kWed + 7);
  const auto as_keys = [](const std::vector<Row>& got) {
    std::vector<std::string> keys;
    for (const Row& r : got) {
      keys.push_back(std::string(KpiName(r.kpi)) + "|" + r.week.ToString() + "|" + r.dimension);
    }
    return keys;
  };
  for (const int weeks : {-3, -2, -1, 0, 1, 2}) {
    const Date week = kMon + 7 * weeks;
    std::vector<Row> expected;
    for (const Row& r : view.Query({})) {
      if (r.week == week) expected.push_back(r);
    }
    EXPECT_EQ(as_keys(view.Query({.week = week})), as_keys(expected)) << week.ToString();
  }
  EXPECT_EQ(view.Query({.week = kMon}).size(), 6u);  // contacts and attendance, 3 dims each
  EXPECT_EQ(view.Query({.week = kMon + 7, .dimension_kind = "all"}).size(), 4u);
  EXPECT_EQ(view.Query({.kpi = Kpi::kReferrals, .week = kMon}).size(), 0u);
}

TEST(RuntimeProbeTest, CountsEventsByTopicAndKind) {
  RuntimeProbe probe({"contacts", "attendance"});
  probe.EventConsumed("contacts", Kind::kContact);
  probe.EventConsumed("contacts", Kind::kContact);
  probe.EventConsumed("attendance", std::nullopt);    // did not decode
  probe.EventConsumed("somewhere", Kind::kReferral);  // not an input topic
  probe.EventApplied();
  probe.EventStale();
  probe.DeadLettered(DeadLetterReason::kBadDate);
  probe.DeadLettered(DeadLetterReason::kBadDate);
  const ProbeSnapshot s = probe.Snapshot();
  ASSERT_EQ(s.topics, (std::vector<std::string>{"contacts", "attendance", "other"}));
  EXPECT_EQ(s.consumed[0][static_cast<size_t>(Kind::kContact) - 1], 2u);
  EXPECT_EQ(s.consumed[1][kKindSlots - 1], 1u);
  EXPECT_EQ(s.consumed[2][static_cast<size_t>(Kind::kReferral) - 1], 1u);
  EXPECT_EQ(s.applied, 1u);
  EXPECT_EQ(s.stale, 1u);
  EXPECT_EQ(s.dead_letters[static_cast<size_t>(DeadLetterReason::kBadDate)], 2u);
  EXPECT_EQ(s.dead_letters[static_cast<size_t>(DeadLetterReason::kUndecodable)], 0u);
}

TEST(RuntimeProbeTest, CommitObservesDurationAndLatencyAndUpdatesTheView) {
  RuntimeProbe probe({"contacts"});
  EXPECT_FALSE(probe.Snapshot().last_commit_unix_seconds.has_value());
  probe.Started(1'000'000);
  EXPECT_EQ(probe.Snapshot().last_commit_unix_seconds, 1000.0);
  probe.Assigned({}, kWed);
  const std::vector<int64_t> stamps = {1'999'990, 1'999'000, 1'000'000};  // 10 ms, 1 s, 1000 s
  probe.Committed(0.003, stamps, 2'000'000, {R(Kpi::kContacts, kMon, "all", 1)}, kWed);
  const ProbeSnapshot s = probe.Snapshot();
  EXPECT_EQ(s.commits, 1u);
  EXPECT_EQ(s.last_commit_unix_seconds, 2000.0);
  // Cumulative buckets: le=0.005 holds 3 ms.
  EXPECT_EQ(s.commit_duration.cumulative[1], 0u);  // le 0.0025
  EXPECT_EQ(s.commit_duration.cumulative[2], 1u);  // le 0.005
  EXPECT_EQ(s.commit_duration.cumulative.back(), 1u);
  const auto le = [&](double bound) {
    const auto& b = s.event_to_commit.bounds;
    return s.event_to_commit.cumulative[std::find(b.begin(), b.end(), bound) - b.begin()];
  };
  EXPECT_EQ(le(0.005), 0u);
  EXPECT_EQ(le(0.01), 1u);  // an observation equal to a bound is inside it
  EXPECT_EQ(le(1), 2u);
  EXPECT_EQ(le(900), 2u);
  EXPECT_EQ(le(3600), 3u);
  EXPECT_DOUBLE_EQ(s.event_to_commit.sum, 0.01 + 1 + 1000);
  EXPECT_EQ(probe.view().Query({}).size(), 1u);
  probe.Started(5'000'000);  // only a baseline: a real commit is not overwritten
  EXPECT_EQ(probe.Snapshot().last_commit_unix_seconds, 2000.0);
}

TEST(RuntimeProbeTest, ReadyFromAssignmentUntilRevocation) {
  RuntimeProbe probe({"contacts"});
  EXPECT_FALSE(probe.ready());
  probe.Assigned({R(Kpi::kContacts, kMon, "all", 1)}, kWed);
  EXPECT_TRUE(probe.ready());
  probe.Revoked();
  EXPECT_FALSE(probe.ready());
}

TEST(QueryTest, ParsesAndDecodesTheQueryString) {
  const auto q = ParseQueryString("kpi=contacts&dimension=school%3D100001&&x=a+b");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->at("kpi"), "contacts");
  EXPECT_EQ(q->at("dimension"), "school=100001");
  EXPECT_EQ(q->at("x"), "a b");
  EXPECT_FALSE(ParseQueryString("kpi=%zz").has_value());
  EXPECT_FALSE(ParseQueryString("kpi=%2").has_value());
}

class KpiQueryTest : public ::testing::Test {
 protected:
  KpiQueryTest() : probe_({"contacts"}) {}
  void Assign() {
    probe_.Assigned(
        {R(Kpi::kContacts, kMon, "all", 2, 0, 5), R(Kpi::kContacts, kMon, "year=7", 1),
         R(Kpi::kContacts, kMon - 7, "all", 4), R(Kpi::kAttendanceRate, kMon, "sen=ehcp", 9, 10),
         R(Kpi::kCpPlansOpen, kMon, "age=16+", 3)},
        kWed);
  }
  RuntimeProbe probe_;
};

TEST_F(KpiQueryTest, NotReadyBeforeAssignment) {
  EXPECT_EQ(HandleKpiQuery(probe_, "").status, 503);
  EXPECT_EQ(HandleReady(probe_).status, 503);
  Assign();
  EXPECT_EQ(HandleReady(probe_).status, 200);
}

TEST_F(KpiQueryTest, ReadinessSaysHowFarTheRestoresHaveCome) {
  StatusReport report;
  report.scale = ScaleStatus{};
  report.scale->tasks_owned = 1;
  report.scale->tasks_restoring = 2;
  report.scale->restore_records_remaining = 340;
  probe_.Status(report, 1);
  const HttpResponse r = HandleReady(probe_);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body,
            "not ready: restoring 2 task(s), 340 changelog record(s) left to read; 1 task(s) "
            "serving\n");
}

TEST_F(KpiQueryTest, ReturnsTheMatchingRowsAsJson) {
  Assign();
  const HttpResponse r = HandleKpiQuery(probe_, "kpi=contacts&week=2026-03-04&dimension=all");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(
      r.body,
      "{\"as_of\":\"2026-03-04\",\"rows\":[{\"kpi\":\"contacts\",\"week_start\":\"2026-03-02\","
      "\"dimension\":\"all\",\"count\":2,\"base\":0,\"as_of\":\"2026-03-04\",\"revision\":5}]}\n");
  EXPECT_NE(HandleKpiQuery(probe_, "week=previous").body.find("\"count\":4"), std::string::npos);
  EXPECT_EQ(HandleKpiQuery(probe_, "week=previous").body.find("\"count\":2"), std::string::npos);
  const std::string current = HandleKpiQuery(probe_, "week=current&dimension=sen").body;
  EXPECT_NE(current.find("\"dimension\":\"sen=ehcp\",\"count\":9,\"base\":10"), std::string::npos);
  EXPECT_EQ(current.find("year=7"), std::string::npos);
  EXPECT_NE(HandleKpiQuery(probe_, "dimension=year%3D7").body.find("year=7"), std::string::npos);
  // An extra cut family (KPIS-2.md) is a kind too; '+' in a value is sent as %2B.
  const std::string ages = HandleKpiQuery(probe_, "dimension=age").body;
  EXPECT_NE(ages.find("\"dimension\":\"age=16+\",\"count\":3"), std::string::npos) << ages;
  EXPECT_EQ(ages.find("contacts"), std::string::npos);
  EXPECT_NE(HandleKpiQuery(probe_, "dimension=age%3D16%2B").body.find("age=16+"),
            std::string::npos);
  EXPECT_EQ(HandleKpiQuery(probe_, "kpi=referrals").body,
            "{\"as_of\":\"2026-03-04\",\"rows\":[]}\n");
}

// view=published (KPIS-3.md section 3): the rows asked, in their published form, each judged in
// its whole (kpi, week) group whatever the query selected of it.
TEST_F(KpiQueryTest, ThePublishedViewSuppressesSmallValuesAndOneMoreOfAFamily) {
  probe_.Assigned({R(Kpi::kContacts, kMon, "all", 20), R(Kpi::kContacts, kMon, "year=EY", 2),
                   R(Kpi::kContacts, kMon, "year=1", 18), R(Kpi::kContacts, kMon, "sen=none", 14),
                   R(Kpi::kContacts, kMon, "sen=unknown", 6)},
                  kWed);
  const HttpResponse r = HandleKpiQuery(probe_, "kpi=contacts&dimension=year&view=published");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            "{\"as_of\":\"2026-03-04\",\"rows\":["
            "{\"kpi\":\"contacts\",\"week_start\":\"2026-03-02\",\"dimension\":\"year=1\","
            "\"suppressed\":true},"
            "{\"kpi\":\"contacts\",\"week_start\":\"2026-03-02\",\"dimension\":\"year=EY\","
            "\"suppressed\":true}]}\n");
  const std::string all = HandleKpiQuery(probe_, "dimension=all&view=published").body;
  EXPECT_NE(all.find("\"count\":20,\"base\":0,\"as_of\":\"2026-03-04\",\"revision\":1,"
                     "\"suppressed\":false}"),
            std::string::npos)
      << all;
  // The exact view is unchanged; small_count 0 publishes everything.
  EXPECT_NE(HandleKpiQuery(probe_, "dimension=year%3DEY").body.find("\"count\":2"),
            std::string::npos);
  probe_.SetSmallCount(0);
  EXPECT_EQ(HandleKpiQuery(probe_, "view=published").body.find("\"suppressed\":true"),
            std::string::npos);
  EXPECT_EQ(HandleKpiQuery(probe_, "view=secret").status, 400);
}

TEST_F(KpiQueryTest, BadParametersAreNamed) {
  Assign();
  const HttpResponse unknown = HandleKpiQuery(probe_, "kpi=contact");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("unknown KPI 'contact'"), std::string::npos);
  EXPECT_EQ(HandleKpiQuery(probe_, "week=yesterday").status, 400);
  EXPECT_EQ(HandleKpiQuery(probe_, "dimension=ward").status, 400);
  const HttpResponse extra = HandleKpiQuery(probe_, "child=C1");
  EXPECT_EQ(extra.status, 400);
  EXPECT_NE(extra.body.find("unknown parameter 'child'"), std::string::npos);
}

TEST(HealthTest, FailsWhenTheMainLoopStopsReporting) {
  RuntimeProbe probe({"contacts"});
  EXPECT_EQ(HandleHealth(probe, 10'000, 5'000).status, 503);  // not started
  probe.Status({}, 10'000);
  EXPECT_EQ(HandleHealth(probe, 14'000, 5'000).status, 200);
  const HttpResponse stalled = HandleHealth(probe, 16'000, 5'000);
  EXPECT_EQ(stalled.status, 503);
  EXPECT_EQ(stalled.body, "stalled: the main loop has not reported for 6 s\n");
}

TEST(HttpTest, RoutesByPathAndMethod) {
  RuntimeProbe probe({"contacts"});
  probe.Assigned({}, kWed);
  probe.Status({}, 1);
  EXPECT_EQ(HandleHttp(probe, "GET", "/kpi", "", 1, 1000).status, 200);
  EXPECT_EQ(HandleHttp(probe, "GET", "/healthz", "", 1, 1000).status, 200);
  EXPECT_EQ(HandleHttp(probe, "GET", "/readyz", "", 1, 1000).status, 200);
  EXPECT_EQ(HandleHttp(probe, "GET", "/", "", 1, 1000).status, 404);
  EXPECT_EQ(HandleHttp(probe, "POST", "/kpi", "", 1, 1000).status, 405);
}

}  // namespace
}  // namespace kpi::sinks
