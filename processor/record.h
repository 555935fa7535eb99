// Record: one validated version of a source record, typed by kind with the field names of
// EVENTS.md (dates as `Date`, codes as enums, attendance codes classified). Produced by
// Validate(); stored by EncodeRecord/DecodeRecord in the codec of processor/coding.h.
//
// A delete is a version too (a tombstone, so that an older version arriving later is still
// stale): it carries its kind's body with only the identity fields set (an attendance mark's
// school, date and session; a profile's effective date).
// Thread-safety: value types and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "processor/date.h"
#include "processor/kpis.h"

namespace kpi {

// Stable ids: part of the state key layout. Equal to the oneof field number less 9, and to the
// index of the kind's body in `Body` plus one.
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
  // Part II (KPIS-2.md).
  kEhcRequest,
  kEhcAdvice,
  kEhcPlan,
  kEhcReview,
  kReview,
  kVisit,
};
inline constexpr int kKindCount = 18;

// Enums with the numbers of events.proto (0 = not given).
enum class IcpcOutcome : uint8_t { kNotGiven, kCpPlan, kCin, kEarlyHelp, kClosed, kLookedAfter };
enum class AbuseCategory : uint8_t {
  kNotGiven,
  kNeglect,
  kPhysical,
  kSexual,
  kEmotional,
  kMultiple
};
enum class Session : uint8_t { kNotGiven, kAm, kPm };
enum class ExclusionKind : uint8_t { kNotGiven, kSuspension, kPermanent };
enum class LeaveReason : uint8_t { kNotGiven, kTransfer, kEhe, kPermanentExclusion, kOther };
enum class SenStatus : uint8_t { kNotGiven, kNone, kSenSupport, kEhcp };
enum class Gender : uint8_t { kNotGiven, kMale, kFemale, kIndeterminate };
enum class EhcSource : uint8_t {
  kNotGiven,
  kParent,
  kYoungPerson,
  kSetting,
  kHealth,
  kSocialCare,
  kLocalAuthority,
  kOther
};
enum class EhcDecision : uint8_t { kNotGiven, kAssess, kNotAssess };
enum class EhcOutcome : uint8_t { kNotGiven, kPlanIssued, kNoPlan, kWithdrawn };
enum class AdviceType : uint8_t { kNotGiven, kHealth, kEp, kSocialCare, kEducation, kOther };
enum class ReviewType : uint8_t { kNotGiven, kCp, kCla };

// The DfE main ethnicity codes of EVENTS.md, in its order; a profile keeps the code's position
// plus one (0: not given).
inline constexpr std::array<std::string_view, 20> kEthnicityCodes = {
    "WBRI", "WIRI", "WIRT", "WOTH", "WROM", "MWBC", "MWBA", "MWAS", "MOTH", "AIND",
    "APKN", "ABAN", "AOTH", "BCRB", "BAFR", "BOTH", "CHNE", "OOTH", "REFU", "NOBT"};
// The position plus one of a code, or 0 when it is not one of them.
uint8_t EthnicityIndex(std::string_view code);

// The bodies of EVENTS.md, one struct per kind. Only what the KPIs read is kept.
namespace body {
struct Contact {
  Date contact_date;
};
struct Referral {
  Date referral_date;
  bool nfa = false;
};
struct Assessment {
  Date start_date;
  std::optional<Date> completion_date;
  std::optional<Date> authorisation_date;
  std::string referral_id;  // the event_id of the child's referral, or empty
};
struct S47 {
  Date start_date;
  std::optional<Date> strategy_discussion_date;
  std::optional<Date> end_date;
  bool icpc_not_required = false;
};
struct Icpc {
  Date conference_date;
  std::string s47_id;  // the event_id of the child's S47, or empty
  IcpcOutcome outcome = IcpcOutcome::kNotGiven;
};
struct CinPlan {
  Date start_date;
  std::optional<Date> end_date;
  bool draft = false;
};
struct CpPlan {
  Date start_date;
  std::optional<Date> end_date;
  AbuseCategory category = AbuseCategory::kNotGiven;
  uint32_t previous_plans = 0;
};
struct LookedAfter {
  Date start_date;
  std::optional<Date> end_date;
  bool short_breaks = false;  // legal_status V3 or V4: not counted as looked after here
};
struct Attendance {
  std::string school_urn;
  Date date;
  Session session = Session::kNotGiven;
  AttendanceClass code = AttendanceClass::kMissing;  // the code's class
  bool part_time = false;                            // the code is C2 (part_time_timetable_pupils)
};
struct Exclusion {
  std::string school_urn;
  Date start_date;
  ExclusionKind kind = ExclusionKind::kNotGiven;
  uint32_t sessions = 0;
};
struct Enrolment {
  std::string school_urn;
  Date start_date;
  std::optional<Date> end_date;
  LeaveReason leave_reason = LeaveReason::kNotGiven;
};
struct Profile {
  Date effective_date;
  std::optional<Date> date_of_birth;
  SenStatus sen_status = SenStatus::kNotGiven;
  std::string school_urn;
  Gender gender = Gender::kNotGiven;
  uint8_t ethnicity = 0;  // kEthnicityCodes position plus one; 0: not given
};
struct EhcRequest {
  Date request_date;
  EhcSource source = EhcSource::kNotGiven;
  std::optional<Date> decision_date;  // given with decision (validation)
  EhcDecision decision = EhcDecision::kNotGiven;
  std::optional<Date> outcome_date;  // given with outcome
  EhcOutcome outcome = EhcOutcome::kNotGiven;
  bool timescale_exception = false;
  bool tribunal_ordered = false;
};
struct EhcAdvice {
  AdviceType advice_type = AdviceType::kNotGiven;
  Date requested_date;
  std::optional<Date> received_date;
};
struct EhcPlan {
  Date start_date;
  std::optional<Date> end_date;
};
struct EhcReview {
  Date meeting_date;
  std::optional<Date> decision_date;
};
struct Review {
  Date review_date;
  ReviewType review_type = ReviewType::kNotGiven;
};
struct Visit {
  Date visit_date;
  bool child_not_seen = false;
};
}  // namespace body

using Body =
    std::variant<body::Contact, body::Referral, body::Assessment, body::S47, body::Icpc,
                 body::CinPlan, body::CpPlan, body::LookedAfter, body::Attendance, body::Exclusion,
                 body::Enrolment, body::Profile, body::EhcRequest, body::EhcAdvice, body::EhcPlan,
                 body::EhcReview, body::Review, body::Visit>;
static_assert(std::variant_size_v<Body> == kKindCount);

// Version order of EVENTS.md: the greatest recorded_at wins.
struct RecordedAt {
  int64_t seconds = 0;
  int32_t nanos = 0;
  auto operator<=>(const RecordedAt&) const = default;
};

struct Record {
  bool deleted = false;
  RecordedAt recorded_at;
  Body body;

  Kind kind() const { return static_cast<Kind>(body.index() + 1); }
  template <typename T>
  const T& as() const {
    return std::get<T>(body);
  }
  template <typename T>
  T& as() {
    return std::get<T>(body);
  }
  // The bytes the record holds beyond sizeof(Record) (its strings), for the memory budget.
  size_t HeapBytes() const;
};

namespace coding {
class ByteWriter;
class ByteReader;
}  // namespace coding
// recorded_at in the codec of coding.h: zigzag seconds, then nanos (below 10^9) as a varint.
void PutRecordedAt(coding::ByteWriter& w, const RecordedAt& at);
bool GetRecordedAt(coding::ByteReader& in, RecordedAt& at);

// The body of `kind`, default-initialised.
Body EmptyBody(Kind kind);

// The event body's field name in EVENTS.md: "contact", "cin_plan", "profile" ...
std::string_view KindName(Kind kind);

std::string EncodeRecord(const Record& r);
// nullopt when the bytes are not a record written by EncodeRecord (state corruption).
std::optional<Record> DecodeRecord(std::string_view bytes);

}  // namespace kpi
