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

}  // namespace kpi
