// The KPIs of KPIS-2.md: the worked examples E1-E7 as written in section 8, then the edge cases
// and corrections each section names.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "processor/engine_fixture.h"

namespace kpi {
namespace {

using WeekMap = std::map<std::string, Cell>;

// Every week from `first` to `last` (Mondays) with the same cell.
WeekMap Every(const char* first, const char* last, Cell cell) {
  WeekMap out;
  for (Date w = *Date::Parse(first); w <= *Date::Parse(last); w = w + 7) out[w.ToString()] = cell;
  return out;
}

std::string Request(const std::string& fields) { return "\"ehcRequest\":{" + fields + "}"; }
std::string Review(const char* date, const char* type) {
  return std::string("\"review\":{\"reviewDate\":\"") + date + "\",\"reviewType\":\"" + type +
         "\"}";
}
std::string Visit(const char* date, bool not_seen = false) {
  return std::string("\"visit\":{\"visitDate\":\"") + date + "\"" +
         (not_seen ? ",\"childNotSeen\":true" : "") + "}";
}
std::string CpPlan(const char* start, const char* end = "", const char* category = "") {
  std::string b = std::string("\"cpPlan\":{\"startDate\":\"") + start + "\"";
  if (*end) b += std::string(",\"endDate\":\"") + end + "\"";
  if (*category) b += std::string(",\"category\":\"") + category + "\"";
  return b + "}";
}
std::string LookedAfter(const char* start, const char* end, const char* status) {
  std::string b = std::string("\"lookedAfter\":{\"startDate\":\"") + start + "\"";
  if (*end) b += std::string(",\"endDate\":\"") + end + "\"";
  return b + ",\"legalStatus\":\"" + status + "\"}";
}
std::string Enrolment(const char* urn, const char* start, const char* end = "",
                      const char* reason = "") {
  std::string b =
      std::string("\"enrolment\":{\"schoolUrn\":\"") + urn + "\",\"startDate\":\"" + start + "\"";
  if (*end) b += std::string(",\"endDate\":\"") + end + "\"";
  if (*reason) b += std::string(",\"leaveReason\":\"") + reason + "\"";
  return b + "}";
}

constexpr const char* kR1 = R"("requestDate":"2026-01-05","source":"PARENT")";
constexpr const char* kR1Decided =
    R"("requestDate":"2026-01-05","source":"PARENT","decisionDate":"2026-02-16","decision":"ASSESS")";

// ---- the worked examples ----------------------------------------------------------------------

TEST_F(EngineTest, E1EhcRequestInThreeVersions) {
  Open("2026-06-07");
  Add("R1", "C7", 1, Request(kR1));
  Add("R1", "C7", 2, Request(kR1Decided));
  Add("R1", "C7", 3,
      Request(std::string(kR1Decided) + R"(,"outcomeDate":"2026-05-26","outcome":"PLAN_ISSUED")"));
  EXPECT_EQ(Weeks("ehc_requests"), WeekMap({{"2026-01-05", {1, 0}}}));
  EXPECT_EQ(Weeks("ehc_requests_parent"), WeekMap({{"2026-01-05", {1, 1}}}));
  EXPECT_EQ(Weeks("ehc_decisions_in_6w"), WeekMap({{"2026-02-16", {1, 1}}}));
  EXPECT_EQ(Weeks("ehc_assessments_agreed"), WeekMap({{"2026-02-16", {1, 0}}}));
  EXPECT_EQ(Weeks("ehc_decisions_overdue"), WeekMap());
  EXPECT_EQ(Weeks("ehc_assessments_open"), Every("2026-02-16", "2026-05-18", {1, 0}));
  EXPECT_EQ(Weeks("ehc_assessments_open").size(), 14u);
  EXPECT_EQ(Weeks("ehc_waiting_over_20w"), WeekMap());
  EXPECT_EQ(Weeks("ehc_plans_issued"), WeekMap({{"2026-05-25", {1, 0}}}));
  EXPECT_EQ(Weeks("ehc_plans_issued_in_20w"), WeekMap({{"2026-05-25", {0, 1}}}));
  EXPECT_EQ(Weeks("ehc_plans_issued_in_20w_excl_exceptions"), WeekMap({{"2026-05-25", {0, 1}}}));

  // Issued on 2026-05-25, a bank holiday that is day 140: within 20 weeks.
  Add("R1", "C7", 4,
      Request(std::string(kR1Decided) + R"(,"outcomeDate":"2026-05-25","outcome":"PLAN_ISSUED")"));
  EXPECT_EQ(Weeks("ehc_plans_issued_in_20w"), WeekMap({{"2026-05-25", {1, 1}}}));
}

TEST_F(EngineTest, E1WithoutTheThirdVersionTheRequestWaitsOver20Weeks) {
  Open("2026-06-07");
  Add("R1", "C7", 1, Request(kR1));
  Add("R1", "C7", 2, Request(kR1Decided));
  EXPECT_EQ(Weeks("ehc_waiting_over_20w"),
            WeekMap({{"2026-05-25", {1, 0}}, {"2026-06-01", {1, 0}}}));
  EXPECT_EQ(Weeks("ehc_assessments_open"), Every("2026-02-16", "2026-06-01", {1, 0}));
  EXPECT_EQ(Weeks("ehc_plans_issued"), WeekMap());
}

TEST_F(EngineTest, E2CpPlanAndReviews) {
  Open("2026-10-18");
  Add("CP1", "C3", 1, CpPlan("2026-01-12", "", "NEG"));
  Add("RV1", "C3", 2, Review("2026-04-10", "CP"));
  Add("RV2", "C3", 3, Review("2026-10-13", "CP"));
  EXPECT_EQ(Weeks("cp_reviews_held"), WeekMap({{"2026-04-06", {1, 0}}, {"2026-10-12", {1, 0}}}));
  EXPECT_EQ(Weeks("cp_reviews_in_timescale"),
            WeekMap({{"2026-04-06", {1, 1}}, {"2026-10-12", {0, 1}}}));
  EXPECT_EQ(Weeks("cp_reviews_overdue"), WeekMap({{"2026-10-05", {1, 0}}}));
  EXPECT_EQ(Weeks("cp_plans_open", "category=neg"), Every("2026-01-12", "2026-10-12", {1, 0}));
  EXPECT_EQ(Weeks("cp_plans_open_2y"), WeekMap());
}

TEST_F(EngineTest, E3CpVisits) {
  Open("2026-04-19");
  Add("CP1", "C9", 1, CpPlan("2026-03-16"));
  Add("V1", "C9", 2, Visit("2026-03-27"));
  const WeekMap expected = {{"2026-03-16", {1, 1}},
                            {"2026-03-23", {1, 1}},
                            {"2026-03-30", {1, 1}},
                            {"2026-04-06", {1, 1}},
                            {"2026-04-13", {0, 1}}};
  EXPECT_EQ(Weeks("cp_visits_in_timescale"), expected);
  Add("V2", "C9", 3, Visit("2026-04-17", /*not_seen=*/true));
  EXPECT_EQ(Weeks("cp_visits_in_timescale"), expected);
}

TEST_F(EngineTest, E4CarePeriodClaReviewAndVisits) {
  Open("2026-03-08");
  Add("A", "C2", 1, LookedAfter("2026-02-02", "2026-03-02", "C2"));
  Add("B", "C2", 2, LookedAfter("2026-03-02", "", "C2"));
  Add("RV", "C2", 3, Review("2026-03-02", "CLA"));
  EXPECT_EQ(Weeks("cla_started"), WeekMap({{"2026-02-02", {1, 0}}}));
  EXPECT_EQ(Weeks("cla_reviews_held"), WeekMap({{"2026-03-02", {1, 0}}}));
  EXPECT_EQ(Weeks("cla_reviews_in_timescale"), WeekMap({{"2026-03-02", {1, 1}}}));
  EXPECT_EQ(Weeks("cla_reviews_overdue"), WeekMap());
  WeekMap visits = Every("2026-02-09", "2026-03-02", {0, 1});
  visits["2026-02-02"] = {1, 1};
  EXPECT_EQ(Weeks("cla_visits_in_timescale"), visits);
}

TEST_F(EngineTest, E5RepeatWithinTwoYears) {
  Open("2026-07-05");
  Add("A", "C4", 1, CpPlan("2023-05-01", "2024-06-30"));
  Add("B", "C4", 2, CpPlan("2026-06-30"));
  EXPECT_EQ(Weeks("cp_plans_started_repeat"),
            WeekMap({{"2023-05-01", {0, 1}}, {"2026-06-29", {1, 1}}}));
  EXPECT_EQ(Weeks("cp_plans_started_repeat_2y"),
            WeekMap({{"2023-05-01", {0, 1}}, {"2026-06-29", {1, 1}}}));
  Add("B", "C4", 3, CpPlan("2026-07-01"));  // 731 days
  EXPECT_EQ(Weeks("cp_plans_started_repeat_2y"),
            WeekMap({{"2023-05-01", {0, 1}}, {"2026-06-29", {0, 1}}}));
  EXPECT_EQ(At("cp_plans_started_repeat", "2026-06-29"), Cell(1, 1));
}

TEST_F(EngineTest, E6ElectiveHomeEducation) {
  Open("2026-04-26");
  Add("P1", "C5", 1, Profile("2024-09-01", "2014-05-10", "", ""));
  Add("E1", "C5", 2, Enrolment("100001", "2024-09-02", "2026-02-13", "EHE"));
  Add("E2", "C5", 3, Enrolment("100002", "2026-04-20"));
  const WeekMap ehe = Every("2026-02-09", "2026-04-13", {1, 0});
  EXPECT_EQ(Weeks("ehe_open"), ehe);
  EXPECT_EQ(Weeks("ehe_open", "school=100001"), ehe);
  EXPECT_EQ(Weeks("ehe_open", "year=7"), ehe);
  EXPECT_EQ(Weeks("ehe_open", "sen=unknown"), ehe);
  EXPECT_EQ(Weeks("ehe_open", "school=100002"), WeekMap());
  EXPECT_EQ(Weeks("school_moves", "school=100001"), WeekMap({{"2026-02-09", {1, 0}}}));
  EXPECT_EQ(Weeks("school_moves", "school=100002"), WeekMap({{"2026-04-20", {1, 0}}}));
  EXPECT_EQ(Weeks("ehe_leavers"), WeekMap({{"2026-02-09", {1, 0}}}));
}

TEST_F(EngineTest, E7AgeCut) {
  Open("2026-03-08");
  Add("P1", "C1", 1, Profile("2025-09-01", "2021-03-01", "", ""));
  Add("CP1", "C1", 2, CpPlan("2026-02-28"));
  EXPECT_EQ(Count("cp_plans_started", "2026-02-23", "age=1-4"), 1);
  Add("CP1", "C1", 3, CpPlan("2026-03-01"));
  EXPECT_EQ(Count("cp_plans_started", "2026-02-23", "age=1-4"), 0);
  EXPECT_EQ(Count("cp_plans_started", "2026-02-23", "age=5-9"), 1);
}

}  // namespace
}  // namespace kpi
