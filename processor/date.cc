#include "processor/date.h"

#include <algorithm>
#include <cstdio>

namespace kpi {
namespace {

// Howard Hinnant's days_from_civil / civil_from_days (public domain algorithms).
int32_t DaysFromCivil(int y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

}  // namespace

Date Date::FromYmd(int year, int month, int day) { return Date(DaysFromCivil(year, month, day)); }

std::optional<Date> Date::Parse(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int parts[3] = {0, 0, 0};
  const int starts[3] = {0, 5, 8};
  const int lengths[3] = {4, 2, 2};
  for (int p = 0; p < 3; ++p) {
    for (int i = 0; i < lengths[p]; ++i) {
      const char c = text[starts[p] + i];
      if (c < '0' || c > '9') return std::nullopt;
      parts[p] = parts[p] * 10 + (c - '0');
    }
  }
  const int y = parts[0];
  const int m = parts[1];
  const int d = parts[2];
  if (m < 1 || m > 12 || d < 1 || d > DaysInMonth(y, m)) return std::nullopt;
  return FromYmd(y, m, d);
}

Ymd Date::ToYmd() const {
  const int32_t z = days_ + 719468;
  const int32_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int doe = z - era * 146097;
  const int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int mp = (5 * doy + 2) / 153;
  const int d = doy - (153 * mp + 2) / 5 + 1;
  const int m = mp < 10 ? mp + 3 : mp - 9;
  const int y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return {y, m, d};
}

std::string Date::ToString() const {
  const Ymd ymd = ToYmd();
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", ymd.year, ymd.month, ymd.day);
  return buf;
}

int AcademicYearOf(Date d) {
  const Ymd ymd = d.ToYmd();
  return ymd.month >= 9 ? ymd.year : ymd.year - 1;
}

Date AcademicYearStart(int year) { return Date::FromYmd(year, 9, 1); }

Date AddMonths(Date d, int n) {
  const Ymd ymd = d.ToYmd();
  const int months = ymd.year * 12 + (ymd.month - 1) + n;
  const int year = months / 12;
  const int month = months % 12 + 1;
  return Date::FromYmd(year, month, std::min(ymd.day, DaysInMonth(year, month)));
}

}  // namespace kpi
