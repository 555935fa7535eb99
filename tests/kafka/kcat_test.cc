// kcat interop: JSON events typed into `kcat -P` (key|value, as the README shows) are processed,
// and `kcat -C` on the output topic shows the rows, with the processor as a separate process and
// both talking to the mock broker over TCP.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "tools/cluster/harness.h"

namespace kpi::testing {
namespace {

// Runs a shell command and returns its standard output.
std::string Capture(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  ::pclose(pipe);
  return out;
}

TEST(KcatTest, EventsFromKcatBecomeRowsThatKcatReads) {
  const fs::path dir = fs::temp_directory_path() / ("kpi_kcat_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto cluster =
      TestCluster::Start(dir, {"contacts:2", "referrals:2", "kpi.results:2", "kpi.dlq:1"});
  ASSERT_TRUE(cluster->ok()) << cluster->error();
  const std::string& bootstraps = cluster->bootstraps();
  {
    std::ofstream cfg(dir / "config.yaml");
    cfg << "kafka:\n"
        << cluster->KafkaYaml() << "  session.timeout.ms: 6000\n  fetch.wait.max.ms: 50\n"
        << "input:\n  topics: [contacts, referrals]\n  format: json\n"
        << "output:\n  format: json\n"
        << "state:\n  path: " << (dir / "state").string() << "\n"
        << "processing:\n  as_of: 2026-03-04\n"
        << "metrics:\n  address: 127.0.0.1:0\nhttp:\n  address: 127.0.0.1:0\n";
  }
  Process processor(
      {(BinaryDir() / "kpi-processor").string(), "run", "--config", (dir / "config.yaml").string()},
      dir / "processor.log");
  // What a person would type: key|value lines.
  {
    std::ofstream typed(dir / "typed.txt");
    typed
        << R"(C1|{"event_id":"CT-1","child_id":"C1","recorded_at":"2026-03-02T09:00:00Z","contact":{"contact_date":"2026-03-02"}})"
        << "\n"
        << R"(C2|{"event_id":"CT-2","child_id":"C2","recorded_at":"2026-03-03T09:00:00Z","contact":{"contact_date":"2026-03-03"}})"
        << "\n"
        << R"(C2|{"event_id":"CT-3","child_id":"C2","recorded_at":"2026-03-03T10:00:00Z","contact":{"contact_date":"2026-03-03"}})"
        << "\n"
        << R"(C3|{"event_id":"CT-4","child_id":"C3","recorded_at":"2026-03-03T11:00:00Z","contact":{"contact_date":"2026-13-03"}})"
        << "\n";
  }
  ASSERT_EQ(std::system(("kcat -P -q -b " + bootstraps + " -t contacts -K'|' < " +
                         (dir / "typed.txt").string())
                            .c_str()),
            0);
  // Two distinct children; the bad date is dead-lettered.
  const std::string expected =
      "contacts|2026-03-02|all "
      "{\"kpi\":\"contacts\",\"week_start\":\"2026-03-02\",\"dimension\":\"all\",\"count\":2,"
      "\"base\":0,\"as_of\":\"2026-03-04\"";
  std::string rows;
  std::string dead;
  for (int i = 0; i < 60 && (rows.find(expected) == std::string::npos || dead.empty()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    rows = Capture("kcat -C -q -e -b " + bootstraps + " -t kpi.results -f '%k %s\\n'");
    dead = Capture("kcat -C -q -e -b " + bootstraps + " -t kpi.dlq -f '%h %s\\n' 2>/dev/null");
  }
  EXPECT_NE(rows.find(expected), std::string::npos) << rows << Tail(dir / "processor.log");
  EXPECT_NE(dead.find("reason=bad_date"), std::string::npos) << dead;
  EXPECT_NE(dead.find("CT-4"), std::string::npos) << "the original value, unchanged";
  processor.Signal(SIGTERM);
  EXPECT_EQ(processor.Wait(30000), 0);
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

TEST(KpiGenKafkaTest, ProducesEveryEventToItsTopicPaced) {
  const fs::path dir = fs::temp_directory_path() / ("kpi_gen_kafka_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::vector<std::string> topics = {
      "contacts",   "referrals",  "assessments", "s47", "icpc",    "plans", "attendance",
      "exclusions", "enrolments", "children",    "ehc", "reviews", "visits"};
  std::vector<std::string> specs;
  for (const std::string& t : topics) specs.push_back(t + ":2");
  const auto cluster = TestCluster::Start(dir, specs);
  ASSERT_TRUE(cluster->ok()) << cluster->error();
  const std::string& bootstraps = cluster->bootstraps();
  const std::string gen = (BinaryDir() / "kpi-gen").string();
  const std::string args = " --children 40 --weeks 2 --start 2026-01-05 --malformed-rate 0.02";
  ASSERT_EQ(std::system((gen + args + " --output " + (dir / "g.ndjson").string()).c_str()), 0);
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> expected;
  size_t lines = 0;
  {
    std::ifstream in(dir / "g.ndjson");
    for (std::string line; std::getline(in, line); ++lines) {
      const Produced p = Route(line, {{"attendance", true}}, "contacts");
      expected[p.topic].emplace_back(p.key, p.value);
    }
  }
  const double rate = 4000;
  const auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(
      std::system((gen + args + " --kafka " + bootstraps + " --json-topics attendance --rate " +
                   std::to_string(rate) + " 2>" + (dir / "gen.log").string())
                      .c_str()),
      0)
      << Tail(dir / "gen.log");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_GE(seconds, static_cast<double>(lines - 1) / rate) << "paced at --rate";
  for (const std::string& t : topics) {
    std::vector<std::pair<std::string, std::string>> got;
    for (const Consumed& c : ReadTopic(bootstraps, t)) got.emplace_back(c.key, c.value);
    auto want = expected[t];
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << t;
  }
  EXPECT_GT(expected["attendance"].size(), 500u);
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace kpi::testing
