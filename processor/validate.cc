#include "processor/validate.h"

#include <google/protobuf/util/json_util.h>

#include <climits>

#include "processor/json_fast.h"

namespace kpi {
namespace {

using Reason = DeadLetterReason;

const Date kEarliestDate = Date::FromYmd(1990, 1, 1);
constexpr int kMaxDaysAhead = 366;

class Checker {
 public:
  explicit Checker(Date processing_date) : latest_(processing_date + kMaxDaysAhead) {}

  // Required date: empty is missing_field.
  std::expected<Date, Reason> Required(const std::string& text) const {
    if (text.empty()) return std::unexpected(Reason::kMissingField);
    return Parse(text);
  }
  // Optional date: empty is absent (kAbsent).
  std::expected<Date, Reason> Optional(const std::string& text) const {
    if (text.empty()) return kAbsent;
    return Parse(text);
  }
  static constexpr Date kAbsent = Date(INT32_MIN);
  static std::optional<Date> Present(Date d) {
    return d == kAbsent ? std::nullopt : std::optional<Date>(d);
  }

 private:
  std::expected<Date, Reason> Parse(const std::string& text) const {
    const std::optional<Date> d = Date::Parse(text);
    if (!d) return std::unexpected(Reason::kBadDate);
    if (*d < kEarliestDate || *d > latest_) return std::unexpected(Reason::kDateOutOfRange);
    return *d;
  }
  Date latest_;
};

// Fills r.a (required) and r.b (optional end, not before a).
std::expected<void, Reason> StartEnd(const Checker& check, const std::string& start,
                                     const std::string& end, bool deleted, Record& r) {
  if (deleted) return {};
  auto a = check.Required(start);
  if (!a) return std::unexpected(a.error());
  auto b = check.Optional(end);
  if (!b) return std::unexpected(b.error());
  r.a = *a;
  r.b = Checker::Present(*b);
  if (r.b && *r.b < *r.a) return std::unexpected(Reason::kDateOrder);
  return {};
}

std::expected<void, Reason> FillBody(const events::Event& ev, const Checker& check, Record& r) {
  using events::Event;
  const bool del = ev.deleted();
  switch (ev.body_case()) {
    case Event::kContact: {
      r.kind = Kind::kContact;
      if (del) return {};
      auto a = check.Required(ev.contact().contact_date());
      if (!a) return std::unexpected(a.error());
      r.a = *a;
      return {};
    }
    case Event::kReferral: {
      r.kind = Kind::kReferral;
      if (del) return {};
      auto a = check.Required(ev.referral().referral_date());
      if (!a) return std::unexpected(a.error());
      r.a = *a;
      r.flag = ev.referral().nfa();
      return {};
    }
    case Event::kAssessment: {
      r.kind = Kind::kAssessment;
      if (del) return {};
      const auto& as = ev.assessment();
      auto a = check.Required(as.start_date());
      if (!a) return std::unexpected(a.error());
      auto b = check.Optional(as.completion_date());
      if (!b) return std::unexpected(b.error());
      auto c = check.Optional(as.authorisation_date());
      if (!c) return std::unexpected(c.error());
      r.a = *a;
      r.b = Checker::Present(*b);
      r.c = Checker::Present(*c);
      if ((r.b && *r.b < *r.a) || (r.c && *r.c < *r.a)) {
        return std::unexpected(Reason::kDateOrder);
      }
      return {};
    }
    case Event::kS47: {
      r.kind = Kind::kS47;
      const auto& s = ev.s47();
      if (!del) {
        auto strategy = check.Optional(s.strategy_discussion_date());
        if (!strategy) return std::unexpected(strategy.error());
      }
      r.flag = s.icpc_not_required();
      return StartEnd(check, s.start_date(), s.end_date(), del, r);
    }
    case Event::kIcpc: {
      r.kind = Kind::kIcpc;
      if (del) return {};
      auto a = check.Required(ev.icpc().conference_date());
      if (!a) return std::unexpected(a.error());
      r.a = *a;
      r.text = ev.icpc().s47_id();
      r.e = static_cast<uint8_t>(ev.icpc().outcome());
      return {};
    }
    case Event::kCinPlan:
      r.kind = Kind::kCinPlan;
      r.flag = ev.cin_plan().draft();
      return StartEnd(check, ev.cin_plan().start_date(), ev.cin_plan().end_date(), del, r);
    case Event::kCpPlan:
      r.kind = Kind::kCpPlan;
      r.n = ev.cp_plan().previous_plans();
      r.e = static_cast<uint8_t>(ev.cp_plan().category());
      return StartEnd(check, ev.cp_plan().start_date(), ev.cp_plan().end_date(), del, r);
    case Event::kLookedAfter: {
      r.kind = Kind::kLookedAfter;
      const std::string& status = ev.looked_after().legal_status();
      r.flag = status == "V3" || status == "V4";
      return StartEnd(check, ev.looked_after().start_date(), ev.looked_after().end_date(), del, r);
    }
    case Event::kAttendance: {
      r.kind = Kind::kAttendance;
      const auto& m = ev.attendance();
      // Identity fields, required for deletes too.
      if (m.school_urn().empty() || m.session() == events::AttendanceMark::SESSION_NOT_GIVEN) {
        return std::unexpected(Reason::kMissingField);
      }
      auto a = check.Required(m.date());
      if (!a) return std::unexpected(a.error());
      r.a = *a;
      r.urn = m.school_urn();
      r.e = static_cast<uint8_t>(m.session());
      if (del) return {};
      const std::optional<AttendanceClass> cls = ClassifyAttendanceCode(m.code());
      if (!cls) return std::unexpected(Reason::kUnknownCode);
      r.cls = *cls;
      return {};
    }
    case Event::kExclusion: {
      r.kind = Kind::kExclusion;
      if (del) return {};
      const auto& x = ev.exclusion();
      if (x.school_urn().empty() || x.kind() == events::Exclusion::KIND_NOT_GIVEN) {
        return std::unexpected(Reason::kMissingField);
      }
      auto a = check.Required(x.start_date());
      if (!a) return std::unexpected(a.error());
      r.a = *a;
      r.urn = x.school_urn();
      r.e = static_cast<uint8_t>(x.kind());
      r.n = x.sessions();
      return {};
    }
    case Event::kEnrolment: {
      r.kind = Kind::kEnrolment;
      const auto& en = ev.enrolment();
      if (!del && en.school_urn().empty()) return std::unexpected(Reason::kMissingField);
      r.urn = en.school_urn();
      r.e = static_cast<uint8_t>(en.leave_reason());
      return StartEnd(check, en.start_date(), en.end_date(), del, r);
    }
    case Event::kProfile: {
      r.kind = Kind::kProfile;
      const auto& p = ev.profile();
      auto a = check.Required(p.effective_date());
      if (!a) return std::unexpected(a.error());
      r.a = *a;
      if (del) return {};
      auto dob = check.Optional(p.date_of_birth());
      if (!dob) return std::unexpected(dob.error());
      r.b = Checker::Present(*dob);
      r.e = static_cast<uint8_t>(p.sen_status());
      r.urn = p.school_urn();
      return {};
    }
    case Event::BODY_NOT_SET:
      break;
  }
  return std::unexpected(Reason::kUnknownKind);
}

}  // namespace

std::string_view ReasonCode(DeadLetterReason reason) {
  switch (reason) {
    case Reason::kUndecodable:
      return "undecodable";
    case Reason::kMissingField:
      return "missing_field";
    case Reason::kBadDate:
      return "bad_date";
    case Reason::kDateOrder:
      return "date_order";
    case Reason::kUnknownCode:
      return "unknown_code";
    case Reason::kDateOutOfRange:
      return "date_out_of_range";
    case Reason::kUnknownKind:
      return "unknown_kind";
    case Reason::kKeyMismatch:
      return "key_mismatch";
  }
  return "unknown";
}

std::expected<events::Event, DeadLetterReason> DecodeJson(std::string_view text) {
  events::Event event;
  if (FastDecodeJson(text, event)) return event;
  return DecodeJsonWithProtobuf(text);
}

std::expected<events::Event, DeadLetterReason> DecodeJsonWithProtobuf(std::string_view text) {
  events::Event event;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(text.data(), text.size()), &event, options);
  if (!status.ok()) return std::unexpected(Reason::kUndecodable);
  return event;
}

std::expected<events::Event, DeadLetterReason> DecodeProtobuf(std::string_view bytes) {
  events::Event event;
  if (!event.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return std::unexpected(Reason::kUndecodable);
  }
  return event;
}

std::expected<void, DeadLetterReason> ValidateInto(const events::Event& event, Date processing_date,
                                                   ValidEvent& out) {
  if (event.event_id().empty() || event.child_id().empty() || !event.has_recorded_at()) {
    return std::unexpected(Reason::kMissingField);
  }
  out.child_id.assign(event.child_id());
  out.event_id.assign(event.event_id());
  Record& r = out.record;
  // Every field back to its default, keeping the strings' buffers.
  std::string urn = std::move(r.urn);
  std::string text = std::move(r.text);
  urn.clear();
  text.clear();
  r = Record{};
  r.urn = std::move(urn);
  r.text = std::move(text);
  r.deleted = event.deleted();
  r.recorded_at = {event.recorded_at().seconds(), event.recorded_at().nanos()};
  const Checker check(processing_date);
  return FillBody(event, check, r);
}

std::expected<ValidEvent, DeadLetterReason> Validate(const events::Event& event,
                                                     Date processing_date) {
  ValidEvent out;
  if (auto valid = ValidateInto(event, processing_date, out); !valid) {
    return std::unexpected(valid.error());
  }
  return out;
}

EventReader::EventReader() { ResetArena(); }

void EventReader::ResetArena() {
  event_ = nullptr;
  arena_.Reset();
  event_ = google::protobuf::Arena::CreateMessage<events::Event>(&arena_);
  decoded_ = 0;
}

events::Event& EventReader::Fresh() {
  // The arena only grows while a message is reused on it; start it again now and then.
  if (++decoded_ >= 4096) ResetArena();
  return *event_;
}

std::expected<const events::Event*, DeadLetterReason> EventReader::DecodeProtobuf(
    std::string_view bytes) {
  events::Event& event = Fresh();
  if (!event.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return std::unexpected(Reason::kUndecodable);
  }
  return &event;
}

std::expected<const events::Event*, DeadLetterReason> EventReader::DecodeJson(
    std::string_view text) {
  events::Event& event = Fresh();
  if (FastDecodeJson(text, event)) return &event;
  auto slow = kpi::DecodeJsonWithProtobuf(text);
  if (!slow) return std::unexpected(slow.error());
  event = std::move(*slow);
  return &event;
}

std::expected<const ValidEvent*, DeadLetterReason> EventReader::Validate(const events::Event& event,
                                                                         Date processing_date) {
  if (auto valid = ValidateInto(event, processing_date, valid_); !valid) {
    return std::unexpected(valid.error());
  }
  return &valid_;
}

}  // namespace kpi
