// The KPI vocabulary of KPIS.md: the KPI identifiers, attendance code classes and the dimension
// values (year groups, SEN status). Thread-safety: constants and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "processor/date.h"

namespace kpi {

// Stable numeric ids: they are part of the state key layout, so never renumber.
enum class Kpi : uint8_t {
  kContacts = 1,
  kReferrals,
  kS47Started,
  kAssessmentsStarted,
  kAssessmentsCompleted,
  kAssessmentsAuthorised,
  kAssessmentsInTimescale,
  kIcpcHeld,
  kIcpcInTimescale,
  kCpPlansStarted,
  kCpPlansEnded,
  kCpPlansEnded2y,
  kCinPlansOpen,
  kCpPlansOpen,
  kCpPlansOpenRepeat,
  kClaOpen,
  kAssessmentsOpen,
  kAssessmentsOverdue,
  kS47AwaitingIcpc,
  kS47IcpcOverdue,
  kAttendanceRate,
  kAbsenceRate,
  kUnauthorisedAbsenceRate,
  kPersistentAbsence,
  kSevereAbsence,
  kSuspensions,
  kSuspendedPupils,
  kPermanentExclusions,
  kSchoolMoves,
  kEheLeavers,
  // Part II (KPIS-2.md), ids 31-66.
  kPupilsOnRoll,
  kSuspendedPupilsYtd,
  kPermanentlyExcludedPupilsYtd,
  kPartTimeTimetablePupils,
  kEheOpen,
  kEhcRequests,
  kEhcRequestsParent,
  kEhcDecisionsIn6w,
  kEhcAssessmentsAgreed,
  kEhcDecisionsOverdue,
  kEhcAssessmentsOpen,
  kEhcPlansIssued,
  kEhcPlansIssuedIn20w,
  kEhcPlansIssuedIn20wExclExceptions,
  kEhcWaitingOver20w,
  kEhcAdviceIn6wHealth,
  kEhcAdviceIn6wEp,
  kEhcAdviceIn6wSocialCare,
  kEhcAdviceOutstandingEp,
  kEhcPlansOpen,
  kEhcReviewDecisionsIn4w,
  kEhcReviewsBacklog,
  kEhcReviewsOverdue,
  kCpPlansOpen2y,
  kCpPlansStartedRepeat,
  kCpPlansStartedRepeat2y,
  kClaStarted,
  kCpReviewsHeld,
  kCpReviewsInTimescale,
  kCpReviewsOverdue,
  kClaReviewsHeld,
  kClaReviewsInTimescale,
  kClaReviewsOverdue,
  kCpVisitsInTimescale,
  kClaVisitsInTimescale,
  kAssessmentsInTimescaleFromReferral,
  // Part III (KPIS-3.md), ids 67-72.
  kReferralsRepeat12m,
  kReferralsNfa,
  kAssessmentsDueSoon,
  kS47IcpcDueSoon,
  kEhcDecisionsDueSoon,
  kEhcPlansDueSoon,
};
inline constexpr int kKpiCount = 72;
inline constexpr int kPartOneKpiCount = 30;  // ids 1-30: KPIS.md

// The configurable limits of KPIS-2.md section 6, with its defaults (the assessment and ICPC
// limits of KPIS.md are EngineOptions').
struct KpiLimits {
  int ehc_decision_days = 42;         // 38, 40
  int ehc_plan_days = 140;            // 43, 44, 45
  int ehc_advice_days = 42;           // 46, 47, 48
  int ehc_review_decision_days = 28;  // 51
  int ehc_review_months = 12;         // 53
  int cp_first_review_months = 3;     // 59, 60
  int cp_review_months = 6;           // 59, 60
  int cla_first_review_limit = 20;    // working days: 62, 63
  int cla_second_review_months = 3;   // 62, 63
  int cla_review_months = 6;          // 62, 63
  int cp_visit_limit = 10;            // working days: 64
  int cla_first_visit_days = 7;       // 65
  int cla_visit_days = 42;            // 65
  // The warning windows of KPIS-3.md section 2: a record is due soon when L - w < elapsed <= L.
  int assessment_warning_days = 5;    // working days: 69
  int icpc_warning_days = 3;          // working days: 70
  int ehc_decision_warning_days = 7;  // 71
  int ehc_plan_warning_days = 14;     // 72
};

// A warning window greater than its limit (KPIS-3.md section 4: a configuration error): the
// message names both settings; nullopt when every window fits.
std::optional<std::string> WarningPastItsLimit(const KpiLimits& limits, int assessment_limit,
                                               int icpc_limit);

// The limits by their configuration names (KPIS-2.md section 6), for the config file and the
// replay command line.
struct KpiLimitField {
  std::string_view name;
  int KpiLimits::*field;
  int max;
  int min = 1;  // a warning window may be 0 (no rows)
};
inline constexpr std::array<KpiLimitField, 17> kKpiLimitFields = {{
    {"ehc_decision_days", &KpiLimits::ehc_decision_days, 3660},
    {"ehc_plan_days", &KpiLimits::ehc_plan_days, 3660},
    {"ehc_advice_days", &KpiLimits::ehc_advice_days, 3660},
    {"ehc_review_decision_days", &KpiLimits::ehc_review_decision_days, 3660},
    {"ehc_review_months", &KpiLimits::ehc_review_months, 120},
    {"cp_first_review_months", &KpiLimits::cp_first_review_months, 120},
    {"cp_review_months", &KpiLimits::cp_review_months, 120},
    {"cla_first_review_limit", &KpiLimits::cla_first_review_limit, 1000},
    {"cla_second_review_months", &KpiLimits::cla_second_review_months, 120},
    {"cla_review_months", &KpiLimits::cla_review_months, 120},
    {"cp_visit_limit", &KpiLimits::cp_visit_limit, 1000},
    {"cla_first_visit_days", &KpiLimits::cla_first_visit_days, 3660},
    {"cla_visit_days", &KpiLimits::cla_visit_days, 3660},
    {"assessment_warning_days", &KpiLimits::assessment_warning_days, 1000, 0},
    {"icpc_warning_days", &KpiLimits::icpc_warning_days, 1000, 0},
    {"ehc_decision_warning_days", &KpiLimits::ehc_decision_warning_days, 3660, 0},
    {"ehc_plan_warning_days", &KpiLimits::ehc_plan_warning_days, 3660, 0},
}};

// The extra cut families of KPIS-2.md section 2: one more set of rows of icpc_held (outcome),
// cp_plans_started and cp_plans_open (category, age, gender, ethnicity), as "<family>=<value>".
enum class CutFamily : uint8_t { kCategory, kAge, kGender, kEthnicity, kOutcome };
inline constexpr int kCutFamilyCount = 5;
std::string_view CutFamilyName(CutFamily family);
// The age band of age_on(dob, d) (KPIS-2.md section 1): 0 unknown, 1 unborn, 2 under1, 3 1-4,
// 4 5-9, 5 10-15, 6 16+.
uint8_t AgeBand(std::optional<Date> date_of_birth, Date d);
std::string_view AgeBandLabel(uint8_t band);
// The completed years from dob to d (negative when d is before dob).
int AgeOn(Date date_of_birth, Date d);

std::string_view KpiName(Kpi kpi);
std::optional<Kpi> KpiFromName(std::string_view name);
// Whether the KPI has a denominator (`base`): the rates and the in-timescale shares.
bool HasBase(Kpi kpi);
// Every KPI, in id order.
const std::array<Kpi, kKpiCount>& AllKpis();

enum class AttendanceClass : uint8_t {
  kPresent,
  kApprovedActivity,  // counts as present
  kAuthorisedAbsence,
  kUnauthorisedAbsence,
  kNotCounted,
  kMissing,  // "-" or empty: not a possible session, a data-quality figure
};
// nullopt for a code outside the table (dead-lettered as `unknown_code`).
std::optional<AttendanceClass> ClassifyAttendanceCode(std::string_view code);
inline bool IsPossibleSession(AttendanceClass c) {
  return c == AttendanceClass::kPresent || c == AttendanceClass::kApprovedActivity ||
         c == AttendanceClass::kAuthorisedAbsence || c == AttendanceClass::kUnauthorisedAbsence;
}
inline bool IsAbsence(AttendanceClass c) {
  return c == AttendanceClass::kAuthorisedAbsence || c == AttendanceClass::kUnauthorisedAbsence;
}
inline bool IsPresence(AttendanceClass c) {
  return c == AttendanceClass::kPresent || c == AttendanceClass::kApprovedActivity;
}

// Year group codes: 0 = unknown, 1 = EY, 2 = R, 3..15 = years 1..13, 16 = PS.
inline constexpr uint8_t kYearUnknown = 0;
uint8_t YearGroupOn(Date date_of_birth, Date on);
// The same from the birth date's year and month and the academic year of `on`.
uint8_t YearGroupIn(int birth_year, int birth_month, int academic_year);
std::string_view YearGroupLabel(uint8_t year_group);

// SEN status codes as in events.proto ChildProfile.SenStatus: 0 unknown, 1 none, 2 sen_support,
// 3 ehcp.
std::string_view SenLabel(uint8_t sen);

}  // namespace kpi
