#include "processor/runtime/clock.h"

#include <chrono>

namespace kpi::runtime {
namespace {

Date LastSunday(int year, int month, int days_in_month) {
  const Date last = Date::FromYmd(year, month, days_in_month);
  return last - ((last.Weekday() + 1) % 7);  // Weekday: 0 = Monday ... 6 = Sunday
}

}  // namespace

Date LondonDate(int64_t utc_seconds) {
  const auto day =
      static_cast<int32_t>(utc_seconds >= 0 ? utc_seconds / 86400 : (utc_seconds - 86399) / 86400);
  const int year = Date(day).ToYmd().year;
  const int64_t bst_start = static_cast<int64_t>(LastSunday(year, 3, 31).days()) * 86400 + 3600;
  const int64_t bst_end = static_cast<int64_t>(LastSunday(year, 10, 31).days()) * 86400 + 3600;
  const int64_t local =
      utc_seconds + (utc_seconds >= bst_start && utc_seconds < bst_end ? 3600 : 0);
  return Date(static_cast<int32_t>(local >= 0 ? local / 86400 : (local - 86399) / 86400));
}

Date SystemClock::Today() const {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return LondonDate(std::chrono::duration_cast<std::chrono::seconds>(now).count());
}

int64_t SystemClock::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace kpi::runtime
