#include "processor/record.h"

#include <gtest/gtest.h>

#include <set>

#include "processor/coding.h"

namespace kpi {
namespace {

Date D(int y, int m, int d) { return Date::FromYmd(y, m, d); }

Record Make(Body body, bool deleted = false) {
  Record r;
  r.deleted = deleted;
  r.recorded_at = {1772446500, 123456789};
  r.body = std::move(body);
  return r;
}

// One record of every kind, with every field set away from its default.
std::vector<Record> EveryKind() {
  return {
      Make(body::Contact{D(2026, 1, 5)}),
      Make(body::Referral{D(2026, 1, 6), true}),
      Make(body::Assessment{D(2026, 1, 7), D(2026, 2, 1), D(2026, 2, 3), "R-1"}),
      Make(body::S47{D(2026, 1, 8), D(2026, 1, 6), D(2026, 3, 1), true}),
      Make(body::Icpc{D(2026, 1, 20), std::string("S47\0-1", 6), IcpcOutcome::kLookedAfter}),
      Make(body::CinPlan{D(2026, 1, 9), std::nullopt, true}),
      Make(body::CpPlan{D(2026, 1, 10), D(2028, 1, 10), AbuseCategory::kMultiple, 300}),
      Make(body::LookedAfter{D(2026, 1, 11), D(2026, 1, 12), true}),
      Make(body::Attendance{"100001", D(2026, 1, 12), Session::kPm,
                            AttendanceClass::kUnauthorisedAbsence}),
      Make(body::Exclusion{"100002", D(2026, 1, 13), ExclusionKind::kPermanent, 4}),
      Make(body::Enrolment{"100003", D(2026, 1, 14), D(2026, 7, 20), LeaveReason::kEhe}),
      Make(body::Profile{D(2026, 1, 15), D(2012, 12, 31), SenStatus::kEhcp, "100004",
                         Gender::kIndeterminate, 20}),
      Make(body::EhcRequest{D(2026, 1, 16), EhcSource::kOther, D(2026, 2, 1),
                            EhcDecision::kNotAssess, D(2026, 2, 2), EhcOutcome::kWithdrawn, true,
                            true}),
      Make(body::EhcRequest{D(2026, 1, 16), EhcSource::kNotGiven, std::nullopt,
                            EhcDecision::kNotGiven, std::nullopt, EhcOutcome::kNotGiven, false,
                            true}),
      Make(body::EhcAdvice{AdviceType::kOther, D(2026, 1, 17), D(2026, 1, 30)}),
      Make(body::EhcPlan{D(2026, 1, 18), D(2027, 1, 18)}),
      Make(body::EhcReview{D(2026, 1, 19), D(2026, 2, 19)}),
      Make(body::Review{D(2026, 1, 20), ReviewType::kCla}),
      Make(body::Visit{D(2026, 1, 21), true}),
      Make(body::CinPlan{}, /*deleted=*/true),
      Make(body::Contact{D(1990, 1, 1)}),
  };
}

TEST(RecordTest, KindIsTheBodysIndex) {
  for (int k = 1; k <= kKindCount; ++k) {
    const Record r{false, {}, EmptyBody(static_cast<Kind>(k))};
    EXPECT_EQ(r.kind(), static_cast<Kind>(k));
  }
  EXPECT_EQ(Make(body::Profile{}).kind(), Kind::kProfile);
  EXPECT_EQ(KindName(Kind::kLookedAfter), "looked_after");
}

TEST(RecordCodecTest, RoundTripsEveryKindAndField) {
  for (const Record& r : EveryKind()) {
    const std::string bytes = EncodeRecord(r);
    const std::optional<Record> back = DecodeRecord(bytes);
    ASSERT_TRUE(back) << KindName(r.kind());
    EXPECT_EQ(back->kind(), r.kind());
    EXPECT_EQ(back->deleted, r.deleted);
    EXPECT_EQ(back->recorded_at, r.recorded_at);
    EXPECT_EQ(EncodeRecord(*back), bytes) << KindName(r.kind());
  }
  const Record icpc = DecodeRecord(EncodeRecord(EveryKind()[4])).value();
  EXPECT_EQ(icpc.as<body::Icpc>().s47_id, std::string("S47\0-1", 6));
  EXPECT_EQ(icpc.as<body::Icpc>().outcome, IcpcOutcome::kLookedAfter);
  const Record plan = DecodeRecord(EncodeRecord(EveryKind()[6])).value();
  EXPECT_EQ(plan.as<body::CpPlan>().end_date, D(2028, 1, 10));
  EXPECT_EQ(plan.as<body::CpPlan>().previous_plans, 300u);
  const Record cin = DecodeRecord(EncodeRecord(EveryKind()[5])).value();
  EXPECT_EQ(cin.as<body::CinPlan>().end_date, std::nullopt);
  EXPECT_TRUE(cin.as<body::CinPlan>().draft);
}

TEST(RecordCodecTest, StartsWithTheFormatByteAndIsCompact) {
  const std::string bytes = EncodeRecord(EveryKind()[0]);
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), coding::kFormat);
  EXPECT_LE(bytes.size(), 16u);  // format, kind, deleted, seconds, nanos, one date
}

TEST(RecordCodecTest, RejectsTruncatedLongerOrForeignBytes) {
  for (const Record& r : EveryKind()) {
    const std::string bytes = EncodeRecord(r);
    for (size_t n = 0; n < bytes.size(); ++n) {
      EXPECT_FALSE(DecodeRecord(bytes.substr(0, n))) << KindName(r.kind()) << " " << n;
    }
    EXPECT_FALSE(DecodeRecord(bytes + "x")) << KindName(r.kind());
  }
  EXPECT_FALSE(DecodeRecord("not a record at all, just some bytes"));
  std::string bytes = EncodeRecord(EveryKind()[0]);
  bytes[0] = 1;  // format 1
  EXPECT_FALSE(DecodeRecord(bytes));
  bytes = EncodeRecord(EveryKind()[0]);
  bytes[1] = kKindCount + 1;  // no such kind
  EXPECT_FALSE(DecodeRecord(bytes));
  bytes = EncodeRecord(EveryKind()[1]);
  bytes.back() = 2;  // a flag is 0 or 1
  EXPECT_FALSE(DecodeRecord(bytes));
  // An enum past its last value: validation never passes one, so it is corruption.
  Record review = Make(body::Review{D(2026, 1, 20), ReviewType::kCla});
  bytes = EncodeRecord(review);
  bytes.back() = static_cast<char>(ReviewType::kCla) + 1;
  EXPECT_FALSE(DecodeRecord(bytes));
}

TEST(RecordCodecTest, TheTestRecordsCoverEveryKind) {
  std::set<Kind> kinds;
  for (const Record& r : EveryKind()) kinds.insert(r.kind());
  EXPECT_EQ(kinds.size(), static_cast<size_t>(kKindCount));
}

}  // namespace
}  // namespace kpi
