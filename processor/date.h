// Civil dates without a time zone, as the spec's `YYYY-MM-DD` strings. A `Date` is a day number
// (days since 1970-01-01), so arithmetic and comparison are integer operations.
// Thread-safety: value types and pure functions, safe everywhere.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kpi {

struct Ymd {
  int year;
  int month;  // 1..12
  int day;    // 1..31
};

class Date {
 public:
  constexpr Date() = default;
  constexpr explicit Date(int32_t days_since_epoch) : days_(days_since_epoch) {}

  static Date FromYmd(int year, int month, int day);
  // Strict `YYYY-MM-DD` with a real calendar day; anything else is nullopt.
  static std::optional<Date> Parse(std::string_view text);

  constexpr int32_t days() const { return days_; }
  Ymd ToYmd() const;
  std::string ToString() const;
  // 0 = Monday ... 6 = Sunday.
  constexpr int Weekday() const { return static_cast<int>(((days_ % 7) + 7 + 3) % 7); }
  // The Monday of the week containing this date (weeks run Monday to Sunday).
  constexpr Date WeekStart() const { return Date(days_ - Weekday()); }
  constexpr Date operator+(int n) const { return Date(days_ + n); }
  constexpr Date operator-(int n) const { return Date(days_ - n); }
  constexpr int operator-(Date other) const { return days_ - other.days_; }

  constexpr auto operator<=>(const Date&) const = default;

 private:
  int32_t days_ = 0;
};

// The calendar year A in which the academic year (1 September to 31 August) containing `d` began.
int AcademicYearOf(Date d);
// 1 September of academic year `year`.
Date AcademicYearStart(int year);
// add_months(d, n) of KPIS-2.md: the date n calendar months after d on the same day of the
// month, or the last day of the target month when that month is shorter (n >= 0).
Date AddMonths(Date d, int n);

}  // namespace kpi
