#include "processor/record.h"

#include <array>

#include "processor/coding.h"

namespace kpi {

std::string_view KindName(Kind kind) {
  static constexpr std::array<std::string_view, kKindCount> kNames = {
      "contact", "referral",     "assessment", "s47",       "icpc",      "cin_plan",
      "cp_plan", "looked_after", "attendance", "exclusion", "enrolment", "profile"};
  const auto i = static_cast<size_t>(kind) - 1;
  return i < kNames.size() ? kNames[i] : std::string_view("unknown");
}

namespace {

template <size_t... I>
Body EmptyBodyAt(size_t index, std::index_sequence<I...>) {
  Body out;
  ((index == I ? (out.emplace<I>(), 0) : 0), ...);
  return out;
}

// ---- each body's fields, in order ---------------------------------------------------------
// Enums are one byte each. The event enums take any byte: validation passes a number the enum
// does not list through unchanged (it matches no rule), so the store must keep it.

template <typename E>
void PutEnum(coding::Writer& w, E v) {
  w.U8(static_cast<uint8_t>(v));
}
template <typename E>
bool GetEnum(coding::Reader& in, E& v, E last = static_cast<E>(UINT8_MAX)) {
  uint8_t raw = 0;
  if (!in.U8(raw) || raw > static_cast<uint8_t>(last)) return false;
  v = static_cast<E>(raw);
  return true;
}
bool GetFlag(coding::Reader& in, bool& v) {
  uint8_t raw = 0;
  if (!in.U8(raw) || raw > 1) return false;
  v = raw == 1;
  return true;
}

void Put(coding::Writer& w, const body::Contact& b) { w.Day(b.contact_date); }
bool Get(coding::Reader& in, body::Contact& b) { return in.Day(b.contact_date); }

void Put(coding::Writer& w, const body::Referral& b) {
  w.Day(b.referral_date);
  w.U8(b.nfa);
}
bool Get(coding::Reader& in, body::Referral& b) {
  return in.Day(b.referral_date) && GetFlag(in, b.nfa);
}

void Put(coding::Writer& w, const body::Assessment& b) {
  w.Day(b.start_date);
  w.OptionalDay(b.completion_date);
  w.OptionalDay(b.authorisation_date);
}
bool Get(coding::Reader& in, body::Assessment& b) {
  return in.Day(b.start_date) && in.OptionalDay(b.completion_date) &&
         in.OptionalDay(b.authorisation_date);
}

void Put(coding::Writer& w, const body::S47& b) {
  w.Day(b.start_date);
  w.OptionalDay(b.strategy_discussion_date);
  w.OptionalDay(b.end_date);
  w.U8(b.icpc_not_required);
}
bool Get(coding::Reader& in, body::S47& b) {
  return in.Day(b.start_date) && in.OptionalDay(b.strategy_discussion_date) &&
         in.OptionalDay(b.end_date) && GetFlag(in, b.icpc_not_required);
}

void Put(coding::Writer& w, const body::Icpc& b) {
  w.Day(b.conference_date);
  w.Bytes(b.s47_id);
  PutEnum(w, b.outcome);
}
bool Get(coding::Reader& in, body::Icpc& b) {
  return in.Day(b.conference_date) && in.Bytes(b.s47_id) && GetEnum(in, b.outcome);
}

void Put(coding::Writer& w, const body::CinPlan& b) {
  w.Day(b.start_date);
  w.OptionalDay(b.end_date);
  w.U8(b.draft);
}
bool Get(coding::Reader& in, body::CinPlan& b) {
  return in.Day(b.start_date) && in.OptionalDay(b.end_date) && GetFlag(in, b.draft);
}

void Put(coding::Writer& w, const body::CpPlan& b) {
  w.Day(b.start_date);
  w.OptionalDay(b.end_date);
  PutEnum(w, b.category);
  w.Varint(b.previous_plans);
}
bool Get(coding::Reader& in, body::CpPlan& b) {
  return in.Day(b.start_date) && in.OptionalDay(b.end_date) && GetEnum(in, b.category) &&
         in.Varint32(b.previous_plans);
}

void Put(coding::Writer& w, const body::LookedAfter& b) {
  w.Day(b.start_date);
  w.OptionalDay(b.end_date);
  w.U8(b.short_breaks);
}
bool Get(coding::Reader& in, body::LookedAfter& b) {
  return in.Day(b.start_date) && in.OptionalDay(b.end_date) && GetFlag(in, b.short_breaks);
}

void Put(coding::Writer& w, const body::Attendance& b) {
  w.Bytes(b.school_urn);
  w.Day(b.date);
  PutEnum(w, b.session);
  PutEnum(w, b.code);
}
bool Get(coding::Reader& in, body::Attendance& b) {
  return in.Bytes(b.school_urn) && in.Day(b.date) && GetEnum(in, b.session) &&
         GetEnum(in, b.code, AttendanceClass::kMissing);
}

void Put(coding::Writer& w, const body::Exclusion& b) {
  w.Bytes(b.school_urn);
  w.Day(b.start_date);
  PutEnum(w, b.kind);
  w.Varint(b.sessions);
}
bool Get(coding::Reader& in, body::Exclusion& b) {
  return in.Bytes(b.school_urn) && in.Day(b.start_date) && GetEnum(in, b.kind) &&
         in.Varint32(b.sessions);
}

void Put(coding::Writer& w, const body::Enrolment& b) {
  w.Bytes(b.school_urn);
  w.Day(b.start_date);
  w.OptionalDay(b.end_date);
  PutEnum(w, b.leave_reason);
}
bool Get(coding::Reader& in, body::Enrolment& b) {
  return in.Bytes(b.school_urn) && in.Day(b.start_date) && in.OptionalDay(b.end_date) &&
         GetEnum(in, b.leave_reason);
}

void Put(coding::Writer& w, const body::Profile& b) {
  w.Day(b.effective_date);
  w.OptionalDay(b.date_of_birth);
  PutEnum(w, b.sen_status);
  w.Bytes(b.school_urn);
}
bool Get(coding::Reader& in, body::Profile& b) {
  return in.Day(b.effective_date) && in.OptionalDay(b.date_of_birth) && GetEnum(in, b.sen_status) &&
         in.Bytes(b.school_urn);
}

}  // namespace

void PutRecordedAt(coding::Writer& w, const RecordedAt& at) {
  w.Signed(at.seconds);
  w.Varint(static_cast<uint32_t>(at.nanos));
}

bool GetRecordedAt(coding::Reader& in, RecordedAt& at) {
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
        return 0;
      },
      body);
}

// Record value: format, kind, deleted, recorded_at (signed seconds, nanos), then the body's
// fields. A delete's body is its kind's, with only the identity fields set.
std::string EncodeRecord(const Record& r) {
  std::string out;
  coding::Writer w(out);
  w.U8(static_cast<uint8_t>(r.kind()));
  w.U8(r.deleted);
  PutRecordedAt(w, r.recorded_at);
  std::visit([&](const auto& b) { Put(w, b); }, r.body);
  return out;
}

std::optional<Record> DecodeRecord(std::string_view bytes) {
  std::optional<coding::Reader> in = coding::Reader::Open(bytes);
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
