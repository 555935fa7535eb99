#include "processor/calendar.h"

#include <algorithm>

namespace kpi {
namespace {

constexpr int kFirstYear = 1990;
constexpr int kLastYear = 2199;

Date EasterSunday(int y) {
  // Anonymous Gregorian algorithm (Meeus/Jones/Butcher).
  const int a = y % 19;
  const int b = y / 100;
  const int c = y % 100;
  const int d = b / 4;
  const int e = b % 4;
  const int f = (b + 8) / 25;
  const int g = (b - f + 1) / 3;
  const int h = (19 * a + b - d - g + 15) % 30;
  const int i = c / 4;
  const int k = c % 4;
  const int l = (32 + 2 * e + 2 * i - h - k) % 7;
  const int m = (a + 11 * h + 22 * l) / 451;
  const int month = (h + l - 7 * m + 114) / 31;
  const int day = ((h + l - 7 * m + 114) % 31) + 1;
  return Date::FromYmd(y, month, day);
}

constexpr int kMonday = 0;

Date FirstMonday(int y, int month) {
  const Date first = Date::FromYmd(y, month, 1);
  return first + ((7 + kMonday - first.Weekday()) % 7);
}

Date LastMonday(int y, int month, int days_in_month) {
  const Date last = Date::FromYmd(y, month, days_in_month);
  return last - ((7 + last.Weekday() - kMonday) % 7);
}

}  // namespace

std::vector<Date> Calendar::BankHolidays(int y) {
  std::vector<Date> out;
  // New Year's Day, or the next Monday when it falls on a weekend.
  const Date new_year = Date::FromYmd(y, 1, 1);
  const int ny_wd = new_year.Weekday();
  out.push_back(ny_wd == 5 ? new_year + 2 : ny_wd == 6 ? new_year + 1 : new_year);
  const Date easter = EasterSunday(y);
  out.push_back(easter - 2);
  out.push_back(easter + 1);
  // Early May: first Monday of May (1995: moved to Monday 8 May, VE Day's 50th anniversary;
  // 2020: moved to Friday 8 May; 2023: plus Monday 8 May, the Coronation).
  if (y == 1995) {
    out.push_back(Date::FromYmd(1995, 5, 8));
  } else if (y == 2020) {
    out.push_back(Date::FromYmd(2020, 5, 8));
  } else {
    out.push_back(FirstMonday(y, 5));
  }
  if (y == 2023) out.push_back(Date::FromYmd(2023, 5, 8));
  // Spring: last Monday of May (2002: moved to Tuesday 4 June, plus Monday 3 June; 2012: moved
  // to Monday 4 June, plus Tuesday 5 June; 2022: moved to Thursday 2 June, plus Friday 3 June:
  // the Golden, Diamond and Platinum Jubilees).
  if (y == 2002) {
    out.push_back(Date::FromYmd(2002, 6, 3));
    out.push_back(Date::FromYmd(2002, 6, 4));
  } else if (y == 2012) {
    out.push_back(Date::FromYmd(2012, 6, 4));
    out.push_back(Date::FromYmd(2012, 6, 5));
  } else if (y == 2022) {
    out.push_back(Date::FromYmd(2022, 6, 2));
    out.push_back(Date::FromYmd(2022, 6, 3));
  } else {
    out.push_back(LastMonday(y, 5, 31));
  }
  // 2011: plus Friday 29 April (a royal wedding).
  if (y == 2011) out.push_back(Date::FromYmd(2011, 4, 29));
  out.push_back(LastMonday(y, 8, 31));
  // 2022: plus Monday 19 September (a state funeral).
  if (y == 2022) out.push_back(Date::FromYmd(2022, 9, 19));
  // 1999: plus Friday 31 December (the millennium).
  if (y == 1999) out.push_back(Date::FromYmd(1999, 12, 31));
  // Christmas and Boxing Day with substitutes.
  const Date christmas = Date::FromYmd(y, 12, 25);
  switch (christmas.Weekday()) {
    case 4:  // Friday: Boxing Day moves to Monday 28.
      out.push_back(christmas);
      out.push_back(christmas + 3);
      break;
    case 5:  // Saturday: Monday 27 and Tuesday 28.
      out.push_back(christmas + 2);
      out.push_back(christmas + 3);
      break;
    case 6:  // Sunday: Monday 26 and Tuesday 27.
      out.push_back(christmas + 1);
      out.push_back(christmas + 2);
      break;
    default:
      out.push_back(christmas);
      out.push_back(christmas + 1);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Calendar::Calendar(const std::vector<Date>& extra_closures,
                   const std::vector<Date>& official_holidays)
    : first_(Date::FromYmd(kFirstYear, 1, 1)),
      extra_closures_(extra_closures),
      official_(official_holidays) {
  for (std::vector<Date>* dates : {&extra_closures_, &official_}) {
    std::sort(dates->begin(), dates->end());
    dates->erase(std::unique(dates->begin(), dates->end()), dates->end());
  }
  for (const Date d : official_) official_years_.insert(d.ToYmd().year);
  const Date last = Date::FromYmd(kLastYear, 12, 31);
  std::vector<bool> closed(static_cast<size_t>(last - first_ + 1), false);
  for (int y = kFirstYear; y <= kLastYear; ++y) {
    for (const Date d : HolidaysOf(y)) closed[static_cast<size_t>(d - first_)] = true;
  }
  for (const Date d : extra_closures_) {
    if (d >= first_ && d <= last) closed[static_cast<size_t>(d - first_)] = true;
  }
  cumulative_.resize(closed.size());
  int32_t running = 0;
  for (size_t i = 0; i < closed.size(); ++i) {
    const Date d = first_ + static_cast<int>(i);
    if (d.Weekday() < 5 && !closed[i]) ++running;
    cumulative_[i] = running;
  }
}

std::vector<Date> Calendar::HolidaysOf(int year) const {
  if (!official_years_.contains(year)) return BankHolidays(year);
  const auto from = std::lower_bound(official_.begin(), official_.end(), Date::FromYmd(year, 1, 1));
  const auto to = std::upper_bound(from, official_.end(), Date::FromYmd(year, 12, 31));
  return {from, to};
}

bool Calendar::IsClosed(Date d) const {
  if (std::binary_search(extra_closures_.begin(), extra_closures_.end(), d)) return true;
  const std::vector<Date> holidays = HolidaysOf(d.ToYmd().year);
  return std::binary_search(holidays.begin(), holidays.end(), d);
}

bool Calendar::IsWorkingDay(Date d) const {
  const int64_t i = d - first_;
  if (i >= 0 && i < static_cast<int64_t>(cumulative_.size())) {
    return cumulative_[i] - (i > 0 ? cumulative_[i - 1] : 0) == 1;
  }
  return d.Weekday() < 5 && !IsClosed(d);
}

int Calendar::WorkingDays(Date a, Date b) const {
  if (b <= a) return 0;
  const int64_t ia = a - first_;
  const int64_t ib = b - first_;
  const auto n = static_cast<int64_t>(cumulative_.size());
  if (ia >= 0 && ib < n) return cumulative_[ib] - cumulative_[ia];
  int count = 0;
  for (Date d = a + 1; d <= b; d = d + 1) count += IsWorkingDay(d) ? 1 : 0;
  return count;
}

}  // namespace kpi
