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
#include "tools/cluster/harness.h"

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

// A runtime in this process with a fake clock, against its own mock broker (topics plans and
// contacts); stopped and cleaned up on destruction.
class InProcess {
 public:
  InProcess(const std::string& name, Date today, const std::string& extra_yaml)
      : dir_(fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()))), clock_(today) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    mock_ = std::make_unique<MockKafka>(
        dir_, 1, std::vector<std::string>{"plans:2", "contacts:2", "kpi.results:2", "kpi.dlq:1"});
    yaml_ = "kafka:\n  bootstrap.servers: " + mock_->bootstraps() +
            "\n  session.timeout.ms: 3000\n  heartbeat.interval.ms: 750\n  fetch.wait.max.ms: 50\n"
            "input:\n  topics: [plans, contacts]\nstate:\n  path: " +
            (dir_ / "state").string() + "\n  block_cache_mb: 8\ncommit:\n  interval_ms: 50\n" +
            extra_yaml;
  }
  ~InProcess() {
    if (rt_ != nullptr) rt_->RequestStop();
    if (run_.joinable()) run_.join();
    rt_.reset();
    mock_.reset();
    fs::remove_all(dir_);
  }
  // Starts the runtime; empty on success, else why not.
  std::string Start() {
    if (mock_->bootstraps().empty()) return "no mock broker";
    auto config = runtime::ParseConfig(yaml_, {});
    if (!config) return config.error();
    auto log = std::make_shared<spdlog::logger>("in-process",
                                                std::make_shared<spdlog::sinks::null_sink_mt>());
    auto rt = runtime::Runtime::Create(*config, clock_, log);
    if (!rt) return rt.error().message;
    rt_ = std::move(*rt);
    run_ = std::thread([this] { EXPECT_TRUE(rt_->Run().has_value()); });
    return "";
  }
  // Produces NDJSON events (protobuf, routed by kind) and waits for their delivery.
  bool Produce(const std::vector<std::string>& lines) {
    Producer producer(mock_->bootstraps());
    for (const std::string& line : lines) producer.Produce(Route(line, {}, "contacts"));
    return producer.Flush(10000);
  }
  // Waits until the runtime has committed `records` input records (its offsets in the state).
  bool WaitCommitted(int64_t records) {
    for (int i = 0; i < 200; ++i) {
      if (CommittedRecords(dir_ / "state") >= records) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  bool Has(const std::string& key) {
    return OutputTable(mock_->bootstraps(), "kpi.results").contains(key);
  }
  const std::string& bootstraps() const { return mock_->bootstraps(); }
  FakeClock& clock() { return clock_; }
  runtime::Runtime& runtime() { return *rt_; }

 private:
  fs::path dir_;
  FakeClock clock_;
  std::unique_ptr<MockKafka> mock_;
  std::string yaml_;
  std::unique_ptr<runtime::Runtime> rt_;
  std::thread run_;
};

constexpr const char* kCinPlan =
    R"({"eventId":"CIN1","childId":"C1","recordedAt":"2026-03-02T10:00:00Z","cinPlan":{"startDate":"2026-03-02"}})";
// Recorded on the 12th, dated the 17th (the next week).
constexpr const char* kFutureContact =
    R"({"eventId":"CT1","childId":"C2","recordedAt":"2026-03-12T10:00:00Z","contact":{"contactDate":"2026-03-17"}})";

TEST(MidnightTest, AsOfMovesAtMidnightAndTheNewWeekAppears) {
  InProcess p("kpi_midnight", Date::FromYmd(2026, 3, 13), "");  // a Friday
  ASSERT_TRUE(p.Produce({kCinPlan, kFutureContact}));
  ASSERT_EQ(p.Start(), "");
  EXPECT_TRUE(WaitFor(p.bootstraps(), "cin_plans_open|2026-03-09|all", {1, 0}));
  // The contact is dated in the next week: not reported yet, though it is committed (without the
  // wait this could pass before the contact was read at all).
  ASSERT_TRUE(p.WaitCommitted(2)) << "both records committed within 20 s";
  EXPECT_FALSE(p.Has("contacts|2026-03-16|all"));

  p.clock().Set(Date::FromYmd(2026, 3, 16));  // midnight passes into a new week
  EXPECT_TRUE(WaitFor(p.bootstraps(), "cin_plans_open|2026-03-16|all", {1, 0}));
  EXPECT_TRUE(WaitFor(p.bootstraps(), "contacts|2026-03-16|all", {1, 0}));
}

// processing.as_of: events: history streamed through Kafka moves as_of with its recorded_at, so
// weeks pass as fast as the events arrive; the wall clock only caps it.
TEST(MidnightTest, AsOfFollowsTheEventsWhenConfigured) {
  InProcess p("kpi_event_as_of", Date::FromYmd(2026, 12, 1), "processing:\n  as_of: events\n");
  ASSERT_EQ(p.Start(), "");
  ASSERT_TRUE(p.Produce({kCinPlan, kFutureContact}));
  EXPECT_TRUE(WaitFor(p.bootstraps(), "cin_plans_open|2026-03-09|all", {1, 0}));
  // Both records committed (without the wait the contact might not have been read yet, and the
  // next two lines would pass for that reason alone).
  ASSERT_TRUE(p.WaitCommitted(2)) << "both records committed within 20 s";
  EXPECT_FALSE(p.Has("cin_plans_open|2026-03-16|all"));
  EXPECT_FALSE(p.Has("contacts|2026-03-16|all"));  // held back while as_of is the 12th
  ASSERT_TRUE(p.Produce({
      R"({"eventId":"CT2","childId":"C3","recordedAt":"2026-03-18T10:00:00Z","contact":{"contactDate":"2026-03-18"}})",
      // A recorded_at far in the future does not move as_of past the wall clock.
      R"({"eventId":"CT3","childId":"C4","recordedAt":"2027-06-01T10:00:00Z","contact":{"contactDate":"2026-12-31"}})",
  }));
  EXPECT_TRUE(WaitFor(p.bootstraps(), "contacts|2026-03-16|all", {2, 0}));
  EXPECT_TRUE(WaitFor(p.bootstraps(), "cin_plans_open|2026-11-30|all", {1, 0}));
  EXPECT_FALSE(p.Has("contacts|2026-12-28|all"));
  EXPECT_EQ(p.runtime().probe().view().as_of(), Date::FromYmd(2026, 12, 1));
}

}  // namespace
}  // namespace kpi::testing
