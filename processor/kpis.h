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
};
inline constexpr int kKpiCount = 30;

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
