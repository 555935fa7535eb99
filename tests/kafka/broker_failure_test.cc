// Broker failures on a real Apache Kafka cluster of three brokers (kafka_real_test only): every
// topic with replication factor 3 and min.insync.replicas=2, the processor scaled out (so that
// it writes the changelog and cells topics too) and producing with acks=all and idempotence.
// While input flows, the leader of the output, changelog and cells partitions is killed (-9) and
// restarted in turn; then two brokers are away for longer than the delivery timeout and come
// back. The output's last value per key must equal replay and every dead letter must be
// published once; while the cluster cannot take the writes, the processor says what it waits
// for; if it exits, it exits 4 and a restart finishes exactly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include "tools/cluster/harness.h"
#include "tools/gen/generator.h"

namespace kpi::testing {
namespace {

class BrokerFailureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kpi_brokers_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::vector<std::string> topics;
    const std::string replicated = ":4:min.insync.replicas=2";
    for (const std::string& t : kInputTopics) topics.push_back(t + replicated);
    for (const char* t : {"kpi.results", "kpi.changelog", "kpi.cells", "kpi.dlq"}) {
      topics.push_back(std::string(t).append(replicated));
    }
    cluster_ = TestCluster::Start(dir_, topics, {.brokers = 3});
    ASSERT_TRUE(cluster_->ok()) << cluster_->error();
    kafka_ = dynamic_cast<RealKafka*>(cluster_.get());
    ASSERT_NE(kafka_, nullptr) << "a real cluster (KPITEST_BROKER=kafka)";
  }
  void TearDown() override {
    processor_.reset();
    cluster_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  void StartProcessor() {
    {
      std::ofstream cfg(dir_ / "config.yaml");
      cfg << "kafka:\n"
          << cluster_->KafkaYaml() << "  session.timeout.ms: 6000\n  heartbeat.interval.ms: 1500\n"
          << "  fetch.wait.max.ms: 50\n  message.timeout.ms: 10000\n"
          << "input:\n  format: protobuf\n  formats:\n";
      for (const auto& [topic, json] : kJsonTopics) cfg << "    " << topic << ": json\n";
      cfg << "state:\n  path: " << (dir_ / "state").string() << "\n  block_cache_mb: 16\n"
          << "commit:\n  interval_ms: 100\n  delivery_timeout_ms: 10000\n"
          << "processing:\n  as_of: " << as_of_.ToString() << "\n"
          << "scale:\n  enabled: true\n  instance_id: kpi-0\n"
          << "metrics:\n  address: 127.0.0.1:0\nhttp:\n  address: 127.0.0.1:0\n";
    }
    processor_ = std::make_unique<Process>(
        std::vector<std::string>{(BinaryDir() / "kpi-processor").string(), "run", "--config",
                                 (dir_ / "config.yaml").string()},
        dir_ / "processor.log");
  }

  // Restarts a processor that exited with code 4, as its supervisor would; any other exit is a
  // failure (returned as false with the code in `exit_codes_`).
  bool Supervise() {
    if (processor_->running()) return true;
    const int code = processor_->Wait(0);
    exit_codes_.push_back(code);
    if (code != 4) return false;
    StartProcessor();
    return true;
  }

  bool Sleep(int ms) {
    for (const int64_t until = NowMs() + ms; NowMs() < until;) {
      if (!Supervise()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return true;
  }

  std::string Codes() const {
    std::string out = "exit codes seen:";
    for (const int c : exit_codes_) out += " " + std::to_string(c);
    return out + "\nprocessor log:\n" + Tail(dir_ / "processor.log") + "\n" + cluster_->Logs();
  }

  fs::path dir_;
  Date as_of_;
  std::unique_ptr<TestCluster> cluster_;
  RealKafka* kafka_ = nullptr;
  std::unique_ptr<Process> processor_;
  std::vector<int> exit_codes_;
};

TEST_F(BrokerFailureTest, LeadersKilledAndTwoBrokersAwayPastTheDeliveryTimeoutLoseNothing) {
  gen::Params p;
  p.children = 300;
  p.weeks = 8;
  p.start = Date::FromYmd(2026, 1, 5);
  p.malformed_rate = 0.01;
  as_of_ = gen::PeriodEnd(p) - 2;
  std::vector<std::string> lines;
  gen::Generate(p, [&](std::string_view line) { lines.emplace_back(line); });

  // Input arrives in paced chunks through every fault (the test's producer is idempotent, with
  // acks=all, and waits out the outage).
  std::atomic<bool> produced_all{false};
  std::atomic<bool> produce_failed{false};
  std::jthread producer([&] {
    const size_t chunks = 60;
    for (size_t c = 0; c < chunks; ++c) {
      Producer out(cluster_->bootstraps());
      for (size_t i = lines.size() * c / chunks; i < lines.size() * (c + 1) / chunks; ++i) {
        out.Produce(Route(lines[i], kJsonTopics, "contacts"));
      }
      if (!out.Flush(120000)) produce_failed = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    }
    produced_all = true;
  });
  StartProcessor();
  // 1. The leader of partition 0 of the output, the changelog and the cells, each killed while
  // input flows, and started again.
  for (const char* topic : {"kpi.results", "kpi.changelog", "kpi.cells"}) {
    ASSERT_TRUE(Sleep(4000)) << Codes();
    const int leader = kafka_->Leader(topic, 0);
    ASSERT_GE(leader, 1) << topic << "[0] has no leader\n" << cluster_->Logs();
    ASSERT_TRUE(kafka_->KillBroker(leader)) << cluster_->Logs();
    ASSERT_TRUE(Sleep(3000)) << Codes();
    ASSERT_TRUE(kafka_->StartBroker(leader)) << cluster_->Logs();
  }
  // 2. Two of the three brokers away for longer than commit.delivery_timeout_ms (10 s): no
  // partition has its two in-sync replicas, and the controllers have no quorum.
  ASSERT_TRUE(Sleep(3000)) << Codes();
  ASSERT_TRUE(kafka_->KillBroker(1)) << cluster_->Logs();
  ASSERT_TRUE(kafka_->KillBroker(2)) << cluster_->Logs();
  ASSERT_TRUE(Sleep(16000)) << Codes();
  const std::string during = Tail(dir_ / "processor.log", 100000000);
  // Both at once: either alone has no quorum to register with.
  bool second_started = false;
  std::thread second([&] { second_started = kafka_->StartBroker(2); });
  const bool first_started = kafka_->StartBroker(1);
  second.join();
  ASSERT_TRUE(first_started && second_started) << cluster_->Logs();
  // While the cluster could not take its writes, the processor said what it waited for (the
  // same figures are the kpi_delivery_* gauges).
  EXPECT_NE(during.find("commit waits for the cluster to acknowledge"), std::string::npos)
      << "no word of the wait in the log\n"
      << Codes();

  producer.join();
  ASSERT_FALSE(produce_failed.load()) << "the test's producer could not deliver its input";
  ASSERT_TRUE(produced_all.load());
  const Table expected = ReplayTable(lines, as_of_);
  bool done = false;
  for (const int64_t deadline = NowMs() + 240000; !done && NowMs() < deadline;) {
    ASSERT_TRUE(Supervise()) << Codes();
    done = CommittedRecords(dir_ / "state") == static_cast<int64_t>(lines.size()) &&
           LastValueTable(cluster_->bootstraps(), "kpi.results") == expected;
    if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_TRUE(done) << "after 240 s: " << CommittedRecords(dir_ / "state") << " of " << lines.size()
                    << " records committed; output rows "
                    << LastValueTable(cluster_->bootstraps(), "kpi.results").size() << " of "
                    << expected.size() << "\n"
                    << Codes();
  EXPECT_EQ(DeadLetterDifferences(cluster_->bootstraps(), "kpi.dlq", lines, as_of_), "");
  processor_->Signal(SIGTERM);
  EXPECT_EQ(processor_->Wait(30000), 0) << Codes();
  for (const int code : exit_codes_) EXPECT_EQ(code, 4) << Codes();
}

}  // namespace
}  // namespace kpi::testing
