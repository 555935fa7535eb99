// Storage faults under `run` (state/faulty_store.h between the runtime and RocksDB, over the
// in-memory bus): a read, write or scan that fails, or a torn value, at several points of a run.
// The run stops with exit code 3 and a message without record content, having taken no I/O
// error for an absent key and committed nothing after it; a restart on the healthy store then
// gives the replay table and every dead letter once.
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "processor/runtime/runtime.h"
#include "state/faulty_store.h"
#include "tests/util/memory_bus_testing.h"

namespace kpi::runtime {
namespace {

namespace fs = std::filesystem;
using state::FaultyStore;

const testing::Stream& TestStream() {
  static const testing::Stream stream = [] {
    gen::Params params;
    params.children = 150;
    params.weeks = 5;
    params.seed = 23;
    params.malformed_rate = 0.02;
    return testing::MakeStream(params);
  }();
  return stream;
}

struct Fault {
  FaultyStore::Op op;
  FaultyStore::Fault fault;
  const char* name;
};

class StorageFaultTest : public ::testing::TestWithParam<Fault> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kpi-storage-fault-" + std::to_string(::getpid()) + "-" + GetParam().name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    log_ =
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
    config_.fixed_as_of = TestStream().as_of;
    config_.commit_max_events = 200;
    config_.commit_interval_ms = 1000000;
    config_.state_memory_mb = 1;  // children leave memory, so that reads reach the store
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::shared_ptr<MemoryCluster> NewCluster() {
    auto cluster = testing::NewCluster(config_, 2, 1);
    testing::Produce(*cluster, TestStream(), 0, SIZE_MAX);
    return cluster;
  }
  // Runs until the input is drained, through a FaultyStore that `arm` arms and `after` sees
  // once the run has ended.
  std::expected<void, Failure> RunOnce(MemoryCluster& cluster, const std::string& state,
                                       const std::function<void(FaultyStore&)>& arm,
                                       const std::function<void(const FaultyStore&)>& after) {
    config_.state_path = (dir_ / state).string();
    FaultyStore* store = nullptr;
    auto rt = Runtime::Create(config_, clock_, log_, cluster.NewBus("kpi", config_.input_topics),
                              [&](state::StateStore& rocksdb) {
                                auto faulty = std::make_unique<FaultyStore>(rocksdb);
                                if (arm) arm(*faulty);
                                store = faulty.get();
                                return faulty;
                              });
    if (!rt) return std::unexpected(rt.error());
    auto result = testing::RunUntilIdle(cluster, **rt);
    if (after) after(*store);
    return result;
  }

  Config config_;
  fs::path dir_;
  SystemClock clock_;
  std::shared_ptr<spdlog::logger> log_;
};

TEST_P(StorageFaultTest, RunStopsWithExitCode3AndARestartResumesExactly) {
  const Fault fault = GetParam();
  // A clean run: the table and dead letters to expect, and how many calls of the kind there are.
  auto clean = NewCluster();
  uint64_t calls = 0;
  ASSERT_TRUE(RunOnce(*clean, "clean", {}, [&](const FaultyStore& s) {
    calls = fault.fault == FaultyStore::Fault::kTorn ? s.values_read() : s.calls(fault.op);
  }));
  ASSERT_GT(calls, 3u) << "the stream reaches the store too little for this fault";
  const testing::Table reference = testing::OutputTable(*clean);
  const std::map<std::string, int> reference_dead = testing::DeadLetters(*clean);
  ASSERT_EQ(reference, TestStream().table);
  ASSERT_FALSE(reference_dead.empty());
  ASSERT_EQ(reference_dead,
            testing::WantedDeadLetters(*clean, Config().input_topics, TestStream().as_of));
  // The fault early, midway and late in the run; a restart on the healthy store after each.
  for (const uint64_t nth : {uint64_t{1}, calls / 2, calls - 1}) {
    SCOPED_TRACE(std::string(fault.name) + " at call " + std::to_string(nth) + " of " +
                 std::to_string(calls));
    auto cluster = NewCluster();
    const std::string state = "state-" + std::to_string(nth);
    bool fired = false;
    uint64_t writes_after = 0;
    auto failed = RunOnce(
        *cluster, state, [&](FaultyStore& s) { s.Arm(fault.op, nth, fault.fault); },
        [&](const FaultyStore& s) {
          fired = s.fired();
          writes_after = s.calls_after_fault(FaultyStore::Op::kWrite);
        });
    ASSERT_TRUE(fired);
    // Every decoder checks its value's exact structure, so a torn value is never taken for
    // data, and an I/O error is never taken for an absent key: each fault stops the run.
    ASSERT_FALSE(failed.has_value()) << "the fault was taken for data";
    EXPECT_EQ(failed.error().exit_code, kExitState) << failed.error().message;
    EXPECT_EQ(writes_after, 0u) << "a commit after the failure";
    // The message says what failed, never which child (the generated ids start with "C0").
    EXPECT_EQ(failed.error().message.find("C0"), std::string::npos) << failed.error().message;
    auto resumed = RunOnce(*cluster, state, {}, {});
    ASSERT_TRUE(resumed.has_value()) << resumed.error().message;
    EXPECT_EQ(testing::OutputTable(*cluster), reference);
    EXPECT_EQ(testing::DeadLetters(*cluster), reference_dead);
  }
}

// A full disk, as RocksDB meets it: writes past a size fail (EFBIG under RLIMIT_FSIZE, which
// needs no privileges, unlike a small tmpfs). The run stops with exit code 3 and says why; once
// there is room again, a restart gives the replay table and every dead letter once.
TEST(StorageFullTest, AFullDiskStopsTheRunWithExitCode3AndARestartResumesExactly) {
  const fs::path dir =
      fs::temp_directory_path() / ("kpi-storage-full-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto log =
      std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  Config config;
  config.fixed_as_of = TestStream().as_of;
  config.commit_max_events = 200;
  config.commit_interval_ms = 1000000;
  config.write_buffer_mb = 64;  // the write-ahead log grows past the limit before any flush
  config.state_path = (dir / "state").string();
  auto cluster = testing::NewCluster(config, 2, 1);
  testing::Produce(*cluster, TestStream(), 0, SIZE_MAX);
  SystemClock clock;
  const auto run = [&] {
    auto rt = Runtime::Create(config, clock, log, cluster->NewBus("kpi", config.input_topics));
    if (!rt) return std::expected<void, Failure>(std::unexpected(rt.error()));
    return testing::RunUntilIdle(*cluster, **rt);
  };
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto previous = std::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of a signal
  rlimit small = saved;
  small.rlim_cur = rlim_t{256} * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto full = run();
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
  std::signal(SIGXFSZ, previous);
  ASSERT_FALSE(full.has_value()) << "the stream never filled 256 KiB of a file";
  EXPECT_EQ(full.error().exit_code, kExitState) << full.error().message;
  EXPECT_NE(full.error().message.find("File too large"), std::string::npos) << full.error().message;
  auto resumed = run();
  ASSERT_TRUE(resumed.has_value()) << resumed.error().message;
  EXPECT_EQ(testing::OutputTable(*cluster), TestStream().table);
  const std::map<std::string, int> want =
      testing::WantedDeadLetters(*cluster, Config().input_topics, TestStream().as_of);
  EXPECT_FALSE(want.empty());
  EXPECT_EQ(testing::DeadLetters(*cluster), want);
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(
    Faults, StorageFaultTest,
    ::testing::Values(Fault{FaultyStore::Op::kGet, FaultyStore::Fault::kIoError, "ReadError"},
                      Fault{FaultyStore::Op::kGet, FaultyStore::Fault::kTorn, "TornValue"},
                      Fault{FaultyStore::Op::kWrite, FaultyStore::Fault::kIoError, "WriteError"},
                      Fault{FaultyStore::Op::kScan, FaultyStore::Fault::kIoError, "ScanError"},
                      Fault{FaultyStore::Op::kScan, FaultyStore::Fault::kMidScan, "MidScan"}),
    [](const ::testing::TestParamInfo<Fault>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace kpi::runtime
