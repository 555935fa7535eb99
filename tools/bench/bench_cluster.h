// What the broker benchmarks (e2e, latency, recovery) share: a scratch directory, a mock cluster
// with the example configuration's topics, and waiting for the processor's assignment and commits.
#pragma once

#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tools/cluster/harness.h"
#include "tools/cluster/http_get.h"

namespace kpi::bench {

namespace fs = std::filesystem;

using testing::kInputTopics;

// A new, empty directory /tmp/<name>_<pid>.
inline fs::path ScratchDir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// A cluster with every input topic and kpi.results at `partitions`, and kpi.dlq: kpi-mock-kafka,
// or with `broker` "kafka" a local Apache Kafka broker (tools/kafka/cluster.sh; its jars from
// tools/install-deps.sh). With `scaled`, the changelog and cells topics of scale.enabled too.
// Exits the program, naming `bench`, if the cluster does not start.
inline std::unique_ptr<testing::TestCluster> StartCluster(const fs::path& dir, int partitions,
                                                          const char* bench, bool scaled = false,
                                                          const std::string& broker = "mock") {
  std::vector<std::string> topics;
  for (const std::string& t : kInputTopics) topics.push_back(t + ":" + std::to_string(partitions));
  topics.push_back("kpi.results:" + std::to_string(partitions));
  topics.emplace_back("kpi.dlq:2");
  if (scaled) {
    topics.push_back("kpi.changelog:" + std::to_string(partitions));
    topics.push_back("kpi.cells:" + std::to_string(partitions));
  }
  if (broker != "mock" && broker != "kafka") {
    std::fprintf(stderr, "%s: --broker is mock or kafka, not %s\n", bench, broker.c_str());
    std::exit(2);
  }
  auto cluster = testing::TestCluster::Start(dir, topics, {.real = broker == "kafka"});
  if (!cluster->ok()) {
    std::fprintf(stderr, "%s: the %s broker did not start: %s\n", bench, broker.c_str(),
                 cluster->error().c_str());
    std::exit(1);
  }
  return cluster;
}

// Whether the file `log` contains `text` (the processor's log lines carry no child data).
inline bool LogHas(const fs::path& log, const std::string& text) {
  std::ifstream in(log);
  const std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s.find(text) != std::string::npos;
}

// Waits until `log` (the processor's) says partitions were assigned, or the processor stopped.
inline void WaitForAssignment(testing::Process& processor, const fs::path& log) {
  while (processor.running() && !LogHas(log, "assigned ")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// The sum of a counter's series in the processor's /metrics, or -1 when it does not answer.
inline double MetricSum(int port, const std::string& name) {
  const auto [status, body] = testing::HttpGet(port, "/metrics");
  if (status != 200) return -1;
  double sum = 0;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with(name)) continue;
    const char next = line.size() > name.size() ? line[name.size()] : ' ';
    if (next != '{' && next != ' ') continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

// Reads the processor's consumed counter every `poll_ms` until it is at least `at_least` (0: until
// /metrics answers at all) or the processor stopped; returns the last value read (-1: no answer).
// Each read is a whole scrape, so poll no faster than the figure needs: at 20 ms the scrapes took
// 6% of the processor.
inline double WaitForConsumed(testing::Process& processor, int metrics_port, double at_least,
                              int poll_ms) {
  double consumed = MetricSum(metrics_port, "kpi_events_consumed_total");
  while (processor.running() && consumed < at_least) {
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
    consumed = MetricSum(metrics_port, "kpi_events_consumed_total");
  }
  return consumed;
}

// Waits until the processor has committed `records` input records, or stopped. While it works,
// progress comes from its consumed counter; only the last stretch, from the last record
// consumed, reads the committed offsets from its state every 20 ms, since opening the store
// replays its write-ahead log: done throughout, that took a core from the processor measured.
inline void WaitForCommitted(testing::Process& processor, int metrics_port, const fs::path& state,
                             int64_t records) {
  WaitForConsumed(processor, metrics_port, static_cast<double>(records), 100);
  while (processor.running() && testing::CommittedRecords(state) < records) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// A plain librdkafka consumer (no group join, nothing committed) assigned every partition of
// `topics` from `offset` (RD_KAFKA_OFFSET_BEGINNING or _END), with `settings` added: the
// benchmarks' "raw consume" beside the processor. The caller closes and destroys it.
inline rd_kafka_t* AssignedConsumer(const std::string& bootstraps, const std::string& group,
                                    const std::vector<std::string>& topics, int partitions,
                                    int64_t offset,
                                    const std::map<std::string, std::string>& settings) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof err);
  for (const auto& [k, v] : settings)
    rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()) * partitions);
  for (const std::string& t : topics) {
    for (int p = 0; p < partitions; ++p)
      rd_kafka_topic_partition_list_add(list, t.c_str(), p)->offset = offset;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  return rk;
}

}  // namespace kpi::bench
