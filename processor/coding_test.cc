#include "processor/coding.h"

#include <gtest/gtest.h>

#include <climits>

#include "processor/keys.h"
#include "processor/values.h"

namespace kpi {
namespace {

TEST(CodingTest, FixedWidthIsLittleEndianWhateverTheHost) {
  std::string out;
  coding::ByteWriter w(out);
  w.Fixed32(0x01020304);
  w.Fixed64(0x0102030405060708);
  EXPECT_EQ(out, std::string("\x04\x04\x03\x02\x01\x08\x07\x06\x05\x04\x03\x02\x01", 13));
  auto in = coding::ByteReader::Open(out);
  ASSERT_TRUE(in);
  uint32_t a = 0;
  uint64_t b = 0;
  EXPECT_TRUE(in->Fixed32(a) && in->Fixed64(b) && in->done());
  EXPECT_EQ(a, 0x01020304u);
  EXPECT_EQ(b, 0x0102030405060708u);
}

TEST(CodingTest, VarintsAndZigZagRoundTripAtTheLimits) {
  for (const int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, int64_t{63}, int64_t{-64},
                          int64_t{INT32_MIN}, int64_t{INT32_MAX}, INT64_MIN, INT64_MAX}) {
    std::string out;
    coding::ByteWriter w(out);
    w.Signed(v);
    w.Varint(static_cast<uint64_t>(v));
    auto in = coding::ByteReader::Open(out);
    int64_t s = 0;
    uint64_t u = 0;
    ASSERT_TRUE(in && in->Signed(s) && in->Varint(u) && in->done()) << v;
    EXPECT_EQ(s, v);
    EXPECT_EQ(u, static_cast<uint64_t>(v));
  }
  std::string small;
  coding::ByteWriter(small).Signed(-1);
  EXPECT_EQ(small, std::string("\x04\x01", 2));  // zigzag: -1 is 1, one byte
}

TEST(CodingTest, MalformedVarintsAreRejected) {
  uint64_t v = 0;
  // Runs out.
  EXPECT_FALSE(coding::ByteReader::Open(std::string("\x04\x80", 2))->Varint(v));
  // Eleven bytes: more than 64 bits.
  EXPECT_FALSE(
      coding::ByteReader::Open(std::string("\x04") + std::string(10, '\xff') + "\x01")->Varint(v));
  // Not the shortest form: 0 written in two bytes.
  EXPECT_FALSE(coding::ByteReader::Open(std::string("\x04\x80\x00", 3))->Varint(v));
  uint32_t narrow = 0;
  std::string wide;
  coding::ByteWriter(wide).Varint(uint64_t{1} << 32);
  EXPECT_FALSE(coding::ByteReader::Open(wide)->Varint32(narrow));
}

TEST(CodingTest, AValueOfAnotherFormatDoesNotOpen) {
  EXPECT_FALSE(coding::ByteReader::Open(""));
  EXPECT_FALSE(coding::ByteReader::Open(std::string("\x01\x00", 2)));
  EXPECT_FALSE(coding::ByteReader::Open(std::string("\x02\x00", 2)));  // format 2: another release
  EXPECT_FALSE(coding::ByteReader::Open(std::string("\x03\x00", 2)));  // format 3: before Part II
  EXPECT_TRUE(coding::ByteReader::Open(std::string("\x04", 1)));
}

TEST(CodingTest, BytesAndOptionalDays) {
  std::string out;
  coding::ByteWriter w(out);
  w.Bytes(std::string("a\0b", 3));
  w.OptionalDay(std::nullopt);
  w.OptionalDay(Date(-5));
  w.Day(Date::FromYmd(2026, 3, 9));
  auto in = coding::ByteReader::Open(out);
  std::string s;
  std::optional<Date> none = Date(1);
  std::optional<Date> some;
  Date day;
  ASSERT_TRUE(in->Bytes(s) && in->OptionalDay(none) && in->OptionalDay(some) && in->Day(day) &&
              in->done());
  EXPECT_EQ(s, std::string("a\0b", 3));
  EXPECT_EQ(none, std::nullopt);
  EXPECT_EQ(some, Date(-5));
  EXPECT_EQ(day, Date::FromYmd(2026, 3, 9));
  // A length past the end.
  EXPECT_FALSE(coding::ByteReader::Open(std::string("\x04\x05"
                                                    "ab",
                                                    4))
                   ->Bytes(s));
}

// Every stored value: a round trip re-encodes to the same bytes, and every strict prefix or
// longer value is rejected (never read as a default).
template <typename T, typename Decode>
void ExpectStrict(const std::string& bytes, const T& value, Decode decode) {
  const auto back = decode(bytes);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, value);
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(decode(bytes.substr(0, n))) << n;
  EXPECT_FALSE(decode(bytes + '\0'));
}

TEST(ValuesTest, EveryStoredValueRoundTripsAndRejectsTruncation) {
  const StoredMark mark{{1772446500, 999'999'999}, AttendanceClass::kApprovedActivity, true};
  ExpectStrict(EncodeMark(mark), mark, DecodeMark);
  const Date w = Date::FromYmd(2021, 9, 6);
  const std::vector<WeekRefs> weeks = {{w, 1}, {w + 7, 300}, {w + 7 * 200, 2}};
  ExpectStrict(EncodeDistinctRefs(weeks), weeks, DecodeDistinctRefs);
  const std::vector<AbsenceEntry> entries = {
      {Date::FromYmd(2025, 9, 1), 7, SenStatus::kEhcp, 3},
      {Date::FromYmd(2025, 9, 8), 0, SenStatus::kNotGiven, 1}};
  ExpectStrict(EncodeAbsenceEntries(entries), entries, DecodeAbsenceEntries);
  const std::string summary(kSummaryDays, '\x15');
  ExpectStrict(EncodeDaySummary(summary), summary, DecodeDaySummary);
  std::string term(kSummaryDays, '\0');  // weekdays marked for three weeks, then nothing
  for (int d = 7; d < 28; ++d) term[d] = d % 7 < 5 ? '\x15' : '\0';
  ExpectStrict(EncodeDaySummary(term), term, DecodeDaySummary);
  EXPECT_LT(EncodeDaySummary(term).size(), 30u);
  const StoredCell cell{-3, 1LL << 40, 17};
  ExpectStrict(EncodeCell(cell), cell, DecodeCell);
  ExpectStrict(EncodeAsOf(Date::FromYmd(2026, 3, 1)), Date::FromYmd(2026, 3, 1), DecodeAsOf);
  ExpectStrict(EncodeOffset(-2), int64_t{-2}, DecodeOffset);
  ExpectStrict(EncodeOffset(1234567890123), int64_t{1234567890123}, DecodeOffset);
}

TEST(ValuesTest, ValuesThatCannotBeStoredAreCorruption) {
  // A zero count is left out and an empty list deleted: neither is ever stored.
  EXPECT_FALSE(DecodeDistinctRefs(EncodeDistinctRefs({{Date::FromYmd(2025, 9, 1), 0}})));
  EXPECT_FALSE(DecodeDistinctRefs(EncodeDistinctRefs({})));
  // Weeks out of order, or repeated.
  const Date monday = Date::FromYmd(2025, 9, 1);
  std::string repeated = EncodeDistinctRefs({{monday, 1}, {monday + 7, 1}});
  repeated[repeated.size() - 2] = 0;  // the gap to the second week: 0 days
  EXPECT_FALSE(DecodeDistinctRefs(repeated));
  std::string mark = EncodeMark({});
  mark[1] = 0x7f;  // no such code class
  EXPECT_FALSE(DecodeMark(mark));
  // Absence rows out of week order, or with an unknown flag.
  const Date w = Date::FromYmd(2025, 9, 1);
  EXPECT_FALSE(DecodeAbsenceEntries(
      EncodeAbsenceEntries({{w + 7, 0, SenStatus::kNone, 1}, {w, 0, SenStatus::kNone, 1}})));
  EXPECT_FALSE(DecodeAbsenceEntries(EncodeAbsenceEntries({{w, 0, SenStatus::kNone, 8}})));
  // The unversioned values of format 1.
  EXPECT_FALSE(DecodeDistinctRefs(std::string("\x07\x00\x00\x00", 4)));
  EXPECT_FALSE(DecodeCell(std::string(24, '\0')));
  EXPECT_FALSE(DecodeDaySummary(std::string(kSummaryDays, '\0')));
  // Day summaries: only the encoder's runs. Two literal runs back to back (a zero run of 0 days
  // after the first), a zero inside a literal run, an empty run before the end, too many days.
  const auto runs = [](std::initializer_list<std::pair<int, std::string>> parts) {
    std::string out;
    coding::ByteWriter w(out);
    for (const auto& [zeros, literal] : parts) {
      w.Varint(static_cast<uint64_t>(zeros));
      w.Bytes(literal);
    }
    return out;
  };
  EXPECT_TRUE(DecodeDaySummary(runs({{0, "\x01"}, {379, ""}})));
  EXPECT_FALSE(DecodeDaySummary(runs({{0, "\x01"}, {0, "\x01"}, {378, ""}})));
  EXPECT_FALSE(DecodeDaySummary(runs({{0, std::string("\x01\0", 2)}, {378, ""}})));
  EXPECT_FALSE(DecodeDaySummary(runs({{5, ""}, {375, ""}})));
  EXPECT_FALSE(DecodeDaySummary(runs({{381, ""}})));
  EXPECT_FALSE(DecodeDaySummary(runs({{379, ""}})));
  // The format of a stored as_of: format 1 had 4 bytes and no format byte.
  EXPECT_EQ(AsOfFormat(std::string(4, '\0')), 1);
  EXPECT_EQ(AsOfFormat(std::string("\x02\0\0\0\0", 5)), 2);
  EXPECT_EQ(AsOfFormat(EncodeAsOf(Date::FromYmd(2026, 3, 1))), coding::kFormat);
}

}  // namespace
}  // namespace kpi

namespace kpi::keys {
namespace {

// Readers of stored keys (tests/fuzz/fuzz_keys.cc found both of these).
TEST(KeysTest, ADateOutsideYears1To9999InAKeyIsCorrupt) {
  const Date week = Date::FromYmd(2026, 3, 2);
  const std::string key = CellKey(3, Kpi::kContacts, week, "all");
  const auto parts = ParseCellKey(key);
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->week, week);
  EXPECT_EQ(parts->dim, "all");
  std::string far = key;
  far[4] = static_cast<char>(0xff);  // the week's top byte: days near INT32_MAX
  EXPECT_FALSE(ParseCellKey(far).has_value());
  std::string_view in = "\xff\xff\xff\xff";
  EXPECT_FALSE(ReadDate(in).has_value());
  std::string ok;
  AppendDate(ok, week);
  in = ok;
  EXPECT_EQ(ReadDate(in), week);
}

TEST(KeysTest, ALengthPrefixHasOneSpelling) {
  std::string key;
  AppendLengthPrefixed(key, "abc");
  std::string_view in = key;
  EXPECT_EQ(ReadLengthPrefixed(in), std::optional<std::string_view>("abc"));
  in = std::string_view(
      "\x83\x00"
      "abc",
      5);  // 3, spelled in two bytes
  EXPECT_FALSE(ReadLengthPrefixed(in).has_value());
  in = std::string_view("\x80\x00", 2);  // 0, spelled in two bytes
  EXPECT_FALSE(ReadLengthPrefixed(in).has_value());
  in = std::string_view("\x00", 1);  // 0, the shortest form
  EXPECT_EQ(ReadLengthPrefixed(in), std::optional<std::string_view>(""));
}

}  // namespace
}  // namespace kpi::keys
