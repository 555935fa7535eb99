// End-to-end throughput through the (mock) broker, beside the raw consume rate of the same
// topics by a plain librdkafka consumer, measured in the same run. Prints figures; not a test.
//
//   build/bin/kpi-e2e-bench [--children 2600] [--weeks 26] [--partitions 8] [--instances 1]
//                           [--scaled] [--broker mock|kafka]
//
// Steps: start kpi-mock-kafka (or, with --broker kafka, a local Apache Kafka broker); produce a
// generated authority (protobuf, lz4) to the input topics; read every input topic to its end with a
// plain consumer (raw rate); run kpi-processor and time it from its partition assignment to the
// commit of the last input record (end-to-end rate). With --instances N (N > 1 implies --scaled)
// that many processes run in one group with scale.enabled, each with its own state directory,
// started together; the time runs from the first assignment to the commit of the last record by any
// of them.
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <thread>

#include "tests/kafka/harness.h"
#include "tools/bench/bench_cluster.h"
#include "tools/gen/generator.h"
#include "tools/guarded_main.h"

namespace {

using kpi::testing::fs::path;

double Seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Reads every partition of `topics` from the beginning to its end; returns records read.
uint64_t RawConsume(const std::string& bootstraps, int partitions) {
  rd_kafka_t* rk = kpi::bench::AssignedConsumer(
      bootstraps, "kpi-bench-raw", kpi::bench::kInputTopics, partitions, RD_KAFKA_OFFSET_BEGINNING,
      {{"enable.partition.eof", "true"}, {"fetch.wait.max.ms", "50"}});
  uint64_t records = 0;
  int eof = 0;
  const int total = partitions * static_cast<int>(kpi::bench::kInputTopics.size());
  while (eof < total) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ++eof;
    } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++records;
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return records;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"kpi-e2e-bench: end-to-end events/s through the broker beside raw consume"};
  kpi::gen::Params params;
  params.children = 2600;
  params.weeks = 26;
  params.malformed_rate = 0.001;
  int partitions = 8;
  int instances = 1;
  bool scaled = false;
  app.add_option("--instances", instances, "processes in the group (scale.enabled when > 1)")
      ->capture_default_str();
  app.add_flag("--scaled", scaled, "scale.enabled even with one instance");
  app.add_option("--children", params.children)->capture_default_str();
  app.add_option("--weeks", params.weeks)->capture_default_str();
  app.add_option("--partitions", partitions, "partitions of every input topic")
      ->capture_default_str();
  std::string broker = "mock";
  app.add_option("--broker", broker, "mock (kpi-mock-kafka) or kafka (tools/kafka/cluster.sh)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  scaled = scaled || instances > 1;

  const path dir = kpi::bench::ScratchDir("kpi_e2e_bench");
  const auto cluster = kpi::bench::StartCluster(dir, partitions, "kpi-e2e-bench", scaled, broker);
  kpi::testing::TestCluster& mock = *cluster;

  std::vector<std::string> lines;
  kpi::gen::Generate(params, [&](std::string_view l) { lines.emplace_back(l); });
  const kpi::Date as_of = kpi::gen::PeriodEnd(params);
  std::map<std::string, bool> json;  // every topic protobuf
  double t = Seconds();
  {
    kpi::testing::Producer producer(mock.bootstraps());
    for (const std::string& line : lines)
      producer.Produce(kpi::testing::Route(line, json, "contacts"));
    if (!producer.Flush(120000)) {
      std::fprintf(stderr, "kpi-e2e-bench: produce failed\n");
      return 1;
    }
  }
  const double produce_s = Seconds() - t;

  t = Seconds();
  const uint64_t raw = RawConsume(mock.bootstraps(), partitions);
  const double raw_s = Seconds() - t;

  std::vector<std::unique_ptr<kpi::testing::Process>> processors;
  std::vector<int> metrics_ports;
  for (int i = 0; i < instances; ++i) {
    const std::string name = "instance-" + std::to_string(i);
    metrics_ports.push_back(kpi::testing::FreePort());
    std::ofstream cfg(dir / (name + ".yaml"));
    cfg << "kafka:\n"
        << mock.KafkaYaml() << "  session.timeout.ms: 6000\n  fetch.wait.max.ms: 50\n"
        << "state:\n  path: " << (dir / ("state-" + name)).string() << "\n"
        << "processing:\n  as_of: " << as_of.ToString() << "\n"
        << "metrics:\n  address: 127.0.0.1:" << metrics_ports.back()
        << "\nhttp:\n  address: 127.0.0.1:0\n";
    if (scaled) cfg << "scale:\n  enabled: true\n  instance_id: " << name << "\n";
    cfg.close();
    processors.push_back(std::make_unique<kpi::testing::Process>(
        std::vector<std::string>{(kpi::testing::BinaryDir() / "kpi-processor").string(), "run",
                                 "--config", (dir / (name + ".yaml")).string()},
        dir / (name + ".log")));
  }
  // From the first assignment (the mock's group join takes seconds) to the last record committed.
  kpi::bench::WaitForAssignment(*processors[0], dir / "instance-0.log");
  const double assigned = Seconds();
  if (instances == 1) {
    kpi::bench::WaitForCommitted(*processors[0], metrics_ports[0], dir / "state-instance-0",
                                 static_cast<int64_t>(lines.size()));
  } else {
    // The instances joined together, so no task moved: the committed offsets of their state
    // directories add up to the input.
    while (true) {
      double consumed = 0;
      for (const int port : metrics_ports) {
        consumed += std::max(0.0, kpi::bench::MetricSum(port, "kpi_events_consumed_total"));
      }
      if (consumed >= static_cast<double>(lines.size())) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    while (true) {
      int64_t committed = 0;
      for (int i = 0; i < instances; ++i) {
        committed += kpi::testing::CommittedRecords(dir / ("state-instance-" + std::to_string(i)));
      }
      if (committed >= static_cast<int64_t>(lines.size())) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  const double e2e_s = Seconds() - assigned;
  for (auto& processor : processors) processor->Signal(SIGTERM);
  for (auto& processor : processors) processor->Wait(30000);

  const auto n = static_cast<double>(lines.size());
  std::printf("events                 %zu (%u children, %u weeks, %d partitions per topic)\n",
              lines.size(), params.children, params.weeks, partitions);
  std::printf("broker                 %s\n", broker == "kafka"
                                                 ? "Apache Kafka 4.4 (one broker)"
                                                 : "librdkafka's mock (kpi-mock-kafka)");
  std::printf("produce                %.0f events/s\n", n / produce_s);
  std::printf("raw consume            %.0f events/s (%llu records, plain librdkafka consumer)\n",
              static_cast<double>(raw) / raw_s, static_cast<unsigned long long>(raw));
  std::printf(
      "kpi-processor e2e      %.0f events/s (assignment to last commit, %.2f s; %d "
      "instance(s)%s)\n",
      n / e2e_s, e2e_s, instances, scaled ? ", scale.enabled" : "");
  std::printf("ratio e2e / raw        %.2f\n", (n / e2e_s) / (static_cast<double>(raw) / raw_s));
  kpi::testing::fs::remove_all(dir);
  return 0;
}

int main(int argc, char** argv) {
  return kpi::tools::GuardedMain("kpi-e2e-bench", [&] { return Main(argc, argv); });
}
