// The as_of policy of `run` (processing.as_of) on a clock the test sets: a fixed date, the
// clock's date, and the events' dates capped by the clock.
#include "processor/runtime/as_of.h"

#include <gtest/gtest.h>

namespace kpi::runtime {
namespace {

class SetClock final : public Clock {
 public:
  Date Today() const override { return today; }
  int64_t NowMs() const override { return 0; }
  Date today = Date::FromYmd(2026, 3, 18);
};

int64_t At(int y, int m, int d, int seconds_of_day = 0) {
  return static_cast<int64_t>(Date::FromYmd(y, m, d).days()) * 86400 + seconds_of_day;
}

TEST(AsOfPolicyTest, AFixedDateIgnoresTheClockAndTheEvents) {
  SetClock clock;
  AsOfPolicy policy(Date::FromYmd(2025, 12, 1), false, clock);
  EXPECT_EQ(policy.Today(Date::FromYmd(2026, 1, 1)), Date::FromYmd(2025, 12, 1));
  clock.today = Date::FromYmd(2027, 1, 1);
  EXPECT_EQ(policy.Today(Date(0)), Date::FromYmd(2025, 12, 1));
  EXPECT_EQ(policy.OnEvent(At(2026, 6, 1), Date::FromYmd(2025, 12, 1)), Date::FromYmd(2025, 12, 1));
}

TEST(AsOfPolicyTest, TodayFollowsTheClock) {
  SetClock clock;
  AsOfPolicy policy(std::nullopt, false, clock);
  EXPECT_EQ(policy.Today(Date::FromYmd(2020, 1, 1)), Date::FromYmd(2026, 3, 18));
  clock.today = Date::FromYmd(2026, 3, 19);  // midnight passed
  EXPECT_EQ(policy.Today(Date(0)), Date::FromYmd(2026, 3, 19));
  EXPECT_EQ(policy.OnEvent(At(2026, 3, 25), Date::FromYmd(2026, 3, 19)),
            Date::FromYmd(2026, 3, 19));
}

TEST(AsOfPolicyTest, EventsMoveItForwardNeverBackAndNeverPastTheClock) {
  SetClock clock;
  AsOfPolicy policy(std::nullopt, true, clock);
  // Before any event: where the stored engines were left (a restart continues from there).
  EXPECT_EQ(policy.Today(Date::FromYmd(2026, 2, 1)), Date::FromYmd(2026, 2, 1));
  Date today = policy.Today(Date(0));
  EXPECT_EQ(today, Date(0));  // a new store: the epoch, until the first event
  today = policy.OnEvent(At(2026, 3, 2, 43200), today);
  EXPECT_EQ(today, Date::FromYmd(2026, 3, 2));
  today = policy.OnEvent(At(2026, 2, 20), today);  // an older event: never back
  EXPECT_EQ(today, Date::FromYmd(2026, 3, 2));
  today = policy.OnEvent(At(2030, 1, 1), today);  // a bad timestamp: capped by the clock
  EXPECT_EQ(today, Date::FromYmd(2026, 3, 18));
  // The latest event day stays in force across the loop's reads of the clock ...
  EXPECT_EQ(policy.Today(Date(0)), Date::FromYmd(2026, 3, 18));
  // ... and the clock's next day releases what the cap held back.
  clock.today = Date::FromYmd(2026, 3, 19);
  EXPECT_EQ(policy.Today(Date(0)), Date::FromYmd(2026, 3, 19));
  EXPECT_EQ(policy.OnEvent(At(2026, 3, 5), Date::FromYmd(2026, 3, 19)), Date::FromYmd(2026, 3, 19));
}

}  // namespace
}  // namespace kpi::runtime
