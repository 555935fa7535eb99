// Every dead-letter reason code, from real malformed lines.
#include "processor/validate.h"

#include <gtest/gtest.h>

#include <string>

namespace kpi {
namespace {

const Date kToday = Date::FromYmd(2026, 3, 15);

std::expected<ValidEvent, DeadLetterReason> Check(const std::string& line) {
  auto event = DecodeJson(line);
  if (!event) return std::unexpected(event.error());
  return Validate(*event, kToday);
}

std::string Reason(const std::string& line) {
  auto v = Check(line);
  return v ? "ok" : std::string(ReasonCode(v.error()));
}

constexpr const char* kHead =
    R"({"eventId":"E1","childId":"C42","recordedAt":"2026-03-02T10:15:00Z",)";

std::string Line(const std::string& body) { return kHead + body + "}"; }

TEST(ValidateTest, TheSpecExamplesAreValid) {
  for (
      const char* line : {
          R"({"eventId":"AS-1","childId":"C42","recordedAt":"2026-03-02T10:15:00Z","assessment":{"startDate":"2026-01-05"}})",
          R"({"eventId":"AS-1","childId":"C42","recordedAt":"2026-03-09T16:00:00Z","assessment":{"startDate":"2026-01-05","completionDate":"2026-03-06","authorisationDate":"2026-03-09"}})",
          R"({"eventId":"M1","childId":"C42","recordedAt":"2026-03-09T09:05:00Z","attendance":{"schoolUrn":"100001","date":"2026-03-09","session":"AM","code":"N"}})",
          R"({"eventId":"M1b","childId":"C42","recordedAt":"2026-03-10T11:00:00Z","attendance":{"schoolUrn":"100001","date":"2026-03-09","session":"AM","code":"I"}})",
      }) {
    EXPECT_EQ(Reason(line), "ok") << line;
  }
}

TEST(ValidateTest, SnakeCaseNamesAreAcceptedToo) {
  const auto v = Check(
      R"({"event_id":"X","child_id":"C1","recorded_at":"2026-03-02T10:15:00Z","cp_plan":{"start_date":"2026-01-05","previous_plans":2}})");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->record.kind(), Kind::kCpPlan);
  EXPECT_EQ(v->record.as<body::CpPlan>().previous_plans, 2u);
}

TEST(ValidateTest, NormalisesTheRecord) {
  const auto v = Check(
      Line(R"("attendance":{"schoolUrn":"100001","date":"2026-03-09","session":"PM","code":"N"})"));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->child_id, "C42");
  EXPECT_EQ(v->record.kind(), Kind::kAttendance);
  const auto& mark = v->record.as<body::Attendance>();
  EXPECT_EQ(mark.date, Date::FromYmd(2026, 3, 9));
  EXPECT_EQ(mark.session, Session::kPm);
  EXPECT_EQ(mark.code, AttendanceClass::kUnauthorisedAbsence);
  EXPECT_EQ(mark.school_urn, "100001");
}

TEST(ValidateTest, Undecodable) {
  EXPECT_EQ(Reason("not json"), "undecodable");
  EXPECT_EQ(Reason(R"({"eventId":"E1","childId":"C42","recordedAt")"), "undecodable");
  EXPECT_EQ(Reason(Line(R"("contact":{"contactDate":20260301})")), "undecodable");
  EXPECT_EQ(Reason(R"({"eventId":"E1","childId":"C42","recordedAt":"yesterday","contact":{}})"),
            "undecodable");
  EXPECT_EQ(DecodeProtobuf("\xff\xff\xff").error(), DeadLetterReason::kUndecodable);
}

TEST(ValidateTest, JsonNestedPastTheBoundIsUndecodable) {
  EXPECT_TRUE(JsonDepthWithin("{}", 1));
  EXPECT_FALSE(JsonDepthWithin("{[]}", 1));
  EXPECT_TRUE(JsonDepthWithin(R"({"a":"[[[[\"[[["})", 1));  // brackets inside strings
  EXPECT_TRUE(JsonDepthWithin("[][][][]", 1));              // siblings, not nesting
  const auto nested = [](int levels) {                      // the event is level 1, then arrays
    return Line(R"("contact":{"contactDate":"2026-03-01"},"future":)" +
                std::string(static_cast<size_t>(levels - 1), '[') +
                std::string(static_cast<size_t>(levels - 1), ']'));
  };
  EXPECT_TRUE(DecodeJson(nested(kMaxJsonDepth)).has_value());
  EXPECT_EQ(Reason(nested(kMaxJsonDepth + 1)), "undecodable");
  // Protobuf's parser itself refuses objects past the bound, and takes them up to it: the bound
  // changes nothing for objects.
  const auto objects = [](int levels) {
    std::string body = R"("contact":{"contactDate":"2026-03-01"},"future":)";
    for (int i = 1; i < levels; ++i) body += R"({"a":)";
    return Line(body + "1" + std::string(static_cast<size_t>(levels - 1), '}'));
  };
  EXPECT_TRUE(DecodeJsonWithProtobuf(objects(kMaxJsonDepth)).has_value());
  EXPECT_FALSE(DecodeJsonWithProtobuf(objects(kMaxJsonDepth + 1)).has_value());
}

TEST(ValidateTest, AnEnormousUnknownValueIsToleratedInLinearTime) {
  std::string many = R"("contact":{"contactDate":"2026-03-01"},"future":[)";
  for (int i = 0; i < 100000; ++i) many += (i ? ",\"" : "\"") + std::to_string(i) + "\"";
  many += "]";
  EXPECT_TRUE(DecodeJson(Line(many)).has_value());
  EXPECT_TRUE(DecodeJson(Line(R"("contact":{"contactDate":"2026-03-01"},"future":")" +
                              std::string(400000, 'x') + "\""))
                  .has_value());
}

TEST(ValidateTest, MissingField) {
  EXPECT_EQ(
      Reason(
          R"({"childId":"C42","recordedAt":"2026-03-02T10:15:00Z","contact":{"contactDate":"2026-03-01"}})"),
      "missing_field");
  EXPECT_EQ(
      Reason(
          R"({"eventId":"E1","recordedAt":"2026-03-02T10:15:00Z","contact":{"contactDate":"2026-03-01"}})"),
      "missing_field");
  EXPECT_EQ(Reason(R"({"eventId":"E1","childId":"C42","contact":{"contactDate":"2026-03-01"}})"),
            "missing_field");
  EXPECT_EQ(Reason(Line(R"("contact":{})")), "missing_field");
  EXPECT_EQ(Reason(Line(R"("attendance":{"date":"2026-03-09","session":"AM","code":"/"})")),
            "missing_field");
  EXPECT_EQ(Reason(Line(R"("attendance":{"schoolUrn":"1","date":"2026-03-09","code":"/"})")),
            "missing_field");
  EXPECT_EQ(Reason(Line(R"("exclusion":{"schoolUrn":"1","startDate":"2026-03-09"})")),
            "missing_field");
  EXPECT_EQ(Reason(Line(R"("enrolment":{"startDate":"2026-03-09"})")), "missing_field");
}

TEST(ValidateTest, BadDate) {
  EXPECT_EQ(Reason(Line(R"("contact":{"contactDate":"2026-02-30"})")), "bad_date");
  EXPECT_EQ(Reason(Line(R"("contact":{"contactDate":"01/03/2026"})")), "bad_date");
  EXPECT_EQ(Reason(Line(R"("cpPlan":{"startDate":"2026-01-05","endDate":"2026-1-5"})")),
            "bad_date");
  EXPECT_EQ(Reason(Line(R"("s47":{"startDate":"2026-01-05","strategyDiscussionDate":"soon"})")),
            "bad_date");
}

TEST(ValidateTest, DateOrder) {
  EXPECT_EQ(Reason(Line(R"("cpPlan":{"startDate":"2026-01-05","endDate":"2026-01-04"})")),
            "date_order");
  EXPECT_EQ(
      Reason(Line(R"("assessment":{"startDate":"2026-01-05","authorisationDate":"2026-01-02"})")),
      "date_order");
  EXPECT_EQ(Reason(Line(R"("s47":{"startDate":"2026-01-05","endDate":"2025-12-31"})")),
            "date_order");
  // The same day is not before.
  EXPECT_EQ(Reason(Line(R"("cinPlan":{"startDate":"2026-01-05","endDate":"2026-01-05"})")), "ok");
}

TEST(ValidateTest, UnknownCode) {
  EXPECT_EQ(
      Reason(
          Line(R"("attendance":{"schoolUrn":"1","date":"2026-03-09","session":"AM","code":"ZZ"})")),
      "unknown_code");
  EXPECT_EQ(
      Reason(
          Line(R"("attendance":{"schoolUrn":"1","date":"2026-03-09","session":"AM","code":"Y8"})")),
      "unknown_code");
  // "-" and empty are missing marks, not bad input.
  EXPECT_EQ(Reason(Line(
                R"("attendance":{"schoolUrn":"1","date":"2026-03-09","session":"AM","code":"-"})")),
            "ok");
  EXPECT_EQ(Reason(Line(R"("attendance":{"schoolUrn":"1","date":"2026-03-09","session":"AM"})")),
            "ok");
}

// Every enum, in JSON: a name its enum does not list is unknown_code, on the fast path and on
// protobuf's (escapes and whitespace send a line there); absent or null is not given.
TEST(ValidateTest, AnUnlistedEnumNameIsUnknownCode) {
  for (const char* body : {
           R"("icpc":{"conferenceDate":"2026-03-02","outcome":"ADOPTED"})",
           R"("cpPlan":{"startDate":"2026-01-05","category":"NEGLECT"})",
           R"("attendance":{"schoolUrn":"1","date":"2026-03-09","session":"EVENING","code":"/"})",
           R"("exclusion":{"schoolUrn":"1","startDate":"2026-03-09","kind":"FIXED"})",
           R"("enrolment":{"schoolUrn":"1","startDate":"2026-03-09","leaveReason":"MOVED"})",
           R"("profile":{"effectiveDate":"2025-09-01","senStatus":"ehcp"})",
       }) {
    EXPECT_EQ(Reason(Line(body)), "unknown_code") << body;
    // The same through protobuf's parser: a space before the colon leaves the fast path.
    std::string slow = Line(body);
    slow.replace(slow.find("\"eventId\":"), 10, "\"eventId\" :");
    EXPECT_EQ(Reason(slow), "unknown_code") << slow;
  }
  EXPECT_EQ(Reason(Line(R"("icpc":{"conferenceDate":"2026-03-02","outcome":"CIN"})")), "ok");
  EXPECT_EQ(Reason(Line(R"("icpc":{"conferenceDate":"2026-03-02","outcome":null})")), "ok");
  // A number is read as in the binary form.
  EXPECT_EQ(Reason(Line(R"("icpc":{"conferenceDate":"2026-03-02","outcome":2})")), "ok");
  EXPECT_EQ(Reason(Line(R"("icpc":{"conferenceDate":"2026-03-02","outcome":9})")), "unknown_code");
}

TEST(ValidateTest, AnUnlistedBinaryEnumNumberIsUnknownCode) {
  events::Event event;
  event.set_event_id("E1");
  event.set_child_id("C42");
  event.mutable_recorded_at()->set_seconds(1772000000);
  event.mutable_exclusion()->set_school_urn("1");
  event.mutable_exclusion()->set_start_date("2026-03-09");
  event.mutable_exclusion()->set_kind(static_cast<events::Exclusion::Kind>(7));
  auto decoded = DecodeProtobuf(event.SerializeAsString());
  ASSERT_TRUE(decoded);
  EXPECT_EQ(Validate(*decoded, kToday).error(), DeadLetterReason::kUnknownCode);
  event.mutable_exclusion()->set_kind(events::Exclusion::PERMANENT);
  EXPECT_TRUE(Validate(*DecodeProtobuf(event.SerializeAsString()), kToday));
  event.mutable_exclusion()->set_kind(events::Exclusion::KIND_NOT_GIVEN);
  EXPECT_EQ(Validate(event, kToday).error(), DeadLetterReason::kMissingField);
}

// EVENTS.md, "Bad input": the first failing check in a fixed order. The body's fields one at a
// time in the order of its row; then the "not before" rules.
TEST(ValidateTest, TheFirstFailingCheckInTheSpecsOrderGivesTheReason) {
  // start_date comes before strategy_discussion_date.
  EXPECT_EQ(Reason(Line(R"("s47":{"strategyDiscussionDate":"soon"})")), "missing_field");
  // A bad date before a later field's out-of-range date.
  EXPECT_EQ(Reason(Line(R"("cpPlan":{"startDate":"2026-02-30","endDate":"2099-01-01"})")),
            "bad_date");
  EXPECT_EQ(Reason(Line(R"("cpPlan":{"startDate":"2099-01-01","endDate":"2026-02-30"})")),
            "date_out_of_range");
  // A field's own checks come before any date order, and an enum in its place among the fields.
  EXPECT_EQ(
      Reason(Line(R"("cpPlan":{"startDate":"2026-01-05","endDate":"2026-01-04","category":"X"})")),
      "unknown_code");
  // Attendance: school_urn, date, session, code.
  EXPECT_EQ(Reason(Line(R"("attendance":{"schoolUrn":"1","date":"2026-02-30","code":"ZZ"})")),
            "bad_date");
  EXPECT_EQ(Reason(Line(R"("attendance":{"schoolUrn":"1","date":"2026-03-09","code":"ZZ"})")),
            "missing_field");
  EXPECT_EQ(Reason(Line(
                R"("attendance":{"schoolUrn":"1","date":"2026-03-09","session":"X","code":"ZZ"})")),
            "unknown_code");
  // Exclusion: school_urn, start_date, kind.
  EXPECT_EQ(Reason(Line(R"("exclusion":{"schoolUrn":"1","startDate":"1980-01-01"})")),
            "date_out_of_range");
  // Profile: effective_date, date_of_birth, sen_status.
  EXPECT_EQ(
      Reason(Line(
          R"("profile":{"effectiveDate":"2025-09-01","dateOfBirth":"2015-13-01","senStatus":"X"})")),
      "bad_date");
  // The envelope before the body: missing fields, then no body.
  EXPECT_EQ(Reason(R"({"eventId":"E1","childId":"C42"})"), "missing_field");
}

TEST(ValidateTest, AMalformedRecordedAtIsUndecodable) {
  for (const char* ts :
       {"2026-03-02", "2026-03-02T25:00:00Z", "2026-02-30T10:00:00Z", "", "2026-03-02 10:15:00"}) {
    EXPECT_EQ(Reason(std::string(R"({"eventId":"E1","childId":"C42","recordedAt":")") + ts +
                     R"(","contact":{"contactDate":"2026-03-01"}})"),
              "undecodable")
        << ts;
  }
}

TEST(ValidateTest, ThePartIIExamplesOfTheSpecAreValid) {
  for (
      const char* line : {
          R"({"eventId":"R1","childId":"C7","recordedAt":"2026-01-05T09:00:00Z","ehcRequest":{"requestDate":"2026-01-05","source":"PARENT"}})",
          R"({"eventId":"R1","childId":"C7","recordedAt":"2026-02-16T15:00:00Z","ehcRequest":{"requestDate":"2026-01-05","source":"PARENT","decisionDate":"2026-02-16","decision":"ASSESS"}})",
          R"({"eventId":"R1","childId":"C7","recordedAt":"2026-05-26T12:00:00Z","ehcRequest":{"requestDate":"2026-01-05","source":"PARENT","decisionDate":"2026-02-16","decision":"ASSESS","outcomeDate":"2026-05-26","outcome":"PLAN_ISSUED"}})",
          R"({"eventId":"RV1","childId":"C3","recordedAt":"2026-04-10T17:00:00Z","review":{"reviewDate":"2026-04-10","reviewType":"CP"}})",
          R"({"eventId":"V1","childId":"C9","recordedAt":"2026-03-27T18:00:00Z","visit":{"visitDate":"2026-03-27"}})",
          R"({"eventId":"P1","childId":"C42","recordedAt":"2026-01-02T08:00:00Z","profile":{"effectiveDate":"2025-09-01","dateOfBirth":"2014-05-10","senStatus":"EHCP","gender":"FEMALE","ethnicity":"WBRI"}})",
      }) {
    EXPECT_EQ(Reason(line), "ok") << line;
  }
  const auto request = Check(
      R"({"eventId":"R1","childId":"C7","recordedAt":"2026-05-26T12:00:00Z","ehcRequest":{"requestDate":"2026-01-05","source":"PARENT","decisionDate":"2026-02-16","decision":"ASSESS","outcomeDate":"2026-05-26","outcome":"PLAN_ISSUED","tribunalOrdered":true}})");
  ASSERT_TRUE(request);
  const auto& r = request->record.as<body::EhcRequest>();
  EXPECT_EQ(r.source, EhcSource::kParent);
  EXPECT_EQ(r.decision, EhcDecision::kAssess);
  EXPECT_EQ(r.outcome_date, Date::FromYmd(2026, 5, 26));
  EXPECT_TRUE(r.tribunal_ordered);
  EXPECT_FALSE(r.timescale_exception);
  const auto profile = Check(Line(
      R"("profile":{"effectiveDate":"2025-09-01","gender":"INDETERMINATE","ethnicity":"NOBT"})"));
  ASSERT_TRUE(profile);
  EXPECT_EQ(profile->record.as<body::Profile>().gender, Gender::kIndeterminate);
  EXPECT_EQ(kEthnicityCodes[profile->record.as<body::Profile>().ethnicity - 1], "NOBT");
}

TEST(ValidateTest, PartIIBodies) {
  // Required fields, in the order of the row.
  EXPECT_EQ(Reason(Line(R"("ehcRequest":{"source":"PARENT"})")), "missing_field");
  EXPECT_EQ(Reason(Line(R"("ehcAdvice":{"requestedDate":"2026-01-05"})")), "missing_field");
  EXPECT_EQ(Reason(Line(R"("ehcAdvice":{"adviceType":"EP"})")), "missing_field");
  EXPECT_EQ(Reason(Line(R"("ehcAdvice":{"adviceType":"PSYCH","requestedDate":"x"})")),
            "unknown_code");
  EXPECT_EQ(Reason(Line(R"("ehcPlan":{"endDate":"2026-01-05"})")), "missing_field");
  EXPECT_EQ(Reason(Line(R"("ehcReview":{"decisionDate":"2026-01-05"})")), "missing_field");
  EXPECT_EQ(Reason(Line(R"("review":{"reviewDate":"2026-01-05"})")), "missing_field");
  EXPECT_EQ(Reason(Line(R"("review":{"reviewDate":"2026-01-05","reviewType":"ICPC"})")),
            "unknown_code");
  EXPECT_EQ(Reason(Line(R"("visit":{"childNotSeen":true})")), "missing_field");
  EXPECT_EQ(Reason(Line(R"("visit":{"visitDate":"2026-01-05","childNotSeen":true})")), "ok");
  // Dates: bad, out of range, order.
  EXPECT_EQ(Reason(Line(R"("ehcPlan":{"startDate":"2026-01-05","endDate":"2026-01-04"})")),
            "date_order");
  EXPECT_EQ(Reason(Line(R"("ehcReview":{"meetingDate":"2026-01-05","decisionDate":"2026-01-04"})")),
            "date_order");
  EXPECT_EQ(
      Reason(Line(
          R"("ehcAdvice":{"adviceType":"HEALTH","requestedDate":"2026-01-05","receivedDate":"2026-01-04"})")),
      "date_order");
  EXPECT_EQ(Reason(Line(R"("visit":{"visitDate":"1989-12-31"})")), "date_out_of_range");
  // The profile's new fields.
  EXPECT_EQ(Reason(Line(R"("profile":{"effectiveDate":"2025-09-01","ethnicity":"WBRI2"})")),
            "unknown_code");
  EXPECT_EQ(Reason(Line(R"("profile":{"effectiveDate":"2025-09-01","ethnicity":"wbri"})")),
            "unknown_code");
  EXPECT_EQ(Reason(Line(R"("profile":{"effectiveDate":"2025-09-01","ethnicity":""})")), "ok");
  EXPECT_EQ(Reason(Line(R"("profile":{"effectiveDate":"2025-09-01","gender":"X"})")),
            "unknown_code");
  // Deletes need only the identity.
  EXPECT_EQ(Reason(Line(R"("deleted":true,"ehcRequest":{})")), "ok");
  EXPECT_EQ(Reason(Line(R"("deleted":true,"review":{"reviewType":"X"})")), "ok");
}

// EhcRequest: steps 5 (both-or-neither, decision pair first), 6 (date order), 7 (inconsistent).
TEST(ValidateTest, EhcRequestPairsOrderAndConsistency) {
  const auto req = [](const std::string& fields) {
    return Reason(Line(R"("ehcRequest":{"requestDate":"2026-01-05")" + fields + "}"));
  };
  EXPECT_EQ(req(R"(,"decisionDate":"2026-02-16")"), "missing_field");
  EXPECT_EQ(req(R"(,"decision":"ASSESS")"), "missing_field");
  EXPECT_EQ(req(R"(,"outcome":"WITHDRAWN")"), "missing_field");
  // The decision pair before the outcome pair, both before date order.
  EXPECT_EQ(req(R"(,"decisionDate":"2025-01-01","outcome":"WITHDRAWN")"), "missing_field");
  EXPECT_EQ(req(R"(,"decisionDate":"2026-01-04","decision":"ASSESS")"), "date_order");
  EXPECT_EQ(req(R"(,"outcomeDate":"2026-01-04","outcome":"WITHDRAWN")"), "date_order");
  EXPECT_EQ(
      req(R"(,"decisionDate":"2026-02-16","decision":"ASSESS","outcomeDate":"2026-02-15","outcome":"PLAN_ISSUED")"),
      "date_order");
  // Date order before consistency.
  EXPECT_EQ(req(R"(,"outcomeDate":"2026-01-04","outcome":"PLAN_ISSUED")"), "date_order");
  EXPECT_EQ(req(R"(,"outcomeDate":"2026-03-01","outcome":"PLAN_ISSUED")"), "inconsistent");
  EXPECT_EQ(
      req(R"(,"decisionDate":"2026-02-16","decision":"NOT_ASSESS","outcomeDate":"2026-03-01","outcome":"NO_PLAN")"),
      "inconsistent");
  // A withdrawal may come before any decision, or after a refusal; the same day is in order.
  EXPECT_EQ(req(R"(,"outcomeDate":"2026-01-05","outcome":"WITHDRAWN")"), "ok");
  EXPECT_EQ(
      req(R"(,"decisionDate":"2026-02-16","decision":"NOT_ASSESS","outcomeDate":"2026-02-16","outcome":"WITHDRAWN")"),
      "ok");
  EXPECT_EQ(req(R"(,"source":"GP")"), "unknown_code");
  EXPECT_EQ(req(R"(,"decisionDate":"2026-02-16","decision":"MAYBE")"), "unknown_code");
}

TEST(ValidateTest, DateOutOfRange) {
  EXPECT_EQ(Reason(Line(R"("referral":{"referralDate":"1989-12-31"})")), "date_out_of_range");
  EXPECT_EQ(Reason(Line(R"("referral":{"referralDate":"1990-01-01"})")), "ok");
  // 366 days after 2026-03-15 is 2027-03-16.
  EXPECT_EQ(Reason(Line(R"("referral":{"referralDate":"2027-03-16"})")), "ok");
  EXPECT_EQ(Reason(Line(R"("referral":{"referralDate":"2027-03-17"})")), "date_out_of_range");
}

TEST(ValidateTest, UnknownKind) {
  EXPECT_EQ(Reason(Line(R"("carePlan":{"startDate":"2026-01-05"})")), "unknown_kind");
  EXPECT_EQ(Reason(R"({"eventId":"E1","childId":"C42","recordedAt":"2026-03-02T10:15:00Z"})"),
            "unknown_kind");
}

TEST(ValidateTest, EveryAttendanceCodeOfTheTableIsKnown) {
  for (const char* code :
       {"/",  "\\", "L",  "K",  "V",  "P",  "W",  "B", "J", "C", "C1", "C2", "E", "I",
        "J1", "M",  "R",  "S",  "T",  "H",  "F",  "G", "N", "O", "U",  "D",  "X", "Y",
        "Y1", "Y2", "Y3", "Y4", "Y5", "Y6", "Y7", "Q", "Z", "#", "-",  ""}) {
    EXPECT_TRUE(ClassifyAttendanceCode(code)) << code;
  }
  EXPECT_EQ(ClassifyAttendanceCode("J"), AttendanceClass::kApprovedActivity);
  EXPECT_EQ(ClassifyAttendanceCode("J1"), AttendanceClass::kAuthorisedAbsence);
  EXPECT_EQ(ClassifyAttendanceCode("Y"), AttendanceClass::kNotCounted);
  EXPECT_FALSE(ClassifyAttendanceCode("/ "));
  EXPECT_FALSE(ClassifyAttendanceCode("n"));
}

TEST(ValidateTest, DeletesNeedOnlyIdentityFields) {
  EXPECT_EQ(Reason(Line(R"("deleted":true,"assessment":{})")), "ok");
  EXPECT_EQ(Reason(Line(R"("deleted":true,"profile":{"effectiveDate":"2025-09-01"})")), "ok");
  EXPECT_EQ(Reason(Line(R"("deleted":true,"profile":{})")), "missing_field");
  EXPECT_EQ(
      Reason(Line(
          R"("deleted":true,"attendance":{"schoolUrn":"1","date":"2026-03-09","session":"AM"})")),
      "ok");
  EXPECT_EQ(Reason(Line(R"("deleted":true,"attendance":{"schoolUrn":"1","session":"AM"})")),
            "missing_field");
  // Only the identity is checked: a bad end date in a delete does not matter.
  EXPECT_EQ(Reason(Line(R"("deleted":true,"cpPlan":{"startDate":"2026-01-05","endDate":"x"})")),
            "ok");
}

// Found by fuzz_protobuf: the binary form can carry a Timestamp that JSON cannot (nanos out of
// range, seconds past year 9999); it was stored, and the stored record then failed to decode.
TEST(ValidateTest, ARecordedAtOutsideTheTimestampContractIsUndecodable) {
  const auto with = [](int64_t seconds, int32_t nanos) {
    auto event = DecodeJson(Line(R"("contact":{"contactDate":"2026-03-01"})"));
    event->mutable_recorded_at()->set_seconds(seconds);
    event->mutable_recorded_at()->set_nanos(nanos);
    return DecodeProtobuf(event->SerializeAsString());
  };
  EXPECT_TRUE(with(1772446500, 999'999'999).has_value());
  EXPECT_EQ(with(1772446500, 1'000'000'000).error(), DeadLetterReason::kUndecodable);
  EXPECT_EQ(with(1772446500, -1).error(), DeadLetterReason::kUndecodable);
  EXPECT_EQ(with(253'402'300'800, 0).error(), DeadLetterReason::kUndecodable);
  EventReader reader;
  auto event = DecodeJson(Line(R"("contact":{"contactDate":"2026-03-01"})"));
  event->mutable_recorded_at()->set_nanos(-5);
  EXPECT_FALSE(reader.DecodeProtobuf(event->SerializeAsString()).has_value());
}

}  // namespace
}  // namespace kpi
