// kpi-recovery-bench: time to resume after kill -9 with a large state, and the processor's peak
// RSS, through the (mock) broker. Prints figures; not a test.
//
//   build/bin/kpi-recovery-bench [--children 62500] [--weeks 26]
//
// Steps:
// 1. Stream a generated authority (--children x --weeks; 62,500 x 26 is about 10M events, 97%
//    attendance marks) through kpi-processor run, keeping at most --window events unconsumed
//    (the mock broker keeps only about 5 MiB per partition). Every --report events, print the
//    processor's resident set.
// 2. When every event is committed: read the processor's peak RSS (VmHWM) and the state's size
//    on disk, then kill -9 it.
// 3. Start it again at once, produce one new event, and time: the state opened (the "running"
//    log line), partitions assigned and restored (/readyz answers 200), and the new event
//    committed. The assignment waits for the broker to drop the killed member (session.timeout.ms)
//    and for the group to rebalance: that wait is printed apart.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "tools/bench/bench_cluster.h"
#include "tools/cluster/harness.h"
#include "tools/cluster/http_get.h"
#include "tools/gen/generator.h"
#include "tools/guarded_main.h"

namespace {

using kpi::testing::fs::path;
using Clock = std::chrono::steady_clock;
namespace fs = kpi::testing::fs;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
void Sleep(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// The pid of the process whose command line mentions `needle`, or -1.
int FindPid(const std::string& needle) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (char& c : cmdline) c = c == '\0' ? ' ' : c;
    if (cmdline.find(needle) != std::string::npos &&
        cmdline.find("kpi-processor run") != std::string::npos) {
      return std::stoi(name);
    }
  }
  return -1;
}

// A field of /proc/<pid>/status in MiB (VmRSS, VmHWM), or -1.
double StatusMiB(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(field + ":")) {
      std::istringstream s(line.substr(field.size() + 1));
      double kib = 0;
      s >> kib;
      return kib / 1024.0;
    }
  }
  return -1;
}

uint64_t DirBytes(const path& dir) {
  uint64_t bytes = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) bytes += e.file_size();
  }
  return bytes;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"kpi-recovery-bench: resume after kill -9 with a large state; peak RSS"};
  kpi::gen::Params params;
  params.children = 62500;
  params.weeks = 26;
  int partitions = 8;
  uint64_t window = 100000;
  uint64_t report = 1000000;
  app.add_option("--children", params.children)->capture_default_str();
  app.add_option("--weeks", params.weeks)->capture_default_str();
  app.add_option("--partitions", partitions, "partitions per topic")->capture_default_str();
  app.add_option("--window", window, "most events produced and not yet consumed")
      ->capture_default_str();
  app.add_option("--report", report, "print progress every this many events")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const path dir = kpi::bench::ScratchDir("kpi_recovery_bench");
  const auto cluster = kpi::bench::StartCluster(dir, partitions, "kpi-recovery-bench");
  kpi::testing::TestCluster& mock = *cluster;
  const int metrics_port = kpi::testing::FreePort();
  const int http_port = kpi::testing::FreePort();
  {
    std::ofstream cfg(dir / "config.yaml");
    cfg << "kafka:\n"
        << mock.KafkaYaml() << "  session.timeout.ms: 6000\n  fetch.wait.max.ms: 50\n"
        << "state:\n  path: " << (dir / "state").string() << "\n"
        << "processing:\n  as_of: " << kpi::gen::PeriodEnd(params).ToString() << "\n"
        << "metrics:\n  address: 127.0.0.1:" << metrics_port << "\n"
        << "http:\n  address: 127.0.0.1:" << http_port << "\n";
  }
  const std::vector<std::string> argv_processor = {
      (kpi::testing::BinaryDir() / "kpi-processor").string(), "run", "--config",
      (dir / "config.yaml").string()};
  auto processor = std::make_unique<kpi::testing::Process>(argv_processor, dir / "processor.log");
  kpi::bench::WaitForConsumed(*processor, metrics_port, 0, 50);  // until /metrics answers
  const int pid = FindPid((dir / "config.yaml").string());

  // 1. Build the state.
  const std::map<std::string, bool> json;  // every topic protobuf
  uint64_t produced = 0;
  uint64_t marks = 0;
  const auto build = Clock::now();
  {
    kpi::testing::Producer producer(mock.bootstraps());
    double consumed = 0;
    const kpi::gen::Counts counts = kpi::gen::Generate(params, [&](std::string_view line) {
      producer.Produce(kpi::testing::Route(std::string(line), json, "contacts"));
      ++produced;
      if (produced > static_cast<uint64_t>(consumed) + window) {
        consumed = kpi::bench::WaitForConsumed(*processor, metrics_port,
                                               static_cast<double>(produced - window), 250);
      }
      if (produced % report == 0) {
        std::printf("  %9llu events  %6.0f s  processor RSS %6.0f MiB\n",
                    static_cast<unsigned long long>(produced), Since(build),
                    StatusMiB(pid, "VmRSS"));
        std::fflush(stdout);
      }
    });
    marks = counts.marks;
    if (!producer.Flush(120000)) {
      std::fprintf(stderr, "kpi-recovery-bench: produce failed\n");
      return 1;
    }
  }
  kpi::bench::WaitForCommitted(*processor, metrics_port, dir / "state",
                               static_cast<int64_t>(produced));
  if (!processor->running()) {
    std::fprintf(stderr, "kpi-recovery-bench: the processor stopped:\n%s\n",
                 kpi::testing::Tail(dir / "processor.log").c_str());
    return 1;
  }
  const double build_s = Since(build);
  const double peak_rss = StatusMiB(pid, "VmHWM");
  const double rss = StatusMiB(pid, "VmRSS");
  const uint64_t state_bytes = DirBytes(dir / "state");

  // 2. kill -9, 3. start again.
  processor->Signal(SIGKILL);
  processor->Wait(10000);
  const auto restart = Clock::now();
  processor = std::make_unique<kpi::testing::Process>(argv_processor, dir / "processor2.log");
  {
    kpi::testing::Producer producer(mock.bootstraps());
    producer.Produce(kpi::testing::Route(
        "{\"eventId\":\"R1\",\"childId\":\"RESUME1\",\"recordedAt\":\"2025-10-01T10:00:00Z\","
        "\"contact\":{\"contactDate\":\"2025-10-01\"}}",
        json, "contacts"));
    producer.Flush(10000);
  }
  double opened = -1;
  double assigned = -1;
  double ready = -1;
  double committed = -1;
  while (processor->running() && Since(restart) < 120 && committed < 0) {
    if (opened < 0 && kpi::bench::LogHas(dir / "processor2.log", "running:"))
      opened = Since(restart);
    if (assigned < 0 && kpi::bench::LogHas(dir / "processor2.log", "assigned "))
      assigned = Since(restart);
    if (ready < 0 && kpi::testing::HttpGet(http_port, "/readyz").first == 200) {
      ready = Since(restart);
    }
    if (ready >= 0 && kpi::bench::MetricSum(metrics_port, "kpi_commits_total") > 0)
      committed = Since(restart);
    Sleep(5);
  }
  processor->Signal(SIGTERM);
  processor->Wait(30000);
  fs::remove_all(dir);

  std::printf(
      "state built        %llu events (%llu marks; %u children, %u weeks) in %.0f s "
      "(%.0f events/s)\n",
      static_cast<unsigned long long>(produced), static_cast<unsigned long long>(marks),
      params.children, params.weeks, build_s, static_cast<double>(produced) / build_s);
  std::printf("processor RSS      peak %.0f MiB, at the end %.0f MiB; state on disk %.0f MiB\n",
              peak_rss, rss, static_cast<double>(state_bytes) / (1 << 20));
  std::printf(
      "after kill -9      state open %.2f s; partitions assigned %.2f s (group "
      "rebalance after the killed member's session); restored and ready %.2f s; new "
      "event committed %.2f s\n",
      opened, assigned, ready, committed);
  std::printf("restore            %.2f s (from assignment to ready)\n",
              ready >= 0 && assigned >= 0 ? ready - assigned : -1.0);
  return committed >= 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  return kpi::tools::GuardedMain("kpi-recovery-bench", [&] { return Main(argc, argv); });
}
