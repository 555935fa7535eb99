#include "processor/record.h"

#include <array>

#include "processor/coding.h"

namespace kpi {

std::string_view KindName(Kind kind) {
  static constexpr std::array<std::string_view, kKindCount> kNames = {
      "contact",     "referral",     "assessment", "s47",        "icpc",      "cin_plan",
      "cp_plan",     "looked_after", "attendance", "exclusion",  "enrolment", "profile",
      "ehc_request", "ehc_advice",   "ehc_plan",   "ehc_review", "review",    "visit"};
  const auto i = static_cast<size_t>(kind) - 1;
  return i < kNames.size() ? kNames[i] : std::string_view("unknown");
}

uint8_t EthnicityIndex(std::string_view code) {
  for (size_t i = 0; i < kEthnicityCodes.size(); ++i) {
    if (kEthnicityCodes[i] == code) return static_cast<uint8_t>(i + 1);
  }
  return 0;
}

namespace {

template <size_t... I>
Body EmptyBodyAt(size_t index, std::index_sequence<I...>) {
  Body out;
  ((index == I ? (out.emplace<I>(), 0) : 0), ...);
  return out;
}

// ---- each body's fields, in order ---------------------------------------------------------
// Enums are one byte each. Validation passes only the numbers an enum lists, so a stored enum
// past its last value is corruption.

template <typename E>
void PutEnum(coding::ByteWriter& w, E v) {
  w.U8(static_cast<uint8_t>(v));
}
template <typename E>
bool GetEnum(coding::ByteReader& in, E& v, E last = static_cast<E>(UINT8_MAX)) {
  uint8_t raw = 0;
  if (!in.U8(raw) || raw > static_cast<uint8_t>(last)) return false;
  v = static_cast<E>(raw);
  return true;
}
bool GetFlag(coding::ByteReader& in, bool& v) {
  uint8_t raw = 0;
  if (!in.U8(raw) || raw > 1) return false;
  v = raw == 1;
  return true;
}

void Put(coding::ByteWriter& w, const body::Contact& b) { w.Day(b.contact_date); }
bool Get(coding::ByteReader& in, body::Contact& b) { return in.Day(b.contact_date); }

void Put(coding::ByteWriter& w, const body::Referral& b) {
  w.Day(b.referral_date);
  w.U8(b.nfa);
}
bool Get(coding::ByteReader& in, body::Referral& b) {
  return in.Day(b.referral_date) && GetFlag(in, b.nfa);
}

void Put(coding::ByteWriter& w, const body::Assessment& b) {
  w.Day(b.start_date);
  w.OptionalDay(b.completion_date);
  w.OptionalDay(b.authorisation_date);
  w.Bytes(b.referral_id);
}
bool Get(coding::ByteReader& in, body::Assessment& b) {
  return in.Day(b.start_date) && in.OptionalDay(b.completion_date) &&
         in.OptionalDay(b.authorisation_date) && in.Bytes(b.referral_id);
}

void Put(coding::ByteWriter& w, const body::S47& b) {
  w.Day(b.start_date);
  w.OptionalDay(b.strategy_discussion_date);
  w.OptionalDay(b.end_date);
  w.U8(b.icpc_not_required);
}
bool Get(coding::ByteReader& in, body::S47& b) {
  return in.Day(b.start_date) && in.OptionalDay(b.strategy_discussion_date) &&
         in.OptionalDay(b.end_date) && GetFlag(in, b.icpc_not_required);
}

void Put(coding::ByteWriter& w, const body::Icpc& b) {
  w.Day(b.conference_date);
  w.Bytes(b.s47_id);
  PutEnum(w, b.outcome);
}
bool Get(coding::ByteReader& in, body::Icpc& b) {
  return in.Day(b.conference_date) && in.Bytes(b.s47_id) &&
         GetEnum(in, b.outcome, IcpcOutcome::kLookedAfter);
}

void Put(coding::ByteWriter& w, const body::CinPlan& b) {
  w.Day(b.start_date);
  w.OptionalDay(b.end_date);
  w.U8(b.draft);
}
bool Get(coding::ByteReader& in, body::CinPlan& b) {
  return in.Day(b.start_date) && in.OptionalDay(b.end_date) && GetFlag(in, b.draft);
}

void Put(coding::ByteWriter& w, const body::CpPlan& b) {
  w.Day(b.start_date);
  w.OptionalDay(b.end_date);
  PutEnum(w, b.category);
  w.Varint(b.previous_plans);
}
bool Get(coding::ByteReader& in, body::CpPlan& b) {
  return in.Day(b.start_date) && in.OptionalDay(b.end_date) &&
         GetEnum(in, b.category, AbuseCategory::kMultiple) && in.Varint32(b.previous_plans);
}

void Put(coding::ByteWriter& w, const body::LookedAfter& b) {
  w.Day(b.start_date);
  w.OptionalDay(b.end_date);
  w.U8(b.short_breaks);
}
bool Get(coding::ByteReader& in, body::LookedAfter& b) {
  return in.Day(b.start_date) && in.OptionalDay(b.end_date) && GetFlag(in, b.short_breaks);
}

void Put(coding::ByteWriter& w, const body::Attendance& b) {
  w.Bytes(b.school_urn);
  w.Day(b.date);
  PutEnum(w, b.session);
  PutEnum(w, b.code);
}
bool Get(coding::ByteReader& in, body::Attendance& b) {
  return in.Bytes(b.school_urn) && in.Day(b.date) && GetEnum(in, b.session, Session::kPm) &&
         GetEnum(in, b.code, AttendanceClass::kMissing);
}

void Put(coding::ByteWriter& w, const body::Exclusion& b) {
  w.Bytes(b.school_urn);
  w.Day(b.start_date);
  PutEnum(w, b.kind);
  w.Varint(b.sessions);
}
bool Get(coding::ByteReader& in, body::Exclusion& b) {
  return in.Bytes(b.school_urn) && in.Day(b.start_date) &&
         GetEnum(in, b.kind, ExclusionKind::kPermanent) && in.Varint32(b.sessions);
}

void Put(coding::ByteWriter& w, const body::Enrolment& b) {
  w.Bytes(b.school_urn);
  w.Day(b.start_date);
  w.OptionalDay(b.end_date);
  PutEnum(w, b.leave_reason);
}
bool Get(coding::ByteReader& in, body::Enrolment& b) {
  return in.Bytes(b.school_urn) && in.Day(b.start_date) && in.OptionalDay(b.end_date) &&
         GetEnum(in, b.leave_reason, LeaveReason::kOther);
}

void Put(coding::ByteWriter& w, const body::Profile& b) {
  w.Day(b.effective_date);
  w.OptionalDay(b.date_of_birth);
  PutEnum(w, b.sen_status);
  w.Bytes(b.school_urn);
  PutEnum(w, b.gender);
  w.U8(b.ethnicity);
}
bool Get(coding::ByteReader& in, body::Profile& b) {
  return in.Day(b.effective_date) && in.OptionalDay(b.date_of_birth) &&
         GetEnum(in, b.sen_status, SenStatus::kEhcp) && in.Bytes(b.school_urn) &&
         GetEnum(in, b.gender, Gender::kIndeterminate) &&
         GetEnum(in, b.ethnicity, static_cast<uint8_t>(kEthnicityCodes.size()));
}

void Put(coding::ByteWriter& w, const body::EhcRequest& b) {
  w.Day(b.request_date);
  PutEnum(w, b.source);
  w.OptionalDay(b.decision_date);
  PutEnum(w, b.decision);
  w.OptionalDay(b.outcome_date);
  PutEnum(w, b.outcome);
  w.U8(static_cast<uint8_t>(b.timescale_exception | (b.tribunal_ordered << 1)));
}
bool Get(coding::ByteReader& in, body::EhcRequest& b) {
  uint8_t flags = 0;
  if (!in.Day(b.request_date) || !GetEnum(in, b.source, EhcSource::kOther) ||
      !in.OptionalDay(b.decision_date) || !GetEnum(in, b.decision, EhcDecision::kNotAssess) ||
      !in.OptionalDay(b.outcome_date) || !GetEnum(in, b.outcome, EhcOutcome::kWithdrawn) ||
      !in.U8(flags) || flags > 3) {
    return false;
  }
  b.timescale_exception = (flags & 1) != 0;
  b.tribunal_ordered = (flags & 2) != 0;
  return true;
}

void Put(coding::ByteWriter& w, const body::EhcAdvice& b) {
  PutEnum(w, b.advice_type);
  w.Day(b.requested_date);
  w.OptionalDay(b.received_date);
}
bool Get(coding::ByteReader& in, body::EhcAdvice& b) {
  return GetEnum(in, b.advice_type, AdviceType::kOther) && in.Day(b.requested_date) &&
         in.OptionalDay(b.received_date);
}

void Put(coding::ByteWriter& w, const body::EhcPlan& b) {
  w.Day(b.start_date);
  w.OptionalDay(b.end_date);
}
bool Get(coding::ByteReader& in, body::EhcPlan& b) {
  return in.Day(b.start_date) && in.OptionalDay(b.end_date);
}

void Put(coding::ByteWriter& w, const body::EhcReview& b) {
  w.Day(b.meeting_date);
  w.OptionalDay(b.decision_date);
}
bool Get(coding::ByteReader& in, body::EhcReview& b) {
  return in.Day(b.meeting_date) && in.OptionalDay(b.decision_date);
}

void Put(coding::ByteWriter& w, const body::Review& b) {
  w.Day(b.review_date);
  PutEnum(w, b.review_type);
}
bool Get(coding::ByteReader& in, body::Review& b) {
  return in.Day(b.review_date) && GetEnum(in, b.review_type, ReviewType::kCla);
}

void Put(coding::ByteWriter& w, const body::Visit& b) {
  w.Day(b.visit_date);
  w.U8(b.child_not_seen);
}
bool Get(coding::ByteReader& in, body::Visit& b) {
  return in.Day(b.visit_date) && GetFlag(in, b.child_not_seen);
}

}  // namespace

void PutRecordedAt(coding::ByteWriter& w, const RecordedAt& at) {
  w.Signed(at.seconds);
  w.Varint(static_cast<uint32_t>(at.nanos));
}

bool GetRecordedAt(coding::ByteReader& in, RecordedAt& at) {
  uint32_t nanos = 0;
  if (!in.Signed(at.seconds) || !in.Varint32(nanos) || nanos >= 1'000'000'000) return false;
  at.nanos = static_cast<int32_t>(nanos);
  return true;
}

Body EmptyBody(Kind kind) {
  return EmptyBodyAt(static_cast<size_t>(kind) - 1,
                     std::make_index_sequence<std::variant_size_v<Body>>());
}

size_t Record::HeapBytes() const {
  return std::visit(
      [](const auto& b) -> size_t {
        using B = std::decay_t<decltype(b)>;
        if constexpr (requires { b.school_urn; }) return b.school_urn.size();
        if constexpr (std::is_same_v<B, body::Icpc>) return b.s47_id.size();
        if constexpr (std::is_same_v<B, body::Assessment>) return b.referral_id.size();
        return 0;
      },
      body);
}

// Record value: format, kind, deleted, recorded_at (signed seconds, nanos), then the body's
// fields. A delete's body is its kind's, with only the identity fields set.
std::string EncodeRecord(const Record& r) {
  std::string out;
  coding::ByteWriter w(out);
  w.U8(static_cast<uint8_t>(r.kind()));
  w.U8(r.deleted);
  PutRecordedAt(w, r.recorded_at);
  std::visit([&](const auto& b) { Put(w, b); }, r.body);
  return out;
}

std::optional<Record> DecodeRecord(std::string_view bytes) {
  std::optional<coding::ByteReader> in = coding::ByteReader::Open(bytes);
  uint8_t kind = 0;
  Record r;
  if (!in || !in->U8(kind) || kind < 1 || kind > kKindCount || !GetFlag(*in, r.deleted) ||
      !GetRecordedAt(*in, r.recorded_at)) {
    return std::nullopt;
  }
  r.body = EmptyBody(static_cast<Kind>(kind));
  const bool ok = std::visit([&](auto& b) { return Get(*in, b); }, r.body);
  if (!ok || !in->done()) return std::nullopt;
  return r;
}

}  // namespace kpi
