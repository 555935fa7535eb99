// End-to-end throughput through the (mock) broker, beside the raw consume rate of the same
// topics by a plain librdkafka consumer, measured in the same run. Prints figures; not a test.
//
//   build/bin/kpi-e2e-bench [--children 2600] [--weeks 26] [--partitions 8] [--instances 1]
//                           [--scaled] [--broker mock|kafka] [--http-load 64]
//
// Steps: start kpi-mock-kafka (or, with --broker kafka, a local Apache Kafka broker); produce a
// generated authority (protobuf, lz4) to the input topics; read every input topic to its end with a
// plain consumer (raw rate); run kpi-processor and time it from its partition assignment to the
// commit of the last input record (end-to-end rate). With --instances N (N > 1 implies --scaled)
// that many processes run in one group with scale.enabled, each with its own state directory,
// started together; the time runs from the first assignment to the commit of the last record by any
// of them.
//
// With --http-load N (one instance), a second processor (its own state directory and group) then
// reads the same input while N clients ask for /kpi and /metrics back to back and 500 idle and
// 500 half-sent connections are held on each port, and a third reads it again without load; the
// three end-to-end rates are printed, with the HTTP figures of the loaded run. The clients are
// threads of this process at nice 19 (they stand for clients on other machines; on 2 cores they
// would otherwise take the processor's CPU themselves); a thread at nice 0 asks /healthz on a new
// connection every 100 ms meanwhile, as the kubelet would, and the slowest answer is printed.
#include <librdkafka/rdkafka.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "tools/bench/bench_cluster.h"
#include "tools/cluster/harness.h"
#include "tools/cluster/raw_http.h"
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

// HTTP clients against a processor's two ports while it runs: `clients` threads alternating /kpi
// and /metrics, and idle and half-sent connections held on each port.
class HttpLoad {
 public:
  HttpLoad(int http_port, int metrics_port, int clients) {
    for (const int port : {http_port, metrics_port}) {
      for (int i = 0; i < 1000; ++i) {
        kpi::testing::RawOptions options;
        options.source = "127.0.0." + std::to_string(2 + i / 100);  // under the per-client cap
        auto c = kpi::testing::RawConnection::Open(port, options);
        if (!c) continue;
        if (i % 2 == 1) c->Send("GET /kpi HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ");
        held_.push_back(std::move(*c));
      }
    }
    threads_.emplace_back([this, http_port] {
      while (!stop_.load()) {
        const auto r = kpi::testing::TimedGet(http_port, "/healthz", kpi::testing::RawOptions{});
        const bool starting = r.response && r.response->status == 503 &&
                              r.response->body.starts_with("starting");  // before a heartbeat
        if (!starting) {
          if (!r.response || r.response->status != 200) probe_failures_.fetch_add(1);
          probe_micros_.push_back(r.elapsed.count());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
    for (int i = 0; i < clients; ++i) {
      threads_.emplace_back([this, i, http_port, metrics_port] {
        ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 19);
        const bool metrics = i % 2 == 1;
        const std::string request = kpi::testing::GetRequest(
            metrics ? "/metrics" : "/kpi?kpi=contacts&week=current&dimension=year", "", true);
        std::vector<int64_t> mine;
        kpi::testing::KeptAliveClient client(metrics ? metrics_port : http_port,
                                             kpi::testing::RawOptions{});
        while (!stop_.load()) {
          const auto start = std::chrono::steady_clock::now();
          const auto r = client.Request(request);
          if (!r) continue;  // reconnects at the next request
          if (r->status != 200 && r->status != 503) failures_.fetch_add(1);
          mine.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count());
        }
        const std::lock_guard lock(mu_);
        micros_.insert(micros_.end(), mine.begin(), mine.end());
      });
    }
  }
  // Stops the clients; then the figures are final.
  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    std::sort(micros_.begin(), micros_.end());
    std::sort(probe_micros_.begin(), probe_micros_.end());
  }
  // /healthz on a new connection every 100 ms meanwhile, as the kubelet asks: the slowest.
  double SlowestProbeMs() const {
    return probe_micros_.empty() ? 0 : static_cast<double>(probe_micros_.back()) / 1000.0;
  }
  size_t probes() const { return probe_micros_.size(); }
  uint64_t probe_failures() const { return probe_failures_.load(); }
  ~HttpLoad() { Stop(); }
  size_t requests() const { return micros_.size(); }
  uint64_t failures() const { return failures_.load(); }
  size_t held() const { return held_.size(); }
  double PercentileMs(double p) const {
    if (micros_.empty()) return 0;
    return static_cast<double>(
               micros_[static_cast<size_t>(p * static_cast<double>(micros_.size() - 1))]) /
           1000.0;
  }

 private:
  std::vector<kpi::testing::RawConnection> held_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> failures_{0};
  std::vector<int64_t> probe_micros_;  // the probe thread's own until Stop
  std::atomic<uint64_t> probe_failures_{0};
  std::mutex mu_;
  std::vector<int64_t> micros_;
};

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
  int http_load = 0;
  app.add_option("--http-load", http_load,
                 "then run again beside this many HTTP clients and 2,000 held connections "
                 "(one instance)")
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

  if (http_load > 0 && instances != 1) {
    std::fprintf(stderr, "kpi-e2e-bench: --http-load runs one instance\n");
    return 2;
  }
  // A processor in `group` (empty: the cluster's) with its own state directory and ports.
  const auto start_processor = [&](const std::string& name, const std::string& group,
                                   int metrics_port, int http_port) {
    std::string kafka = mock.KafkaYaml();
    if (!group.empty()) {
      const size_t at = kafka.find("group.id: ");
      kafka.replace(at, kafka.find('\n', at) - at, "group.id: " + group);
    }
    std::ofstream cfg(dir / (name + ".yaml"));
    cfg << "kafka:\n"
        << kafka << "  session.timeout.ms: 6000\n  fetch.wait.max.ms: 50\n"
        << "state:\n  path: " << (dir / ("state-" + name)).string() << "\n"
        << "processing:\n  as_of: " << as_of.ToString() << "\n"
        << "metrics:\n  address: 127.0.0.1:" << metrics_port
        << "\nhttp:\n  address: 127.0.0.1:" << http_port << "\n";
    if (scaled) cfg << "scale:\n  enabled: true\n  instance_id: " << name << "\n";
    cfg.close();
    return std::make_unique<kpi::testing::Process>(
        std::vector<std::string>{(kpi::testing::BinaryDir() / "kpi-processor").string(), "run",
                                 "--config", (dir / (name + ".yaml")).string()},
        dir / (name + ".log"));
  };
  std::vector<std::unique_ptr<kpi::testing::Process>> processors;
  std::vector<int> metrics_ports;
  for (int i = 0; i < instances; ++i) {
    metrics_ports.push_back(kpi::testing::FreePort());
    processors.push_back(
        start_processor("instance-" + std::to_string(i), "", metrics_ports.back(), 0));
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

  // The same again beside HTTP load, then once more without (the order's own effect shows in the
  // two runs without): each its own group and state, so each reads everything again.
  std::unique_ptr<HttpLoad> load;
  const auto run_again = [&](const std::string& name, int clients) {
    const int metrics_port = kpi::testing::FreePort();
    const int http_port = kpi::testing::FreePort();
    auto p = start_processor(name, "kpi-e2e-bench-" + name, metrics_port, http_port);
    const path log = dir / (name + ".log");
    while (p->running() && !kpi::bench::LogHas(log, "queries on")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (clients > 0) load = std::make_unique<HttpLoad>(http_port, metrics_port, clients);
    kpi::bench::WaitForAssignment(*p, log);
    const double start = Seconds();
    kpi::bench::WaitForCommitted(*p, metrics_port, dir / ("state-" + name),
                                 static_cast<int64_t>(lines.size()));
    const double took = Seconds() - start;
    if (clients > 0) load->Stop();
    p->Signal(SIGTERM);
    p->Wait(30000);
    return took;
  };
  double loaded_s = 0;
  double again_s = 0;
  if (http_load > 0) {
    loaded_s = run_again("loaded", http_load);
    again_s = run_again("again", 0);
  }

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
  if (load != nullptr) {
    std::printf("e2e beside HTTP load   %.0f events/s (%.2f s); without, after it: %.0f events/s\n",
                n / loaded_s, loaded_s, n / again_s);
    std::printf("ratio loaded / without %.2f (against the mean of the two runs without)\n",
                (n / loaded_s) / ((n / e2e_s + n / again_s) / 2));
    std::printf(
        "HTTP load              %d clients of /kpi and /metrics got %zu answers (%.0f/s, p50 "
        "%.1f ms, p99 %.1f ms, %llu failed); %zu connections held idle or half-sent\n",
        http_load, load->requests(), static_cast<double>(load->requests()) / loaded_s,
        load->PercentileMs(0.5), load->PercentileMs(0.99),
        static_cast<unsigned long long>(load->failures()), load->held());
    std::printf(
        "probes meanwhile       %zu GETs of /healthz (one each 100 ms, new connection): "
        "slowest %.1f ms, %llu not 200\n",
        load->probes(), load->SlowestProbeMs(),
        static_cast<unsigned long long>(load->probe_failures()));
  }
  kpi::testing::fs::remove_all(dir);
  return 0;
}

int main(int argc, char** argv) {
  return kpi::tools::GuardedMain("kpi-e2e-bench", [&] { return Main(argc, argv); });
}
