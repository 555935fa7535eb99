// kpi-latency-bench: event-to-output latency at a fixed input rate, through the (mock) broker:
// from the moment an event is handed to the producer to the moment a consumer of the output
// topic can read a KPI row that counts it. Prints p50/p90/p99/max; not a test.
//
//   build/bin/kpi-latency-bench [--rate 20000] [--seconds 30] [--commit-interval-ms 50]
//                               [--broker mock|kafka] [--system processor|peer-eos|peer-alos]
//
// --system peer-eos or peer-alos measures the Kafka Streams peer of tools/bench/peer instead
// (exactly_once_v2 or at_least_once, its default commit intervals; --broker kafka only), on the
// same input written as JSON: it computes `contacts` under `all` too, so the markers are the same.
//
// A generated authority is produced at --rate events/s. One event in --marker-every is a marker:
// a contact of a new child dated in the week of 2000-01-03, which no generated record touches.
// The consumer follows the row `contacts|2000-01-03|all`; when its count reaches n, the n-th
// marker is readable, and its latency is now minus the time it was produced. Markers are keyed by
// their own child like every record, so they spread over the partitions with the rest.
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <regex>
#include <thread>

#include "tools/bench/bench_cluster.h"
#include "tools/cluster/harness.h"
#include "tools/gen/generator.h"
#include "tools/guarded_main.h"

namespace {

using kpi::testing::fs::path;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

const std::string kMarkerRow = "contacts|2000-01-03|all";

// A plain consumer of `topic` from `offset` on a thread of its own, handing each message and
// the time it was read to `on_message` (on that thread).
class Watcher {
 public:
  using Handler = std::function<void(const rd_kafka_message_t&, Clock::time_point)>;
  Watcher(const std::string& bootstraps, const std::string& group, const std::string& topic,
          int partitions, int64_t offset, Handler on_message)
      : rk_(kpi::bench::AssignedConsumer(
            bootstraps, group, {topic}, partitions, offset,
            {{"fetch.wait.max.ms", "5"}, {"fetch.error.backoff.ms", "5"}})),
        on_message_(std::move(on_message)),
        thread_([this] { Loop(); }) {}
  ~Watcher() {
    stop_ = true;
    thread_.join();
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
  }

 private:
  void Loop() {
    while (!stop_) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 5);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) on_message_(*m, Clock::now());
      rd_kafka_message_destroy(m);
    }
  }
  rd_kafka_t* rk_;
  Handler on_message_;
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: starts once the members above are ready
};

std::string_view KeyOf(const rd_kafka_message_t& m) {
  return m.key != nullptr ? std::string_view(static_cast<const char*>(m.key), m.key_len)
                          : std::string_view();
}

// Follows kMarkerRow on the output topic: seen()[i] is when count i + 1 was first readable.
class Follower {
 public:
  Follower(const std::string& bootstraps, int partitions)
      : watcher_(bootstraps, "kpi-latency-bench", "kpi.results", partitions,
                 RD_KAFKA_OFFSET_BEGINNING,
                 [this](const rd_kafka_message_t& m, Clock::time_point at) { Saw(m, at); }) {}
  std::vector<Clock::time_point> Seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  void Saw(const rd_kafka_message_t& m, Clock::time_point at) {
    static const std::regex kCount(R"("count":\s*"?(\d+))");
    if (KeyOf(m) != kMarkerRow) return;
    const std::string value(static_cast<const char*>(m.payload), m.len);
    std::smatch match;
    if (!std::regex_search(value, match, kCount)) return;
    const size_t count = std::stoull(match[1].str());
    std::lock_guard lock(mu_);
    while (seen_.size() < count) seen_.push_back(at);
  }
  std::mutex mu_;
  std::vector<Clock::time_point> seen_;
  Watcher watcher_;  // last: its thread calls Saw
};

// The baseline: the markers themselves on the input topic they go to, read by a plain consumer
// from its end (Kafka's own produce-to-consume latency, same broker, same run): marker index ->
// when it was first readable.
class RawFollower {
 public:
  RawFollower(const std::string& bootstraps, int partitions)
      : watcher_(bootstraps, "kpi-latency-bench-raw", "contacts", partitions, RD_KAFKA_OFFSET_END,
                 [this](const rd_kafka_message_t& m, Clock::time_point at) {
                   if (!KeyOf(m).starts_with("LAT")) return;
                   std::lock_guard lock(mu_);
                   seen_.emplace(std::stoull(std::string(KeyOf(m).substr(3))), at);
                 }) {}
  std::map<size_t, Clock::time_point> Seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  std::mutex mu_;
  std::map<size_t, Clock::time_point> seen_;
  Watcher watcher_;  // last: its thread writes seen_
};

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  return v[i];
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"kpi-latency-bench: event-to-output latency at a fixed input rate"};
  int rate = 20000;
  int seconds = 30;
  int partitions = 8;
  int marker_every = 20;
  int commit_interval_ms = 50;
  int warmup_seconds = 3;
  app.add_option("--rate", rate, "input events per second")->capture_default_str();
  app.add_option("--seconds", seconds, "how long to produce")->capture_default_str();
  app.add_option("--partitions", partitions, "partitions per topic")->capture_default_str();
  app.add_option("--marker-every", marker_every, "one marker per this many events")
      ->capture_default_str();
  app.add_option("--commit-interval-ms", commit_interval_ms, "the processor's commit.interval_ms")
      ->capture_default_str();
  app.add_option("--warmup-seconds", warmup_seconds, "markers of the first seconds not counted")
      ->capture_default_str();
  std::string broker = "mock";
  app.add_option("--broker", broker, "mock (kpi-mock-kafka) or kafka (tools/kafka/cluster.sh)")
      ->capture_default_str();
  std::string system = "processor";
  app.add_option("--system", system, "processor, or the Kafka Streams peer: peer-eos, peer-alos")
      ->capture_default_str()
      ->check(CLI::IsMember({"processor", "peer-eos", "peer-alos"}));
  CLI11_PARSE(app, argc, argv);
  const bool peer = system != "processor";
  if (peer && broker != "kafka") {
    std::fprintf(stderr, "kpi-latency-bench: the peer runs on --broker kafka only\n");
    return 2;
  }

  const path dir = kpi::bench::ScratchDir("kpi_latency_bench");
  const auto cluster =
      kpi::bench::StartCluster(dir, partitions, "kpi-latency-bench", false, broker);
  kpi::testing::TestCluster& mock = *cluster;

  // Enough generated events for the run (about 160 per child over 26 weeks).
  kpi::gen::Params params;
  params.weeks = 26;
  params.children =
      std::max<uint32_t>(500, static_cast<uint32_t>(static_cast<int64_t>(rate) * seconds / 150));
  std::vector<std::string> lines;
  kpi::gen::Generate(params, [&](std::string_view l) { lines.emplace_back(l); });
  const kpi::Date as_of = kpi::gen::PeriodEnd(params);

  const int metrics_port = kpi::testing::FreePort();
  {
    std::ofstream cfg(dir / "config.yaml");
    cfg << "kafka:\n"
        << mock.KafkaYaml() << "  session.timeout.ms: 6000\n  fetch.wait.max.ms: 10\n"
        << "state:\n  path: " << (dir / "state").string() << "\n"
        << "commit:\n  interval_ms: " << commit_interval_ms << "\n"
        << "processing:\n  as_of: " << as_of.ToString() << "\n"
        << "output:\n  format: json\n"
        << "metrics:\n  address: 127.0.0.1:" << metrics_port << "\nhttp:\n  address: 127.0.0.1:0\n";
  }
  const path peer_build = kpi::testing::BinaryDir().parent_path() / "peer";
  const std::vector<std::string> command =
      peer ? std::vector<std::string>{"/usr/bin/env",
                                      "java",
                                      "-Xmx1g",
                                      "-cp",
                                      (peer_build / "classes").string() + ":" +
                                          (peer_build / "lib").string() + "/*",
                                      "kpi.peer.PeerJob",
                                      "--bootstrap",
                                      mock.bootstraps(),
                                      "--application-id",
                                      "kpi-latency-peer",
                                      "--state-dir",
                                      (dir / "peer-state").string(),
                                      "--guarantee",
                                      system == "peer-eos" ? "exactly_once_v2" : "at_least_once",
                                      "--output",
                                      "kpi.results"}
           : std::vector<std::string>{(kpi::testing::BinaryDir() / "kpi-processor").string(), "run",
                                      "--config", (dir / "config.yaml").string()};
  kpi::testing::Process processor(command, dir / "processor.log");
  // Start producing once the processor owns its partitions (the mock's group join takes seconds),
  // or the peer runs.
  if (peer) {
    while (processor.running() && !kpi::bench::LogHas(dir / "processor.log", "peer: running")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  } else {
    kpi::bench::WaitForAssignment(processor, dir / "processor.log");
  }
  Follower follower(mock.bootstraps(), partitions);
  RawFollower raw(mock.bootstraps(), partitions);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  std::map<std::string, bool> json;  // every topic protobuf, or for the peer JSON
  if (peer) {
    for (const char* t : {"contacts", "referrals", "assessments", "attendance"}) json[t] = true;
  }
  std::vector<Clock::time_point> sent;  // markers' produce times
  uint64_t produced = 0;
  size_t next = 0;
  {
    kpi::testing::Producer producer(mock.bootstraps());
    const auto start = Clock::now();
    const uint64_t total = static_cast<uint64_t>(rate) * static_cast<uint64_t>(seconds);
    while (produced < total && processor.running()) {
      const uint64_t due = std::min<uint64_t>(total, static_cast<uint64_t>(Since(start) * rate));
      for (; produced < due; ++produced) {
        if (produced % static_cast<uint64_t>(marker_every) == 0) {
          char child[24];
          std::snprintf(child, sizeof child, "LAT%07zu", sent.size());
          const std::string line = std::string("{\"eventId\":\"") + child + "\",\"childId\":\"" +
                                   child + "\",\"recordedAt\":\"2000-01-04T10:00:00Z\"," +
                                   "\"contact\":{\"contactDate\":\"2000-01-04\"}}";
          producer.Produce(kpi::testing::Route(line, json, "contacts"));
          sent.push_back(Clock::now());
        } else {
          producer.Produce(kpi::testing::Route(lines[next++ % lines.size()], json, "contacts"));
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    const double took = Since(start);
    producer.Flush(60000);
    std::printf(
        "input              %llu events in %.1f s (%.0f events/s), %zu markers, %d "
        "partitions per topic\n",
        static_cast<unsigned long long>(produced), took, static_cast<double>(produced) / took,
        sent.size(), partitions);
  }
  // Wait for the last marker to be readable.
  const auto waited = Clock::now();
  const double wait_s = system == "peer-alos" ? 120 : 60;  // its commit interval is 30 s
  while (follower.Seen().size() < sent.size() && Since(waited) < wait_s && processor.running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::vector<Clock::time_point> seen = follower.Seen();
  // What one commit costs (state batch, outbox delivery), from the processor's own histogram.
  const double commits = kpi::bench::MetricSum(metrics_port, "kpi_commit_duration_seconds_count");
  const double commit_s = kpi::bench::MetricSum(metrics_port, "kpi_commit_duration_seconds_sum");
  const double consumed = kpi::bench::MetricSum(metrics_port, "kpi_events_consumed_total");
  processor.Signal(SIGTERM);
  processor.Wait(30000);

  const auto first = sent.empty() ? Clock::now() : sent.front();
  std::vector<double> ms;
  for (size_t i = 0; i < sent.size() && i < seen.size(); ++i) {
    if (std::chrono::duration<double>(sent[i] - first).count() < warmup_seconds) continue;
    ms.push_back(std::chrono::duration<double, std::milli>(seen[i] - sent[i]).count());
  }
  std::printf("broker             %s\n", broker == "kafka" ? "Apache Kafka 4.4 (one broker)"
                                                           : "librdkafka's mock (kpi-mock-kafka)");
  std::vector<double> raw_ms;
  const std::map<size_t, Clock::time_point> raw_seen = raw.Seen();
  for (const auto& [i, at] : raw_seen) {
    if (i >= sent.size() ||
        std::chrono::duration<double>(sent[i] - first).count() < warmup_seconds) {
      continue;
    }
    raw_ms.push_back(std::chrono::duration<double, std::milli>(at - sent[i]).count());
  }
  if (peer) {
    std::printf("system             the Kafka Streams peer, %s (its default commit interval)\n",
                system == "peer-eos" ? "exactly_once_v2" : "at_least_once");
  } else {
    std::printf("commit.interval_ms %d\n", commit_interval_ms);
  }
  std::printf("markers readable   %zu of %zu (%zu measured after %d s of warm-up)\n", seen.size(),
              sent.size(), ms.size(), warmup_seconds);
  std::printf("latency ms         p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", Quantile(ms, 0.5),
              Quantile(ms, 0.9), Quantile(ms, 0.99), Quantile(ms, 1.0));
  std::printf(
      "raw consume ms     p50 %.1f  p90 %.1f  p99 %.1f  max %.1f (the markers themselves, "
      "produce to readable by a plain consumer: the broker's share)\n",
      Quantile(raw_ms, 0.5), Quantile(raw_ms, 0.9), Quantile(raw_ms, 0.99), Quantile(raw_ms, 1.0));
  if (!peer && commits > 0) {
    std::printf("commits            %.0f, mean %.1f ms each, %.0f events each\n", commits,
                1000.0 * commit_s / commits, consumed / commits);
  }
  kpi::testing::fs::remove_all(dir);
  return seen.size() >= sent.size() ? 0 : 1;
}

int main(int argc, char** argv) {
  return kpi::tools::GuardedMain("kpi-latency-bench", [&] { return Main(argc, argv); });
}
