// Several scaled-out runtimes in one group over the in-memory bus (threads, one process): the
// last value per output key and every instance's /kpi view equal the replay table through scaling
// 1 -> 3 -> 1 while input arrives, a kill of an instance, and a zombie that writes after another
// instance claimed its task (it must notice and publish nothing for it).
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "processor/runtime/runtime.h"
#include "tests/util/memory_bus_testing.h"
#include "tests/util/published_testing.h"

namespace kpi::runtime {
namespace {

namespace fs = std::filesystem;
constexpr int kPartitions = 4;

using testing::DeadLetters;
using testing::OutputTable;
using testing::Table;

const testing::Stream& TestStream() {
  static const testing::Stream stream = [] {
    gen::Params params;
    params.children = 200;
    params.weeks = 6;
    params.seed = 5;
    params.malformed_rate = 0.01;
    return testing::MakeStream(params);
  }();
  return stream;
}

Table ViewTable(const Runtime& rt) {
  Table table;
  for (const Row& row : rt.probe().view().Query({})) {
    if (row.count == 0 && row.base == 0) continue;
    table[std::string(KpiName(row.kpi)) + "|" + row.week.ToString() + "|" + row.dimension] = {
        row.count, row.base};
  }
  return table;
}

std::string Outcome(const std::expected<void, Failure>& result) {
  return result.has_value()
             ? "ok"
             : "exit " + std::to_string(result.error().exit_code) + ": " + result.error().message;
}

// One instance: its own state directory, a runtime on a thread.
class Instance {
 public:
  Instance(const fs::path& dir, const std::string& name, std::shared_ptr<MemoryCluster> cluster)
      : cluster_(std::move(cluster)) {
    config_.state_path = (dir / name).string();
    config_.fixed_as_of = TestStream().as_of;
    config_.commit_max_events = 400;
    config_.commit_interval_ms = 20;
    config_.state_memory_mb = 64;
    config_.scale.enabled = true;
    config_.scale.instance_id = name;
    config_.scale.restore_batch = 50;  // restores take several loop turns
    log_ = std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::null_sink_mt>());
  }
  ~Instance() { Stop(); }
  Config& config() { return config_; }
  void Start(FaultHook hook = {}) {
    auto rt = Runtime::Create(config_, clock_, log_, cluster_->NewBus("kpi", config_.input_topics));
    ASSERT_TRUE(rt.has_value()) << rt.error().message;
    runtime_ = std::move(*rt);
    if (hook) runtime_->SetFaultHook(std::move(hook));
    done_ = false;
    thread_ = std::thread([this] {
      result_ = runtime_->Run();
      done_ = true;
    });
  }
  // An orderly stop (SIGTERM): a final commit, then leaving the group.
  void Stop() {
    if (!runtime_) return;
    runtime_->RequestStop();
    thread_.join();
    Count();
    runtime_.reset();
  }
  // Input records this instance has read, over its runs.
  uint64_t consumed() const { return consumed_; }
  // Waits for the runtime to end by itself (a failure); returns its exit code.
  int WaitExit(int timeout_ms) {
    for (int waited = 0; !done_ && waited < timeout_ms; waited += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!done_) return -1;
    thread_.join();
    Count();
    runtime_.reset();
    return result_.has_value() ? 0 : result_.error().exit_code;
  }
  const std::expected<void, Failure>& result() const { return result_; }
  Runtime* runtime() { return runtime_.get(); }
  bool running() const { return runtime_ != nullptr && !done_; }

 private:
  void Count() {
    for (const auto& kinds : runtime_->probe().Snapshot().consumed) {
      for (const uint64_t k : kinds) consumed_ += k;
    }
  }
  uint64_t consumed_ = 0;
  std::shared_ptr<MemoryCluster> cluster_;
  Config config_;
  SystemClock clock_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<Runtime> runtime_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::expected<void, Failure> result_;
};

class ScaleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kpi-scale-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (const std::string& topic : Config().input_topics)
      cluster_->CreateTopic(topic, kPartitions);
    for (const char* topic : {"kpi.results", "kpi.changelog", "kpi.cells", "kpi.published"}) {
      cluster_->CreateTopic(topic, kPartitions);
    }
    cluster_->CreateTopic("kpi.dlq", 2);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Produces lines [from, to) of the stream.
  void Produce(size_t from, size_t to) { testing::Produce(*cluster_, TestStream(), from, to); }
  // Waits until the output topic's last values equal the replay table.
  // (A deadline on the clock, not a count of sleeps: reading the output takes time of its own,
  // seconds under ASan once the topic is large.)
  bool Converged(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (OutputTable(*cluster_) == TestStream().table) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  std::unique_ptr<Instance> NewInstance(const std::string& name) {
    return std::make_unique<Instance>(dir_, name, cluster_);
  }
  // The dead-letter topic holds exactly the input's dead letters (source and reason), each once.
  void ExpectTheDeadLetters() {
    const std::map<std::string, int> want =
        testing::WantedDeadLetters(*cluster_, Config().input_topics, TestStream().as_of);
    EXPECT_FALSE(want.empty());
    EXPECT_EQ(DeadLetters(*cluster_), want);
  }

  fs::path dir_;
  std::shared_ptr<MemoryCluster> cluster_ = MemoryCluster::Create();
};

TEST_F(ScaleTest, OneScaledInstanceGivesTheReplayTable) {
  Produce(0, SIZE_MAX);
  auto a = NewInstance("a");
  a->Start();
  ASSERT_TRUE(Converged(60000));
  EXPECT_EQ(ViewTable(*a->runtime()), TestStream().table);
  a->Stop();
  ExpectTheDeadLetters();
  EXPECT_GE(cluster_->ReadAll("kpi.changelog").size(), 8u);  // claims, snapshots, commits
}

// Without scale.enabled one instance must own every input partition: its rows are sums over the
// tasks it owns. Given only some (another member in the group: here a second instance; on a real
// broker, a killed instance's member until its session ends), it processes and publishes nothing
// until a rebalance gives it every partition, and the output stays exact.
TEST_F(ScaleTest, OneInstanceWithoutScaleOutPublishesNothingWhileItOwnsSomePartitions) {
  const size_t n = TestStream().lines.size();
  auto a = NewInstance("a");
  a->config().scale.enabled = false;
  a->Start();
  Produce(0, n / 2);
  const auto consumed = [](Instance& i) {
    uint64_t total = 0;
    for (const auto& kinds : i.runtime()->probe().Snapshot().consumed) {
      for (const uint64_t k : kinds) total += k;
    }
    return total;
  };
  for (const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
       consumed(*a) < n / 2 && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(consumed(*a), n / 2) << "the first half was not read in 60 s";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // its last commit
  const Table before = OutputTable(*cluster_);
  ASSERT_FALSE(before.empty());
  auto b = NewInstance("b");
  b->config().scale.enabled = false;
  b->Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Produce(n / 2, n);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_EQ(consumed(*a), n / 2) << "a processed input while it owned some of the partitions";
  EXPECT_EQ(consumed(*b), 0u) << "b processed input while it owned some of the partitions";
  EXPECT_EQ(OutputTable(*cluster_), before) << "rows published while the partitions were split";
  b->Stop();
  ASSERT_TRUE(Converged(60000)) << (a->running() ? "a still running"
                                                 : "a ended: " + Outcome(a->result()));
  EXPECT_EQ(ViewTable(*a->runtime()), TestStream().table);
  a->Stop();
  ExpectTheDeadLetters();
}

TEST_F(ScaleTest, ScalingOneToThreeToOneWhileInputArrives) {
  const size_t n = TestStream().lines.size();
  auto a = NewInstance("a");
  a->Start();
  Produce(0, n / 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto b = NewInstance("b");
  auto c = NewInstance("c");
  b->Start();
  c->Start();
  Produce(n / 3, 2 * n / 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  b->Stop();
  c->Stop();
  Produce(2 * n / 3, n);
  ASSERT_TRUE(Converged(60000)) << (a->running() ? "a still running"
                                                 : "a ended: " + Outcome(a->result()));
  EXPECT_EQ(ViewTable(*a->runtime()), TestStream().table);
  a->Stop();
  // Tasks moved with their state: the input was read about once, not again from the start by
  // each new owner (a restore that lost the state would rebuild from the input: exact, slower).
  const uint64_t consumed = a->consumed() + b->consumed() + c->consumed();
  EXPECT_GE(consumed, n);
  EXPECT_LT(consumed, n + n / 4) << "input read again on handover";
  ExpectTheDeadLetters();
}

// The published topic (output.published_topic) through handovers: the emitter publishes each
// changed group, a new emitter every group it knows; the last value per key is the published
// table of the replay table.
TEST_F(ScaleTest, ThePublishedTopicIsThePublishedTableThroughHandovers) {
  const kpi::testing::PublishedTable expected = kpi::testing::PublishedTableOf(TestStream().table);
  const auto published = [&] {
    kpi::testing::PublishedTable out;
    for (const auto& [partition, record] : cluster_->ReadAll("kpi.published")) {
      // The memory bus keeps a tombstone as an empty value.
      kpi::testing::ApplyPublished(out, record.key, record.value, record.value.empty());
    }
    return out;
  };
  const size_t n = TestStream().lines.size();
  auto a = NewInstance("a");
  a->config().published_topic = "kpi.published";
  a->Start();
  Produce(0, n / 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto b = NewInstance("b");
  b->config().published_topic = "kpi.published";
  b->Start();
  Produce(n / 2, n);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  a->Stop();  // b takes task 0 and the emitter's role
  ASSERT_TRUE(Converged(60000)) << (b->running() ? "b still running"
                                                 : "b ended: " + Outcome(b->result()));
  kpi::testing::PublishedTable last;
  for (int waited = 0; waited < 30000 && (last = published()) != expected; waited += 100) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const size_t differ = kpi::testing::PublishedDifferences(expected, last);
  EXPECT_EQ(last.size(), expected.size());
  EXPECT_EQ(differ, 0u) << "of " << expected.size() << " published rows";
  b->Stop();
}

TEST_F(ScaleTest, EveryInstanceAnswersTheGlobalTable) {
  Produce(0, SIZE_MAX);
  auto a = NewInstance("a");
  auto b = NewInstance("b");
  auto c = NewInstance("c");
  a->Start();
  b->Start();
  c->Start();
  ASSERT_TRUE(Converged(60000));
  for (Instance* i : {a.get(), b.get(), c.get()}) {
    for (int waited = 0; waited < 5000 && ViewTable(*i->runtime()) != TestStream().table;
         waited += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(ViewTable(*i->runtime()), TestStream().table);
  }
  int emitters = 0;
  for (Instance* i : {a.get(), b.get(), c.get()})
    emitters += i->runtime()->probe().kpi_gauges() ? 1 : 0;
  EXPECT_EQ(emitters, 1);  // the KPI gauges once per deployment
}

// An instance that is still writing after another claimed its task (paused past the session
// timeout, then resumed mid-commit): its changelog records land after the newer claim; it must
// notice, publish none of that commit's cells or dead letters, and exit.
TEST_F(ScaleTest, AZombieNoticesTheNewerClaimAndPublishesNothingMore) {
  const size_t n = TestStream().lines.size();
  Produce(0, n / 2);
  auto a = NewInstance("a");
  std::atomic<int> commits{0};
  std::atomic<bool> zombie{false};
  std::unique_ptr<Instance> b;
  a->Start([&](CommitStep step, const std::vector<OutMessage>&) {
    if (step != CommitStep::kBatchWritten || ++commits != 6 || zombie) return false;
    // a "pauses" here: its session expires, b joins and claims every task.
    zombie = true;
    cluster_->ExpireMember("kpi", 1);
    b = NewInstance("b");
    b->Start();
    for (int waited = 0; waited < 20000; waited += 20) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (b->runtime()->probe().ready()) break;
    }
    return false;  // a resumes its commit
  });
  EXPECT_EQ(a->WaitExit(30000), kExitFenced);
  ASSERT_TRUE(zombie);
  Produce(n / 2, n);
  ASSERT_TRUE(Converged(60000));
  b->Stop();
  ExpectTheDeadLetters();
}

TEST_F(ScaleTest, AnInstancesTasksAreRestoredElsewhereWithoutItsState) {
  const size_t n = TestStream().lines.size();
  Produce(0, n / 2);
  auto a = NewInstance("a");
  auto b = NewInstance("b");
  a->Start();
  b->Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  // b leaves and its state directory is lost: a restores b's tasks from the changelog alone.
  b->Stop();
  fs::remove_all(dir_ / "b");
  Produce(n / 2, n);
  ASSERT_TRUE(Converged(60000));
  a->Stop();
  ExpectTheDeadLetters();
}

}  // namespace
}  // namespace kpi::runtime
