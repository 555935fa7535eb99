#include "processor/runtime/clock.h"

#include <gtest/gtest.h>

namespace kpi::runtime {
namespace {

int64_t Utc(const char* date, int hh, int mm) {
  return (static_cast<int64_t>(Date::Parse(date)->days()) * 86400) + (int64_t{hh} * 3600) +
         (int64_t{mm} * 60);
}

TEST(ClockTest, WinterLondonIsUtc) {
  EXPECT_EQ(LondonDate(Utc("2026-01-15", 23, 59)).ToString(), "2026-01-15");
  EXPECT_EQ(LondonDate(Utc("2026-01-16", 0, 0)).ToString(), "2026-01-16");
}

TEST(ClockTest, SummerMidnightInLondonIs2300Utc) {
  EXPECT_EQ(LondonDate(Utc("2026-07-01", 22, 59)).ToString(), "2026-07-01");
  EXPECT_EQ(LondonDate(Utc("2026-07-01", 23, 0)).ToString(), "2026-07-02");
}

TEST(ClockTest, BritishSummerTimeStartsAndEndsAt0100Utc) {
  // 2026: BST from Sunday 29 March 01:00 UTC to Sunday 25 October 01:00 UTC.
  EXPECT_EQ(LondonDate(Utc("2026-03-28", 23, 30)).ToString(), "2026-03-28");  // still GMT
  EXPECT_EQ(LondonDate(Utc("2026-03-29", 23, 30)).ToString(), "2026-03-30");  // BST
  EXPECT_EQ(LondonDate(Utc("2026-10-24", 23, 30)).ToString(), "2026-10-25");  // BST
  EXPECT_EQ(LondonDate(Utc("2026-10-25", 23, 30)).ToString(), "2026-10-25");  // GMT again
}

}  // namespace
}  // namespace kpi::runtime
