// Scaled-out processors (scale.enabled) as separate processes against a broker over TCP (the
// mock; in kafka_real_test a real Apache Kafka):
// scaling 1 -> 3 -> 1 while input arrives; three instances with one killed (-9) and restarted
// five times; an instance stopped (SIGSTOP) past its session and resumed; a fresh instance
// restoring from a changelog whose head retention dropped. Each ends with the last value per
// output key equal to the replay table, every dead letter once, and /kpi on every instance equal
// to it too.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "processor/runtime/changelog.h"
#include "processor/runtime/rdkafka_bus.h"
#include "tools/cluster/harness.h"
#include "tools/cluster/http_get.h"
#include "tools/gen/generator.h"

namespace kpi::testing {
namespace {

class ScaleOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kpi_scale_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::vector<std::string> topics;
    for (const std::string& t : kInputTopics) topics.push_back(t + ":4");
    // The changelog's segments (Kafka 4's least, 1 MiB) and retention are small, so that a real
    // broker drops its head as the mock's retention (about 5 MiB per partition) does; the mock
    // ignores topic settings.
    for (const char* t : {"kpi.results:4", "kpi.cells:4", "kpi.dlq:2",
                          "kpi.changelog:4:segment.bytes=1048576,retention.bytes=2097152"}) {
      topics.emplace_back(t);
    }
    cluster_ = TestCluster::Start(dir_, topics);
    ASSERT_TRUE(cluster_->ok()) << cluster_->error();
  }
  void TearDown() override {
    instances_.clear();
    cluster_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  std::vector<std::string> Generate(uint32_t children, uint32_t weeks) {
    gen::Params p;
    p.children = children;
    p.weeks = weeks;
    p.start = Date::FromYmd(2026, 1, 5);
    p.malformed_rate = 0.01;
    as_of_ = gen::PeriodEnd(p) - 2;
    std::vector<std::string> lines;
    gen::Generate(p, [&](std::string_view line) { lines.emplace_back(line); });
    return lines;
  }

  struct Instance {
    std::unique_ptr<Process> process;
    int http_port = 0;
    fs::path log;
  };

  // Settings added to sections of the configuration (YAML lines, indented).
  struct Extra {
    std::string kafka;
    std::string commit;
    std::string scale;
  };
  // Starts (or restarts) instance `i` with its own state directory.
  void Start(int i, const Extra& extra = {}) {
    Instance& in = instances_[i];
    in.http_port = 0;  // chosen by the system, read from the log (FreePort could race)
    in.log = dir_ / ("processor-" + std::to_string(i) + ".log");
    const fs::path config = dir_ / ("config-" + std::to_string(i) + ".yaml");
    std::ofstream cfg(config);
    cfg << "kafka:\n"
        << cluster_->KafkaYaml() << "  session.timeout.ms: 6000\n  heartbeat.interval.ms: 1500\n"
        << "  fetch.wait.max.ms: 50\n  message.timeout.ms: 60000\n"
        << extra.kafka << "input:\n  format: protobuf\n  formats:\n";
    for (const auto& [topic, json] : kJsonTopics) cfg << "    " << topic << ": json\n";
    cfg << "state:\n  path: " << (dir_ / ("state-" + std::to_string(i))).string()
        << "\n  block_cache_mb: 16\n"
        << "commit:\n  interval_ms: 100\n  delivery_timeout_ms: 60000\n"
        << extra.commit << "processing:\n  as_of: " << as_of_.ToString() << "\n"
        << "scale:\n  enabled: true\n  instance_id: kpi-" << i << "\n"
        << extra.scale
        << "metrics:\n  address: 127.0.0.1:0\nhttp:\n  address: 127.0.0.1:" << in.http_port << "\n";
    cfg.close();
    in.process =
        std::make_unique<Process>(std::vector<std::string>{(BinaryDir() / "kpi-processor").string(),
                                                           "run", "--config", config.string()},
                                  in.log);
  }
  int Stop(int i) {
    Instance& in = instances_[i];
    in.process->Signal(SIGTERM);
    const int code = in.process->Wait(30000);
    in.process.reset();
    return code;
  }

  void Produce(const std::vector<std::string>& lines, size_t from, size_t to) {
    Producer producer(cluster_->bootstraps());
    for (size_t i = from; i < to; ++i) producer.Produce(Route(lines[i], kJsonTopics, "contacts"));
    ASSERT_TRUE(producer.Flush(30000));
  }

  // Waits until the output's last values equal `expected`.
  bool WaitForTable(const Table& expected, int timeout_ms) {
    const int64_t deadline = NowMs() + timeout_ms;
    while (NowMs() < deadline) {
      if (LastValueTable(cluster_->bootstraps(), "kpi.results") == expected) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return false;
  }
  // Waits until /kpi of every running instance equals `expected`.
  bool WaitForServed(const Table& expected, int timeout_ms) {
    const int64_t deadline = NowMs() + timeout_ms;
    while (NowMs() < deadline) {
      bool all = true;
      for (auto& [i, in] : instances_) {
        if (!in.process || !in.process->running()) continue;
        if (in.http_port == 0) in.http_port = QueriesPort(in.log);
        if (in.http_port == 0 || ServedTable(in.http_port) != expected) all = false;
      }
      if (all) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return false;
  }
  std::string Diff(const Table& expected) {
    const Table got = LastValueTable(cluster_->bootstraps(), "kpi.results");
    int missing = 0;
    int wrong = 0;
    int extra = 0;
    std::string first;
    for (const auto& [k, v] : expected) {
      const auto it = got.find(k);
      if (it == got.end()) {
        ++missing;
      } else if (it->second != v) {
        ++wrong;
        if (first.empty()) first = k;
      }
    }
    for (const auto& [k, v] : got) extra += expected.contains(k) ? 0 : 1;
    return "rows: " + std::to_string(expected.size()) + " expected, " + std::to_string(missing) +
           " missing, " + std::to_string(wrong) + " wrong (first " + first + "), " +
           std::to_string(extra) + " extra";
  }
  // The dead-letter topic holds exactly the dead letters `lines` must give (value and reason of
  // each), each source (topic, partition, offset) once; and there are some.
  void ExpectTheDeadLetters(const std::vector<std::string>& lines) {
    EXPECT_FALSE(WantedDeadLetters(lines, kJsonTopics, as_of_).empty());
    EXPECT_EQ(DeadLetterDifferences(cluster_->bootstraps(), "kpi.dlq", lines, as_of_), "");
  }
  std::string Logs() {
    std::string all;
    for (const auto& [i, in] : instances_) all += "--- " + in.log.string() + "\n" + Tail(in.log);
    return all;
  }
  // Whether some task `owner` claimed was claimed later, with a newer epoch, by another instance
  // (the changelog's claims, in offset order per task).
  bool ClaimedAwayFrom(const std::string& owner) const {
    std::map<int32_t, uint64_t> held;  // task -> epoch of owner's latest claim
    bool away = false;
    for (const Consumed& c : ReadTopic(cluster_->bootstraps(), "kpi.changelog")) {
      const std::optional<runtime::LogRecord> r = runtime::DecodeLogRecord(c.value);
      if (!r || r->type != runtime::LogRecord::Type::kClaim) continue;
      if (r->owner == owner) {
        held[c.partition] = r->epoch;
      } else if (const auto it = held.find(c.partition);
                 it != held.end() && r->epoch > it->second) {
        away = true;
      }
    }
    return away;
  }
  static int QueriesPort(const fs::path& log) { return LoggedPort(log, "queries on "); }
  static int MetricsPort(const fs::path& log) { return LoggedPort(log, "metrics on "); }
  // The value of one sample of instance i's /metrics (`series` as printed, labels included), or
  // -1 when it does not answer or has no such sample.
  double Metric(int i, const std::string& series) {
    return SampleOf(ScrapeMetrics(MetricsPort(instances_[i].log)), series);
  }
  // Restores of instance i whose state came from `source` (local, changelog or rebuild).
  double Restores(int i, const std::string& source) {
    return Metric(i, "kpi_restores_total{source=\"" + source + "\"}");
  }
  // Waits until `done()`, for at most timeout_ms.
  template <typename Done>
  static bool WaitUntil(Done done, int timeout_ms) {
    for (const int64_t deadline = NowMs() + timeout_ms; NowMs() < deadline;) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return done();
  }

  fs::path dir_;
  Date as_of_;
  std::unique_ptr<TestCluster> cluster_;
  std::map<int, Instance> instances_;
};

TEST_F(ScaleOutTest, ScalingOneToThreeToOneWhileInputArrives) {
  const std::vector<std::string> lines = Generate(300, 8);
  const Table expected = ReplayTable(lines, as_of_);
  const size_t n = lines.size();
  Start(0);
  Produce(lines, 0, n / 3);
  // Instance 0 serves all four tasks before the others join, so that tasks move to them.
  ASSERT_TRUE(WaitUntil([&] { return Metric(0, "kpi_tasks_owned") == 4; }, 60000))
      << "instance 0 serving all four tasks within 60 s\n"
      << Logs();
  Start(1);
  Start(2);
  Produce(lines, n / 3, 2 * n / 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(12000));
  // Tasks moved to the new instances, restored from the changelog (their state is empty).
  EXPECT_TRUE(WaitUntil(
      [&] { return Restores(1, "changelog") >= 1 || Restores(2, "changelog") >= 1; }, 30000))
      << "a task restored from the changelog by instance 1 or 2 within 30 s\n"
      << Logs();
  EXPECT_EQ(Restores(1, "rebuild"), 0) << Logs();
  EXPECT_EQ(Restores(2, "rebuild"), 0) << Logs();
  EXPECT_EQ(Stop(1), 0) << Logs();
  EXPECT_EQ(Stop(2), 0) << Logs();
  Produce(lines, 2 * n / 3, n);
  ASSERT_TRUE(WaitForTable(expected, 120000)) << Diff(expected) << Logs();
  EXPECT_TRUE(WaitForServed(expected, 30000)) << Logs();
  ExpectTheDeadLetters(lines);
  // And back: instance 0's copies are older than the changelog now.
  EXPECT_TRUE(WaitUntil([&] { return Restores(0, "changelog") >= 1; }, 30000))
      << "a task restored from the changelog by instance 0 within 30 s\n"
      << Logs();
  EXPECT_EQ(Stop(0), 0);
}

TEST_F(ScaleOutTest, ThreeInstancesOneKilledFiveTimesUnderASupervisor) {
  const std::vector<std::string> lines = Generate(300, 8);
  const Table expected = ReplayTable(lines, as_of_);
  std::atomic<bool> producing{true};
  std::jthread producer([&] {
    const size_t chunks = 30;
    for (size_t c = 0; c < chunks; ++c) {
      Produce(lines, lines.size() * c / chunks, lines.size() * (c + 1) / chunks);
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    }
    producing = false;
  });
  for (int i = 0; i < 3; ++i) Start(i);
  // The supervisor restarts an instance that exits, as Kubernetes would, until the end. An
  // instance may exit only as fenced (5) or with its session lost (4), never otherwise.
  const auto supervise = [&] {
    for (int i : {0, 1, 2}) {
      if (instances_[i].process->running()) continue;
      const int code = instances_[i].process->Wait(0);
      const std::string log = Tail(instances_[i].log, 10000000);
      const size_t at = log.rfind("critical");
      const std::string last = at == std::string::npos ? "(no critical line)" : log.substr(at);
      EXPECT_TRUE(code == 5 || (code == 4 && last.find("session lost") != std::string::npos))
          << "instance " << i << " exited with " << code << ": " << last;
      Start(i);
    }
  };
  std::mt19937_64 rng(7);
  int kills = 0;
  while (kills < 5) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3000 + rng() % 4000));
    supervise();
    instances_[2].process->Signal(SIGKILL);
    instances_[2].process->Wait(10000);
    ++kills;
    Start(2);
  }
  producer.join();
  bool done = false;
  for (const int64_t deadline = NowMs() + 180000; !done && NowMs() < deadline;) {
    supervise();
    done = WaitForTable(expected, 2000) && WaitForServed(expected, 2000);
  }
  EXPECT_TRUE(done) << Diff(expected) << Logs();
  ExpectTheDeadLetters(lines);
  for (int i = 0; i < 3; ++i) {
    if (instances_[i].process->running()) Stop(i);
  }
}

TEST_F(ScaleOutTest, AnInstanceStoppedPastItsSessionIsFencedAndChangesNothing) {
  const std::vector<std::string> lines = Generate(250, 8);
  const Table expected = ReplayTable(lines, as_of_);
  const size_t n = lines.size();
  Start(0);
  Start(1);
  Produce(lines, 0, n / 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(8000));
  // Instance 1 freezes (a long GC pause, a VM stall) past its 6 s session while input arrives.
  instances_[1].process->Signal(SIGSTOP);
  std::jthread producer([&] { Produce(lines, n / 2, n); });
  std::this_thread::sleep_for(std::chrono::milliseconds(14000));
  producer.join();
  instances_[1].process->Signal(SIGCONT);
  // It notices that its tasks were taken (fenced, or its session lost) and exits.
  const int code = instances_[1].process->Wait(60000);
  EXPECT_TRUE(code == 5 || code == 4) << "exit code " << code << "\n" << Logs();
  // The changelog says why: a task instance 1 had claimed was claimed after it, with a newer
  // epoch, by another instance.
  EXPECT_TRUE(ClaimedAwayFrom("kpi-1")) << "no task of kpi-1's claimed by another instance\n"
                                        << Logs();
  instances_[1].process.reset();
  ASSERT_TRUE(WaitForTable(expected, 120000)) << Diff(expected) << Logs();
  EXPECT_TRUE(WaitForServed(expected, 30000)) << Logs();
  ExpectTheDeadLetters(lines);
  EXPECT_EQ(Stop(0), 0);
}

TEST_F(ScaleOutTest, AFreshInstanceRestoresATaskWhoseChangelogHeadWasDropped) {
  // Much changelog per task (small commits, no compression, a snapshot every MiB), so that the
  // mock's retention (about 5 MiB per partition) drops the head.
  const std::vector<std::string> lines = Generate(1000, 14);
  const Table expected = ReplayTable(lines, as_of_);
  const Extra extra{"  producer.compression.type: none\n", "  max_events: 40\n",
                    "  snapshot_mb: 1\n"};
  Start(0, extra);
  Produce(lines, 0, lines.size());
  ASSERT_TRUE(WaitForTable(expected, 240000)) << Diff(expected) << Logs();
  EXPECT_EQ(Stop(0), 0);
  // The head of some changelog partition is gone (a real broker's retention runs every 2 s:
  // tools/kafka/cluster.sh).
  auto bus = runtime::OpenRdKafkaBus(
      {{"bootstrap.servers", cluster_->bootstraps()}, {"group.id", "probe"}}, {"contacts"});
  ASSERT_TRUE(bus.has_value()) << bus.error();
  int64_t dropped = 0;
  for (const int64_t deadline = NowMs() + 30000; dropped == 0 && NowMs() < deadline;) {
    for (int32_t p = 0; p < 4; ++p) {
      auto marks = bus->reader->Watermarks({"kpi.changelog", p}, 10000);
      ASSERT_TRUE(marks.has_value()) << marks.error();
      dropped = std::max(dropped, marks->first);
    }
    if (dropped == 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  bus->source->Close();
  ASSERT_GT(dropped, 0) << "retention dropped nothing: the test needs more changelog";
  // A new instance with an empty state directory takes every task.
  Start(5);
  ASSERT_TRUE(WaitForServed(expected, 120000)) << Logs();
  // (The global table can be served from kpi.cells before the last restore ends, and /metrics
  // follows the runtime's status report, about once a second.)
  EXPECT_TRUE(WaitUntil([&] { return Restores(5, "changelog") == 4; }, 30000))
      << "all four tasks restored from the changelog by instance 5 within 30 s\n"
      << Logs();
  EXPECT_EQ(Restores(5, "rebuild"), 0) << Logs();
  ASSERT_TRUE(WaitForTable(expected, 60000)) << Diff(expected);
  EXPECT_EQ(Stop(5), 0);
}

// Starts one scaled-out instance on `topics` ("name:partitions") with `scale` (YAML lines of the
// scale section after enabled) and expects it to stop at once with exit code 2 and `message` in
// its log.
void ExpectRefusedAtStart(const std::string& name, const std::vector<std::string>& topics,
                          const std::string& scale, const std::string& message) {
  const fs::path dir = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto cluster = TestCluster::Start(dir, topics);
  ASSERT_TRUE(cluster->ok()) << cluster->error();
  {
    std::ofstream cfg(dir / "config.yaml");
    cfg << "kafka:\n"
        << cluster->KafkaYaml() << "state:\n  path: " << (dir / "state").string() << "\n"
        << "scale:\n  enabled: true\n"
        << scale << "metrics:\n  address: \"\"\nhttp:\n  address: \"\"\n";
  }
  Process processor(
      {(BinaryDir() / "kpi-processor").string(), "run", "--config", (dir / "config.yaml").string()},
      dir / "processor.log");
  EXPECT_EQ(processor.Wait(30000), 2) << Tail(dir / "processor.log");
  const std::string log = Tail(dir / "processor.log");
  EXPECT_NE(log.find(message), std::string::npos) << log;
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

// A changelog or cells topic whose partition count differs from the input's is refused at start
// with a message naming the topics, and exit code 2 (the supervisor does not restart it).
TEST(ScaleOutTopicsTest, APartitionCountMismatchIsRefusedWithExitCode2) {
  std::vector<std::string> topics;
  for (const std::string& t : kInputTopics) topics.push_back(t + ":4");
  for (const char* t : {"kpi.results:4", "kpi.changelog:4", "kpi.cells:2", "kpi.dlq:1"}) {
    topics.emplace_back(t);
  }
  ExpectRefusedAtStart("kpi_scale_topics", topics, "",
                       "topic kpi.cells has 2 partitions but contacts has 4");
}

// A missing changelog topic is refused at start with exit code 2 and a message naming it. Real
// brokers only: the mock creates any topic a client names.
TEST(ScaleOutTopicsTest, AMissingChangelogTopicIsRefusedWithExitCode2) {
  if (!TestCluster::RealFromEnvironment()) GTEST_SKIP() << "the mock creates every topic named";
  std::vector<std::string> topics;
  for (const std::string& t : kInputTopics) topics.push_back(t + ":2");
  for (const char* t : {"kpi.results:2", "kpi.cells:2", "kpi.dlq:1"}) topics.emplace_back(t);
  ExpectRefusedAtStart("kpi_scale_missing", topics, "  changelog_topic: kpi.changelog.missing\n",
                       "topic kpi.changelog.missing does not exist");
}

}  // namespace
}  // namespace kpi::testing
