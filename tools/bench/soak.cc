// kpi-soak: a long generated stream through the mock broker while the processor is killed (-9)
// at random moments and every broker goes down for random lengths; then the output's last value
// per key is compared with the replay table, and the dead letters with the exact set the input
// must give (source, value, reason; each once). Every exit of the processor other than the kills
// is judged: only 4 (Kafka unreachable past its timeouts), which a supervisor restarts, passes;
// 3 (state corruption) or any other code fails the soak even though the restart recovers. A kill
// waits until the processor is ready (`kpi_ready` 1: assigned and restored), so that each one
// interrupts a processor at work. Prints its figures and exits 0 only with no difference. Outside
// CI (minutes): tools/soak.sh.
//
//   build/bin/kpi-soak [--children 400] [--weeks 10] [--kills 50] [--outages 20] [--seed 1]
//
// The group session (6 s) outlasts every outage (0.5 to 5 s): once all brokers have been down
// past the session, librdkafka 2.0.2's mock never forms the group again (tests/kafka).
#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "tools/bench/bench_cluster.h"
#include "tools/cluster/harness.h"
#include "tools/gen/generator.h"
#include "tools/guarded_main.h"

namespace {

namespace fs = kpi::testing::fs;
using kpi::testing::NowMs;

void Sleep(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

int Main(int argc, char** argv) {
  CLI::App app{"kpi-soak: kills and broker outages under a generated stream, then exactness"};
  uint32_t children = 400;
  uint32_t weeks = 10;
  int kills = 50;
  int outages = 20;
  uint64_t seed = 1;
  std::string dir_arg;
  app.add_option("--children", children)->capture_default_str();
  app.add_option("--weeks", weeks)->capture_default_str();
  app.add_option("--kills", kills)->capture_default_str();
  app.add_option("--outages", outages)->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  app.add_option("--dir", dir_arg, "working directory (default: a temporary one, removed)");
  CLI11_PARSE(app, argc, argv);

  const fs::path dir = dir_arg.empty()
                           ? fs::temp_directory_path() / ("kpi_soak_" + std::to_string(::getpid()))
                           : fs::path(dir_arg);
  fs::remove_all(dir);
  fs::create_directories(dir);
  kpi::gen::Params p;
  p.children = children;
  p.weeks = weeks;
  p.start = kpi::Date::FromYmd(2026, 1, 5);
  p.malformed_rate = 0.01;
  p.seed = seed;
  const kpi::Date as_of = kpi::gen::PeriodEnd(p) - 2;
  std::vector<std::string> lines;
  kpi::gen::Generate(p, [&](std::string_view line) { lines.emplace_back(line); });

  std::vector<std::string> topics;
  for (const std::string& t : kpi::testing::kInputTopics) topics.push_back(t + ":4");
  topics.emplace_back("kpi.results:4");
  topics.emplace_back("kpi.dlq:2");
  kpi::testing::MockKafka mock(dir, 3, topics);
  if (mock.bootstraps().empty()) {
    std::fprintf(stderr, "kpi-soak: the mock broker did not start\n");
    return 1;
  }
  {
    std::ofstream cfg(dir / "config.yaml");
    cfg << "kafka:\n  bootstrap.servers: " << mock.bootstraps()
        << "\n  session.timeout.ms: 6000\n  heartbeat.interval.ms: 1500\n"
        << "  fetch.wait.max.ms: 50\n  message.timeout.ms: 120000\n"
        << "input:\n  format: protobuf\n  formats:\n";
    for (const auto& [topic, json] : kpi::testing::kJsonTopics)
      cfg << "    " << topic << ": json\n";
    cfg << "state:\n  path: " << (dir / "state").string() << "\n  block_cache_mb: 16\n"
        << "commit:\n  interval_ms: 100\n  delivery_timeout_ms: 120000\n"
        << "processing:\n  as_of: " << as_of.ToString() << "\n"
        << "metrics:\n  address: 127.0.0.1:0\nhttp:\n  address: \"\"\n";
  }
  std::unique_ptr<kpi::testing::Process> processor;
  int restarts = 0;
  std::map<int, int> exits;  // exit code -> times, the kills' own left out
  const auto start = [&] {
    processor = std::make_unique<kpi::testing::Process>(
        std::vector<std::string>{(kpi::testing::BinaryDir() / "kpi-processor").string(), "run",
                                 "--config", (dir / "config.yaml").string()},
        dir / "processor.log");
    ++restarts;
  };
  const auto supervise = [&] {
    if (processor && !processor->running()) {
      ++exits[processor->Wait(0)];
      start();
    }
  };
  // Waits until the running processor answers kpi_ready 1 (restarting it if it exits); false if it
  // is not ready within `ms`. Its metrics port is the last one its log names.
  int not_ready = 0;
  const auto wait_ready = [&](int64_t ms) {
    for (const int64_t deadline = NowMs() + ms; NowMs() < deadline; Sleep(100)) {
      supervise();
      const int port = kpi::testing::LoggedPort(dir / "processor.log", "metrics on ");
      if (port != 0 && kpi::bench::MetricSum(port, "kpi_ready") == 1) return true;
    }
    ++not_ready;
    return false;
  };
  start();
  const int64_t began = NowMs();
  // The stream arrives in paced chunks over the whole soak.
  const size_t chunks = static_cast<size_t>(std::max(kills + outages, 1)) * 2;
  std::thread producer([&] {
    kpi::testing::Producer out(mock.bootstraps());
    for (size_t c = 0; c < chunks; ++c) {
      for (size_t i = lines.size() * c / chunks; i < lines.size() * (c + 1) / chunks; ++i) {
        out.Produce(kpi::testing::Route(lines[i], kpi::testing::kJsonTopics, "contacts"));
      }
      if (!out.Flush(120000)) std::fprintf(stderr, "kpi-soak: a produce failed\n");
      Sleep(1000);
    }
  });
  std::mt19937_64 rng(seed);
  int done_kills = 0;
  int done_outages = 0;
  int64_t outage_ms = 0;
  while (done_kills < kills || done_outages < outages) {
    Sleep(500 + static_cast<int64_t>(rng() % 3000));
    supervise();
    const bool kill = done_outages >= outages ||
                      (done_kills < kills && rng() % static_cast<uint64_t>(kills + outages) <
                                                 static_cast<uint64_t>(kills));
    if (kill) {
      wait_ready(60000);
      processor->Signal(SIGKILL);
      processor->Wait(10000);
      ++done_kills;
      start();
    } else {
      const int64_t ms = 500 + static_cast<int64_t>(rng() % 4500);
      mock.Command("down all");
      Sleep(ms);
      mock.Command("up all");
      outage_ms += ms;
      ++done_outages;
    }
    std::fprintf(stderr, "\rkpi-soak: %d/%d kills, %d/%d outages, %.0f s", done_kills, kills,
                 done_outages, outages, static_cast<double>(NowMs() - began) / 1000);
  }
  producer.join();
  std::fprintf(stderr, "\n");
  const kpi::testing::Table expected = kpi::testing::ReplayTable(lines, as_of);
  kpi::testing::Table got;
  for (const int64_t deadline = NowMs() + 600000; NowMs() < deadline;) {
    supervise();
    if (kpi::testing::CommittedRecords(dir / "state") == static_cast<int64_t>(lines.size())) {
      got = kpi::testing::LastValueTable(mock.bootstraps(), "kpi.results");
      if (got == expected) break;
    }
    Sleep(1000);
  }
  const double seconds = static_cast<double>(NowMs() - began) / 1000;
  processor->Signal(SIGTERM);
  ++exits[processor->Wait(60000)];
  --exits[0];  // the final stop
  if (exits[0] == 0) exits.erase(0);

  size_t differences = 0;
  for (const auto& [key, cell] : expected) {
    const auto it = got.find(key);
    differences += it == got.end() || it->second != cell ? 1 : 0;
  }
  for (const auto& [key, cell] : got) differences += expected.contains(key) ? 0 : 1;
  // Dead letters: exactly the records that fail (value and reason), each source once.
  const size_t want_dead =
      kpi::testing::WantedDeadLetters(lines, kpi::testing::kJsonTopics, as_of).size();
  const std::string dead_differences =
      kpi::testing::DeadLetterDifferences(mock.bootstraps(), "kpi.dlq", lines, as_of);
  // Exits other than the kills: 4 is a Kafka failure a supervisor restarts; anything else fails.
  int bad_exits = 0;
  for (const auto& [code, n] : exits) bad_exits += code == 4 ? 0 : n;
  std::printf("events          %zu (%u children, %u weeks)\n", lines.size(), children, weeks);
  std::printf("kills -9        %d\n", done_kills);
  std::printf("broker outages  %d (all brokers; %.1f s down in all, 0.5 to 5 s each)\n",
              done_outages, static_cast<double>(outage_ms) / 1000);
  std::printf("other exits     ");
  for (const auto& [code, n] : exits) std::printf("%d x exit %d  ", n, code);
  std::printf("%s\n", exits.empty() ? "none"
                      : bad_exits == 0
                          ? "(exit 4: Kafka unreachable, restarted as a supervisor would)"
                          : "(FAILED: only exit 4 may end a run that was not killed)");
  std::printf("not ready       %d (a kill waits up to 60 s for kpi_ready 1)\n", not_ready);
  std::printf("rows compared   %zu\n", expected.size());
  std::printf("differences     %zu\n", differences);
  std::printf(
      "dead letters    %zu expected; %s\n", want_dead,
      dead_differences.empty() ? "the same set published, each once" : dead_differences.c_str());
  std::printf("elapsed         %.0f s\n", seconds);
  const bool ok = differences == 0 && dead_differences.empty() && want_dead > 0 && bad_exits == 0 &&
                  not_ready == 0;
  if (ok && dir_arg.empty()) fs::remove_all(dir);
  if (!ok) std::printf("FAILED: the logs are in %s\n", dir.c_str());
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return kpi::tools::GuardedMain("kpi-soak", [&] { return Main(argc, argv); });
}
