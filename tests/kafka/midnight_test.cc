// The runtime moves as_of at midnight (Europe/London): driven here by a fake clock, in process,
// against the mock broker. The new week's snapshot rows appear, and a future-dated flow that
// was held back becomes visible when its week does.
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "processor/runtime/runtime.h"
#include "processor/validate.h"
#include "tests/kafka/harness.h"

namespace kpi::testing {
namespace {

class FakeClock final : public runtime::Clock {
 public:
  explicit FakeClock(Date today) : today_(today.days()) {}
  Date Today() const override { return Date(today_.load()); }
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void Set(Date d) { today_.store(d.days()); }

 private:
  std::atomic<int32_t> today_;
};

bool WaitFor(const std::string& bootstraps, const std::string& key,
             std::pair<int64_t, int64_t> value) {
  for (int i = 0; i < 120; ++i) {
    const Table t = OutputTable(bootstraps, "kpi.results");
    const auto it = t.find(key);
    if (it != t.end() && it->second == value) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return false;
}

TEST(MidnightTest, AsOfMovesAtMidnightAndTheNewWeekAppears) {
  const fs::path dir = fs::temp_directory_path() / ("kpi_midnight_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  MockKafka mock(dir, 1, {"plans:2", "contacts:2", "kpi.results:2", "kpi.dlq:1"});
  ASSERT_FALSE(mock.bootstraps().empty());
  {
    Producer producer(mock.bootstraps());
    const std::map<std::string, bool> protobuf;
    producer.Produce(Route(
        R"({"eventId":"CIN1","childId":"C1","recordedAt":"2026-03-02T10:00:00Z","cinPlan":{"startDate":"2026-03-02"}})",
        protobuf, "contacts"));
    producer.Produce(Route(
        R"({"eventId":"CT1","childId":"C2","recordedAt":"2026-03-12T10:00:00Z","contact":{"contactDate":"2026-03-17"}})",
        protobuf, "contacts"));
    ASSERT_TRUE(producer.Flush(10000));
  }
  auto config = runtime::ParseConfig(
      "kafka:\n  bootstrap.servers: " + mock.bootstraps() +
          "\n  session.timeout.ms: 3000\n  heartbeat.interval.ms: 750\n  fetch.wait.max.ms: 50\n"
          "input:\n  topics: [plans, contacts]\nstate:\n  path: " +
          (dir / "state").string() + "\n  block_cache_mb: 8\ncommit:\n  interval_ms: 50\n",
      {});
  ASSERT_TRUE(config.has_value()) << config.error();
  FakeClock clock(Date::FromYmd(2026, 3, 13));  // a Friday
  auto log = std::make_shared<spdlog::logger>("midnight-test",
                                              std::make_shared<spdlog::sinks::null_sink_mt>());
  auto rt = runtime::Runtime::Create(*config, clock, log);
  ASSERT_TRUE(rt.has_value()) << rt.error().message;
  std::thread run([&] { EXPECT_TRUE((*rt)->Run().has_value()); });

  EXPECT_TRUE(WaitFor(mock.bootstraps(), "cin_plans_open|2026-03-09|all", {1, 0}));
  // The contact is dated in the next week: not reported yet.
  EXPECT_FALSE(OutputTable(mock.bootstraps(), "kpi.results").contains("contacts|2026-03-16|all"));

  clock.Set(Date::FromYmd(2026, 3, 16));  // midnight passes into a new week
  EXPECT_TRUE(WaitFor(mock.bootstraps(), "cin_plans_open|2026-03-16|all", {1, 0}));
  EXPECT_TRUE(WaitFor(mock.bootstraps(), "contacts|2026-03-16|all", {1, 0}));

  (*rt)->RequestStop();
  run.join();
  fs::remove_all(dir);
}

// processing.as_of: events: history streamed through Kafka moves as_of with its recorded_at, so
// weeks pass as fast as the events arrive; the wall clock only caps it.
TEST(MidnightTest, AsOfFollowsTheEventsWhenConfigured) {
  const fs::path dir =
      fs::temp_directory_path() / ("kpi_event_as_of_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  MockKafka mock(dir, 1, {"plans:1", "contacts:1", "kpi.results:1", "kpi.dlq:1"});
  ASSERT_FALSE(mock.bootstraps().empty());
  auto config = runtime::ParseConfig(
      "kafka:\n  bootstrap.servers: " + mock.bootstraps() +
          "\n  session.timeout.ms: 3000\n  heartbeat.interval.ms: 750\n  fetch.wait.max.ms: 50\n"
          "input:\n  topics: [plans, contacts]\nstate:\n  path: " +
          (dir / "state").string() +
          "\n  block_cache_mb: 8\ncommit:\n  interval_ms: 50\nprocessing:\n  as_of: events\n",
      {});
  ASSERT_TRUE(config.has_value()) << config.error();
  FakeClock clock(Date::FromYmd(2026, 12, 1));
  auto log = std::make_shared<spdlog::logger>("event-as-of-test",
                                              std::make_shared<spdlog::sinks::null_sink_mt>());
  auto rt = runtime::Runtime::Create(*config, clock, log);
  ASSERT_TRUE(rt.has_value()) << rt.error().message;
  std::thread run([&] { EXPECT_TRUE((*rt)->Run().has_value()); });
  const std::map<std::string, bool> protobuf;
  {
    Producer producer(mock.bootstraps());
    producer.Produce(Route(
        R"({"eventId":"CIN1","childId":"C1","recordedAt":"2026-03-02T10:00:00Z","cinPlan":{"startDate":"2026-03-02"}})",
        protobuf, "contacts"));
    // Recorded on the 12th, dated the 17th: held back while as_of is the 12th.
    producer.Produce(Route(
        R"({"eventId":"CT1","childId":"C2","recordedAt":"2026-03-12T10:00:00Z","contact":{"contactDate":"2026-03-17"}})",
        protobuf, "contacts"));
    ASSERT_TRUE(producer.Flush(10000));
  }
  EXPECT_TRUE(WaitFor(mock.bootstraps(), "cin_plans_open|2026-03-09|all", {1, 0}));
  EXPECT_FALSE(
      OutputTable(mock.bootstraps(), "kpi.results").contains("cin_plans_open|2026-03-16|all"));
  EXPECT_FALSE(OutputTable(mock.bootstraps(), "kpi.results").contains("contacts|2026-03-16|all"));
  {
    Producer producer(mock.bootstraps());
    producer.Produce(Route(
        R"({"eventId":"CT2","childId":"C3","recordedAt":"2026-03-18T10:00:00Z","contact":{"contactDate":"2026-03-18"}})",
        protobuf, "contacts"));
    // A recorded_at far in the future does not move as_of past the wall clock.
    producer.Produce(Route(
        R"({"eventId":"CT3","childId":"C4","recordedAt":"2027-06-01T10:00:00Z","contact":{"contactDate":"2026-12-31"}})",
        protobuf, "contacts"));
    ASSERT_TRUE(producer.Flush(10000));
  }
  EXPECT_TRUE(WaitFor(mock.bootstraps(), "contacts|2026-03-16|all", {2, 0}));
  EXPECT_TRUE(WaitFor(mock.bootstraps(), "cin_plans_open|2026-11-30|all", {1, 0}));
  EXPECT_FALSE(OutputTable(mock.bootstraps(), "kpi.results").contains("contacts|2026-12-28|all"));
  EXPECT_EQ((*rt)->probe().view().as_of(), Date::FromYmd(2026, 12, 1));
  (*rt)->RequestStop();
  run.join();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kpi::testing
