// The warehouse contract end to end (README "For data warehouse teams"; ctest label warehouse):
// a real Apache Kafka 4.4, kpi-processor with connect_json keys and values and tombstones, Kafka
// Connect 4.4 in standalone mode with Debezium's JDBC sink, and PostgreSQL 15, all as the files
// of deploy/connect/ configure them (tools/warehouse/). The processor is killed (kill -9) while
// it works, its as_of moves, and the input has corrections, deletes and stale versions; at the
// end the PostgreSQL table equals the replay table row for row (zero rows absent), and each row's
// revision is the last one published. Then the first-load path: the CSV of `replay` and of
// `state export`, loaded with COPY, equals it too.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tools/cluster/harness.h"
#include "tools/gen/generator.h"

namespace kpi::testing {
namespace {

const fs::path kSource = KPI_SOURCE_DIR;

class WarehouseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Under /tmp: PostgreSQL runs as its own user, which must reach its data directory.
    dir_ = fs::path("/tmp") / ("kpi_warehouse_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::permissions(dir_, fs::perms::all);
    std::vector<std::string> topics;
    for (const std::string& t : kInputTopics) topics.push_back(t + ":3");
    topics.emplace_back("kpi.results:3:cleanup.policy=compact");
    topics.emplace_back("kpi.dlq:1");
    cluster_ = TestCluster::Start(dir_, topics, {.real = true});
    ASSERT_TRUE(cluster_->ok()) << cluster_->error();
    ASSERT_EQ(Script("postgres.sh start --dir " + (dir_ / "pg").string()), 0) << Log("script.log");
    ASSERT_EQ(Psql("-q -f " + (kSource / "deploy/connect/kpi_results.sql").string()), 0)
        << Log("psql.log");
    ASSERT_EQ(Script("connect.sh start --dir " + (dir_ / "connect").string() + " --bootstrap " +
                     cluster_->bootstraps() + " --pg-port " + FirstLine(dir_ / "pg/port")),
              0)
        << Log("script.log") << Log("connect/log");
  }
  void TearDown() override {
    processor_.reset();
    Script("connect.sh stop --dir " + (dir_ / "connect").string());
    Script("postgres.sh stop --dir " + (dir_ / "pg").string());
    cluster_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  static std::string FirstLine(const fs::path& file) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);
    return line;
  }
  std::string Log(const std::string& name) const {
    return "--- " + name + ":\n" + Tail(dir_ / name, 4000) + "\n";
  }
  // tools/warehouse/`command` with its output to `out` and `err` (appended to script.log when
  // not given); the exit code.
  int Script(const std::string& command, const std::string& out = "",
             const std::string& err = "") const {
    const std::string log = (dir_ / "script.log").string();
    const std::string line = (kSource / "tools/warehouse").string() + "/" + command +
                             (out.empty() ? " >>" + log : " >" + out) +
                             (err.empty() ? " 2>>" + log : " 2>" + err);
    const int status = std::system(line.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // psql on the test's database with `args`; its output to psql.out (errors to psql.log).
  int Psql(const std::string& args) const {
    return Script("postgres.sh psql --dir " + (dir_ / "pg").string() + " " + args,
                  (dir_ / "psql.out").string(), (dir_ / "psql.log").string());
  }
  // A query's rows as kpi|week_start|dimension -> (count, base), and each row's revision.
  bool QueryTable(const std::string& table, Table& rows,
                  std::map<std::string, int64_t>* revisions) {
    rows.clear();
    if (Psql("-At -F, -c \"SELECT kpi, week_start, dimension, count, base, "
             "coalesce(revision, -1) FROM " +
             table + "\"") != 0) {
      return false;
    }
    std::ifstream in(dir_ / "psql.out");
    for (std::string line; std::getline(in, line);) {
      std::vector<std::string> f;
      std::stringstream fields(line);
      for (std::string v; std::getline(fields, v, ',');) f.push_back(v);
      if (f.size() != 6) return false;  // no generated dimension holds a comma
      const std::string key = f[0] + "|" + f[1] + "|" + f[2];
      rows[key] = {std::stoll(f[3]), std::stoll(f[4])};
      if (revisions != nullptr) (*revisions)[key] = std::stoll(f[5]);
    }
    return true;
  }

  void WriteConfig(Date as_of) {
    std::ofstream cfg(dir_ / "config.yaml");
    cfg << "kafka:\n"
        << cluster_->KafkaYaml() << "  session.timeout.ms: 6000\n  heartbeat.interval.ms: 1500\n"
        << "  fetch.wait.max.ms: 50\n"
        << "state:\n  path: " << (dir_ / "state").string() << "\n  block_cache_mb: 16\n"
        << "commit:\n  interval_ms: 200\n"
        << "processing:\n  as_of: " << as_of.ToString() << "\n"
        << "output:\n  format: connect_json\n  key_format: connect_json\n  tombstones: true\n"
        << "metrics:\n  address: \"\"\nhttp:\n  address: \"\"\n";
  }
  void StartProcessor(Date as_of, const std::string& log) {
    WriteConfig(as_of);
    processor_ = std::make_unique<Process>(
        std::vector<std::string>{(BinaryDir() / "kpi-processor").string(), "run", "--config",
                                 (dir_ / "config.yaml").string()},
        dir_ / log);
  }
  void Produce(const std::vector<std::string>& lines, size_t from, size_t to) {
    Producer producer(cluster_->bootstraps());
    for (size_t i = from; i < to; ++i) producer.Produce(Route(lines[i], {}, "contacts"));
    ASSERT_TRUE(producer.Flush(30000));
  }

  fs::path dir_;
  std::unique_ptr<TestCluster> cluster_;
  std::unique_ptr<Process> processor_;
};

TEST_F(WarehouseTest, PostgresFollowsTheTopicThroughKillsAndAsOfMovesAndTheCsvLoadsTheSame) {
  const auto started = std::chrono::steady_clock::now();
  gen::Params p;
  p.children = 300;
  p.weeks = 10;
  p.start = Date::FromYmd(2026, 1, 5);
  p.delete_rate = 0.05;  // many rows falling to 0: tombstones the sink deletes
  p.correction_rate = 0.05;
  p.stale_rate = 0.02;
  std::vector<std::string> lines;
  gen::Generate(p, [&](std::string_view line) { lines.emplace_back(line); });
  // Every event is dated before the first as_of; the second is later (a restart moves as_of, as
  // midnight does, and the snapshot KPIs are restated).
  const Date first_as_of = gen::PeriodEnd(p) + 1;
  const Date as_of = first_as_of + 15;

  std::jthread producer([&] {
    const size_t chunks = 20;
    for (size_t c = 0; c < chunks; ++c) {
      Produce(lines, lines.size() * c / chunks, lines.size() * (c + 1) / chunks);
      std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    }
  });
  std::mt19937_64 rng(11);
  for (int run = 0; run < 5; ++run) {
    StartProcessor(run < 3 ? first_as_of : as_of, "processor-" + std::to_string(run) + ".log");
    // Long enough to join the group (a killed run's member holds it until its 6 s session ends)
    // and work a while.
    std::this_thread::sleep_for(std::chrono::milliseconds(5000 + rng() % 4000));
    ASSERT_TRUE(processor_->running()) << Log("processor-" + std::to_string(run) + ".log");
    processor_->Signal(SIGKILL);
    processor_->Wait(10000);
  }
  producer.join();
  StartProcessor(as_of, "processor.log");
  const Table expected = ReplayTable(lines, as_of);
  ASSERT_GT(expected.size(), 5000u);

  // The sink follows: wait until PostgreSQL holds the replay table.
  Table rows;
  std::map<std::string, int64_t> revisions;
  bool same = false;
  for (const int64_t deadline = NowMs() + 240000; !same && NowMs() < deadline;) {
    same = QueryTable("kpi_results", rows, &revisions) && rows == expected;
    if (!same) std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    ASSERT_TRUE(processor_->running()) << Log("processor.log");
  }
  size_t missing = 0;
  size_t differ = 0;
  for (const auto& [key, value] : expected) {
    const auto it = rows.find(key);
    missing += it == rows.end();
    differ += it != rows.end() && it->second != value;
  }
  ASSERT_TRUE(same) << "PostgreSQL has " << rows.size() << " rows, the replay table "
                    << expected.size() << " (" << missing << " missing, " << differ
                    << " different)\n"
                    << Log("connect/log") << Log("processor.log");
  // Each row's revision is the last one the topic holds for it; tombstones were published and
  // deleted rows (zero rows are absent from the table).
  const OutputRows topic = LastOutputRows(cluster_->bootstraps(), "kpi.results",
                                          ValueFormat::kConnectJson, KeyFormat::kConnectJson);
  EXPECT_EQ(TableOf(topic), expected);
  EXPECT_EQ(topic.undecodable, 0u);
  EXPECT_EQ(topic.zero_rows, 0u);
  EXPECT_GT(topic.tombstones, 0u);
  size_t revision_differs = 0;
  for (const auto& [key, row] : topic.rows) {
    revision_differs += revisions[key] != static_cast<int64_t>(row.revision);
  }
  EXPECT_EQ(revision_differs, 0u) << "rows whose revision in PostgreSQL is not the last published";
  ASSERT_EQ(Psql("-At -c \"SELECT count(*) FROM kpi_results WHERE emitted_at IS NULL\""), 0);
  EXPECT_EQ(FirstLine(dir_ / "psql.out"), "0");
  const double follow_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  // The first load: replay's CSV and the running instance's state export, each loaded with COPY.
  processor_->Signal(SIGTERM);
  EXPECT_EQ(processor_->Wait(30000), 0);
  processor_.reset();
  {
    std::ofstream events(dir_ / "events.ndjson");
    for (const std::string& line : lines) events << line << "\n";
  }
  const std::string bin = (BinaryDir() / "kpi-processor").string();
  ASSERT_EQ(
      std::system((bin + " replay --no-progress --input " + (dir_ / "events.ndjson").string() +
                   " --as-of " + as_of.ToString() + " --output-format csv --output " +
                   (dir_ / "replay.csv").string() + " 2>/dev/null")
                      .c_str()),
      0);
  ASSERT_EQ(
      std::system((bin + " state export --path " + (dir_ / "state").string() +
                   " --format csv --output " + (dir_ / "export.csv").string() + " 2>/dev/null")
                      .c_str()),
      0);
  for (const char* csv : {"replay.csv", "export.csv"}) {
    ASSERT_EQ(Psql("-q -c \"DROP TABLE IF EXISTS first_load\" -c \"CREATE TABLE first_load "
                   "(LIKE kpi_results INCLUDING ALL)\" -c \"\\copy first_load (kpi, week_start, "
                   "dimension, count, base, dimension_kind, dimension_value, as_of) FROM '" +
                   (dir_ / csv).string() + "' WITH (FORMAT csv, HEADER)\""),
              0)
        << csv << Log("psql.log");
    Table loaded;
    ASSERT_TRUE(QueryTable("first_load", loaded, nullptr)) << Log("psql.log");
    EXPECT_EQ(loaded, expected) << csv << ": " << loaded.size() << " rows loaded";
  }
  std::printf(
      "warehouse: %zu rows in PostgreSQL equal the replay table, %zu tombstones; %.0f s "
      "from the first event to the last row\n",
      rows.size(), topic.tombstones, follow_seconds);
}

}  // namespace
}  // namespace kpi::testing
