// The working-day calendar of KPIS.md: Monday to Friday, less England and Wales bank holidays
// (computed by rule, with the spec's one-off changes since 1990, or taken from an official list
// for the years it covers), less extra closure dates from configuration.
// Thread-safety: immutable after construction; const methods are safe to share.
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "processor/date.h"

namespace kpi {

class Calendar {
 public:
  // `extra_closures`: local non-working dates added to the bank holidays. `official_holidays`:
  // England and Wales bank holidays from an official list (gov.uk `bank-holidays.json`); for
  // every year with at least one of them, they replace the rules. The calendar keeps a
  // prefix-sum table over [1990-01-01, 2199-12-31] so that WorkingDays is two array reads;
  // dates outside that range are counted day by day.
  explicit Calendar(const std::vector<Date>& extra_closures = {},
                    const std::vector<Date>& official_holidays = {});

  // England and Wales bank holidays of `year` by the rules of KPIS.md, in date order.
  static std::vector<Date> BankHolidays(int year);
  // The bank holidays this calendar uses for `year`: the official list's when it covers the
  // year, else the rules'.
  std::vector<Date> HolidaysOf(int year) const;

  bool IsWorkingDay(Date d) const;
  // working_days(a, b) of KPIS.md: the working days d with a < d <= b (the start is day 0);
  // 0 when b <= a.
  int WorkingDays(Date a, Date b) const;

 private:
  bool IsClosed(Date d) const;  // bank holiday or extra closure (weekday or not)
  Date first_;
  std::vector<int32_t> cumulative_;   // working days in [first_, first_ + i]
  std::vector<Date> extra_closures_;  // sorted
  std::vector<Date> official_;        // sorted
  std::set<int> official_years_;
};

}  // namespace kpi
