// kpi-handover-bench: with scale.enabled, the time from kill -9 of one of two instances to its
// tasks serving again on the other, through the (mock) broker. Prints figures; not a test.
//
//   build/bin/kpi-handover-bench [--children 2000] [--weeks 26] [--partitions 4]
//
// Steps: start kpi-mock-kafka with the changelog and cells topics; start instances A and B
// together (scale.enabled, session.timeout.ms 6000); produce a generated authority and wait until
// both have committed all of it; kill -9 B; time A's assignment of B's tasks (the broker drops B
// after its session), their restores from the changelog, and A serving them ("serving as epoch"
// in its log) and ready again (/readyz 200). The mock keeps about 5 MiB per changelog partition,
// so the state stays small here; kpi-restore-bench times a restore of a million events of state.
#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <thread>

#include "tools/bench/bench_cluster.h"
#include "tools/cluster/harness.h"
#include "tools/cluster/http_get.h"
#include "tools/gen/generator.h"
#include "tools/guarded_main.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = kpi::testing::fs;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

size_t Count(const fs::path& log, const std::string& what) {
  std::ifstream in(log);
  const std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"kpi-handover-bench: kill -9 of one of two scaled instances to its tasks serving"};
  kpi::gen::Params params;
  params.children = 2000;
  params.weeks = 26;
  int partitions = 4;
  app.add_option("--children", params.children)->capture_default_str();
  app.add_option("--weeks", params.weeks)->capture_default_str();
  app.add_option("--partitions", partitions, "partitions per topic")->capture_default_str();
  std::string broker = "mock";
  app.add_option("--broker", broker, "mock (kpi-mock-kafka) or kafka (tools/kafka/cluster.sh)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const fs::path dir = kpi::bench::ScratchDir("kpi_handover_bench");
  const auto cluster =
      kpi::bench::StartCluster(dir, partitions, "kpi-handover-bench", true, broker);
  std::vector<int> metrics;
  std::vector<int> http;
  std::vector<std::unique_ptr<kpi::testing::Process>> processes;
  for (const char* name : {"a", "b"}) {
    metrics.push_back(kpi::testing::FreePort());
    http.push_back(kpi::testing::FreePort());
    std::ofstream cfg(dir / (std::string(name) + ".yaml"));
    cfg << "kafka:\n"
        << cluster->KafkaYaml()
        << "  session.timeout.ms: 6000\n  heartbeat.interval.ms: 1500\n  fetch.wait.max.ms: 50\n"
        << "state:\n  path: " << (dir / (std::string("state-") + name)).string() << "\n"
        << "processing:\n  as_of: " << kpi::gen::PeriodEnd(params).ToString() << "\n"
        << "scale:\n  enabled: true\n  instance_id: " << name << "\n  snapshot_mb: 1\n"
        << "metrics:\n  address: 127.0.0.1:" << metrics.back() << "\n"
        << "http:\n  address: 127.0.0.1:" << http.back() << "\n";
    cfg.close();
    processes.push_back(std::make_unique<kpi::testing::Process>(
        std::vector<std::string>{(kpi::testing::BinaryDir() / "kpi-processor").string(), "run",
                                 "--config", (dir / (std::string(name) + ".yaml")).string()},
        dir / (std::string(name) + ".log")));
  }
  // Stream the input in windows (the mock keeps about 5 MiB per partition).
  const std::map<std::string, bool> json;
  uint64_t produced = 0;
  const auto consumed = [&] {
    double sum = 0;
    for (const int port : metrics)
      sum += std::max(0.0, kpi::bench::MetricSum(port, "kpi_events_consumed_total"));
    return sum;
  };
  {
    kpi::testing::Producer producer(cluster->bootstraps());
    kpi::gen::Generate(params, [&](std::string_view line) {
      producer.Produce(kpi::testing::Route(std::string(line), json, "contacts"));
      if (++produced % 50000 == 0) {
        producer.Flush(60000);
        while (consumed() + 100000 < static_cast<double>(produced)) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
    });
    producer.Flush(60000);
  }
  while (consumed() < static_cast<double>(produced)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // the last commits
  const size_t b_tasks = Count(dir / "b.log", "serving as epoch");
  const size_t a_before = Count(dir / "a.log", "serving as epoch");
  const size_t a_assigned = Count(dir / "a.log", "assigned ");

  processes[1]->Signal(SIGKILL);
  processes[1]->Wait(10000);
  const auto killed = Clock::now();
  double assigned = -1;
  double serving = -1;
  double ready = -1;
  while (Since(killed) < 120 && ready < 0) {
    if (assigned < 0 && Count(dir / "a.log", "assigned ") > a_assigned) assigned = Since(killed);
    if (serving < 0 && Count(dir / "a.log", "serving as epoch") >= a_before + partitions) {
      serving = Since(killed);
    }
    if (serving >= 0 && kpi::testing::HttpGet(http[0], "/readyz").first == 200)
      ready = Since(killed);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const size_t from_log = Count(dir / "a.log", "restored from its changelog");
  processes[0]->Signal(SIGTERM);
  processes[0]->Wait(30000);
  std::printf("events                 %llu (%u children, %u weeks, %d tasks; b served %zu)\n",
              static_cast<unsigned long long>(produced), params.children, params.weeks, partitions,
              b_tasks);
  std::printf(
      "after kill -9 of b     a assigned %.2f s (the broker drops b after its 6 s "
      "session); every task serving %.2f s; ready %.2f s\n",
      assigned, serving, ready);
  std::printf(
      "restores on a          %.2f s from assignment to serving; %zu task(s) restored "
      "from the changelog in its log\n",
      serving >= 0 && assigned >= 0 ? serving - assigned : -1.0, from_log);
  fs::remove_all(dir);
  return ready >= 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  return kpi::tools::GuardedMain("kpi-handover-bench", [&] { return Main(argc, argv); });
}
