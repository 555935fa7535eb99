// Test harness for the integration suites: child processes (kpi-mock-kafka, kpi-processor run),
// the mock broker's control channel, a producer and an output reader over real TCP on 127.0.0.1.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "processor/engine.h"
#include "processor/row_formats.h"

namespace kpi::testing {

namespace fs = std::filesystem;

// The input topics of deploy/kpi-processor.example.yaml, and those the suites write as JSON.
inline const std::vector<std::string> kInputTopics = {
    "contacts",   "referrals",  "assessments", "s47", "icpc",    "plans", "attendance",
    "exclusions", "enrolments", "children",    "ehc", "reviews", "visits"};
inline const std::map<std::string, bool> kJsonTopics = {
    {"contacts", true}, {"referrals", true}, {"attendance", true}};

// The dead letters `lines` must give when produced as Route(line, json_topics, "contacts") and
// processed at `as_of`: (value, reason code) of each record that fails to decode, to validate,
// or whose key is not its child.
std::multiset<std::pair<std::string, std::string>> WantedDeadLetters(
    const std::vector<std::string>& lines, const std::map<std::string, bool>& json_topics,
    Date as_of);

// Empty when the dead-letter topic holds exactly what `lines` (produced as Route(line,
// kJsonTopics, "contacts")) must give at `as_of`: each source (topic, partition, offset) once,
// and the records, byte for byte, with their reasons. Else what differs.
std::string DeadLetterDifferences(const std::string& bootstraps, const std::string& topic,
                                  const std::vector<std::string>& lines, Date as_of);

// "topic:partitions" for MockKafka: every input topic with `partitions`, then kpi.results with
// `partitions` and kpi.dlq with `dlq_partitions` (none when 0).
std::vector<std::string> TopicSpecs(int partitions, int dlq_partitions);

// Steady-clock milliseconds, for deadlines.
int64_t NowMs();

// A child process; killed (SIGKILL) if still running when destroyed.
class Process {
 public:
  // `env`: NAME=value entries added to the child's environment.
  Process(const std::vector<std::string>& argv, const fs::path& log,
          const std::vector<std::string>& env = {});
  ~Process();
  void Signal(int sig);
  // Waits up to `timeout_ms` for exit; returns the exit code, or -1 if still running / killed.
  int Wait(int timeout_ms);
  bool running();

 private:
  int pid_ = -1;
  int status_ = -1;
  bool exited_ = false;
};

class MockKafka {
 public:
  // Starts kpi-mock-kafka with topics "name:partitions" and waits for its bootstrap file.
  MockKafka(const fs::path& dir, int brokers, const std::vector<std::string>& topics);
  const std::string& bootstraps() const { return bootstraps_; }
  // Sends a control command and waits for its acknowledgement.
  bool Command(const std::string& command);

 private:
  fs::path dir_;
  std::unique_ptr<Process> process_;
  std::string bootstraps_;
};

// The cluster a suite runs against: kpi-mock-kafka by default, or a real Apache Kafka (tools/
// kafka/cluster.sh) when KPITEST_BROKER=kafka (the kafka_real_test binary sets it). A real
// cluster of one plain broker is the one in KPITEST_KAFKA_DIR when set (ctest's kafka_real
// fixture shares it between tests), else one started in `dir` for this test and stopped with it.
// The test's topics are created afresh (deleted first on a shared cluster); each cluster object
// names a consumer group of its own for the processors of its test.
class TestCluster {
 public:
  struct Options {
    int brokers = 1;
    bool sasl = false;  // real only: SASL_SSL with SCRAM-SHA-512 and a throwaway CA
    bool real = false;  // a real cluster whatever KPITEST_BROKER says (the benchmarks' --broker)
  };
  // `topics`: "name:partitions" or "name:partitions:key=value,key=value" (topic configurations,
  // which the mock ignores). Replication: min(3, brokers). Check ok() after.
  static std::unique_ptr<TestCluster> Start(const fs::path& dir,
                                            const std::vector<std::string>& topics,
                                            Options options);
  static std::unique_ptr<TestCluster> Start(const fs::path& dir,
                                            const std::vector<std::string>& topics) {
    return Start(dir, topics, Options{});
  }
  static bool RealFromEnvironment();
  virtual ~TestCluster() = default;

  virtual bool real() const = 0;
  // For the test's own clients (Producer, ReadTopic, kcat): a real cluster's internal PLAINTEXT
  // listeners. Empty when the cluster did not start; error() says why.
  const std::string& bootstraps() const { return bootstraps_; }
  const std::string& error() const { return error_; }
  bool ok() const { return !bootstraps_.empty(); }
  // The kafka section of a processor's configuration, as YAML lines indented by two spaces:
  // bootstrap.servers, this test's group.id, and the security settings a secured cluster needs.
  std::string KafkaYaml() const;
  // Every broker unreachable (mock: its "down all"; real: kill -9 of every broker), and back.
  virtual bool AllDown() = 0;
  virtual bool AllUp() = 0;
  // The mock's control channel (errors to inject); false on a real cluster.
  virtual bool MockCommand(const std::string& command) = 0;
  // Where to look when something failed: the broker logs.
  virtual std::string Logs() const = 0;

 protected:
  std::string bootstraps_;
  std::string processor_bootstraps_;  // the client listeners; empty: bootstraps_
  std::string error_;
  std::string group_;
  std::map<std::string, std::string> security_;  // the processor's settings beyond the servers
};

// A real cluster's own operations (tools/kafka/cluster.sh), for the broker-failure scenarios.
class RealKafka : public TestCluster {
 public:
  RealKafka(const fs::path& dir, const std::vector<std::string>& topics, Options options);
  ~RealKafka() override;
  bool real() const override { return true; }
  bool AllDown() override;
  bool AllUp() override;
  bool MockCommand(const std::string&) override { return false; }
  std::string Logs() const override;
  // kill -9 of broker `id` (1..N), and its start (waiting until it is registered again).
  bool KillBroker(int id);
  bool StartBroker(int id);
  // The broker leading a partition, from the metadata (-1: none).
  int Leader(const std::string& topic, int32_t partition);
  int brokers() const { return brokers_; }
  const fs::path& cluster_dir() const { return cluster_dir_; }

 private:
  // A client of the internal PLAINTEXT listeners for admin requests and metadata; the caller
  // destroys it.
  void* AdminClient() const;
  // Runs tools/kafka/cluster.sh with `args`; its output goes to dir/cluster.log.
  bool Script(const std::vector<std::string>& args, int timeout_ms);
  bool MakeTopics(const std::vector<std::string>& topics);
  fs::path dir_;
  fs::path cluster_dir_;
  bool owned_ = false;  // started for this test (stopped with it), not the shared one
  int brokers_ = 1;
};

struct Produced {
  std::string topic;
  std::string key;
  std::string value;
};

// Synchronous, idempotent producer: Produce() queues, Flush() waits for every delivery.
class Producer {
 public:
  explicit Producer(const std::string& bootstraps);
  ~Producer();
  void Produce(const Produced& record);
  // true when every record so far was delivered.
  bool Flush(int timeout_ms);

 private:
  void* rk_;
  int failed_ = 0;
};

// Produces NDJSON events as protobuf, each to its kind's topic (Route); true when all were
// delivered within 30 s.
bool ProduceAll(const std::string& bootstraps, const std::vector<std::string>& lines);

// Every record of a topic from the beginning to the current end: (key, value, headers).
struct Consumed {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
  bool tombstone = false;  // a null value (not an empty one)
};
std::vector<Consumed> ReadTopic(const std::string& bootstraps, const std::string& topic);

using Table = std::map<std::string, std::pair<int64_t, int64_t>>;  // kpi|week|dim -> count, base

// The table a replay of `lines` (NDJSON) at `as_of` produces.
Table ReplayTable(const std::vector<std::string>& lines, Date as_of);
// The last value per key of the output topic, as a compacted topic's consumer sees it; zero
// rows dropped.
Table LastValueTable(const std::string& bootstraps, const std::string& topic);
// An output row as a sink that follows the topic keeps it.
struct OutputRow {
  int64_t count = 0;
  int64_t base = 0;
  uint64_t revision = 0;
  bool operator==(const OutputRow&) const = default;
};
struct OutputRows {
  std::map<std::string, OutputRow> rows;  // by string key (kpi|week|dimension)
  size_t tombstones = 0;                  // records with a null value
  size_t zero_rows = 0;                   // records whose count and base are 0
  size_t undecodable = 0;                 // records that are not rows of these formats
};
// The last record per row of an output topic written in `value` and `key` formats: a tombstone
// or a zero row drops the row (as a sink with deletes and a compacted topic do).
OutputRows LastOutputRows(const std::string& bootstraps, const std::string& topic,
                          ValueFormat value, KeyFormat key);
// The (count, base) of each row.
Table TableOf(const OutputRows& rows);

// Every record of `key` on the output topic, one line each: partition, offset, count/base,
// revision and as_of (for a failure's message).
std::string KeyHistory(const std::string& bootstraps, const std::string& topic,
                       const std::string& key);
// The whole table GET /kpi serves on 127.0.0.1:`http_port` (empty when it does not answer).
Table ServedTable(int http_port);
// The table in the body of a /kpi answer (empty when it is not one).
Table TableOfKpiAnswer(const std::string& body);
// The last value per key of the output topic (protobuf KpiRow), zero rows dropped: what a
// compacted topic's consumer sees (not the highest revision, which would hide a row published
// out of order).
Table OutputTable(const std::string& bootstraps, const std::string& topic);

// Routes one NDJSON event line to its topic by body kind, keyed by child_id, in the topic's
// format (json topics get the line itself). Lines that do not decode go to `fallback_topic`.
Produced Route(const std::string& line, const std::map<std::string, bool>& json_topics,
               const std::string& fallback_topic);

// The sum of the next offsets stored in a state directory (read-only open, safe while the
// processor runs): how many input records it has committed.
int64_t CommittedRecords(const fs::path& state_path);
// Per "topic[partition]": the next offset stored in a state directory.
std::map<std::string, int64_t> CommittedOffsets(const fs::path& state_path);

std::string Tail(const fs::path& file, size_t bytes = 3000);
// A port a processor's last run logged in `log`: `what` "queries on " (/kpi) or "metrics on ",
// from its line "... on 127.0.0.1:0 (port N)"; 0 when not logged yet.
int LoggedPort(const fs::path& log, std::string_view what);
// The samples of the /metrics page at `port` (each series as printed, labels included, to its
// value); empty when it does not answer.
std::map<std::string, double> ScrapeMetrics(int port);
// One series' value in `samples` (-1 when absent), or the sum of a family's samples over every
// label set (0 when it has none).
double SampleOf(const std::map<std::string, double>& samples, const std::string& series);
double FamilySum(const std::map<std::string, double>& samples, std::string_view family);
fs::path BinaryDir();

}  // namespace kpi::testing
