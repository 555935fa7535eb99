#include "processor/calendar.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace kpi {
namespace {

Date D(const char* s) { return *Date::Parse(s); }

std::vector<std::string> Strings(const std::vector<Date>& dates) {
  std::vector<std::string> out;
  for (const Date d : dates) out.push_back(d.ToString());
  return out;
}

// The published England and Wales bank holidays (gov.uk), 2019-2027.
const std::map<int, std::vector<std::string>>& Published() {
  static const std::map<int, std::vector<std::string>> kPublished = {
      {2019,
       {"2019-01-01", "2019-04-19", "2019-04-22", "2019-05-06", "2019-05-27", "2019-08-26",
        "2019-12-25", "2019-12-26"}},
      {2020,
       {"2020-01-01", "2020-04-10", "2020-04-13", "2020-05-08", "2020-05-25", "2020-08-31",
        "2020-12-25", "2020-12-28"}},
      {2021,
       {"2021-01-01", "2021-04-02", "2021-04-05", "2021-05-03", "2021-05-31", "2021-08-30",
        "2021-12-27", "2021-12-28"}},
      {2022,
       {"2022-01-03", "2022-04-15", "2022-04-18", "2022-05-02", "2022-06-02", "2022-06-03",
        "2022-08-29", "2022-09-19", "2022-12-26", "2022-12-27"}},
      {2023,
       {"2023-01-02", "2023-04-07", "2023-04-10", "2023-05-01", "2023-05-08", "2023-05-29",
        "2023-08-28", "2023-12-25", "2023-12-26"}},
      {2024,
       {"2024-01-01", "2024-03-29", "2024-04-01", "2024-05-06", "2024-05-27", "2024-08-26",
        "2024-12-25", "2024-12-26"}},
      {2025,
       {"2025-01-01", "2025-04-18", "2025-04-21", "2025-05-05", "2025-05-26", "2025-08-25",
        "2025-12-25", "2025-12-26"}},
      {2026,
       {"2026-01-01", "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31",
        "2026-12-25", "2026-12-28"}},
      {2027,
       {"2027-01-01", "2027-03-26", "2027-03-29", "2027-05-03", "2027-05-31", "2027-08-30",
        "2027-12-27", "2027-12-28"}},
  };
  return kPublished;
}

TEST(CalendarTest, BankHolidaysMatchThePublishedDates2019To2027) {
  for (const auto& [year, dates] : Published()) {
    EXPECT_EQ(Strings(Calendar::BankHolidays(year)), dates) << year;
  }
}

TEST(CalendarTest, BankHolidaysAreNotWorkingDays) {
  const Calendar cal;
  for (const auto& [year, dates] : Published()) {
    for (const std::string& d : dates) EXPECT_FALSE(cal.IsWorkingDay(D(d.c_str()))) << d;
  }
}

TEST(CalendarTest, GoodFridayIsNotAWorkingDay) {
  const Calendar cal;
  EXPECT_FALSE(cal.IsWorkingDay(D("2026-04-03")));
  EXPECT_TRUE(cal.IsWorkingDay(D("2026-04-02")));
  EXPECT_TRUE(cal.IsWorkingDay(D("2026-04-07")));
}

TEST(CalendarTest, WeekendsAreNotWorkingDays) {
  const Calendar cal;
  EXPECT_FALSE(cal.IsWorkingDay(D("2026-03-07")));  // Saturday
  EXPECT_FALSE(cal.IsWorkingDay(D("2026-03-08")));  // Sunday
  EXPECT_TRUE(cal.IsWorkingDay(D("2026-03-09")));   // Monday
}

TEST(CalendarTest, WorkingDaysCountsTheDaysAfterTheStartUpToTheEnd) {
  const Calendar cal;
  EXPECT_EQ(cal.WorkingDays(D("2026-03-09"), D("2026-03-09")), 0);  // same day: day 0
  EXPECT_EQ(cal.WorkingDays(D("2026-03-09"), D("2026-03-10")), 1);
  EXPECT_EQ(cal.WorkingDays(D("2026-03-09"), D("2026-03-13")), 4);
  EXPECT_EQ(cal.WorkingDays(D("2026-03-09"), D("2026-03-15")), 4);
  EXPECT_EQ(cal.WorkingDays(D("2026-03-13"), D("2026-03-16")), 1);  // Friday to Monday
  EXPECT_EQ(cal.WorkingDays(D("2026-03-07"), D("2026-03-08")), 0);  // a weekend
  EXPECT_EQ(cal.WorkingDays(D("2026-03-07"), D("2026-03-09")), 1);  // Saturday start
}

TEST(CalendarTest, WorkingDaysIsNetworkdaysLessOneWhenTheStartIsAWorkingDay) {
  const Calendar cal;
  for (Date a = D("2026-03-02"); a <= D("2026-04-12"); a = a + 1) {
    for (Date b = a; b <= a + 30; b = b + 1) {
      int networkdays = 0;
      for (Date d = a; d <= b; d = d + 1) networkdays += cal.IsWorkingDay(d) ? 1 : 0;
      EXPECT_EQ(cal.WorkingDays(a, b), networkdays - (cal.IsWorkingDay(a) ? 1 : 0))
          << a.ToString() << " " << b.ToString();
    }
  }
}

TEST(CalendarTest, WorkingDaysIsZeroWhenEndBeforeStart) {
  const Calendar cal;
  EXPECT_EQ(cal.WorkingDays(D("2026-03-13"), D("2026-03-09")), 0);
}

TEST(CalendarTest, WorkingDaysAcrossEaster) {
  const Calendar cal;
  // After Mon 30 Mar up to Fri 10 Apr 2026: 9 weekdays less Good Friday and Easter Monday.
  EXPECT_EQ(cal.WorkingDays(D("2026-03-30"), D("2026-04-10")), 7);
}

TEST(CalendarTest, WorkingDaysAcrossChristmasSubstitutes) {
  const Calendar cal;
  // 2026: Christmas on a Friday, Boxing Day substitute Monday 28; then New Year's Day.
  EXPECT_EQ(cal.WorkingDays(D("2026-12-21"), D("2027-01-01")), 6);  // 9 weekdays, 3 holidays
  // 2021: Christmas on a Saturday: Monday 27 and Tuesday 28 off.
  EXPECT_EQ(cal.WorkingDays(D("2021-12-24"), D("2021-12-31")), 3);
  // 2022: Christmas on a Sunday: Monday 26 and Tuesday 27 off.
  EXPECT_EQ(cal.WorkingDays(D("2022-12-23"), D("2022-12-30")), 3);
}

TEST(CalendarTest, WorkingDaysAcrossOneOffs) {
  const Calendar cal;
  // Week of 30 May 2022: spring bank holiday moved to Thu 2 Jun, plus Fri 3 Jun; Mon 30 May works.
  EXPECT_EQ(cal.WorkingDays(D("2022-05-27"), D("2022-06-03")), 3);
  EXPECT_TRUE(cal.IsWorkingDay(D("2022-05-30")));
  // The state funeral, Mon 19 Sep 2022.
  EXPECT_EQ(cal.WorkingDays(D("2022-09-16"), D("2022-09-23")), 4);
  // 2020: early May moved to Friday 8 May; Monday 4 May was a working day.
  EXPECT_TRUE(cal.IsWorkingDay(D("2020-05-04")));
  EXPECT_EQ(cal.WorkingDays(D("2020-05-01"), D("2020-05-08")), 4);
  // 2023: the coronation, Monday 8 May, as well as Monday 1 May.
  EXPECT_EQ(cal.WorkingDays(D("2023-04-28"), D("2023-05-12")), 8);
  // 2012: the Diamond Jubilee, Mon 4 and Tue 5 Jun; the last Monday of May worked.
  EXPECT_TRUE(cal.IsWorkingDay(D("2012-05-28")));
  EXPECT_EQ(cal.WorkingDays(D("2012-06-01"), D("2012-06-08")), 3);
}

TEST(CalendarTest, OneOffChangesSince1990) {
  // 1995: early May moved to Mon 8 May (VE Day's 50th anniversary).
  EXPECT_EQ(Strings(Calendar::BankHolidays(1995)),
            (std::vector<std::string>{"1995-01-02", "1995-04-14", "1995-04-17", "1995-05-08",
                                      "1995-05-29", "1995-08-28", "1995-12-25", "1995-12-26"}));
  // 1999: plus Fri 31 Dec (the millennium).
  EXPECT_EQ(Strings(Calendar::BankHolidays(1999)),
            (std::vector<std::string>{"1999-01-01", "1999-04-02", "1999-04-05", "1999-05-03",
                                      "1999-05-31", "1999-08-30", "1999-12-27", "1999-12-28",
                                      "1999-12-31"}));
  // 2002: spring moved to Tue 4 Jun, plus Mon 3 Jun (the Golden Jubilee).
  EXPECT_EQ(Strings(Calendar::BankHolidays(2002)),
            (std::vector<std::string>{"2002-01-01", "2002-03-29", "2002-04-01", "2002-05-06",
                                      "2002-06-03", "2002-06-04", "2002-08-26", "2002-12-25",
                                      "2002-12-26"}));
  // 2011: plus Fri 29 Apr (a royal wedding).
  EXPECT_EQ(Strings(Calendar::BankHolidays(2011)),
            (std::vector<std::string>{"2011-01-03", "2011-04-22", "2011-04-25", "2011-04-29",
                                      "2011-05-02", "2011-05-30", "2011-08-29", "2011-12-26",
                                      "2011-12-27"}));
}

TEST(CalendarTest, AnOfficialListReplacesTheRulesForTheYearsItCovers) {
  // A future one-off: 2030 with an extra holiday on Friday 7 June and no August bank holiday.
  std::vector<Date> official;
  for (const Date d : Calendar::BankHolidays(2030)) {
    if (d != D("2030-08-26")) official.push_back(d);
  }
  official.push_back(D("2030-06-07"));
  const Calendar cal({}, official);
  EXPECT_FALSE(cal.IsWorkingDay(D("2030-06-07")));
  EXPECT_TRUE(cal.IsWorkingDay(D("2030-08-26")));
  EXPECT_EQ(cal.WorkingDays(D("2030-06-03"), D("2030-06-07")), 3);
  EXPECT_EQ(cal.HolidaysOf(2030).size(), Calendar::BankHolidays(2030).size());
  // Other years keep the rules: 2031's August bank holiday is the last Monday.
  EXPECT_FALSE(cal.IsWorkingDay(D("2031-08-25")));
  EXPECT_EQ(cal.HolidaysOf(2031), Calendar::BankHolidays(2031));
}

TEST(CalendarTest, ExtraClosureDatesAreNotWorkingDays) {
  const Calendar cal({D("2026-03-11")});
  EXPECT_FALSE(cal.IsWorkingDay(D("2026-03-11")));
  EXPECT_EQ(cal.WorkingDays(D("2026-03-09"), D("2026-03-13")), 3);
  EXPECT_EQ(Calendar().WorkingDays(D("2026-03-09"), D("2026-03-13")), 4);
}

TEST(CalendarTest, TheFortyFifthWorkingDayAfterAMondayIsTheMondayNineWeeksOn) {
  const Calendar cal;
  // Mon 12 Jan 2026 is day 0; Mon 16 Mar is the 45th working day after it, Tue 17 Mar the 46th.
  EXPECT_EQ(cal.WorkingDays(D("2026-01-12"), D("2026-03-16")), 45);
  EXPECT_EQ(cal.WorkingDays(D("2026-01-12"), D("2026-03-17")), 46);
}

TEST(CalendarTest, DatesOutsideTheTableAreCountedDayByDay) {
  const Calendar cal;
  // 2201: 21 Dec is a Monday and Christmas a Friday, so Boxing Day moves to Monday 28.
  // 22-31 Dec holds 8 weekdays, less 25 and 28 Dec.
  EXPECT_EQ(cal.WorkingDays(D("2201-12-21"), D("2201-12-31")), 6);
  EXPECT_FALSE(cal.IsWorkingDay(D("2201-12-28")));
}

TEST(DateTest, ParsesOnlyRealCalendarDays) {
  EXPECT_TRUE(Date::Parse("2024-02-29"));
  EXPECT_FALSE(Date::Parse("2026-02-29"));
  EXPECT_FALSE(Date::Parse("2026-13-01"));
  EXPECT_FALSE(Date::Parse("2026-1-01"));
  EXPECT_FALSE(Date::Parse("26-01-01"));
  EXPECT_FALSE(Date::Parse("2026/01/01"));
  EXPECT_FALSE(Date::Parse(""));
  EXPECT_EQ(D("2026-03-09").ToString(), "2026-03-09");
}

TEST(DateTest, WeeksStartOnMonday) {
  EXPECT_EQ(D("2026-03-15").WeekStart().ToString(), "2026-03-09");  // Sunday
  EXPECT_EQ(D("2026-03-09").WeekStart().ToString(), "2026-03-09");  // Monday
  EXPECT_EQ(D("1970-01-01").WeekStart().ToString(), "1969-12-29");
}

TEST(DateTest, AcademicYearTurnsOnFirstSeptember) {
  EXPECT_EQ(AcademicYearOf(D("2026-08-31")), 2025);
  EXPECT_EQ(AcademicYearOf(D("2026-09-01")), 2026);
}

}  // namespace
}  // namespace kpi
