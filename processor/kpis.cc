#include "processor/kpis.h"

#include <algorithm>

namespace kpi {
namespace {

struct KpiInfo {
  Kpi kpi;
  std::string_view name;
};

constexpr std::array<KpiInfo, kKpiCount> kKpis = {{
    {Kpi::kContacts, "contacts"},
    {Kpi::kReferrals, "referrals"},
    {Kpi::kS47Started, "s47_started"},
    {Kpi::kAssessmentsStarted, "assessments_started"},
    {Kpi::kAssessmentsCompleted, "assessments_completed"},
    {Kpi::kAssessmentsAuthorised, "assessments_authorised"},
    {Kpi::kAssessmentsInTimescale, "assessments_in_timescale"},
    {Kpi::kIcpcHeld, "icpc_held"},
    {Kpi::kIcpcInTimescale, "icpc_in_timescale"},
    {Kpi::kCpPlansStarted, "cp_plans_started"},
    {Kpi::kCpPlansEnded, "cp_plans_ended"},
    {Kpi::kCpPlansEnded2y, "cp_plans_ended_2y"},
    {Kpi::kCinPlansOpen, "cin_plans_open"},
    {Kpi::kCpPlansOpen, "cp_plans_open"},
    {Kpi::kCpPlansOpenRepeat, "cp_plans_open_repeat"},
    {Kpi::kClaOpen, "cla_open"},
    {Kpi::kAssessmentsOpen, "assessments_open"},
    {Kpi::kAssessmentsOverdue, "assessments_overdue"},
    {Kpi::kS47AwaitingIcpc, "s47_awaiting_icpc"},
    {Kpi::kS47IcpcOverdue, "s47_icpc_overdue"},
    {Kpi::kAttendanceRate, "attendance_rate"},
    {Kpi::kAbsenceRate, "absence_rate"},
    {Kpi::kUnauthorisedAbsenceRate, "unauthorised_absence_rate"},
    {Kpi::kPersistentAbsence, "persistent_absence"},
    {Kpi::kSevereAbsence, "severe_absence"},
    {Kpi::kSuspensions, "suspensions"},
    {Kpi::kSuspendedPupils, "suspended_pupils"},
    {Kpi::kPermanentExclusions, "permanent_exclusions"},
    {Kpi::kSchoolMoves, "school_moves"},
    {Kpi::kEheLeavers, "ehe_leavers"},
    {Kpi::kPupilsOnRoll, "pupils_on_roll"},
    {Kpi::kSuspendedPupilsYtd, "suspended_pupils_ytd"},
    {Kpi::kPermanentlyExcludedPupilsYtd, "permanently_excluded_pupils_ytd"},
    {Kpi::kPartTimeTimetablePupils, "part_time_timetable_pupils"},
    {Kpi::kEheOpen, "ehe_open"},
    {Kpi::kEhcRequests, "ehc_requests"},
    {Kpi::kEhcRequestsParent, "ehc_requests_parent"},
    {Kpi::kEhcDecisionsIn6w, "ehc_decisions_in_6w"},
    {Kpi::kEhcAssessmentsAgreed, "ehc_assessments_agreed"},
    {Kpi::kEhcDecisionsOverdue, "ehc_decisions_overdue"},
    {Kpi::kEhcAssessmentsOpen, "ehc_assessments_open"},
    {Kpi::kEhcPlansIssued, "ehc_plans_issued"},
    {Kpi::kEhcPlansIssuedIn20w, "ehc_plans_issued_in_20w"},
    {Kpi::kEhcPlansIssuedIn20wExclExceptions, "ehc_plans_issued_in_20w_excl_exceptions"},
    {Kpi::kEhcWaitingOver20w, "ehc_waiting_over_20w"},
    {Kpi::kEhcAdviceIn6wHealth, "ehc_advice_in_6w_health"},
    {Kpi::kEhcAdviceIn6wEp, "ehc_advice_in_6w_ep"},
    {Kpi::kEhcAdviceIn6wSocialCare, "ehc_advice_in_6w_social_care"},
    {Kpi::kEhcAdviceOutstandingEp, "ehc_advice_outstanding_ep"},
    {Kpi::kEhcPlansOpen, "ehc_plans_open"},
    {Kpi::kEhcReviewDecisionsIn4w, "ehc_review_decisions_in_4w"},
    {Kpi::kEhcReviewsBacklog, "ehc_reviews_backlog"},
    {Kpi::kEhcReviewsOverdue, "ehc_reviews_overdue"},
    {Kpi::kCpPlansOpen2y, "cp_plans_open_2y"},
    {Kpi::kCpPlansStartedRepeat, "cp_plans_started_repeat"},
    {Kpi::kCpPlansStartedRepeat2y, "cp_plans_started_repeat_2y"},
    {Kpi::kClaStarted, "cla_started"},
    {Kpi::kCpReviewsHeld, "cp_reviews_held"},
    {Kpi::kCpReviewsInTimescale, "cp_reviews_in_timescale"},
    {Kpi::kCpReviewsOverdue, "cp_reviews_overdue"},
    {Kpi::kClaReviewsHeld, "cla_reviews_held"},
    {Kpi::kClaReviewsInTimescale, "cla_reviews_in_timescale"},
    {Kpi::kClaReviewsOverdue, "cla_reviews_overdue"},
    {Kpi::kCpVisitsInTimescale, "cp_visits_in_timescale"},
    {Kpi::kClaVisitsInTimescale, "cla_visits_in_timescale"},
    {Kpi::kAssessmentsInTimescaleFromReferral, "assessments_in_timescale_from_referral"},
    {Kpi::kReferralsRepeat12m, "referrals_repeat_12m"},
    {Kpi::kReferralsNfa, "referrals_nfa"},
    {Kpi::kAssessmentsDueSoon, "assessments_due_soon"},
    {Kpi::kS47IcpcDueSoon, "s47_icpc_due_soon"},
    {Kpi::kEhcDecisionsDueSoon, "ehc_decisions_due_soon"},
    {Kpi::kEhcPlansDueSoon, "ehc_plans_due_soon"},
}};

constexpr std::array<std::string_view, 17> kYearLabels = {"unknown", "EY", "R",  "1",  "2", "3",
                                                          "4",       "5",  "6",  "7",  "8", "9",
                                                          "10",      "11", "12", "13", "PS"};

}  // namespace

std::string_view KpiName(Kpi kpi) {
  const auto i = static_cast<size_t>(kpi) - 1;
  return i < kKpis.size() ? kKpis[i].name : std::string_view("?");
}

std::optional<Kpi> KpiFromName(std::string_view name) {
  for (const KpiInfo& info : kKpis) {
    if (info.name == name) return info.kpi;
  }
  return std::nullopt;
}

bool HasBase(Kpi kpi) {
  switch (kpi) {
    case Kpi::kAssessmentsInTimescale:
    case Kpi::kIcpcInTimescale:
    case Kpi::kCpPlansEnded2y:
    case Kpi::kAttendanceRate:
    case Kpi::kAbsenceRate:
    case Kpi::kUnauthorisedAbsenceRate:
    case Kpi::kPersistentAbsence:
    case Kpi::kSevereAbsence:
    case Kpi::kEhcRequestsParent:
    case Kpi::kEhcDecisionsIn6w:
    case Kpi::kEhcPlansIssuedIn20w:
    case Kpi::kEhcPlansIssuedIn20wExclExceptions:
    case Kpi::kEhcAdviceIn6wHealth:
    case Kpi::kEhcAdviceIn6wEp:
    case Kpi::kEhcAdviceIn6wSocialCare:
    case Kpi::kEhcReviewDecisionsIn4w:
    case Kpi::kCpPlansStartedRepeat:
    case Kpi::kCpPlansStartedRepeat2y:
    case Kpi::kCpReviewsInTimescale:
    case Kpi::kClaReviewsInTimescale:
    case Kpi::kCpVisitsInTimescale:
    case Kpi::kClaVisitsInTimescale:
    case Kpi::kAssessmentsInTimescaleFromReferral:
      return true;
    default:
      return false;
  }
}

const std::array<Kpi, kKpiCount>& AllKpis() {
  static const std::array<Kpi, kKpiCount> all = [] {
    std::array<Kpi, kKpiCount> a{};
    for (size_t i = 0; i < kKpis.size(); ++i) a[i] = kKpis[i].kpi;
    return a;
  }();
  return all;
}

std::optional<AttendanceClass> ClassifyAttendanceCode(std::string_view code) {
  using C = AttendanceClass;
  if (code.empty() || code == "-") return C::kMissing;
  if (code.size() == 1) {
    switch (code[0]) {
      case '/':
      case '\\':
      case 'L':
        return C::kPresent;
      case 'K':
      case 'V':
      case 'P':
      case 'W':
      case 'B':
      case 'J':
        return C::kApprovedActivity;
      case 'C':
      case 'E':
      case 'I':
      case 'M':
      case 'R':
      case 'S':
      case 'T':
      case 'H':
      case 'F':
        return C::kAuthorisedAbsence;
      case 'G':
      case 'N':
      case 'O':
      case 'U':
        return C::kUnauthorisedAbsence;
      case 'D':
      case 'X':
      case 'Y':
      case 'Q':
      case 'Z':
      case '#':
        return C::kNotCounted;
      default:
        return std::nullopt;
    }
  }
  if (code == "C1" || code == "C2" || code == "J1") return C::kAuthorisedAbsence;
  if (code.size() == 2 && code[0] == 'Y' && code[1] >= '1' && code[1] <= '7') {
    return C::kNotCounted;
  }
  return std::nullopt;
}

uint8_t YearGroupOn(Date date_of_birth, Date on) {
  const Ymd dob = date_of_birth.ToYmd();
  return YearGroupIn(dob.year, dob.month, AcademicYearOf(on));
}

uint8_t YearGroupIn(int birth_year, int birth_month, int academic_year) {
  // Age in whole years on 31 August of year A.
  int age = academic_year - birth_year;
  if (birth_month > 8) --age;  // birthday (after 31 Aug) not yet reached on 31 Aug
  if (age <= 3) return 1;
  if (age == 4) return 2;
  if (age >= 18) return 16;
  return static_cast<uint8_t>(age - 2);  // 5 -> code 3 ("1") ... 17 -> code 15 ("13")
}

std::string_view YearGroupLabel(uint8_t year_group) {
  return year_group < kYearLabels.size() ? kYearLabels[year_group] : kYearLabels[0];
}

std::string_view CutFamilyName(CutFamily family) {
  static constexpr std::array<std::string_view, kCutFamilyCount> kNames = {
      "category", "age", "gender", "ethnicity", "outcome"};
  return kNames[static_cast<size_t>(family)];
}

int AgeOn(Date date_of_birth, Date d) {
  const Ymd dob = date_of_birth.ToYmd();
  const Ymd on = d.ToYmd();
  int age = on.year - dob.year;
  if (on.month * 100 + on.day < dob.month * 100 + dob.day) --age;
  return age;
}

uint8_t AgeBand(std::optional<Date> date_of_birth, Date d) {
  if (!date_of_birth) return 0;
  if (*date_of_birth > d) return 1;
  const int age = AgeOn(*date_of_birth, d);
  if (age < 1) return 2;
  if (age <= 4) return 3;
  if (age <= 9) return 4;
  if (age <= 15) return 5;
  return 6;
}

std::string_view AgeBandLabel(uint8_t band) {
  static constexpr std::array<std::string_view, 7> kLabels = {"unknown", "unborn", "under1", "1-4",
                                                              "5-9",     "10-15",  "16+"};
  return band < kLabels.size() ? kLabels[band] : kLabels[0];
}

std::string_view SenLabel(uint8_t sen) {
  switch (sen) {
    case 1:
      return "none";
    case 2:
      return "sen_support";
    case 3:
      return "ehcp";
    default:
      return "unknown";
  }
}

std::optional<std::string> WarningPastItsLimit(const KpiLimits& limits, int assessment_limit,
                                               int icpc_limit) {
  const struct {
    const char* warning;
    int w;
    const char* limit;
    int l;
  } pairs[] = {
      {"assessment_warning_days", limits.assessment_warning_days, "assessment_limit",
       assessment_limit},
      {"icpc_warning_days", limits.icpc_warning_days, "icpc_limit", icpc_limit},
      {"ehc_decision_warning_days", limits.ehc_decision_warning_days, "ehc_decision_days",
       limits.ehc_decision_days},
      {"ehc_plan_warning_days", limits.ehc_plan_warning_days, "ehc_plan_days",
       limits.ehc_plan_days},
  };
  for (const auto& p : pairs) {
    if (p.w > p.l) {
      return std::string(p.warning) + " (" + std::to_string(p.w) + ") is greater than " + p.limit +
             " (" + std::to_string(p.l) + "): a warning window must fit in its limit";
    }
  }
  return std::nullopt;
}

}  // namespace kpi
