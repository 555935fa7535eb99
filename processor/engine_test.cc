// Each KPI of KPIS.md on small hand-computed cases, with the boundaries; upserts, deletes, stale
// versions and late profiles restating the right rows.
#include "processor/engine.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include "state/memory_store.h"
#include "tests/util/engine_fixture.h"

namespace kpi {
namespace {

// ---- distinct flows and dimensions ----------------------------------------------------------

TEST_F(EngineTest, ContactsCountDistinctChildrenPerWeek) {
  Add("CT1", "C1", 1, Contact("2026-03-09"));
  Add("CT2", "C1", 2, Contact("2026-03-13"));
  Add("CT3", "C2", 3, Contact("2026-03-15"));  // Sunday: same week
  Add("CT4", "C2", 4, Contact("2026-03-16"));  // next week
  EXPECT_EQ(At("contacts", "2026-03-09"), Cell(2, 0));
  EXPECT_EQ(At("contacts", "2026-03-16"), Cell(1, 0));
}

TEST_F(EngineTest, WithoutAProfileEveryDimensionIsUnknown) {
  Add("CT1", "C1", 1, Contact("2026-03-09"));
  EXPECT_EQ(Count("contacts", "2026-03-09", "school=unknown"), 1);
  EXPECT_EQ(Count("contacts", "2026-03-09", "year=unknown"), 1);
  EXPECT_EQ(Count("contacts", "2026-03-09", "sen=unknown"), 1);
}

TEST_F(EngineTest, DimensionsComeFromTheProfileOnTheEventDate) {
  Add("P", "C1", 1, Profile("2025-01-01", "2015-05-01", "EHCP", "100001"));
  Add("CT1", "C1", 2, Contact("2026-03-09"));
  // Academic year 2025/26 began in 2025; age on 31 Aug 2025 is 10: year 6.
  EXPECT_EQ(Count("contacts", "2026-03-09", "school=100001"), 1);
  EXPECT_EQ(Count("contacts", "2026-03-09", "year=6"), 1);
  EXPECT_EQ(Count("contacts", "2026-03-09", "sen=ehcp"), 1);
}

TEST_F(EngineTest, LaterProfileGovernsFromItsEffectiveDateAndFieldsAreNotInherited) {
  Add("P1", "C1", 1, Profile("2026-01-01", "2015-05-01", "SEN_SUPPORT", "100001"));
  Add("P2", "C1", 2, Profile("2026-03-11", "2015-05-01", "", "100002"));
  Add("CT1", "C1", 3, Contact("2026-03-10"));
  Add("CT2", "C1", 4, Contact("2026-03-11"));
  EXPECT_EQ(Count("contacts", "2026-03-09", "school=100001"), 1);
  EXPECT_EQ(Count("contacts", "2026-03-09", "school=100002"), 1);
  EXPECT_EQ(Count("contacts", "2026-03-09", "sen=sen_support"), 1);
  EXPECT_EQ(Count("contacts", "2026-03-09", "sen=unknown"), 1);  // P2 leaves SEN empty
  EXPECT_EQ(Count("contacts", "2026-03-09", "all"), 1);          // still one child
}

TEST_F(EngineTest, YearGroupBoundaries) {
  // Age on 31 August of the year the academic year began: 4 -> R, 3 -> EY, 18 -> PS.
  Add("P1", "A", 1, Profile("2020-01-01", "2021-08-31", "", ""));
  Add("P2", "B", 2, Profile("2020-01-01", "2021-09-01", "", ""));
  Add("P3", "C", 3, Profile("2020-01-01", "2007-08-31", "", ""));
  Add("P4", "D", 4, Profile("2020-01-01", "2023-01-01", "", ""));  // 2 on 31 Aug 2025
  for (const char* child : {"A", "B", "C", "D"}) {
    Add(std::string("CT") + child, child, 10, Contact("2026-03-09"));
  }
  EXPECT_EQ(Count("contacts", "2026-03-09", "year=R"), 1);
  EXPECT_EQ(Count("contacts", "2026-03-09", "year=EY"), 2);
  EXPECT_EQ(Count("contacts", "2026-03-09", "year=PS"), 1);
}

TEST_F(EngineTest, YearGroupTurnsWithTheAcademicYear) {
  Open("2026-09-30");
  Add("P", "C1", 1, Profile("2020-01-01", "2015-05-01", "", ""));
  Add("CT1", "C1", 2, Contact("2026-08-31"));  // academic year 2025: age 10 -> year 6
  Add("CT2", "C1", 3, Contact("2026-09-01"));  // academic year 2026: age 11 -> year 7
  EXPECT_EQ(Count("contacts", "2026-08-31", "year=6"), 1);
  EXPECT_EQ(Count("contacts", "2026-08-31", "year=7"), 1);
}

TEST_F(EngineTest, LateProfileRestatesEarlierRows) {
  Add("CT1", "C1", 1, Contact("2026-03-09"));
  EXPECT_EQ(Count("contacts", "2026-03-09", "school=unknown"), 1);
  Add("P", "C1", 2, Profile("2025-01-01", "", "", "100001"));
  EXPECT_EQ(Count("contacts", "2026-03-09", "school=unknown"), 0);
  EXPECT_EQ(Count("contacts", "2026-03-09", "school=100001"), 1);
  Add("P", "C1", 3, "\"profile\":{\"effectiveDate\":\"2025-01-01\"}", /*deleted=*/true);
  EXPECT_EQ(Count("contacts", "2026-03-09", "school=unknown"), 1);
  EXPECT_EQ(Count("contacts", "2026-03-09", "school=100001"), 0);
}

TEST_F(EngineTest, LateProfileRestatesMarksOnlyInItsDateRange) {
  Add("P1", "C1", 1, Profile("2025-01-01", "", "NONE", ""));
  Add("M1", "C1", 2, Mark("1", "2026-03-09", "AM", "/"));
  Add("M2", "C1", 3, Mark("1", "2026-03-16", "AM", "/"));
  Add("P2", "C1", 4, Profile("2026-03-16", "", "EHCP", ""));
  EXPECT_EQ(At("attendance_rate", "2026-03-09", "sen=none"), Cell(1, 1));
  EXPECT_EQ(At("attendance_rate", "2026-03-16", "sen=ehcp"), Cell(1, 1));
  EXPECT_EQ(At("attendance_rate", "2026-03-16", "sen=none"), Cell(0, 0));
}

// ---- versions, deletes, stale ---------------------------------------------------------------

TEST_F(EngineTest, UpdateMovesTheRecordToItsNewWeek) {
  Add("CT1", "C1", 1, Contact("2026-03-09"));
  Add("CT1", "C1", 2, Contact("2026-03-16"));
  EXPECT_EQ(Count("contacts", "2026-03-09"), 0);
  EXPECT_EQ(Count("contacts", "2026-03-16"), 1);
}

TEST_F(EngineTest, StaleVersionIsCountedAndIgnored) {
  Add("CT1", "C1", 5, Contact("2026-03-16"));
  EXPECT_EQ(Add("CT1", "C1", 1, Contact("2026-03-09")), ApplyOutcome::kStale);
  EXPECT_EQ(engine_->stats().stale, 1u);
  EXPECT_EQ(Count("contacts", "2026-03-09"), 0);
  EXPECT_EQ(Count("contacts", "2026-03-16"), 1);
}

TEST_F(EngineTest, EqualRecordedAtLastArrivalWins) {
  Add("CT1", "C1", 5, Contact("2026-03-09"));
  EXPECT_EQ(Add("CT1", "C1", 5, Contact("2026-03-16")), ApplyOutcome::kApplied);
  EXPECT_EQ(Count("contacts", "2026-03-09"), 0);
  EXPECT_EQ(Count("contacts", "2026-03-16"), 1);
}

TEST_F(EngineTest, DeleteWithdrawsAndALaterVersionBringsItBack) {
  Add("CT1", "C1", 1, Contact("2026-03-09"));
  Add("CT1", "C1", 2, "\"contact\":{}", /*deleted=*/true);
  EXPECT_EQ(Count("contacts", "2026-03-09"), 0);
  Add("CT1", "C1", 3, Contact("2026-03-10"));
  EXPECT_EQ(Count("contacts", "2026-03-09"), 1);
}

TEST_F(EngineTest, DeleteArrivingFirstMakesTheOlderRecordStale) {
  Add("CT1", "C1", 2, "\"contact\":{}", /*deleted=*/true);
  EXPECT_EQ(Add("CT1", "C1", 1, Contact("2026-03-09")), ApplyOutcome::kStale);
  EXPECT_EQ(Count("contacts", "2026-03-09"), 0);
}

TEST_F(EngineTest, SameEventIdOfAnotherKindIsAnotherRecord) {
  Add("X1", "C1", 1, Contact("2026-03-09"));
  Add("X1", "C1", 2, "\"referral\":{\"referralDate\":\"2026-03-09\"}");
  EXPECT_EQ(Count("contacts", "2026-03-09"), 1);
  EXPECT_EQ(Count("referrals", "2026-03-09"), 1);
}

TEST_F(EngineTest, RowFallingToZeroIsEmittedOnceWithZerosAndLeavesTheTable) {
  Add("CT1", "C1", 1, Contact("2026-03-09"));
  std::vector<Row> first = Commit();
  ASSERT_FALSE(first.empty());
  Add("CT1", "C1", 2, "\"contact\":{}", /*deleted=*/true);
  const std::vector<Row> changed = Commit();
  bool zero_row = false;
  for (const Row& row : changed) {
    if (KpiName(row.kpi) == "contacts" && row.dimension == "all") {
      zero_row = row.count == 0 && row.base == 0 && row.revision == 2;
    }
  }
  EXPECT_TRUE(zero_row);
  EXPECT_TRUE(engine_->Table().value().empty());
  EXPECT_TRUE(Commit().empty());  // nothing changed since
}

TEST_F(EngineTest, NoWeekAfterTheWeekOfAsOfIsReported) {
  Add("CT1", "C1", 1, Contact("2026-03-22"));  // Sunday of the as_of week
  Add("CT2", "C1", 2, Contact("2026-03-23"));  // next week
  EXPECT_EQ(Count("contacts", "2026-03-16"), 1);
  EXPECT_EQ(Count("contacts", "2026-03-23"), 0);
}

// ---- assessments ----------------------------------------------------------------------------

TEST_F(EngineTest, AssessmentInTimescaleOnThe45thWorkingDayAfterTheStartNotThe46th) {
  // Mon 12 Jan is day 0: Mon 16 Mar is the 45th working day after it, Tue 17 Mar the 46th.
  Add("A1", "C1", 1,
      R"("assessment":{"startDate":"2026-01-12","completionDate":"2026-03-16","authorisationDate":"2026-03-16"})");
  Add("A2", "C2", 2, R"("assessment":{"startDate":"2026-01-12","authorisationDate":"2026-03-17"})");
  // Started and authorised on the same day: 0 working days.
  Add("A3", "C3", 3, R"("assessment":{"startDate":"2026-03-09","authorisationDate":"2026-03-09"})");
  EXPECT_EQ(At("assessments_in_timescale", "2026-03-16"), Cell(1, 2));
  EXPECT_EQ(At("assessments_in_timescale", "2026-03-09"), Cell(1, 1));
  EXPECT_EQ(Count("assessments_started", "2026-01-12"), 2);
  EXPECT_EQ(Count("assessments_completed", "2026-03-16"), 1);
  EXPECT_EQ(Count("assessments_authorised", "2026-03-09"), 1);
  EXPECT_EQ(Count("assessments_authorised", "2026-03-16"), 2);
}

TEST_F(EngineTest, AssessmentProgressUpdateRestatesRows) {
  Add("A1", "C1", 1, R"("assessment":{"startDate":"2026-01-12"})");
  EXPECT_EQ(Count("assessments_open", "2026-03-09"), 1);
  Add("A1", "C1", 2, R"("assessment":{"startDate":"2026-01-12","authorisationDate":"2026-03-04"})");
  EXPECT_EQ(Count("assessments_open", "2026-02-23"), 1);  // S = Sun 1 Mar: not yet authorised
  EXPECT_EQ(Count("assessments_open", "2026-03-02"), 0);  // S = Sun 8 Mar: authorised on 4 Mar
  EXPECT_EQ(At("assessments_in_timescale", "2026-03-02"), Cell(1, 1));
}

TEST_F(EngineTest, AssessmentsOpenAndOverdueSnapshots) {
  Add("A1", "C1", 1, R"("assessment":{"startDate":"2026-01-12"})");
  const auto open = Weeks("assessments_open");
  EXPECT_EQ(open.size(), 10u);  // weeks of 12 Jan .. 16 Mar
  EXPECT_EQ(open.begin()->first, "2026-01-12");
  // S(week of 9 Mar) = Sun 15 Mar: 44 working days after the start, not overdue. S(week of
  // 16 Mar) = as_of Wed 18 Mar: 47, overdue.
  const auto overdue = Weeks("assessments_overdue");
  ASSERT_EQ(overdue.size(), 1u);
  EXPECT_EQ(overdue.begin()->first, "2026-03-16");
}

// ---- snapshots and plans --------------------------------------------------------------------

TEST_F(EngineTest, PlanEndingOnTheSundayIsNotOpenThatWeek) {
  Add("CIN1", "C1", 1, R"("cinPlan":{"startDate":"2026-03-02","endDate":"2026-03-15"})");
  Add("CIN2", "C2", 2, R"("cinPlan":{"startDate":"2026-03-02","endDate":"2026-03-16"})");
  EXPECT_EQ(Count("cin_plans_open", "2026-03-02"), 2);
  EXPECT_EQ(Count("cin_plans_open", "2026-03-09"), 1);
  EXPECT_EQ(Count("cin_plans_open", "2026-03-16"), 0);
}

TEST_F(EngineTest, SnapshotOfTheCurrentWeekIsTakenAtAsOf) {
  Add("CIN1", "C1", 1, R"("cinPlan":{"startDate":"2026-03-18","draft":true})");  // as_of
  Add("CIN2", "C2", 2, R"("cinPlan":{"startDate":"2026-03-19"})");               // after as_of
  Add("CIN3", "C3", 3, R"("cinPlan":{"startDate":"2026-03-02","endDate":"2026-03-19"})");
  EXPECT_EQ(Count("cin_plans_open", "2026-03-16"), 2);  // CIN1 (drafts count) and CIN3
}

TEST_F(EngineTest, OpenPlansCountDistinctChildren) {
  Add("CP1", "C1", 1, R"("cpPlan":{"startDate":"2026-01-05"})");
  Add("CP2", "C1", 2, R"("cpPlan":{"startDate":"2026-02-02"})");
  EXPECT_EQ(Count("cp_plans_open", "2026-03-16"), 1);
  EXPECT_EQ(Count("cp_plans_started", "2026-01-05"), 1);
  EXPECT_EQ(Count("cp_plans_started", "2026-02-02"), 1);
}

TEST_F(EngineTest, RepeatPlanByPreviousPlansOrAnEarlierPlan) {
  Add("CP1", "C1", 1, R"("cpPlan":{"startDate":"2026-01-05","previousPlans":1})");
  Add("CP2", "C2", 2, R"("cpPlan":{"startDate":"2024-01-01","endDate":"2024-06-01"})");
  Add("CP3", "C2", 3, R"("cpPlan":{"startDate":"2026-02-02"})");
  Add("CP4", "C3", 4, R"("cpPlan":{"startDate":"2026-02-02"})");
  EXPECT_EQ(Count("cp_plans_open_repeat", "2026-03-16"), 2);  // C1 and C2, not C3
  // Removing C2's earlier plan makes CP3 a first plan: the repeat flag is restated.
  Add("CP2", "C2", 5, "\"cpPlan\":{}", /*deleted=*/true);
  EXPECT_EQ(Count("cp_plans_open_repeat", "2026-03-16"), 1);
}

TEST_F(EngineTest, CpPlanEndedAfterTwoYearsBoundary) {
  Add("CP1", "C1", 1, R"("cpPlan":{"startDate":"2024-03-01","endDate":"2026-03-01"})");  // 730
  Add("CP2", "C2", 2, R"("cpPlan":{"startDate":"2024-03-01","endDate":"2026-02-28"})");  // 729
  EXPECT_EQ(At("cp_plans_ended_2y", "2026-02-23"), Cell(1, 2));
  EXPECT_EQ(Count("cp_plans_ended", "2026-02-23"), 2);
}

TEST_F(EngineTest, LookedAfterExcludesV3AndV4) {
  Add("LA1", "C1", 1, R"("lookedAfter":{"startDate":"2026-01-05","legalStatus":"C2"})");
  Add("LA2", "C2", 2, R"("lookedAfter":{"startDate":"2026-01-05","legalStatus":"V3"})");
  Add("LA3", "C3", 3, R"("lookedAfter":{"startDate":"2026-01-05","legalStatus":"V4"})");
  Add("LA4", "C4", 4, R"("lookedAfter":{"startDate":"2026-01-05"})");
  EXPECT_EQ(Count("cla_open", "2026-03-16"), 2);
}

// ---- S47 and ICPC ---------------------------------------------------------------------------

TEST_F(EngineTest, S47AwaitingIcpcUntilTheConferenceAndOverdueAfter15WorkingDays) {
  Add("S1", "C1", 1, R"("s47":{"startDate":"2026-02-02"})");
  Add("I1", "C1", 2, R"("icpc":{"conferenceDate":"2026-02-25","s47Id":"S1"})");
  // S(W): 8, 15, 22 Feb awaiting (the ICPC is on 25 Feb); 1 Mar not.
  const auto awaiting = Weeks("s47_awaiting_icpc");
  EXPECT_EQ(awaiting.size(), 3u);
  EXPECT_EQ(awaiting.rbegin()->first, "2026-02-16");
  // working_days(2 Feb, 22 Feb) = 14: not overdue in any awaiting week.
  EXPECT_TRUE(Weeks("s47_icpc_overdue").empty());
  // working_days(2 Feb, 25 Feb) = 17 > 15.
  EXPECT_EQ(At("icpc_in_timescale", "2026-02-23"), Cell(0, 1));
  EXPECT_EQ(Count("icpc_held", "2026-02-23"), 1);
  EXPECT_EQ(Count("s47_started", "2026-02-02"), 1);
}

TEST_F(EngineTest, IcpcInTimescaleOnThe15thWorkingDayAfterTheS47) {
  // Mon 2 Feb is day 0; Mon 23 Feb is the 15th working day after it.
  Add("S1", "C1", 1, R"("s47":{"startDate":"2026-02-02"})");
  Add("I1", "C1", 2, R"("icpc":{"conferenceDate":"2026-02-23","s47Id":"S1"})");
  Add("S2", "C2", 3, R"("s47":{"startDate":"2026-02-02"})");
  Add("I2", "C2", 4, R"("icpc":{"conferenceDate":"2026-02-24","s47Id":"S2"})");  // the 16th
  EXPECT_EQ(At("icpc_in_timescale", "2026-02-23"), Cell(1, 2));
}

TEST_F(EngineTest, IcpcTimescaleRunsFromTheStrategyDiscussionWhenNotAfterTheStart) {
  // Strategy discussion Thu 29 Jan, S47 Mon 2 Feb: the 15th working day after 29 Jan is 19 Feb.
  Add("S1", "C1", 1, R"("s47":{"startDate":"2026-02-02","strategyDiscussionDate":"2026-01-29"})");
  Add("I1", "C1", 2, R"("icpc":{"conferenceDate":"2026-02-20","s47Id":"S1"})");  // the 16th
  // A strategy discussion after the start is ignored: the start is the anchor.
  Add("S2", "C2", 3, R"("s47":{"startDate":"2026-02-02","strategyDiscussionDate":"2026-02-04"})");
  Add("I2", "C2", 4, R"("icpc":{"conferenceDate":"2026-02-23","s47Id":"S2"})");  // the 15th
  EXPECT_EQ(At("icpc_in_timescale", "2026-02-16"), Cell(0, 1));
  EXPECT_EQ(At("icpc_in_timescale", "2026-02-23"), Cell(1, 1));
  // Overdue at S from the anchor too: S(week of 16 Feb) = Sun 22 Feb, 16 working days after
  // 29 Jan; but the conference of 20 Feb was held by then.
  Add("S3", "C3", 5, R"("s47":{"startDate":"2026-02-02","strategyDiscussionDate":"2026-01-29"})");
  EXPECT_EQ(Count("s47_icpc_overdue", "2026-02-16"), 1);
  EXPECT_EQ(Count("s47_icpc_overdue", "2026-02-09"), 0);  // S = 15 Feb: 11
  // Correcting the strategy discussion away restates the ICPC.
  Add("S1", "C1", 6, R"("s47":{"startDate":"2026-02-02"})");
  EXPECT_EQ(At("icpc_in_timescale", "2026-02-16"), Cell(1, 1));
}

TEST_F(EngineTest, S47WithoutIcpcBecomesOverdue) {
  Add("S1", "C1", 1, R"("s47":{"startDate":"2026-02-02"})");
  EXPECT_EQ(Weeks("s47_awaiting_icpc").size(), 7u);  // weeks of 2 Feb .. 16 Mar
  const auto overdue = Weeks("s47_icpc_overdue");
  EXPECT_EQ(overdue.begin()->first, "2026-02-23");  // S = 1 Mar: 20 working days
  Add("S1", "C1", 2, R"("s47":{"startDate":"2026-02-02","icpcNotRequired":true})");
  EXPECT_TRUE(Weeks("s47_awaiting_icpc").empty());
  EXPECT_TRUE(Weeks("s47_icpc_overdue").empty());
}

TEST_F(EngineTest, IcpcBeforeItsS47AndS47DeleteRestateTheIcpc) {
  Add("I1", "C1", 1, R"("icpc":{"conferenceDate":"2026-02-20","s47Id":"S1"})");
  EXPECT_EQ(At("icpc_in_timescale", "2026-02-16"), Cell(0, 0));  // names no live S47 yet
  Add("S1", "C1", 2, R"("s47":{"startDate":"2026-02-02"})");
  EXPECT_EQ(At("icpc_in_timescale", "2026-02-16"), Cell(1, 1));
  EXPECT_EQ(Weeks("s47_awaiting_icpc").size(), 2u);  // S = 8 and 15 Feb; held on 20 Feb
  Add("S1", "C1", 3, "\"s47\":{}", /*deleted=*/true);
  EXPECT_EQ(At("icpc_in_timescale", "2026-02-16"), Cell(0, 0));
  EXPECT_EQ(Count("icpc_held", "2026-02-16"), 1);
}

TEST_F(EngineTest, IcpcRepointedToAnotherS47RestatesBoth) {
  Add("S1", "C1", 1, R"("s47":{"startDate":"2026-02-02"})");
  Add("S2", "C1", 2, R"("s47":{"startDate":"2026-03-02"})");
  Add("I1", "C1", 3, R"("icpc":{"conferenceDate":"2026-02-06","s47Id":"S1"})");
  EXPECT_EQ(Count("s47_awaiting_icpc", "2026-03-16"), 1);  // S2 only
  Add("I1", "C1", 4, R"("icpc":{"conferenceDate":"2026-03-06","s47Id":"S2"})");
  // Now S1 is awaiting throughout; S2 was held on 6 Mar.
  EXPECT_EQ(Count("s47_awaiting_icpc", "2026-03-16"), 1);
  EXPECT_EQ(Count("s47_awaiting_icpc", "2026-02-02"), 1);
  EXPECT_EQ(Count("s47_awaiting_icpc", "2026-03-02"), 1);  // S1; S2 held by Sun 8 Mar
}

TEST_F(EngineTest, IcpcOfAnotherChildDoesNotCount) {
  Add("S1", "C1", 1, R"("s47":{"startDate":"2026-02-02"})");
  Add("I1", "C2", 2, R"("icpc":{"conferenceDate":"2026-02-06","s47Id":"S1"})");
  EXPECT_EQ(At("icpc_in_timescale", "2026-02-02"), Cell(0, 0));
  EXPECT_EQ(Count("s47_awaiting_icpc", "2026-03-16"), 1);
}

// ---- attendance -----------------------------------------------------------------------------

TEST_F(EngineTest, AttendanceRatesByCodeClass) {
  Add("M1", "C1", 1, Mark("100001", "2026-03-09", "AM", "/"));
  Add("M2", "C1", 2, Mark("100001", "2026-03-09", "PM", "N"));
  Add("M3", "C1", 3, Mark("100001", "2026-03-10", "AM", "I"));
  Add("M4", "C1", 4, Mark("100001", "2026-03-10", "PM", "X"));  // not counted
  Add("M5", "C1", 5, Mark("100001", "2026-03-11", "AM", "-"));  // missing
  Add("M6", "C1", 6, Mark("100001", "2026-03-11", "PM", "B"));  // approved activity
  EXPECT_EQ(At("attendance_rate", "2026-03-09"), Cell(2, 4));
  EXPECT_EQ(At("absence_rate", "2026-03-09"), Cell(2, 4));
  EXPECT_EQ(At("unauthorised_absence_rate", "2026-03-09", "school=100001"), Cell(1, 4));
  EXPECT_EQ(engine_->stats().live_missing_marks, 1);
}

TEST_F(EngineTest, MarkCorrectionAndDeleteRestateRates) {
  Add("M1", "C1", 1, Mark("100001", "2026-03-09", "AM", "N"));
  Add("M1b", "C1", 2, Mark("100001", "2026-03-09", "AM", "I"));  // same session: a correction
  EXPECT_EQ(At("unauthorised_absence_rate", "2026-03-09"), Cell(0, 1));
  EXPECT_EQ(At("absence_rate", "2026-03-09"), Cell(1, 1));
  Add("M1c", "C1", 3, R"("attendance":{"schoolUrn":"100001","date":"2026-03-09","session":"AM"})",
      true);
  EXPECT_EQ(At("absence_rate", "2026-03-09"), Cell(0, 0));
}

TEST_F(EngineTest, MarkSchoolIsTheMarksOwnNotTheProfiles) {
  Add("P", "C1", 1, Profile("2025-01-01", "", "", "999999"));
  Add("M1", "C1", 2, Mark("100001", "2026-03-09", "AM", "/"));
  EXPECT_EQ(At("attendance_rate", "2026-03-09", "school=100001"), Cell(1, 1));
  EXPECT_EQ(At("attendance_rate", "2026-03-09", "school=999999"), Cell(0, 0));
}

// ---- persistent and severe absence ----------------------------------------------------------

class AbsenceTest : public EngineTest {
 protected:
  void SetUp() override { Open("2025-09-21"); }
  // Ten sessions Monday..Friday of the week of `monday`, the first `absent` of them absent.
  void Week(const std::string& child, const std::string& urn, Date monday, int absent) {
    int n = 0;
    for (int day = 0; day < 5; ++day) {
      for (const char* session : {"AM", "PM"}) {
        const std::string date = (monday + day).ToString();
        Add(child + date + session, child, t_++,
            Mark(urn.c_str(), date.c_str(), session, n++ < absent ? "I" : "/"));
      }
    }
  }
  int t_ = 1;
};

TEST_F(AbsenceTest, PersistentAtTenPercentSevereAtFifty) {
  const Date w1 = Date::FromYmd(2025, 9, 1);  // Monday
  Week("C1", "100001", w1, 1);                // 1/10: persistent
  Week("C2", "100001", w1, 0);                // 0/10
  Week("C3", "100001", w1, 5);                // 5/10: persistent and severe
  EXPECT_EQ(At("persistent_absence", "2025-09-01"), Cell(2, 3));
  EXPECT_EQ(At("severe_absence", "2025-09-01"), Cell(1, 3));
  EXPECT_EQ(At("severe_absence", "2025-09-01", "school=100001"), Cell(1, 3));
  // Year to date: C1 has 1/20 after a full second week; C3 5/20 (25%: persistent, not severe).
  Week("C1", "100001", w1 + 7, 0);
  Week("C3", "100001", w1 + 7, 0);
  EXPECT_EQ(At("persistent_absence", "2025-09-08"), Cell(1, 2));  // C2 has no mark that week
  EXPECT_EQ(At("severe_absence", "2025-09-08"), Cell(0, 2));
  // The first week's rows keep their own year to date.
  EXPECT_EQ(At("persistent_absence", "2025-09-01"), Cell(2, 3));
}

TEST_F(AbsenceTest, CountedPerEnrolment) {
  const Date w1 = Date::FromYmd(2025, 9, 1);
  Week("C1", "100001", w1, 5);
  Week("C1", "100002", w1, 0);
  EXPECT_EQ(At("persistent_absence", "2025-09-01"), Cell(1, 2));
  EXPECT_EQ(At("persistent_absence", "2025-09-01", "school=100002"), Cell(0, 1));
}

TEST_F(AbsenceTest, LateCorrectionRestatesLaterWeeks) {
  const Date w1 = Date::FromYmd(2025, 9, 1);
  Week("C1", "100001", w1, 0);
  Week("C1", "100001", w1 + 7, 1);
  EXPECT_EQ(At("persistent_absence", "2025-09-08"), Cell(0, 1));  // 1/20
  // Correct a week-1 present mark to absent: week 2 becomes 2/20 = 10%.
  Add("fix", "C1", 1000, Mark("100001", "2025-09-01", "AM", "N"));
  EXPECT_EQ(At("persistent_absence", "2025-09-08"), Cell(1, 1));
  EXPECT_EQ(At("persistent_absence", "2025-09-01"), Cell(1, 1));  // 1/10
}

TEST_F(AbsenceTest, YearToDateStartsOnFirstSeptemberEvenMidWeek) {
  Open("2026-09-30");
  // Week of Mon 31 Aug 2026: S(W) = Sun 6 Sep, academic year 2026 from Tue 1 Sep.
  Add("a", "C1", 1, Mark("100001", "2026-08-31", "AM", "N"));     // previous academic year
  EXPECT_EQ(At("persistent_absence", "2026-08-31"), Cell(0, 0));  // row exists, no possible
  Add("b", "C1", 2, Mark("100001", "2026-09-01", "AM", "/"));
  EXPECT_EQ(At("persistent_absence", "2026-08-31"), Cell(0, 1));  // 0/1: the 31 Aug mark is out
}

TEST_F(AbsenceTest, AsOfOnThirtyFirstAugustKeepsTheOldAcademicYear) {
  Open("2026-08-31");
  Add("a", "C1", 1, Mark("100001", "2026-08-31", "AM", "N"));
  EXPECT_EQ(At("persistent_absence", "2026-08-31"), Cell(1, 1));  // S(W) = as_of = 31 Aug
}

TEST_F(AbsenceTest, AdvancingAsOfAcrossTheAcademicYearTurnRestatesTheWeek) {
  Open("2026-08-31");
  Add("a", "C1", 1, Mark("100001", "2026-08-31", "AM", "N"));
  Add("b", "C1", 2, Mark("100001", "2026-09-01", "AM", "/"));  // after as_of: not yet counted
  Add("S", "C1", 3, R"("s47":{"startDate":"2026-08-03"})");
  EXPECT_EQ(At("persistent_absence", "2026-08-31"), Cell(1, 1));
  EXPECT_EQ(Count("s47_icpc_overdue", "2026-08-31"), 1);  // S = 31 Aug: 20 working days
  ASSERT_TRUE(engine_->AdvanceAsOf(*Date::Parse("2026-09-02")).has_value());
  // S(W) = 2 Sep: academic year 2026, which starts on 1 Sep: 0 absences of 1 possible.
  EXPECT_EQ(At("persistent_absence", "2026-08-31"), Cell(0, 1));
  EXPECT_EQ(Count("s47_awaiting_icpc", "2026-08-31"), 1);
  EXPECT_EQ(engine_->as_of().ToString(), "2026-09-02");
}

TEST_F(AbsenceTest, RowOnlyForWeeksWithAMarkAndTakesSenAtSW) {
  Add("P1", "C1", 1, Profile("2025-01-01", "", "NONE", ""));
  Add("P2", "C1", 2, Profile("2025-09-06", "", "EHCP", ""));  // Saturday of week 1
  Week("C1", "100001", Date::FromYmd(2025, 9, 1), 1);
  EXPECT_EQ(At("persistent_absence", "2025-09-01", "sen=ehcp"), Cell(1, 1));
  EXPECT_EQ(At("persistent_absence", "2025-09-01", "sen=none"), Cell(0, 0));
  EXPECT_EQ(At("persistent_absence", "2025-09-08"), Cell(0, 0));  // no mark that week
  // The profile record changes: the stored rows are restated.
  Add("P2", "C1", 500, "\"profile\":{\"effectiveDate\":\"2025-09-06\"}", true);
  EXPECT_EQ(At("persistent_absence", "2025-09-01", "sen=none"), Cell(1, 1));
}

// ---- exclusions and enrolments --------------------------------------------------------------

TEST_F(EngineTest, SuspensionsCountRecordsAndSuspendedPupilsCountChildren) {
  Add("X1", "C1", 1,
      R"("exclusion":{"schoolUrn":"A","startDate":"2026-03-09","kind":"SUSPENSION"})");
  Add("X2", "C1", 2,
      R"("exclusion":{"schoolUrn":"B","startDate":"2026-03-11","kind":"SUSPENSION"})");
  Add("X3", "C2", 3,
      R"("exclusion":{"schoolUrn":"A","startDate":"2026-03-11","kind":"PERMANENT"})");
  EXPECT_EQ(Count("suspensions", "2026-03-09"), 2);
  EXPECT_EQ(Count("suspended_pupils", "2026-03-09"), 1);
  // A child who moves school inside the week counts once under all and once under each school.
  EXPECT_EQ(Count("suspended_pupils", "2026-03-09", "school=A"), 1);
  EXPECT_EQ(Count("suspended_pupils", "2026-03-09", "school=B"), 1);
  EXPECT_EQ(Count("permanent_exclusions", "2026-03-09"), 1);
}

TEST_F(EngineTest, SchoolMovesOutsideTheUsualWindows) {
  Open("2026-12-31");
  const auto enrol = [&](const char* id, const char* child, const char* start, const char* end) {
    std::string b =
        std::string("\"enrolment\":{\"schoolUrn\":\"S\",\"startDate\":\"") + start + "\"";
    if (*end) b += std::string(",\"endDate\":\"") + end + "\"";
    Add(id, child, 1, b + "}");
  };
  enrol("E1", "J1", "2025-08-01", "");  // usual join (1 Aug)
  enrol("E2", "J2", "2025-07-31", "");  // move
  enrol("E3", "J3", "2025-09-30", "");  // usual join (30 Sep)
  enrol("E4", "J4", "2025-10-01", "");  // move
  EXPECT_EQ(Count("school_moves", "2025-07-28"), 1);
  EXPECT_EQ(Count("school_moves", "2025-09-29"), 1);
  enrol("E5", "L1", "2025-09-01", "2026-07-15");  // usual leave (15 Jul)
  enrol("E6", "L2", "2025-09-01", "2026-07-14");  // move
  enrol("E7", "L3", "2025-09-01", "2026-09-07");  // usual leave (7 Sep)
  enrol("E8", "L4", "2025-09-01", "2026-09-08");  // move
  EXPECT_EQ(Count("school_moves", "2026-07-13"), 1);
  EXPECT_EQ(Count("school_moves", "2026-09-07"), 1);
  EXPECT_EQ(Count("school_moves", "2026-09-07", "school=S"), 1);
}

TEST_F(EngineTest, EheLeaversByLeaveReason) {
  Add("E1", "C1", 1,
      R"("enrolment":{"schoolUrn":"S","startDate":"2025-09-03","endDate":"2026-03-10","leaveReason":"EHE"})");
  Add("E2", "C2", 2,
      R"("enrolment":{"schoolUrn":"S","startDate":"2025-09-03","endDate":"2026-03-10","leaveReason":"TRANSFER"})");
  EXPECT_EQ(Count("ehe_leavers", "2026-03-09"), 1);
  EXPECT_EQ(Count("school_moves", "2026-03-09"), 2);
}

// ---- state ----------------------------------------------------------------------------------

// ---- Part II records ---------------------------------------------------------------------------

// Part II records are versioned and kept like every other record: a stale version changes
// nothing, before and after a reopening of the store.
TEST_F(EngineTest, PartIIRecordsAreKeptAsVersionedRecords) {
  Add("R1", "C1", 5, R"("ehcRequest":{"requestDate":"2026-01-05","source":"PARENT"})");
  Add("V1", "C1", 6, R"("visit":{"visitDate":"2026-03-10"})");
  Add("V1", "C1", 7, R"("visit":{})", /*deleted=*/true);
  Add("RV1", "C1", 8, R"("review":{"reviewDate":"2026-03-10","reviewType":"CLA"})");
  Add("A1", "C1", 9, R"("ehcAdvice":{"adviceType":"EP","requestedDate":"2026-02-01"})");
  Add("EP1", "C1", 10, R"("ehcPlan":{"startDate":"2025-06-01"})");
  Add("ER1", "C1", 11, R"("ehcReview":{"meetingDate":"2026-03-02"})");
  const std::string before = TableText();
  EXPECT_NE(before.find("ehc_requests 2026-01-05 all 1/0"), std::string::npos) << before;
  EXPECT_EQ(Add("R1", "C1", 4, R"("ehcRequest":{"requestDate":"2026-01-06"})"),
            ApplyOutcome::kStale);
  EXPECT_EQ(TableText(), before);
  EXPECT_EQ(engine_->stats().stale, 1u);
  // They survive a reopening of the store: a stale version is still recognised.
  auto reopened = Engine::Open(*store_, calendar_, options_);
  ASSERT_TRUE(reopened.has_value());
  engine_ = std::move(*reopened);
  EXPECT_EQ(Add("R1", "C1", 3, R"("ehcRequest":{"requestDate":"2026-01-07"})"),
            ApplyOutcome::kStale);
  EXPECT_EQ(TableText(), before);
}

// ---- bounded KPI cells -----------------------------------------------------------------------

// A hot state of 16 KiB keeps a few dozen KPI cells: commits drop the least recently changed.
class BoundedCellsTest : public EngineTest {
 protected:
  void SetUp() override {
    options_.memory_bytes = 16 << 10;
    Open("2026-03-18");
  }
  // Contacts of other children in 40 other weeks, a commit after each: every older cell is
  // evicted by the end.
  void Churn(int t) {
    for (int i = 0; i < 40; ++i) {
      const std::string date = (Date::FromYmd(2025, 1, 6) + 7 * i).ToString();
      Add("X" + std::to_string(i), "X" + std::to_string(i), t + i, Contact(date.c_str()));
      Commit();
    }
  }
  // The row of one cell in the commit's changed rows, if there.
  static std::optional<Row> Changed(const std::vector<Row>& rows, const char* kpi,
                                    const char* week) {
    for (const Row& row : rows) {
      if (KpiName(row.kpi) == kpi && row.week.ToString() == week && row.dimension == "all") {
        return row;
      }
    }
    return std::nullopt;
  }
};

TEST_F(BoundedCellsTest, ALateCorrectionToAnEvictedWeekStartsFromItsStoredValue) {
  Add("CT1", "C1", 1, Contact("2026-03-09"));
  Add("CT2", "C2", 2, Contact("2026-03-10"));
  const std::optional<Row> first = Changed(Commit(), "contacts", "2026-03-09");
  ASSERT_TRUE(first.has_value());
  Churn(10);
  EXPECT_GT(engine_->stats().cells_evicted, 100u);
  EXPECT_LT(engine_->stats().hot_cells, 100u);
  const uint64_t loaded = engine_->stats().cells_loaded;
  Add("CT1", "C1", 100, Contact("2026-03-09"), /*deleted=*/true);
  const std::optional<Row> late = Changed(Commit(), "contacts", "2026-03-09");
  EXPECT_GT(engine_->stats().cells_loaded, loaded);  // read back, not restarted at zero
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->count, 1);
  EXPECT_EQ(late->revision, first->revision + 1);  // the revision carries on
  // The table reads the evicted cells from the store.
  EXPECT_EQ(At("contacts", "2026-03-09"), Cell(1, 0));
  EXPECT_EQ(Weeks("contacts").size(), 41u);
}

TEST_F(BoundedCellsTest, AnEvictedWeekAfterAsOfIsReportedWhenAsOfReachesIt) {
  Add("m", "C1", 1, Mark("100001", "2026-03-23", "AM", "/"));  // next week: not yet in the table
  Commit();
  EXPECT_EQ(At("attendance_rate", "2026-03-23"), Cell(0, 0));
  Churn(10);
  const uint64_t loaded = engine_->stats().cells_loaded;
  ASSERT_TRUE(engine_->AdvanceAsOf(*Date::Parse("2026-03-23")).has_value());
  EXPECT_GT(engine_->stats().cells_loaded, loaded);
  const std::optional<Row> shown = Changed(Commit(), "attendance_rate", "2026-03-23");
  ASSERT_TRUE(shown.has_value());
  EXPECT_EQ(Cell(shown->count, shown->base), Cell(1, 1));
  EXPECT_EQ(At("attendance_rate", "2026-03-23"), Cell(1, 1));
}

TEST_F(BoundedCellsTest, ReopeningLoadsSomeCellsAndReadsTheRestOnDemand) {
  Churn(10);
  Add("CT1", "C1", 100, Contact("2025-01-06"));  // the first week: a second child
  Commit();
  const std::vector<Row> before = engine_->Table().value();
  auto reopened = Engine::Open(*store_, calendar_, options_);
  ASSERT_TRUE(reopened.has_value());
  engine_ = std::move(*reopened);
  EXPECT_LT(engine_->stats().hot_cells, before.size() / 2);  // the rest stay in the store
  const std::vector<Row> after = engine_->Table().value();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(after[i].dimension, before[i].dimension);
    EXPECT_EQ(after[i].count, before[i].count);
    EXPECT_EQ(after[i].revision, before[i].revision);
  }
  Add("CT1", "C1", 101, Contact("2025-01-06"), /*deleted=*/true);
  EXPECT_EQ(At("contacts", "2025-01-06"), Cell(1, 0));
}

TEST_F(EngineTest, ReopeningTheStoreRestoresTheTable) {
  Add("CT1", "C1", 1, Contact("2026-03-09"));
  Commit();
  const std::vector<Row> before = engine_->Table().value();
  auto reopened = Engine::Open(*store_, calendar_, options_);
  ASSERT_TRUE(reopened.has_value());
  const std::vector<Row> after = (*reopened)->Table().value();
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].dimension, after[i].dimension);
    EXPECT_EQ(before[i].count, after[i].count);
    EXPECT_EQ(before[i].revision, after[i].revision);
  }
}

TEST_F(EngineTest, ReopeningKeepsTheStoredAsOf) {
  Add("CT1", "C1", 1, Contact("2026-03-09"));
  Commit();
  EngineOptions other = options_;
  other.as_of = options_.as_of + 30;
  auto reopened = Engine::Open(*store_, calendar_, other);
  ASSERT_TRUE(reopened.has_value()) << reopened.error().message;
  EXPECT_EQ((*reopened)->as_of(), options_.as_of);
}

}  // namespace
}  // namespace kpi
