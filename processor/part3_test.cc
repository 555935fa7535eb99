// The KPIs of KPIS-3.md: the worked examples E8 and E9 as written in section 5 (E10, the
// published table, is published_test.cc's), then the edge cases the sections name.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/util/engine_fixture.h"

namespace kpi {
namespace {

using WeekMap = std::map<std::string, Cell>;

std::string Referral(const char* date, bool nfa = false) {
  return std::string("\"referral\":{\"referralDate\":\"") + date + "\"" +
         (nfa ? ",\"nfa\":true" : "") + "}";
}

// ---- E8: re-referrals ---------------------------------------------------------------------------

TEST_F(EngineTest, E8ReReferralsOfOneChild) {
  Open("2026-03-20");
  Add("A", "C1", 1, Referral("2025-03-10"));
  Add("B", "C1", 2, Referral("2026-03-10"));
  Add("C", "C1", 3, Referral("2026-03-11"));
  EXPECT_EQ(Weeks("referrals_repeat_12m"),
            WeekMap({{"2025-03-10", {0, 1}}, {"2026-03-09", {2, 2}}}));
  EXPECT_EQ(At("referrals", "2026-03-09"), Cell(1, 0));  // distinct children
  // B deleted: C's only earlier referral, A, is more than 12 months before it.
  Add("B", "C1", 4, "\"referral\":{}", /*deleted=*/true);
  EXPECT_EQ(At("referrals_repeat_12m", "2026-03-09"), Cell(0, 1));
}

TEST_F(EngineTest, E8SameDayReferralsAreNotReReferralsOfEachOther) {
  Open("2026-03-20");
  Add("A", "C2", 1, Referral("2026-03-10"));
  Add("B", "C2", 2, Referral("2026-03-10"));
  EXPECT_EQ(At("referrals_repeat_12m", "2026-03-09"), Cell(0, 2));
  // A third, later one within 12 months of them is.
  Add("C", "C2", 3, Referral("2026-03-12"));
  EXPECT_EQ(At("referrals_repeat_12m", "2026-03-09"), Cell(1, 3));
}

TEST_F(EngineTest, E8TwelveMonthsBackFromTheTwentyEighthOfFebruary) {
  Open("2026-03-20");
  Add("A", "C3", 1, Referral("2024-02-29"));
  Add("B", "C3", 2, Referral("2025-02-28"));  // add_months(2025-02-28, -12) = 2024-02-28
  EXPECT_EQ(At("referrals_repeat_12m", "2025-02-24"), Cell(1, 1));
  Add("B", "C3", 3, Referral("2025-03-01"));  // add_months(2025-03-01, -12) = 2024-03-01
  EXPECT_EQ(At("referrals_repeat_12m", "2025-02-24"), Cell(0, 1));
  EXPECT_EQ(Weeks("referrals_repeat_12m"),
            WeekMap({{"2024-02-26", {0, 1}}, {"2025-02-24", {0, 1}}}));
}

TEST_F(EngineTest, E8ReferralsEndingInNoFurtherAction) {
  Open("2026-03-20");
  Add("A", "C1", 1, Referral("2025-03-10"));
  Add("B", "C1", 2, Referral("2026-03-10", /*nfa=*/true));
  Add("C", "C1", 3, Referral("2026-03-11"));
  EXPECT_EQ(At("referrals_nfa", "2026-03-09"), Cell(1, 2));
  EXPECT_EQ(At("referrals_nfa", "2025-03-10"), Cell(0, 1));
  // Corrected by a later version.
  Add("B", "C1", 4, Referral("2026-03-10"));
  EXPECT_EQ(At("referrals_nfa", "2026-03-09"), Cell(0, 2));
}

// A referral moves: the referrals of the 12 months after its old and its new date follow, in
// whatever order the versions arrive; stale versions change nothing.
TEST_F(EngineTest, ReReferralsDoNotDependOnArrivalOrder) {
  struct Event {
    const char* id;
    int t;
    const char* date;
    bool deleted;
  };
  const std::vector<Event> events = {
      {"A", 1, "2025-01-06", false}, {"B", 2, "2025-06-02", false}, {"C", 3, "2026-01-05", false},
      {"A", 4, "2024-12-02", false}, {"D", 5, "2025-05-30", false}, {"B", 6, "", true},
      {"E", 7, "2026-05-29", false}, {"A", 8, "2025-02-03", false},
  };
  std::string expected;
  std::vector<size_t> order(events.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(3);
  for (int permutation = 0; permutation < 200; ++permutation) {
    if (permutation > 0) std::shuffle(order.begin(), order.end(), rng);
    Open("2026-06-10");
    for (const size_t i : order) {
      const Event& e = events[i];
      Add(e.id, "C9", e.t, e.deleted ? "\"referral\":{}" : Referral(e.date), e.deleted);
    }
    const std::string table = TableText();
    if (expected.empty()) {
      expected = table;
      // A 2025-02-03, C 2026-01-05 (A within 12 months: re), D 2025-05-30 (A: re),
      // E 2026-05-29 (C and D: re).
      EXPECT_NE(expected.find("referrals_repeat_12m 2026-01-05 all 1/1"), std::string::npos)
          << expected;
      EXPECT_NE(expected.find("referrals_repeat_12m 2025-05-26 all 1/1"), std::string::npos);
      EXPECT_NE(expected.find("referrals_repeat_12m 2025-02-03 all 0/1"), std::string::npos);
      EXPECT_NE(expected.find("referrals_repeat_12m 2026-05-25 all 1/1"), std::string::npos);
      EXPECT_EQ(expected.find("2025-06-02"), std::string::npos);  // B deleted
    }
    ASSERT_EQ(table, expected) << "permutation " << permutation;
  }
}

// ---- E9: due soon -------------------------------------------------------------------------------

TEST_F(EngineTest, E9AssessmentDueSoonThenOverdue) {
  Open("2026-03-09");
  Add("AS", "C4", 1, R"("assessment":{"startDate":"2026-01-05"})");
  EXPECT_EQ(At("assessments_due_soon", "2026-02-23"), Cell(0, 0));  // 39 working days
  EXPECT_EQ(At("assessments_due_soon", "2026-03-02"), Cell(1, 0));  // 44
  EXPECT_EQ(At("assessments_due_soon", "2026-03-09"), Cell(1, 0));  // 45, not yet overdue
  EXPECT_EQ(Weeks("assessments_overdue"), WeekMap());
  ASSERT_TRUE(engine_->AdvanceAsOf(*Date::Parse("2026-03-20")).has_value());
  EXPECT_EQ(At("assessments_overdue", "2026-03-09"), Cell(1, 0));  // 49
  EXPECT_EQ(At("assessments_due_soon", "2026-03-09"), Cell(0, 0));
  EXPECT_EQ(Weeks("assessments_due_soon"), WeekMap({{"2026-03-02", {1, 0}}}));
}

TEST_F(EngineTest, E9S47AwaitingItsIcpcDueSoon) {
  Open("2026-03-23");
  Add("S", "C5", 1, R"("s47":{"startDate":"2026-03-02"})");
  EXPECT_EQ(Weeks("s47_icpc_due_soon"), WeekMap({{"2026-03-16", {1, 0}}, {"2026-03-23", {1, 0}}}));
  EXPECT_EQ(At("s47_icpc_due_soon", "2026-03-09"), Cell(0, 0));  // 9 working days
}

TEST_F(EngineTest, E9EhcRequestDecisionAndPlanDueSoon) {
  Open("2026-06-07");
  Add("R", "C6", 1, R"("ehcRequest":{"requestDate":"2026-01-05","source":"PARENT"})");
  EXPECT_EQ(Weeks("ehc_decisions_due_soon"), WeekMap({{"2026-02-09", {1, 0}}}));
  EXPECT_EQ(Weeks("ehc_plans_due_soon"), WeekMap({{"2026-05-11", {1, 0}}, {"2026-05-18", {1, 0}}}));
  EXPECT_EQ(At("ehc_waiting_over_20w", "2026-05-25"), Cell(1, 0));  // 146 days
}

// The window's edges: due soon when L - w < elapsed <= L, so not at L - w itself.
TEST_F(EngineTest, DueSoonBeginsTheDayAfterLimitLessWarning) {
  Open("2026-03-02");  // S of its week is as_of: 40 working days since Monday 2026-01-05
  Add("AS", "C4", 1, R"("assessment":{"startDate":"2026-01-05"})");
  Add("R", "C6", 2, R"("ehcRequest":{"requestDate":"2026-01-26","source":"PARENT"})");  // 35 days
  EXPECT_EQ(At("assessments_due_soon", "2026-03-02"), Cell(0, 0));
  EXPECT_EQ(At("ehc_decisions_due_soon", "2026-03-02"), Cell(0, 0));
  ASSERT_TRUE(engine_->AdvanceAsOf(*Date::Parse("2026-03-03")).has_value());  // 41; 36 days
  EXPECT_EQ(At("assessments_due_soon", "2026-03-02"), Cell(1, 0));
  EXPECT_EQ(At("ehc_decisions_due_soon", "2026-03-02"), Cell(1, 0));
}

// With w = 0 the KPI is always 0 and has no rows.
TEST_F(EngineTest, AZeroWarningWindowGivesNoRows) {
  options_.limits.assessment_warning_days = 0;
  options_.limits.ehc_plan_warning_days = 0;
  Open("2026-06-07");
  Add("AS", "C4", 1, R"("assessment":{"startDate":"2026-01-05"})");
  Add("R", "C6", 2, R"("ehcRequest":{"requestDate":"2026-01-05","source":"PARENT"})");
  EXPECT_EQ(Weeks("assessments_due_soon"), WeekMap());
  EXPECT_EQ(Weeks("ehc_plans_due_soon"), WeekMap());
  EXPECT_FALSE(Weeks("assessments_overdue").empty());
  EXPECT_EQ(Weeks("ehc_decisions_due_soon").size(), 1u);  // its window is still 7
}

TEST(WarningWindowTest, AWarningPastItsLimitIsAConfigurationError) {
  KpiLimits limits;
  EXPECT_EQ(WarningPastItsLimit(limits, 45, 15), std::nullopt);
  limits.icpc_warning_days = 16;
  EXPECT_EQ(WarningPastItsLimit(limits, 45, 15),
            "icpc_warning_days (16) is greater than icpc_limit (15): a warning window must fit "
            "in its limit");
  limits.icpc_warning_days = 15;
  EXPECT_EQ(WarningPastItsLimit(limits, 45, 15), std::nullopt);
  limits.ehc_plan_warning_days = 141;
  EXPECT_NE(WarningPastItsLimit(limits, 45, 15), std::nullopt);
}

}  // namespace
}  // namespace kpi
