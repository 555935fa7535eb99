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

const char* kHead = R"({"eventId":"E1","childId":"C42","recordedAt":"2026-03-02T10:15:00Z",)";

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

}  // namespace
}  // namespace kpi
