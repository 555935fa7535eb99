// The working-day calendar of KPIS.md: Monday to Friday, less England and Wales bank holidays
// (computed by rule, with the spec's one-off changes), less extra closure dates from
// configuration. Thread-safety: immutable after construction; const methods are safe to share.
#pragma once

#include <cstdint>
#include <vector>

#include "processor/date.h"

namespace kpi {

class Calendar {
 public:
  // `extra_closures`: local non-working dates added to the bank holidays. The calendar keeps a
  // prefix-sum table over [1990-01-01, 2199-12-31] so that WorkingDays is two array reads;
  // dates outside that range are counted day by day.
  explicit Calendar(const std::vector<Date>& extra_closures = {});

  // England and Wales bank holidays of `year`, in date order.
  static std::vector<Date> BankHolidays(int year);

  bool IsWorkingDay(Date d) const;
  // Number of working days d with a <= d <= b (both ends counted, as NETWORKDAYS); 0 when b < a.
  int WorkingDays(Date a, Date b) const;

 private:
  bool IsClosed(Date d) const;  // bank holiday or extra closure (weekday or not)
  Date first_;
  std::vector<int32_t> cumulative_;   // working days in [first_, first_ + i]
  std::vector<Date> extra_closures_;  // sorted
};

}  // namespace kpi
