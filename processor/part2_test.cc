// The KPIs of KPIS-2.md: the worked examples E1-E7 as written in section 8, then the edge cases
// and corrections each section names.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "tests/util/engine_fixture.h"

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

// ---- Part A ---------------------------------------------------------------------------------

TEST_F(EngineTest, PupilsOnRollCountDualRegistrationUnderEachSchoolAndOnceUnderAll) {
  Open("2026-03-22");
  Add("E1", "C1", 1, Enrolment("100001", "2025-09-01"));
  Add("E2", "C1", 2, Enrolment("100002", "2026-03-02"));
  EXPECT_EQ(At("pupils_on_roll", "2026-03-02"), Cell(1, 0));
  EXPECT_EQ(Count("pupils_on_roll", "2026-03-02", "school=100001"), 1);
  EXPECT_EQ(Count("pupils_on_roll", "2026-03-02", "school=100002"), 1);
  // An enrolment that ends on the day the next starts: only the new school.
  Add("E1", "C1", 3, Enrolment("100001", "2025-09-01", "2026-03-02", "TRANSFER"));
  EXPECT_EQ(Count("pupils_on_roll", "2026-03-02", "school=100001"), 0);
  EXPECT_EQ(Count("pupils_on_roll", "2026-02-23", "school=100001"), 1);
  EXPECT_EQ(At("pupils_on_roll", "2026-03-02"), Cell(1, 0));
  EXPECT_EQ(Weeks("ehe_open"), WeekMap());
}

TEST_F(EngineTest, ExcludedPupilsYearToDateRunToTheEndOfTheAcademicYear) {
  Open("2026-09-13");
  const auto exclusion = [](const char* date, const char* kind) {
    return std::string("\"exclusion\":{\"schoolUrn\":\"100001\",\"startDate\":\"") + date +
           "\",\"kind\":\"" + kind + "\"}";
  };
  Add("X1", "C1", 1, exclusion("2026-03-04", "SUSPENSION"));
  Add("X2", "C1", 2, exclusion("2026-05-06", "SUSPENSION"));
  // From the week of the first to the week of 2026-08-24 (S = 08-30); the week of 1 September
  // has S(W) = 2026-09-06 in the next academic year.
  EXPECT_EQ(Weeks("suspended_pupils_ytd"), Every("2026-03-02", "2026-08-24", {1, 0}));
  EXPECT_EQ(Weeks("suspended_pupils_ytd", "school=100001").size(), 26u);
  Add("X1", "C1", 3, exclusion("2026-03-04", "SUSPENSION"), /*deleted=*/true);
  EXPECT_EQ(Weeks("suspended_pupils_ytd"), Every("2026-05-04", "2026-08-24", {1, 0}));
  Add("X3", "C1", 4, exclusion("2026-09-01", "PERMANENT"));
  EXPECT_EQ(Weeks("permanently_excluded_pupils_ytd"), Every("2026-08-31", "2026-09-07", {1, 0}));
}

TEST_F(EngineTest, PartTimeTimetableCountsC2MarksAndACorrectionWithdrawsThem) {
  Add("M1", "C1", 1, Mark("100001", "2026-03-09", "PM", "C2"));
  Add("M2", "C1", 2, Mark("100001", "2026-03-10", "PM", "C2"));
  EXPECT_EQ(At("part_time_timetable_pupils", "2026-03-09"), Cell(1, 0));
  EXPECT_EQ(Count("part_time_timetable_pupils", "2026-03-09", "school=100001"), 1);
  Add("M1", "C1", 3, Mark("100001", "2026-03-09", "PM", "/"));
  EXPECT_EQ(At("part_time_timetable_pupils", "2026-03-09"), Cell(1, 0));
  Add("M2", "C1", 4, Mark("100001", "2026-03-10", "PM", "C1"));
  EXPECT_EQ(Weeks("part_time_timetable_pupils"), WeekMap());
  EXPECT_EQ(At("absence_rate", "2026-03-09"), Cell(1, 2));
}

TEST_F(EngineTest, EheNeedsAYearGroupFromReceptionToYear11) {
  Open("2026-04-26");
  Add("P1", "C5", 1, Profile("2024-09-01", "2009-05-10", "", ""));  // year 12 in 2025
  Add("E1", "C5", 2, Enrolment("100001", "2024-09-02", "2026-02-13", "EHE"));
  EXPECT_EQ(Weeks("ehe_open"), WeekMap());
  Add("P1", "C5", 3, Profile("2024-09-01", "", "", ""));  // unknown year group: counts
  EXPECT_EQ(Weeks("ehe_open").size(), 11u);
}

// ---- extra cuts ------------------------------------------------------------------------------

TEST_F(EngineTest, ExtraCutsCountAChildOncePerValueAndNeverCrossTheBaseCuts) {
  Add("P1", "C1", 1,
      R"("profile":{"effectiveDate":"2025-01-01","dateOfBirth":"2015-06-01","gender":"FEMALE","ethnicity":"APKN"})");
  Add("CP1", "C1", 2, CpPlan("2026-03-02", "", "NEG"));
  Add("CP2", "C1", 3, CpPlan("2026-03-03", "", "EMO"));
  Add("CP3", "C1", 4, CpPlan("2026-03-04", "", "NEG"));
  EXPECT_EQ(Count("cp_plans_open", "2026-03-09"), 1);
  EXPECT_EQ(Count("cp_plans_open", "2026-03-09", "category=neg"), 1);
  EXPECT_EQ(Count("cp_plans_open", "2026-03-09", "category=emo"), 1);
  EXPECT_EQ(Count("cp_plans_open", "2026-03-09", "gender=female"), 1);
  EXPECT_EQ(Count("cp_plans_open", "2026-03-09", "ethnicity=APKN"), 1);
  EXPECT_EQ(Count("cp_plans_open", "2026-03-09", "age=10-15"), 1);
  EXPECT_EQ(Count("cp_plans_started", "2026-03-02", "category=neg"), 2);  // records, not children
  EXPECT_EQ(Count("cp_plans_started", "2026-03-02", "age=10-15"), 3);
  // No family on a KPI without extra cuts.
  EXPECT_EQ(Count("cp_plans_open_repeat", "2026-03-09", "category=emo"), 0);
  Add("IC1", "C1", 5, R"("icpc":{"conferenceDate":"2026-03-02","outcome":"CP_PLAN"})");
  Add("IC2", "C1", 6, R"("icpc":{"conferenceDate":"2026-03-03"})");
  EXPECT_EQ(Count("icpc_held", "2026-03-02", "outcome=cp_plan"), 1);
  EXPECT_EQ(Count("icpc_held", "2026-03-02", "outcome=unknown"), 1);
  EXPECT_EQ(Count("icpc_held", "2026-03-02", "category=unknown"), 0);
}

TEST_F(EngineTest, ALateProfileRestatesTheAgeGenderAndEthnicityCuts) {
  Add("CP1", "C1", 1, CpPlan("2026-03-02"));
  EXPECT_EQ(Count("cp_plans_started", "2026-03-02", "gender=unknown"), 1);
  EXPECT_EQ(Count("cp_plans_started", "2026-03-02", "category=unknown"), 1);
  Add("P1", "C1", 2,
      R"("profile":{"effectiveDate":"2026-01-01","dateOfBirth":"2026-05-01","gender":"MALE"})");
  EXPECT_EQ(Count("cp_plans_started", "2026-03-02", "gender=unknown"), 0);
  EXPECT_EQ(Count("cp_plans_started", "2026-03-02", "gender=male"), 1);
  EXPECT_EQ(Count("cp_plans_started", "2026-03-02", "age=unborn"), 1);
  EXPECT_EQ(Count("cp_plans_open", "2026-03-16", "ethnicity=unknown"), 1);
}

// ---- Part B ------------------------------------------------------------------------------------

TEST_F(EngineTest, AnUndecidedRequestIsOverdueEvenIfALaterVersionDecidesItAfterS) {
  Open("2026-03-22");
  Add("R1", "C1", 1, Request(R"("requestDate":"2026-01-05")"));
  // 42 days: S = 2026-02-15 is 41 days; S = 2026-02-22 is 48.
  EXPECT_EQ(Weeks("ehc_decisions_overdue"), Every("2026-02-16", "2026-03-16", {1, 0}));
  Add("R1", "C1", 2,
      Request(R"("requestDate":"2026-01-05","decisionDate":"2026-03-04","decision":"NOT_ASSESS")"));
  EXPECT_EQ(Weeks("ehc_decisions_overdue"), Every("2026-02-16", "2026-02-23", {1, 0}));
  EXPECT_EQ(Weeks("ehc_decisions_in_6w"), WeekMap({{"2026-03-02", {0, 1}}}));
  EXPECT_EQ(Weeks("ehc_assessments_agreed"), WeekMap());
  EXPECT_EQ(Weeks("ehc_waiting_over_20w"), WeekMap());  // refused
}

TEST_F(EngineTest, TribunalOrderedRequestsAreLeftOutOfTheTwentyWeekWaitOnly) {
  Open("2026-06-07");
  Add("R1", "C1", 1, Request(std::string(kR1Decided) + R"(,"tribunalOrdered":true)"));
  EXPECT_EQ(Weeks("ehc_waiting_over_20w"), WeekMap());
  EXPECT_EQ(Weeks("ehc_assessments_open").size(), 16u);
  EXPECT_EQ(Weeks("ehc_requests_parent"), WeekMap({{"2026-01-05", {1, 1}}}));
}

TEST_F(EngineTest, WithdrawnRequestsCloseEverySnapshotAndCountInNoOutcomeFlow) {
  Open("2026-06-07");
  Add("R1", "C1", 1,
      Request(std::string(kR1Decided) + R"(,"outcomeDate":"2026-03-02","outcome":"WITHDRAWN")"));
  EXPECT_EQ(Weeks("ehc_assessments_open"), Every("2026-02-16", "2026-02-23", {1, 0}));
  EXPECT_EQ(Weeks("ehc_plans_issued"), WeekMap());
  EXPECT_EQ(Weeks("ehc_plans_issued_in_20w"), WeekMap());
  EXPECT_EQ(Weeks("ehc_decisions_in_6w"), WeekMap({{"2026-02-16", {1, 1}}}));
}

TEST_F(EngineTest, AdviceTimelinessAndTheOutstandingEpAdvice) {
  Open("2026-04-19");
  const auto advice = [](const char* type, const char* asked, const char* received) {
    std::string b = std::string("\"ehcAdvice\":{\"adviceType\":\"") + type +
                    "\",\"requestedDate\":\"" + asked + "\"";
    if (*received) b += std::string(",\"receivedDate\":\"") + received + "\"";
    return b + "}";
  };
  Add("A1", "C1", 1, advice("HEALTH", "2026-01-05", "2026-02-16"));  // 42 days
  Add("A2", "C1", 2, advice("HEALTH", "2026-01-05", "2026-02-17"));  // 43
  Add("A3", "C1", 3, advice("EP", "2026-03-02", ""));
  Add("A4", "C1", 4, advice("EDUCATION", "2026-01-05", "2026-01-06"));
  EXPECT_EQ(Weeks("ehc_advice_in_6w_health"), WeekMap({{"2026-02-16", {1, 2}}}));
  EXPECT_EQ(Weeks("ehc_advice_outstanding_ep"), Every("2026-03-02", "2026-04-13", {1, 0}));
  Add("A3", "C1", 5, advice("EP", "2026-03-02", "2026-03-25"));
  EXPECT_EQ(Weeks("ehc_advice_outstanding_ep"), Every("2026-03-02", "2026-03-16", {1, 0}));
  EXPECT_EQ(Weeks("ehc_advice_in_6w_ep"), WeekMap({{"2026-03-23", {1, 1}}}));
  EXPECT_EQ(Weeks("ehc_advice_in_6w_social_care"), WeekMap());
}

TEST_F(EngineTest, DeletingAnEhcReviewMakesThePlanOverdueInEarlierWeeks) {
  Open("2026-03-22");
  Add("EP1", "C1", 1, R"("ehcPlan":{"startDate":"2024-12-02"})");
  Add("ER1", "C1", 2, R"("ehcReview":{"meetingDate":"2025-11-20","decisionDate":"2025-12-19"})");
  EXPECT_EQ(Weeks("ehc_reviews_overdue"), WeekMap());
  EXPECT_EQ(Weeks("ehc_review_decisions_in_4w"), WeekMap({{"2025-12-15", {0, 1}}}));  // 29 days
  EXPECT_EQ(Weeks("ehc_reviews_backlog"), Every("2025-11-17", "2025-12-08", {1, 0}));
  EXPECT_EQ(Weeks("ehc_plans_open").size(), 68u);  // 2024-12-02 to 2026-03-16
  Add("ER1", "C1", 3, R"("ehcReview":{})", /*deleted=*/true);
  // Overdue from S > add_months(2024-12-02, 12) = 2025-12-02: the week of 2025-12-01 on.
  EXPECT_EQ(Weeks("ehc_reviews_overdue"), Every("2025-12-01", "2026-03-16", {1, 0}));
}

// ---- Part C ------------------------------------------------------------------------------------

TEST_F(EngineTest, RepeatWithinTwoYearsUsesEndedPlansOnly) {
  Open("2026-07-05");
  Add("A", "C4", 1, CpPlan("2026-01-05"));  // still open when B starts
  Add("B", "C4", 2, CpPlan("2026-06-29"));
  EXPECT_EQ(At("cp_plans_started_repeat_2y", "2026-06-29"), Cell(0, 1));
  EXPECT_EQ(At("cp_plans_started_repeat", "2026-06-29"), Cell(1, 1));
  Add("A", "C4", 3, CpPlan("2026-01-05", "2026-06-29"));  // ended on the day B starts: 0 days
  EXPECT_EQ(At("cp_plans_started_repeat_2y", "2026-06-29"), Cell(1, 1));
  Add("C", "C4", 4, CpPlan("2026-06-29"));  // same start as B: not a repeat of B
  EXPECT_EQ(At("cp_plans_started_repeat", "2026-06-29"), Cell(2, 2));
}

TEST_F(EngineTest, CpPlansOpenForTwoYearsAreMeasuredFromTheirOwnStart) {
  Open("2026-03-22");
  Add("A", "C1", 1, CpPlan("2024-03-18"));
  EXPECT_EQ(Weeks("cp_plans_open_2y"), Every("2026-03-16", "2026-03-16", {1, 0}));
}

TEST_F(EngineTest, OverlappingPlansMakeOnePeriodAndItsReviewsAreNumberedAcrossThem) {
  Open("2026-12-27");
  Add("A", "C1", 1, CpPlan("2026-01-05", "2026-05-01"));
  Add("B", "C1", 2, CpPlan("2026-04-20", "2026-12-01"));  // joins A's period
  Add("RV1", "C1", 3, Review("2026-04-01", "CP"));
  Add("RV2", "C1", 4, Review("2026-09-30", "CP"));  // review 2: due 2026-10-01
  Add("RV3", "C1", 5, Review("2026-12-01", "CP"));  // on the period's end date
  Add("RV4", "C1", 6, Review("2026-12-10", "CP"));  // after the period: held only
  EXPECT_EQ(At("cp_reviews_in_timescale", "2026-03-30"), Cell(1, 1));
  EXPECT_EQ(At("cp_reviews_in_timescale", "2026-09-28"), Cell(1, 1));
  EXPECT_EQ(At("cp_reviews_in_timescale", "2026-11-30"), Cell(1, 1));
  EXPECT_EQ(At("cp_reviews_in_timescale", "2026-12-07"), Cell(0, 0));
  EXPECT_EQ(At("cp_reviews_held", "2026-12-07"), Cell(1, 0));
  EXPECT_EQ(Weeks("cp_reviews_overdue"), WeekMap());
  // A type corrected to CLA: withdrawn from the CP figures, renumbering the later reviews.
  Add("RV1", "C1", 7, Review("2026-04-01", "CLA"));
  EXPECT_EQ(At("cp_reviews_held", "2026-03-30"), Cell(0, 0));
  EXPECT_EQ(At("cla_reviews_held", "2026-03-30"), Cell(1, 0));
  EXPECT_EQ(At("cp_reviews_in_timescale", "2026-09-28"), Cell(0, 1));  // now review 1, late
  EXPECT_EQ(Weeks("cp_reviews_overdue"), Every("2026-04-06", "2026-09-21", {1, 0}));
  EXPECT_EQ(Weeks("cla_reviews_in_timescale"), WeekMap());  // no care period
}

TEST_F(EngineTest, AssessmentTimelinessFromTheReferralItNames) {
  Open("2026-06-07");
  const std::string assessment =
      R"("assessment":{"startDate":"2026-02-02","authorisationDate":"2026-03-30","referralId":"RF1"})";
  Add("AS1", "C1", 1, assessment);
  EXPECT_EQ(Weeks("assessments_in_timescale_from_referral"), WeekMap());  // no such referral
  Add("RF1", "C1", 2, R"("referral":{"referralDate":"2026-01-19"})");     // 50 working days
  EXPECT_EQ(Weeks("assessments_in_timescale_from_referral"), WeekMap({{"2026-03-30", {0, 1}}}));
  EXPECT_EQ(Weeks("assessments_in_timescale"), WeekMap({{"2026-03-30", {1, 1}}}));
  Add("RF1", "C1", 3, R"("referral":{"referralDate":"2026-04-01"})");  // after: 0 working days
  EXPECT_EQ(Weeks("assessments_in_timescale_from_referral"), WeekMap({{"2026-03-30", {1, 1}}}));
  Add("RF1", "C2", 4, R"("referral":{"referralDate":"2026-01-19"})");  // another child's
  Add("RF1", "C1", 5, R"("referral":{})", /*deleted=*/true);
  EXPECT_EQ(Weeks("assessments_in_timescale_from_referral"), WeekMap());
}

TEST_F(EngineTest, MovingAsOfRestatesEveryPartTwoSnapshotAsAFreshBuildWould) {
  const auto events = [&] {
    Add("P1", "C1", 1, Profile("2025-01-01", "2014-05-10", "EHCP", "100001"));
    Add("E1", "C1", 2, Enrolment("100001", "2024-09-02", "2026-02-13", "EHE"));
    Add("X1", "C1", 3,
        R"("exclusion":{"schoolUrn":"100001","startDate":"2026-01-14","kind":"SUSPENSION"})");
    Add("CP1", "C1", 4, CpPlan("2025-11-03", "", "PHY"));
    Add("RV1", "C1", 5, Review("2026-01-20", "CP"));
    Add("V1", "C1", 6, Visit("2026-03-02"));
    Add("LA", "C1", 7, LookedAfter("2026-02-20", "", "C2"));
    Add("EP1", "C1", 8, R"("ehcPlan":{"startDate":"2025-01-06"})");
    Add("R1", "C1", 9, Request(R"("requestDate":"2025-11-05")"));
    Add("A1", "C1", 10, R"("ehcAdvice":{"adviceType":"EP","requestedDate":"2026-01-05"})");
  };
  Open("2026-02-25");
  events();
  Commit();
  ASSERT_TRUE(engine_->AdvanceAsOf(*Date::Parse("2026-03-04")).has_value());
  Commit();
  ASSERT_TRUE(engine_->AdvanceAsOf(*Date::Parse("2026-04-29")).has_value());
  Commit();
  const std::vector<Row> moved = engine_->Table().value();
  Open("2026-04-29");
  events();
  Commit();
  const std::vector<Row> fresh = engine_->Table().value();
  ASSERT_EQ(moved.size(), fresh.size());
  for (size_t i = 0; i < moved.size(); ++i) {
    EXPECT_EQ(
        std::tie(moved[i].kpi, moved[i].week, moved[i].dimension, moved[i].count, moved[i].base),
        std::tie(fresh[i].kpi, fresh[i].week, fresh[i].dimension, fresh[i].count, fresh[i].base))
        << KpiName(fresh[i].kpi) << " " << fresh[i].week.ToString() << " " << fresh[i].dimension;
  }
  EXPECT_GT(Weeks("ehc_reviews_overdue").size(), 0u);
  EXPECT_GT(Weeks("cla_visits_in_timescale").size(), 0u);
}

// Reviews, visits, EHC reviews and profiles restate their units only from their own week: a
// re-dating to an earlier week, deletes and a deleted profile still give the table of a fresh
// build from the final live records.
TEST_F(EngineTest, UnitsRestatedFromAChangesWeekEqualAFreshBuild) {
  const auto final_records = [&](int t) {
    Add("CP1", "C1", t + 1, CpPlan("2025-10-06", "", "SAB"));
    Add("LA", "C1", t + 2, LookedAfter("2025-11-03", "", "C2"));
    Add("RV1", "C1", t + 3, Review("2026-01-20", "CP"));  // late: due 2026-01-06
    Add("V2", "C1", t + 4, Visit("2025-11-10"));
    Add("EP1", "C1", t + 5, R"("ehcPlan":{"startDate":"2024-06-03"})");
    Add("P2", "C1", t + 6, Profile("2025-01-01", "2013-02-02", "EHCP", "100002"));
  };
  Open("2026-03-22");
  final_records(0);
  const std::string fresh = TableText();
  Open("2026-03-22");
  Add("P1", "C1", 1, Profile("2025-06-01", "2012-02-02", "NONE", "100001"));
  Add("RV1", "C1", 2, Review("2026-02-20", "CLA"));
  Add("V1", "C1", 3, Visit("2026-01-05"));
  Add("ER1", "C1", 4, R"("ehcReview":{"meetingDate":"2025-05-20"})");
  final_records(10);  // RV1 moves 4 weeks earlier and changes type
  Commit();
  Add("V1", "C1", 30, Visit("2026-01-05"), /*deleted=*/true);
  Add("ER1", "C1", 31, R"("ehcReview":{})", /*deleted=*/true);
  Add("P1", "C1", 32, Profile("2025-06-01", "", "", ""), /*deleted=*/true);
  EXPECT_EQ(TableText(), fresh);
  EXPECT_NE(fresh.find("cp_reviews_overdue"), std::string::npos);
  EXPECT_NE(fresh.find("ehc_reviews_overdue"), std::string::npos);
}

// The units' runs of many children folded together (past the 32,768 runs that force a fold
// between commits, with corrections, deletes and an as_of move among them) give the table of an
// engine that commits after every event; and 1,200 children enrolled in the same weeks count
// 1,200 in each of them.
TEST_F(EngineTest, ManyChildrensUnitRunsFoldedTogetherEqualACommitPerEvent) {
  constexpr int kChildren = 1200;
  const auto apply = [&](bool commit_each) {
    Open("2025-03-05");
    int t = 0;
    const auto add = [&](const std::string& id, const std::string& child, const std::string& body,
                         bool deleted = false) {
      Add(id, child, ++t, body, deleted);
      if (commit_each) Commit();
    };
    for (int pass = 0; pass < 2; ++pass) {
      for (int i = 0; i < kChildren; ++i) {
        const std::string c = "K" + std::to_string(i);
        const std::string a = std::to_string(100001 + i % 7);
        const std::string b = std::to_string(100001 + (i + 3) % 7);
        const std::string dob =
            "201" + std::to_string(i % 6) + "-0" + std::to_string(1 + i % 9) + "-15";
        if (pass == 0) {
          add("P" + c, c, Profile("2020-01-01", dob.c_str(), i % 2 ? "EHCP" : "NONE", a.c_str()));
          add("E1" + c, c, Enrolment(a.c_str(), "2022-09-05"));
          add("E2" + c, c, Enrolment(b.c_str(), "2024-01-08"));
          if (i % 4 == 0) add("CP" + c, c, CpPlan("2024-06-03"));
          if (i % 4 == 0) add("RV" + c, c, Review("2024-08-01", "CP"));
          if (i % 5 == 0) add("EP" + c, c, R"("ehcPlan":{"startDate":"2023-03-06"})");
          continue;
        }
        add("E1" + c, c, Enrolment(a.c_str(), "2022-09-05", "2024-07-19", "TRANSFER"));
        if (i % 3 == 0) add("E2" + c, c, Enrolment(b.c_str(), "2024-01-08"), /*deleted=*/true);
        if (i % 4 == 0) add("V" + c, c, Visit("2025-02-03"));
        if (i % 6 == 0)
          add("P" + c, c, Profile("2020-01-01", dob.c_str(), "SEN_SUPPORT", a.c_str()));
      }
      if (pass == 0) {
        if (commit_each) Commit();
        EXPECT_TRUE(engine_->AdvanceAsOf(*Date::Parse("2025-06-18")).has_value());
      }
    }
    return TableText();
  };
  const std::string each = apply(true);
  const std::string together = apply(false);
  EXPECT_EQ(together, each);
  // Everyone on roll (E1 from 2022-09-05; once under `all` while E2 overlaps it) until E1 ends,
  // then those whose E2 is live.
  EXPECT_EQ(Count("pupils_on_roll", "2023-05-01"), kChildren);
  EXPECT_EQ(Count("pupils_on_roll", "2024-03-04"), kChildren);
  EXPECT_EQ(Count("pupils_on_roll", "2025-06-16"), kChildren - kChildren / 3);
  EXPECT_NE(together.find("cp_visits_in_timescale"), std::string::npos);
  EXPECT_NE(together.find("ehc_plans_open"), std::string::npos);
}

}  // namespace
}  // namespace kpi
