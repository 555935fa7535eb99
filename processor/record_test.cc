#include "processor/record.h"

#include <gtest/gtest.h>

namespace kpi {
namespace {

TEST(RecordCodecTest, RoundTripsEveryField) {
  Record r;
  r.kind = Kind::kEnrolment;
  r.deleted = true;
  r.recorded_at = {1772446500, 123};
  r.a = Date::FromYmd(2026, 1, 5);
  r.c = Date::FromYmd(2026, 3, 9);
  r.n = 7;
  r.e = 2;
  r.cls = AttendanceClass::kUnauthorisedAbsence;
  r.flag = true;
  r.urn = "100001";
  r.text = std::string("S47\0-1", 6);
  const std::optional<Record> back = DecodeRecord(EncodeRecord(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, r.kind);
  EXPECT_EQ(back->deleted, r.deleted);
  EXPECT_EQ(back->recorded_at, r.recorded_at);
  EXPECT_EQ(back->a, r.a);
  EXPECT_EQ(back->b, std::nullopt);
  EXPECT_EQ(back->c, r.c);
  EXPECT_EQ(back->n, r.n);
  EXPECT_EQ(back->e, r.e);
  EXPECT_EQ(back->cls, r.cls);
  EXPECT_EQ(back->flag, r.flag);
  EXPECT_EQ(back->urn, r.urn);
  EXPECT_EQ(back->text, r.text);
}

TEST(RecordCodecTest, RejectsTruncatedOrForeignBytes) {
  Record r;
  r.a = Date::FromYmd(2026, 1, 5);
  const std::string bytes = EncodeRecord(r);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeRecord(bytes.substr(0, n))) << n;
  }
  EXPECT_FALSE(DecodeRecord(bytes + "x"));
  EXPECT_FALSE(DecodeRecord("not a record at all, just some bytes"));
}

}  // namespace
}  // namespace kpi
