// The commit protocol of `run` over the in-memory bus: a crash injected at each step of a commit
// (batch written, outbox produced, delivery confirmed, outbox deleted), then a restart, gives the
// table a replay gives, and every dead letter exactly once.
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "processor/runtime/runtime.h"
#include "tests/util/memory_bus_testing.h"

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
    params.children = 240;
    params.weeks = 6;
    params.seed = 11;
    params.malformed_rate = 0.02;
    return testing::MakeStream(params);
  }();
  return stream;
}

bool HasDeadLetter(const std::vector<OutMessage>& outbox) {
  return std::any_of(outbox.begin(), outbox.end(),
                     [](const OutMessage& m) { return m.topic == "kpi.dlq"; });
}

// One memory cluster holding the stream, and the state directory of the instance run on it.
class Harness {
 public:
  Harness() {
    static int instances = 0;
    dir_ = fs::temp_directory_path() /
           ("kpi-commit-" + std::to_string(::getpid()) + "-" + std::to_string(++instances));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    log_ =
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
    cluster_ = testing::NewCluster(config_, kPartitions, 2);
    testing::Produce(*cluster_, TestStream(), 0, SIZE_MAX);
    config_.state_path = (dir_ / "state").string();
    config_.fixed_as_of = TestStream().as_of;
    config_.commit_max_events = 300;  // many commits
    config_.commit_interval_ms = 1000000;
    config_.state_memory_mb = 64;
  }
  ~Harness() { fs::remove_all(dir_); }

  // Runs an instance until its partitions are drained (or the fault hook crashes it).
  std::expected<void, Failure> RunOnce(FaultHook hook = {}) {
    auto rt = Runtime::Create(config_, clock_, log_, cluster_->NewBus("kpi", config_.input_topics));
    if (!rt) return std::unexpected(rt.error());
    if (hook) (*rt)->SetFaultHook(std::move(hook));
    return testing::RunUntilIdle(*cluster_, **rt);
  }

  // Crashes at the n-th time `step` is reached, restarts, and checks the outcome.
  void CrashAndRestart(CommitStep step, int n, bool queued_delivered) {
    SCOPED_TRACE(std::string(CommitStepName(step)) + " #" + std::to_string(n) +
                 (queued_delivered ? ", queued delivered" : ""));
    cluster_->SetDeliverQueuedOnDestroy(queued_delivered);
    int seen = 0;
    auto crashed = RunOnce([&](CommitStep s, const std::vector<OutMessage>& outbox) {
      return s == step && HasDeadLetter(outbox) && ++seen == n;
    });
    ASSERT_FALSE(crashed.has_value()) << "the fault was never reached";
    EXPECT_NE(crashed.error().message.find("fault injected"), std::string::npos)
        << crashed.error().message;
    cluster_->SetDeliverQueuedOnDestroy(false);
    auto resumed = RunOnce();
    ASSERT_TRUE(resumed.has_value()) << resumed.error().message;
    EXPECT_EQ(OutputTable(*cluster_), TestStream().table);
    const std::map<std::string, int> dead = DeadLetters(*cluster_);
    EXPECT_EQ(dead, Reference().second);
  }

  // The table and dead letters of an uninterrupted run over the same input (computed once).
  const std::pair<Table, std::map<std::string, int>>& Reference() {
    static std::pair<Table, std::map<std::string, int>> reference;
    if (reference.second.empty()) {
      Harness other;
      EXPECT_TRUE(other.RunOnce().has_value());
      reference = {OutputTable(*other.cluster_), DeadLetters(*other.cluster_)};
    }
    return reference;
  }

 protected:
  Config config_;
  fs::path dir_;
  SystemClock clock_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<MemoryCluster> cluster_;
};

class CommitProtocolTest : public ::testing::Test, public Harness {};

TEST_F(CommitProtocolTest, UninterruptedRunGivesTheReplayTableAndEachDeadLetterOnce) {
  ASSERT_TRUE(RunOnce().has_value());
  const Table table = TestStream().table;
  EXPECT_GT(table.size(), 1000u);
  EXPECT_EQ(OutputTable(*cluster_), table);
  const std::map<std::string, int> dead = DeadLetters(*cluster_);
  EXPECT_GE(dead.size(), 10u);  // malformed lines and invalid records
  for (const auto& [source, times] : dead) EXPECT_EQ(times, 1) << source;
}

TEST_F(CommitProtocolTest, CrashAfterTheBatchIsWritten) {
  CrashAndRestart(CommitStep::kBatchWritten, 3, false);
}
TEST_F(CommitProtocolTest, CrashAfterTheFirstBatchIsWritten) {
  CrashAndRestart(CommitStep::kBatchWritten, 1, false);
}
TEST_F(CommitProtocolTest, CrashAfterProducingWithTheQueueLost) {
  CrashAndRestart(CommitStep::kProduced, 4, false);
}
TEST_F(CommitProtocolTest, CrashAfterProducingWithTheQueueDelivered) {
  CrashAndRestart(CommitStep::kProduced, 4, true);
}
TEST_F(CommitProtocolTest, CrashAfterDeliveryIsConfirmed) {
  CrashAndRestart(CommitStep::kDelivered, 2, false);
}
TEST_F(CommitProtocolTest, CrashAfterTheOutboxIsDeleted) {
  CrashAndRestart(CommitStep::kOutboxDeleted, 5, false);
}

// Every commit crashes once at every step in turn: the output stays exact and dead letters are
// never duplicated or lost.
TEST_F(CommitProtocolTest, RepeatedCrashesAtEveryStep) {
  const CommitStep steps[] = {CommitStep::kBatchWritten, CommitStep::kProduced,
                              CommitStep::kDelivered, CommitStep::kOutboxDeleted};
  int crashes = 0;
  for (int round = 0; round < 12; ++round) {
    const CommitStep step = steps[round % 4];
    cluster_->SetDeliverQueuedOnDestroy(round % 3 == 0);
    int seen = 0;
    auto r = RunOnce([&](CommitStep s, const std::vector<OutMessage>& outbox) {
      return s == step && HasDeadLetter(outbox) && ++seen == 1;
    });
    if (r.has_value()) break;  // drained before the fault
    ASSERT_NE(r.error().message.find("fault injected"), std::string::npos) << r.error().message;
    ++crashes;
  }
  EXPECT_GE(crashes, 8);
  cluster_->SetDeliverQueuedOnDestroy(false);
  ASSERT_TRUE(RunOnce().has_value());
  EXPECT_EQ(OutputTable(*cluster_), TestStream().table);
  EXPECT_EQ(DeadLetters(*cluster_), Reference().second);
}

}  // namespace
}  // namespace kpi::runtime
