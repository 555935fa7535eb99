#include "tools/gen/school_terms.h"

namespace kpi::gen {
namespace {

// The Monday to Friday of the week starting on `monday`.
bool InWeekOf(Date d, Date monday) { return d >= monday && d <= monday + 4; }

// The first Monday on or after `d`.
Date MondayFrom(Date d) { return d + (7 - d.Weekday()) % 7; }

// The last Monday of `month` in `year`.
Date LastMonday(int year, int month) {
  const Date next = month == 12 ? Date::FromYmd(year + 1, 1, 1) : Date::FromYmd(year, month + 1, 1);
  const Date last = next - 1;
  return last - last.Weekday();
}

Date GoodFriday(int year) {
  for (const Date h : Calendar::BankHolidays(year)) {
    const int month = h.ToYmd().month;
    if (h.Weekday() == 4 && (month == 3 || month == 4)) return h;
  }
  return Date::FromYmd(year, 4, 1);  // not reached: Good Friday is a bank holiday every year
}

}  // namespace

bool SchoolTerms::IsSchoolDay(Date d) const {
  if (!calendar_.IsWorkingDay(d)) return false;
  const Ymd ymd = d.ToYmd();
  // Summer: 22 July to the day before the first weekday from 3 September.
  if (ymd.month == 8 || (ymd.month == 7 && ymd.day >= 22)) return false;
  if (ymd.month == 9) {
    Date first = Date::FromYmd(ymd.year, 9, 3);
    while (first.Weekday() >= 5) first = first + 1;
    if (d < first) return false;
  }
  // Christmas.
  if ((ymd.month == 12 && ymd.day >= 20) || (ymd.month == 1 && ymd.day <= 4)) return false;
  // Half terms.
  if (ymd.month == 10 || ymd.month == 11) {
    if (InWeekOf(d, LastMonday(ymd.year, 10))) return false;
  }
  if (ymd.month == 2 && InWeekOf(d, MondayFrom(Date::FromYmd(ymd.year, 2, 12)))) return false;
  if (ymd.month == 5 || ymd.month == 6) {
    if (InWeekOf(d, LastMonday(ymd.year, 5))) return false;
  }
  // Easter: from the Monday before Good Friday to the Friday after Easter Monday.
  if (ymd.month == 3 || ymd.month == 4) {
    const Date good_friday = GoodFriday(ymd.year);
    if (d >= good_friday - 4 && d <= good_friday + 7) return false;
  }
  return true;
}

}  // namespace kpi::gen
