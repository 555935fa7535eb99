// Record: one validated version of a source record, in the normalised form the core stores and
// computes with (dates as `Date`, codes classified). Produced by Validate(); encoded into state
// values by EncodeRecord/DecodeRecord. Thread-safety: value types and pure functions.
//
// Field use by kind (unused fields stay at their defaults):
//   kind          a                  b                  c                   n               e /
//   flag / text kContact      contact_date kReferral     referral_date flag = nfa kAssessment
//   start_date         completion_date    authorisation_date kS47          start_date end_date flag
//   = icpc_not_required kIcpc         conference_date text = s47_id kCinPlan      start_date
//   end_date                                               flag = draft kCpPlan       start_date
//   end_date                               previous_plans kLookedAfter  start_date         end_date
//   flag = legal status V3/V4 kAttendance   date e = session, cls = code class, urn kExclusion
//   start_date                                                                e = kind, urn
//   kEnrolment    start_date         end_date                                               e =
//   leave_reason, urn kProfile      effective_date     date_of_birth e = sen_status, urn
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "processor/date.h"
#include "processor/kpis.h"

namespace kpi {

// Stable ids: part of the state key layout. Equal to the oneof field number less 9.
enum class Kind : uint8_t {
  kContact = 1,
  kReferral,
  kAssessment,
  kS47,
  kIcpc,
  kCinPlan,
  kCpPlan,
  kLookedAfter,
  kAttendance,
  kExclusion,
  kEnrolment,
  kProfile,
};

// Enum values as in events.proto.
inline constexpr uint8_t kSuspension = 1;
inline constexpr uint8_t kPermanent = 2;
inline constexpr uint8_t kLeaveEhe = 2;

// Version order of EVENTS.md: the greatest recorded_at wins.
struct RecordedAt {
  int64_t seconds = 0;
  int32_t nanos = 0;
  auto operator<=>(const RecordedAt&) const = default;
};

struct Record {
  Kind kind = Kind::kContact;
  bool deleted = false;
  RecordedAt recorded_at;
  std::optional<Date> a;
  std::optional<Date> b;
  std::optional<Date> c;
  uint32_t n = 0;
  uint8_t e = 0;
  AttendanceClass cls = AttendanceClass::kMissing;
  bool flag = false;
  std::string urn;
  std::string text;
};

// The event body's field name in EVENTS.md: "contact", "cin_plan", "profile" ...
std::string_view KindName(Kind kind);

std::string EncodeRecord(const Record& r);
// nullopt when the bytes are not a record written by EncodeRecord (state corruption).
std::optional<Record> DecodeRecord(std::string_view bytes);

}  // namespace kpi
