#include "processor/validate.h"

#include <google/protobuf/struct.pb.h>
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

// The body's fields, checked one at a time in the order of its row in EVENTS.md (step 4 of
// "Bad input"): after the first failure the later checks do nothing, and result() is that
// failure. A required field that is absent or empty, or a required enum that is not given, is
// missing_field; a date is then checked for bad_date and date_out_of_range; an enum for
// unknown_code.
class Fields {
 public:
  explicit Fields(const Checker& check) : check_(check) {}

  Fields& RequiredDate(const std::string& text, Date& out) {
    if (failed_ != kOk) return *this;
    auto d = check_.Required(text);
    if (!d) return Fail(d.error());
    out = *d;
    return *this;
  }
  Fields& OptionalDate(const std::string& text, std::optional<Date>& out) {
    if (failed_ != kOk) return *this;
    auto d = check_.Optional(text);
    if (!d) return Fail(d.error());
    out = Checker::Present(*d);
    return *this;
  }
  Fields& RequiredText(const std::string& text, std::string& out) {
    if (failed_ != kOk) return *this;
    if (text.empty()) return Fail(Reason::kMissingField);
    out = text;
    return *this;
  }
  // An enum field: 0 is not given (missing_field when required); a number the enum does not
  // list is unknown_code (JSON decoding turns an unlisted name into such a number).
  template <typename E>
  Fields& Enum(int value, bool (*listed)(int), bool required, E& out) {
    if (failed_ != kOk) return *this;
    if (value == 0) return required ? Fail(Reason::kMissingField) : *this;
    if (!listed(value)) return Fail(Reason::kUnknownCode);
    out = static_cast<E>(value);
    return *this;
  }
  // Any other check of one field, in its place in the order.
  Fields& Check(bool ok, Reason reason) {
    if (failed_ != kOk || ok) return *this;
    return Fail(reason);
  }

  bool ok() const { return failed_ == kOk; }
  std::expected<void, Reason> result() const {
    if (failed_ != kOk) return std::unexpected(static_cast<Reason>(failed_));
    return {};
  }

 private:
  Fields& Fail(Reason reason) {
    failed_ = static_cast<int>(reason);
    return *this;
  }
  const Checker& check_;
  // The first failure's Reason, or kOk. An int, not an optional: GCC 12 reports an optional
  // member here as maybe used uninitialized (-Wmaybe-uninitialized, a known false positive).
  static constexpr int kOk = -1;
  int failed_ = kOk;
};

// Step 6, "date_order": `later` (when given) is not before `earlier`.
bool NotBefore(const std::optional<Date>& later, Date earlier) {
  return !later || *later >= earlier;
}

std::expected<void, Reason> Ordered(const Fields& fields, bool in_order) {
  if (!fields.ok()) return fields.result();
  if (!in_order) return std::unexpected(Reason::kDateOrder);
  return {};
}

// Contacts to looked-after episodes (KPIS.md).
std::expected<void, Reason> FillSocialCareBody(const events::Event& ev, const Checker& check,
                                               Record& r) {
  using events::Event;
  const bool del = ev.deleted();
  Fields f(check);
  switch (ev.body_case()) {
    case Event::kContact: {
      auto& b = r.body.emplace<body::Contact>();
      if (del) return {};
      return f.RequiredDate(ev.contact().contact_date(), b.contact_date).result();
    }
    case Event::kReferral: {
      auto& b = r.body.emplace<body::Referral>();
      if (del) return {};
      b.nfa = ev.referral().nfa();
      return f.RequiredDate(ev.referral().referral_date(), b.referral_date).result();
    }
    case Event::kAssessment: {
      auto& b = r.body.emplace<body::Assessment>();
      if (del) return {};
      const auto& as = ev.assessment();
      b.referral_id = as.referral_id();
      f.RequiredDate(as.start_date(), b.start_date)
          .OptionalDate(as.completion_date(), b.completion_date)
          .OptionalDate(as.authorisation_date(), b.authorisation_date);
      return Ordered(f, NotBefore(b.completion_date, b.start_date) &&
                            NotBefore(b.authorisation_date, b.start_date));
    }
    case Event::kS47: {
      auto& b = r.body.emplace<body::S47>();
      if (del) return {};
      const auto& s = ev.s47();
      f.RequiredDate(s.start_date(), b.start_date)
          .OptionalDate(s.strategy_discussion_date(), b.strategy_discussion_date)
          .OptionalDate(s.end_date(), b.end_date);
      b.icpc_not_required = s.icpc_not_required();
      return Ordered(f, NotBefore(b.end_date, b.start_date));
    }
    case Event::kIcpc: {
      auto& b = r.body.emplace<body::Icpc>();
      if (del) return {};
      const auto& icpc = ev.icpc();
      b.s47_id = icpc.s47_id();
      return f.RequiredDate(icpc.conference_date(), b.conference_date)
          .Enum(icpc.outcome(), events::Icpc::Outcome_IsValid, false, b.outcome)
          .result();
    }
    case Event::kCinPlan: {
      auto& b = r.body.emplace<body::CinPlan>();
      if (del) return {};
      const auto& plan = ev.cin_plan();
      f.RequiredDate(plan.start_date(), b.start_date).OptionalDate(plan.end_date(), b.end_date);
      b.draft = plan.draft();
      return Ordered(f, NotBefore(b.end_date, b.start_date));
    }
    case Event::kCpPlan: {
      auto& b = r.body.emplace<body::CpPlan>();
      if (del) return {};
      const auto& plan = ev.cp_plan();
      f.RequiredDate(plan.start_date(), b.start_date)
          .OptionalDate(plan.end_date(), b.end_date)
          .Enum(plan.category(), events::CpPlan::Category_IsValid, false, b.category);
      b.previous_plans = plan.previous_plans();
      return Ordered(f, NotBefore(b.end_date, b.start_date));
    }
    case Event::kLookedAfter: {
      auto& b = r.body.emplace<body::LookedAfter>();
      if (del) return {};
      const auto& la = ev.looked_after();
      f.RequiredDate(la.start_date(), b.start_date).OptionalDate(la.end_date(), b.end_date);
      b.short_breaks = la.legal_status() == "V3" || la.legal_status() == "V4";
      return Ordered(f, NotBefore(b.end_date, b.start_date));
    }
    default:
      break;
  }
  return std::unexpected(Reason::kUnknownKind);
}

// Marks, exclusions, enrolments and profiles.
std::expected<void, Reason> FillSchoolBody(const events::Event& ev, const Checker& check,
                                           Record& r) {
  using events::Event;
  const bool del = ev.deleted();
  Fields f(check);
  switch (ev.body_case()) {
    case Event::kAttendance: {
      auto& b = r.body.emplace<body::Attendance>();
      const auto& m = ev.attendance();
      // school_urn, date and session identify the mark: checked for deletes too.
      f.RequiredText(m.school_urn(), b.school_urn)
          .RequiredDate(m.date(), b.date)
          .Enum(m.session(), events::AttendanceMark::Session_IsValid, true, b.session);
      if (del || !f.ok()) return f.result();
      const std::optional<AttendanceClass> cls = ClassifyAttendanceCode(m.code());
      if (!cls) return std::unexpected(Reason::kUnknownCode);
      b.code = *cls;
      b.part_time = m.code() == "C2";
      return {};
    }
    case Event::kExclusion: {
      auto& b = r.body.emplace<body::Exclusion>();
      if (del) return {};
      const auto& x = ev.exclusion();
      b.sessions = x.sessions();
      return f.RequiredText(x.school_urn(), b.school_urn)
          .RequiredDate(x.start_date(), b.start_date)
          .Enum(x.kind(), events::Exclusion::Kind_IsValid, true, b.kind)
          .result();
    }
    case Event::kEnrolment: {
      auto& b = r.body.emplace<body::Enrolment>();
      if (del) return {};
      const auto& en = ev.enrolment();
      f.RequiredText(en.school_urn(), b.school_urn)
          .RequiredDate(en.start_date(), b.start_date)
          .OptionalDate(en.end_date(), b.end_date)
          .Enum(en.leave_reason(), events::Enrolment::LeaveReason_IsValid, false, b.leave_reason);
      return Ordered(f, NotBefore(b.end_date, b.start_date));
    }
    case Event::kProfile: {
      auto& b = r.body.emplace<body::Profile>();
      const auto& p = ev.profile();
      f.RequiredDate(p.effective_date(), b.effective_date);
      if (del) return f.result();
      b.school_urn = p.school_urn();
      b.ethnicity = EthnicityIndex(p.ethnicity());
      return f.OptionalDate(p.date_of_birth(), b.date_of_birth)
          .Enum(p.sen_status(), events::ChildProfile::SenStatus_IsValid, false, b.sen_status)
          .Enum(p.gender(), events::ChildProfile::Gender_IsValid, false, b.gender)
          .Check(p.ethnicity().empty() || b.ethnicity != 0, Reason::kUnknownCode)
          .result();
    }
    default:
      break;
  }
  return std::unexpected(Reason::kUnknownKind);
}

// EHC requests, advice, plans and reviews; reviews and visits (KPIS-2.md).
std::expected<void, Reason> FillSendBody(const events::Event& ev, const Checker& check, Record& r) {
  using events::Event;
  const bool del = ev.deleted();
  Fields f(check);
  switch (ev.body_case()) {
    case Event::kEhcRequest: {
      auto& b = r.body.emplace<body::EhcRequest>();
      if (del) return {};
      const auto& q = ev.ehc_request();
      f.RequiredDate(q.request_date(), b.request_date)
          .Enum(q.source(), events::EhcRequest::Source_IsValid, false, b.source)
          .OptionalDate(q.decision_date(), b.decision_date)
          .Enum(q.decision(), events::EhcRequest::Decision_IsValid, false, b.decision)
          .OptionalDate(q.outcome_date(), b.outcome_date)
          .Enum(q.outcome(), events::EhcRequest::Outcome_IsValid, false, b.outcome);
      b.timescale_exception = q.timescale_exception();
      b.tribunal_ordered = q.tribunal_ordered();
      // Step 5: each date and its value both given or both absent, the decision pair first.
      f.Check(b.decision_date.has_value() == (b.decision != EhcDecision::kNotGiven),
              Reason::kMissingField)
          .Check(b.outcome_date.has_value() == (b.outcome != EhcOutcome::kNotGiven),
                 Reason::kMissingField);
      // Step 6, then step 7: a plan issued or refused after assessment needs the decision to
      // assess.
      const bool in_order = NotBefore(b.decision_date, b.request_date) &&
                            NotBefore(b.outcome_date, b.request_date) &&
                            (!b.decision_date || NotBefore(b.outcome_date, *b.decision_date));
      if (auto ordered = Ordered(f, in_order); !ordered) return ordered;
      if ((b.outcome == EhcOutcome::kPlanIssued || b.outcome == EhcOutcome::kNoPlan) &&
          b.decision != EhcDecision::kAssess) {
        return std::unexpected(Reason::kInconsistent);
      }
      return {};
    }
    case Event::kEhcAdvice: {
      auto& b = r.body.emplace<body::EhcAdvice>();
      if (del) return {};
      const auto& a = ev.ehc_advice();
      f.Enum(a.advice_type(), events::EhcAdvice::AdviceType_IsValid, true, b.advice_type)
          .RequiredDate(a.requested_date(), b.requested_date)
          .OptionalDate(a.received_date(), b.received_date);
      return Ordered(f, NotBefore(b.received_date, b.requested_date));
    }
    case Event::kEhcPlan: {
      auto& b = r.body.emplace<body::EhcPlan>();
      if (del) return {};
      const auto& plan = ev.ehc_plan();
      f.RequiredDate(plan.start_date(), b.start_date).OptionalDate(plan.end_date(), b.end_date);
      return Ordered(f, NotBefore(b.end_date, b.start_date));
    }
    case Event::kEhcReview: {
      auto& b = r.body.emplace<body::EhcReview>();
      if (del) return {};
      const auto& review = ev.ehc_review();
      f.RequiredDate(review.meeting_date(), b.meeting_date)
          .OptionalDate(review.decision_date(), b.decision_date);
      return Ordered(f, NotBefore(b.decision_date, b.meeting_date));
    }
    case Event::kReview: {
      auto& b = r.body.emplace<body::Review>();
      if (del) return {};
      const auto& review = ev.review();
      return f.RequiredDate(review.review_date(), b.review_date)
          .Enum(review.review_type(), events::Review::ReviewType_IsValid, true, b.review_type)
          .result();
    }
    case Event::kVisit: {
      auto& b = r.body.emplace<body::Visit>();
      if (del) return {};
      b.child_not_seen = ev.visit().child_not_seen();
      return f.RequiredDate(ev.visit().visit_date(), b.visit_date).result();
    }
    default:
      break;
  }
  return std::unexpected(Reason::kUnknownKind);
}

// Fills the record's body from the event's. A delete keeps only the identity fields (EVENTS.md:
// the rest of a delete's body is not read).
std::expected<void, Reason> FillBody(const events::Event& ev, const Checker& check, Record& r) {
  using events::Event;
  switch (ev.body_case()) {
    case Event::kContact:
    case Event::kReferral:
    case Event::kAssessment:
    case Event::kS47:
    case Event::kIcpc:
    case Event::kCinPlan:
    case Event::kCpPlan:
    case Event::kLookedAfter:
      return FillSocialCareBody(ev, check, r);
    case Event::kAttendance:
    case Event::kExclusion:
    case Event::kEnrolment:
    case Event::kProfile:
      return FillSchoolBody(ev, check, r);
    case Event::kEhcRequest:
    case Event::kEhcAdvice:
    case Event::kEhcPlan:
    case Event::kEhcReview:
    case Event::kReview:
    case Event::kVisit:
      return FillSendBody(ev, check, r);
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
    case Reason::kInconsistent:
      return "inconsistent";
    case Reason::kKeyMismatch:
      return "key_mismatch";
    case Reason::kTooLarge:
      return "too_large";
  }
  return "unknown";
}

std::expected<events::Event, DeadLetterReason> DecodeJson(std::string_view text) {
  events::Event event;
  if (FastDecodeJson(text, event)) return event;
  return DecodeJsonWithProtobuf(text);
}

bool JsonDepthWithin(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

std::expected<events::Event, DeadLetterReason> DecodeJsonWithProtobuf(std::string_view text) {
  if (!JsonDepthWithin(text, kMaxJsonDepth)) return std::unexpected(Reason::kUndecodable);
  events::Event event;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const google::protobuf::StringPiece piece(text.data(), text.size());
  if (!google::protobuf::util::JsonStringToMessage(piece, &event, options).ok()) {
    return std::unexpected(Reason::kUndecodable);
  }
  // ignore_unknown_fields also drops an enum name its enum does not list; EVENTS.md makes that
  // unknown_code, so find such names in the generic form of the body and mark their fields.
  if (event.body_case() == events::Event::BODY_NOT_SET) return event;
  const auto* refl = event.GetReflection();
  const google::protobuf::FieldDescriptor* body_field =
      event.GetDescriptor()->FindFieldByNumber(static_cast<int>(event.body_case()));
  google::protobuf::Message& body = *refl->MutableMessage(&event, body_field);
  bool has_enum = false;
  for (int i = 0; i < body.GetDescriptor()->field_count(); ++i) {
    has_enum |= body.GetDescriptor()->field(i)->enum_type() != nullptr;
  }
  if (!has_enum) return event;
  google::protobuf::Struct generic;
  if (!google::protobuf::util::JsonStringToMessage(piece, &generic).ok()) return event;
  const auto member =
      [](const google::protobuf::Struct& s,
         const google::protobuf::FieldDescriptor* f) -> const google::protobuf::Value* {
    for (const std::string& name : {f->json_name(), f->name()}) {
      const auto it = s.fields().find(name);
      if (it != s.fields().end()) return &it->second;
    }
    return nullptr;
  };
  const google::protobuf::Value* raw_body = member(generic, body_field);
  if (raw_body == nullptr || !raw_body->has_struct_value()) return event;
  for (int i = 0; i < body.GetDescriptor()->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = body.GetDescriptor()->field(i);
    if (f->enum_type() == nullptr) continue;
    const google::protobuf::Value* raw = member(raw_body->struct_value(), f);
    if (raw != nullptr && raw->has_string_value() &&
        f->enum_type()->FindValueByName(raw->string_value()) == nullptr) {
      body.GetReflection()->SetEnumValue(&body, f, kUnlistedEnumValue);
    }
  }
  return event;
}

namespace {

// google.protobuf.Timestamp's own contract, which the JSON form cannot break but the binary form
// can: nanos in [0, 1e9), seconds within the years 1 to 9999. Anything else is not a valid Event
// (undecodable); before this check, such a recorded_at was stored and its record then failed to
// decode as corrupt (found by fuzz_protobuf).
bool ValidRecordedAt(const events::Event& event) {
  if (!event.has_recorded_at()) return true;
  const auto& t = event.recorded_at();
  return t.nanos() >= 0 && t.nanos() <= 999'999'999 && t.seconds() >= -62'135'596'800 &&
         t.seconds() <= 253'402'300'799;
}

}  // namespace

std::expected<events::Event, DeadLetterReason> DecodeProtobuf(std::string_view bytes) {
  events::Event event;
  if (!event.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
      !ValidRecordedAt(event)) {
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
  if (!event.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
      !ValidRecordedAt(event)) {
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
