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

// A start date (required) and an optional end date, not before the start.
std::expected<void, Reason> StartEnd(const Checker& check, const std::string& start,
                                     const std::string& end, Date& start_date,
                                     std::optional<Date>& end_date) {
  auto a = check.Required(start);
  if (!a) return std::unexpected(a.error());
  auto b = check.Optional(end);
  if (!b) return std::unexpected(b.error());
  start_date = *a;
  end_date = Checker::Present(*b);
  if (end_date && *end_date < start_date) return std::unexpected(Reason::kDateOrder);
  return {};
}

std::expected<void, Reason> Required(const Checker& check, const std::string& text, Date& out) {
  auto d = check.Required(text);
  if (!d) return std::unexpected(d.error());
  out = *d;
  return {};
}

// Fills the record's body from the event's. A delete keeps only the identity fields (EVENTS.md:
// the rest of a delete's body is not read).
std::expected<void, Reason> FillBody(const events::Event& ev, const Checker& check, Record& r) {
  using events::Event;
  const bool del = ev.deleted();
  switch (ev.body_case()) {
    case Event::kContact: {
      auto& b = r.body.emplace<body::Contact>();
      if (del) return {};
      return Required(check, ev.contact().contact_date(), b.contact_date);
    }
    case Event::kReferral: {
      auto& b = r.body.emplace<body::Referral>();
      if (del) return {};
      b.nfa = ev.referral().nfa();
      return Required(check, ev.referral().referral_date(), b.referral_date);
    }
    case Event::kAssessment: {
      auto& b = r.body.emplace<body::Assessment>();
      if (del) return {};
      const auto& as = ev.assessment();
      auto a = check.Required(as.start_date());
      if (!a) return std::unexpected(a.error());
      auto completed = check.Optional(as.completion_date());
      if (!completed) return std::unexpected(completed.error());
      auto authorised = check.Optional(as.authorisation_date());
      if (!authorised) return std::unexpected(authorised.error());
      b.start_date = *a;
      b.completion_date = Checker::Present(*completed);
      b.authorisation_date = Checker::Present(*authorised);
      if ((b.completion_date && *b.completion_date < b.start_date) ||
          (b.authorisation_date && *b.authorisation_date < b.start_date)) {
        return std::unexpected(Reason::kDateOrder);
      }
      return {};
    }
    case Event::kS47: {
      auto& b = r.body.emplace<body::S47>();
      if (del) return {};
      const auto& s = ev.s47();
      auto strategy = check.Optional(s.strategy_discussion_date());
      if (!strategy) return std::unexpected(strategy.error());
      b.strategy_discussion_date = Checker::Present(*strategy);
      b.icpc_not_required = s.icpc_not_required();
      return StartEnd(check, s.start_date(), s.end_date(), b.start_date, b.end_date);
    }
    case Event::kIcpc: {
      auto& b = r.body.emplace<body::Icpc>();
      if (del) return {};
      b.s47_id = ev.icpc().s47_id();
      b.outcome = static_cast<IcpcOutcome>(ev.icpc().outcome());
      return Required(check, ev.icpc().conference_date(), b.conference_date);
    }
    case Event::kCinPlan: {
      auto& b = r.body.emplace<body::CinPlan>();
      if (del) return {};
      b.draft = ev.cin_plan().draft();
      return StartEnd(check, ev.cin_plan().start_date(), ev.cin_plan().end_date(), b.start_date,
                      b.end_date);
    }
    case Event::kCpPlan: {
      auto& b = r.body.emplace<body::CpPlan>();
      if (del) return {};
      b.previous_plans = ev.cp_plan().previous_plans();
      b.category = static_cast<AbuseCategory>(ev.cp_plan().category());
      return StartEnd(check, ev.cp_plan().start_date(), ev.cp_plan().end_date(), b.start_date,
                      b.end_date);
    }
    case Event::kLookedAfter: {
      auto& b = r.body.emplace<body::LookedAfter>();
      if (del) return {};
      const std::string& status = ev.looked_after().legal_status();
      b.short_breaks = status == "V3" || status == "V4";
      return StartEnd(check, ev.looked_after().start_date(), ev.looked_after().end_date(),
                      b.start_date, b.end_date);
    }
    case Event::kAttendance: {
      auto& b = r.body.emplace<body::Attendance>();
      const auto& m = ev.attendance();
      // Identity fields, required for deletes too.
      if (m.school_urn().empty() || m.session() == events::AttendanceMark::SESSION_NOT_GIVEN) {
        return std::unexpected(Reason::kMissingField);
      }
      if (auto d = Required(check, m.date(), b.date); !d) return d;
      b.school_urn = m.school_urn();
      b.session = static_cast<Session>(m.session());
      if (del) return {};
      const std::optional<AttendanceClass> cls = ClassifyAttendanceCode(m.code());
      if (!cls) return std::unexpected(Reason::kUnknownCode);
      b.code = *cls;
      return {};
    }
    case Event::kExclusion: {
      auto& b = r.body.emplace<body::Exclusion>();
      if (del) return {};
      const auto& x = ev.exclusion();
      if (x.school_urn().empty() || x.kind() == events::Exclusion::KIND_NOT_GIVEN) {
        return std::unexpected(Reason::kMissingField);
      }
      if (auto d = Required(check, x.start_date(), b.start_date); !d) return d;
      b.school_urn = x.school_urn();
      b.kind = static_cast<ExclusionKind>(x.kind());
      b.sessions = x.sessions();
      return {};
    }
    case Event::kEnrolment: {
      auto& b = r.body.emplace<body::Enrolment>();
      if (del) return {};
      const auto& en = ev.enrolment();
      if (en.school_urn().empty()) return std::unexpected(Reason::kMissingField);
      b.school_urn = en.school_urn();
      b.leave_reason = static_cast<LeaveReason>(en.leave_reason());
      return StartEnd(check, en.start_date(), en.end_date(), b.start_date, b.end_date);
    }
    case Event::kProfile: {
      auto& b = r.body.emplace<body::Profile>();
      const auto& p = ev.profile();
      if (auto d = Required(check, p.effective_date(), b.effective_date); !d) return d;
      if (del) return {};
      auto dob = check.Optional(p.date_of_birth());
      if (!dob) return std::unexpected(dob.error());
      b.date_of_birth = Checker::Present(*dob);
      b.sen_status = static_cast<SenStatus>(p.sen_status());
      b.school_urn = p.school_urn();
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
