// The generator: same parameters give the same bytes; the stream comes in arrival order; marks
// fall on school days; every kind of record, and every kind of trouble, is in it.
#include "tools/gen/generator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "processor/calendar.h"
#include "processor/validate.h"
#include "tools/gen/school_terms.h"

namespace kpi::gen {
namespace {

std::vector<std::string> Lines(const Params& p, Counts* counts = nullptr) {
  std::vector<std::string> lines;
  const Counts c = Generate(p, [&](std::string_view line) { lines.emplace_back(line); });
  if (counts != nullptr) *counts = c;
  return lines;
}

Params Small(uint32_t children, uint32_t weeks) {
  Params p;
  p.children = children;
  p.weeks = weeks;
  return p;
}

TEST(SchoolTermsTest, HolidaysOfTheYear2025To2026) {
  const Calendar calendar;
  const SchoolTerms terms(calendar);
  const auto school = [&](int y, int m, int d) {
    return terms.IsSchoolDay(Date::FromYmd(y, m, d));
  };
  EXPECT_FALSE(school(2025, 8, 29));  // summer
  EXPECT_FALSE(school(2025, 9, 2));   // before the first weekday from 3 September
  EXPECT_TRUE(school(2025, 9, 3));
  EXPECT_FALSE(school(2025, 9, 6));  // Saturday
  EXPECT_TRUE(school(2025, 10, 24));
  for (int d = 27; d <= 31; ++d) EXPECT_FALSE(school(2025, 10, d)) << d;  // October half term
  EXPECT_TRUE(school(2025, 11, 3));
  EXPECT_TRUE(school(2025, 12, 19));
  EXPECT_FALSE(school(2025, 12, 22));
  EXPECT_FALSE(school(2026, 1, 2));
  EXPECT_TRUE(school(2026, 1, 5));
  for (int d = 16; d <= 20; ++d) EXPECT_FALSE(school(2026, 2, d)) << d;  // February half term
  EXPECT_TRUE(school(2026, 2, 23));
  // Good Friday 2026 is 3 April: Easter runs from Monday 30 March to Friday 10 April.
  EXPECT_TRUE(school(2026, 3, 27));
  EXPECT_FALSE(school(2026, 3, 30));
  EXPECT_FALSE(school(2026, 4, 10));
  EXPECT_TRUE(school(2026, 4, 13));
  // Spring bank holiday 2026 is 25 May: that week is the half term.
  EXPECT_TRUE(school(2026, 5, 22));
  for (int d = 25; d <= 29; ++d) EXPECT_FALSE(school(2026, 5, d)) << d;
  EXPECT_TRUE(school(2026, 6, 1));
  EXPECT_TRUE(school(2026, 7, 21));
  EXPECT_FALSE(school(2026, 7, 22));
  // 2026's October half term: the last Monday of October 2026 is the 26th.
  EXPECT_TRUE(school(2026, 10, 23));
  EXPECT_FALSE(school(2026, 10, 26));
  EXPECT_FALSE(school(2026, 10, 30));
  EXPECT_TRUE(school(2026, 11, 2));
}

TEST(GeneratorTest, SameParametersSameBytesAnotherSeedAnotherStream) {
  const Params p = Small(300, 4);
  Counts a{};
  Counts b{};
  const auto first = Lines(p, &a);
  const auto second = Lines(p, &b);
  EXPECT_EQ(first, second);
  EXPECT_EQ(a.events, first.size());
  EXPECT_EQ(a.marks, b.marks);
  Params q = p;
  q.seed = 2;
  EXPECT_NE(Lines(q), first);
}

TEST(GeneratorTest, EveryKindOfRecordAndOfTroubleIsInTheStream) {
  Counts counts{};
  const auto lines = Lines(Small(2000, 26), &counts);
  std::map<int, size_t> kinds;
  size_t bad = 0;
  size_t deleted = 0;
  size_t marks = 0;
  size_t moves = 0;
  size_t ehe = 0;
  std::map<std::string, std::set<std::string>> profile_dates;  // child -> effective dates
  for (const std::string& line : lines) {
    const auto event = DecodeJson(line);
    if (!event) {
      ++bad;
      continue;
    }
    ++kinds[static_cast<int>(event->body_case())];
    if (event->deleted()) ++deleted;
    if (event->has_attendance() && !event->deleted()) ++marks;
    if (event->has_enrolment() && !event->enrolment().end_date().empty()) {
      (event->enrolment().leave_reason() == events::Enrolment::EHE ? ehe : moves)++;
    }
    if (event->has_profile()) {
      profile_dates[event->child_id()].insert(event->profile().effective_date());
    }
  }
  for (int kind = events::Event::kContact; kind <= events::Event::kVisit; ++kind) {
    EXPECT_GT(kinds[kind], 0u) << "no record of body kind " << kind;
  }
  // Attendance-heavy, as an authority's stream is.
  EXPECT_GT(kinds[events::Event::kAttendance] * 10, lines.size() * 9);
  EXPECT_GE(marks, counts.marks);  // corrections add versions
  EXPECT_GT(moves, 0u);
  EXPECT_GT(ehe, 0u);
  size_t changed_profiles = 0;
  for (const auto& [child, dates] : profile_dates) changed_profiles += dates.size() > 1;
  EXPECT_GT(changed_profiles, 20u);
  EXPECT_GT(deleted, 0u);
  EXPECT_EQ(deleted, counts.deletes);
  EXPECT_GT(counts.stale, 0u);
  // Malformed lines: about the configured share, and only some of them fail to decode (the rest
  // decode and fail validation).
  EXPECT_GT(counts.malformed, lines.size() * 1 / 1000);
  EXPECT_LT(counts.malformed, lines.size() * 4 / 1000);
  EXPECT_GT(bad, 0u);
  EXPECT_LT(bad, counts.malformed);
}

// Lines come in arrival order: a record arrives at most 10 minutes after it is recorded, so a
// recorded_at more than 10 minutes older than one already seen is a stale re-send (or a malformed
// line, which is recorded in the afternoon of its day).
TEST(GeneratorTest, StreamIsInArrivalOrder) {
  Counts counts{};
  const auto lines = Lines(Small(1000, 12), &counts);
  int64_t latest = 0;
  uint64_t late = 0;
  for (const std::string& line : lines) {
    const auto event = DecodeJson(line);
    if (!event || event->event_id() == "BAD") continue;
    const int64_t at = event->recorded_at().seconds();
    if (at + 600 < latest) ++late;
    latest = std::max(latest, at);
  }
  EXPECT_LE(late, counts.stale);
  EXPECT_GT(latest, 0);
}

TEST(GeneratorTest, MarksFallOnSchoolDaysOfThePeriodOnly) {
  Params p = Small(600, 20);
  p.start = Date::FromYmd(2026, 6, 1);  // across the summer holiday
  const Calendar calendar;
  const SchoolTerms terms(calendar);
  std::set<Date> days;
  for (const std::string& line : Lines(p)) {
    const auto event = DecodeJson(line);
    if (!event || !event->has_attendance() || event->event_id() == "BAD") continue;
    const Date d = *Date::Parse(event->attendance().date());
    EXPECT_TRUE(terms.IsSchoolDay(d)) << d.ToString();
    EXPECT_GE(d, p.start);
    EXPECT_LE(d, PeriodEnd(p));
    days.insert(d);
  }
  EXPECT_EQ(days.count(Date::FromYmd(2026, 8, 3)), 0u);
  EXPECT_EQ(days.count(Date::FromYmd(2026, 7, 21)), 1u);
  EXPECT_EQ(days.count(Date::FromYmd(2026, 9, 3)), 1u);
}

TEST(GeneratorTest, WithoutAttendanceThereAreNoMarks) {
  Params p = Small(500, 8);
  p.attendance = false;
  Counts counts{};
  for (const std::string& line : Lines(p, &counts)) {
    const auto event = DecodeJson(line);
    if (event && event->event_id() != "BAD") {
      EXPECT_FALSE(event->has_attendance());
    }
  }
  EXPECT_EQ(counts.marks, 0u);
}

// Without Part II the stream is the one earlier releases generated: the same Part I lines, in the
// same order, and nothing of KPIS-2.md (so Part I tables can be compared across releases).
TEST(GeneratorTest, WithoutPartTwoTheStreamIsThePartOneStream) {
  Params p = Small(500, 8);
  p.part2 = false;
  const auto without = Lines(p);
  p.part2 = true;
  const auto with = Lines(p);
  EXPECT_GT(with.size(), without.size());
  for (const std::string& line : without) {
    const auto event = DecodeJson(line);
    if (!event) continue;
    EXPECT_LT(static_cast<int>(event->body_case()), static_cast<int>(events::Event::kEhcRequest))
        << line;
    if (event->has_profile()) {
      EXPECT_TRUE(event->profile().ethnicity().empty() &&
                  event->profile().gender() == events::ChildProfile::GENDER_NOT_GIVEN);
    }
    if (event->has_assessment()) {
      EXPECT_TRUE(event->assessment().referral_id().empty());
    }
  }
}

// Part III (KPIS-3.md): referrals ending in no further action, some corrected by a later version;
// children referred again around 12 months later (from 29 February 2024 among them) or twice on a
// day. Without it, none of that.
TEST(GeneratorTest, PartThreeRecordsExerciseReReferralsAndNoFurtherAction) {
  Params p = Small(3000, 26);
  const auto with = Lines(p);
  p.part3 = false;
  const auto without = Lines(p);
  const auto count = [](const std::vector<std::string>& lines, const std::string& what) {
    return std::count_if(lines.begin(), lines.end(),
                         [&](const std::string& l) { return l.find(what) != std::string::npos; });
  };
  EXPECT_EQ(count(without, "\"nfa\""), 0);
  EXPECT_EQ(count(without, "-RR"), 0);
  EXPECT_GT(count(with, "\"nfa\":true"), 50);
  EXPECT_GT(count(with, "-RR2"), 50);
  EXPECT_GT(count(with, "\"referralDate\":\"2024-02-29\""), 0);
  // A referral corrected: one id with versions that differ in nfa; and same-day pairs.
  std::map<std::string, std::set<bool>> nfa_by_id;
  std::map<std::string, std::string> rr1;
  size_t same_day = 0;
  for (const std::string& line : with) {
    const auto event = DecodeJson(line);
    if (!event || !event->has_referral() || event->deleted()) continue;
    nfa_by_id[event->event_id()].insert(event->referral().nfa());
    const std::string& id = event->event_id();
    const std::string date = line.substr(line.find("referralDate") + 15, 10);
    if (id.ends_with("-RR1")) rr1[id.substr(0, id.size() - 4)] = date;
    if (id.ends_with("-RR2") && rr1[id.substr(0, id.size() - 4)] == date) ++same_day;
  }
  EXPECT_GT(std::count_if(nfa_by_id.begin(), nfa_by_id.end(),
                          [](const auto& e) { return e.second.size() == 2; }),
            5);
  EXPECT_GT(same_day, 5u);
}

// Register codes: the afternoon's present mark is '\\' (escaped in JSON), the morning's '/', and
// the other codes come in their shares; everything but the marks' codes is the stream of legacy
// marks, line for line.
TEST(GeneratorTest, RegisterCodesChangeOnlyTheMarksCodes) {
  Params p = Small(300, 6);
  p.register_codes = false;
  const auto legacy = Lines(p);
  p.register_codes = true;
  const auto real = Lines(p);
  ASSERT_EQ(real.size(), legacy.size());
  const auto without_code = [](std::string line) {
    const size_t at = line.find("\"code\":\"");
    if (at != std::string::npos) line.erase(at, line.find('"', line.find(':', at) + 2) - at);
    return line;
  };
  std::map<std::string, int> codes;
  for (size_t i = 0; i < real.size(); ++i) {
    ASSERT_EQ(without_code(real[i]), without_code(legacy[i])) << i;
    EXPECT_EQ(legacy[i].find(R"("code":"\\")"), std::string::npos) << legacy[i];
    const auto event = DecodeJson(real[i]);
    if (!event || !event->has_attendance() || event->attendance().code().empty()) continue;
    const events::AttendanceMark& a = event->attendance();
    ++codes[a.code()];
    if (a.code() == "/") {
      EXPECT_EQ(a.session(), events::AttendanceMark::AM) << real[i];
    }
    if (a.code() == "\\") {
      EXPECT_EQ(a.session(), events::AttendanceMark::PM) << real[i];
    }
  }
  EXPECT_GT(codes["\\"], 1000);
  EXPECT_GT(codes["/"], 1000);
  for (const char* code : {"I", "M", "C", "O", "G", "N", "U", "L", "B", "V", "P", "W", "X", "-"}) {
    EXPECT_GT(codes[code], 0) << "no mark " << code;
  }
  EXPECT_GT(codes["I"], codes["M"]) << "illness is the commonest absence";
}

}  // namespace
}  // namespace kpi::gen
