#include "tools/cluster/harness.h"

#include <fcntl.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <librdkafka/rdkafka.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "kpi.pb.h"
#include "processor/app/replay.h"
#include "processor/keys.h"
#include "processor/validate.h"
#include "processor/values.h"
#include "state/memory_store.h"
#include "state/rocksdb/rocksdb_store.h"
#include "tools/cluster/checked.h"
#include "tools/cluster/http_get.h"
#include "tools/gen/route.h"

namespace kpi::testing {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

fs::path BinaryDir() { return {KPI_BINARY_DIR}; }

std::string Tail(const fs::path& file, size_t bytes) {
  const std::string all = ReadFile(file);
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

int LoggedPort(const fs::path& log, std::string_view what) {
  const std::string text = Tail(log, 10000000);
  const size_t at = text.rfind(what);
  if (at == std::string::npos) return 0;
  const size_t port = text.find("(port ", at);
  return port == std::string::npos ? 0 : std::atoi(text.c_str() + port + 6);
}

std::map<std::string, double> ScrapeMetrics(int port) {
  std::map<std::string, double> samples;
  if (port == 0) return samples;
  const auto [status, body] = HttpGet(port, "/metrics");
  if (status != 200) return samples;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.front() == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    samples[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return samples;
}

double SampleOf(const std::map<std::string, double>& samples, const std::string& series) {
  const auto it = samples.find(series);
  return it == samples.end() ? -1 : it->second;
}

double FamilySum(const std::map<std::string, double>& samples, std::string_view family) {
  double sum = 0;
  for (const auto& [series, value] : samples) {
    const std::string_view name = std::string_view(series).substr(0, series.find('{'));
    if (name == family) sum += value;
  }
  return sum;
}

Process::Process(const std::vector<std::string>& argv, const fs::path& log,
                 const std::vector<std::string>& env) {
  std::vector<std::string> entries = env;  // putenv keeps the pointers: copies that outlive exec
  pid_ = ::fork();
  if (pid_ == 0) {
    for (std::string& e : entries) ::putenv(e.data());
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

Process::~Process() {
  if (running()) {
    Signal(SIGKILL);
    Wait(10000);
  }
}

void Process::Signal(int sig) {
  if (pid_ > 0 && !exited_) ::kill(pid_, sig);
}

bool Process::running() {
  if (exited_ || pid_ <= 0) return false;
  if (::waitpid(pid_, &status_, WNOHANG) == pid_) exited_ = true;
  return !exited_;
}

int Process::Wait(int timeout_ms) {
  const int64_t deadline = NowMs() + timeout_ms;
  while (running() && NowMs() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (!exited_) return -1;
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
}

MockKafka::MockKafka(const fs::path& dir, int brokers, const std::vector<std::string>& topics)
    : dir_(dir) {
  std::vector<std::string> argv = {(BinaryDir() / "kpi-mock-kafka").string(),
                                   "--brokers",
                                   std::to_string(brokers),
                                   "--bootstrap-file",
                                   (dir / "bootstrap").string(),
                                   "--control",
                                   (dir / "control").string()};
  for (const std::string& t : topics) {
    argv.emplace_back("--topic");
    argv.push_back(t);
  }
  process_ = std::make_unique<Process>(argv, dir / "mock-kafka.log");
  const int64_t deadline = NowMs() + 10000;
  while (NowMs() < deadline && !fs::exists(dir / "bootstrap")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  bootstraps_ = ReadFile(dir / "bootstrap");
  while (!bootstraps_.empty() && bootstraps_.back() == '\n') bootstraps_.pop_back();
}

bool MockKafka::Command(const std::string& command) {
  {
    std::ofstream control(dir_ / "control");
    control << command << "\n";
  }
  const int64_t deadline = NowMs() + 15000;
  while (NowMs() < deadline) {
    const std::string log = ReadFile(dir_ / "mock-kafka.log");
    if (log.find("ok " + command + "\n") != std::string::npos) return true;
    if (log.find("error " + command) != std::string::npos) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

namespace {

// "name:partitions[:key=value,...]" -> name, partitions, configurations.
struct TopicSpec {
  std::string name;
  int partitions = 1;
  std::vector<std::pair<std::string, std::string>> configs;
};
TopicSpec ParseTopicSpec(const std::string& spec) {
  TopicSpec t;
  const size_t colon = spec.find(':');
  t.name = spec.substr(0, colon);
  if (colon == std::string::npos) return t;
  const size_t second = spec.find(':', colon + 1);
  t.partitions = std::stoi(spec.substr(colon + 1, second - colon - 1));
  if (second == std::string::npos) return t;
  std::stringstream configs(spec.substr(second + 1));
  for (std::string kv; std::getline(configs, kv, ',');) {
    const size_t eq = kv.find('=');
    t.configs.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return t;
}

class MockCluster final : public TestCluster {
 public:
  MockCluster(const fs::path& dir, int brokers, const std::vector<std::string>& topics)
      : dir_(dir) {
    std::vector<std::string> specs;
    for (const std::string& t : topics) {
      const TopicSpec spec = ParseTopicSpec(t);
      specs.push_back(spec.name + ":" + std::to_string(spec.partitions));
    }
    mock_ = std::make_unique<MockKafka>(dir, brokers, specs);
    bootstraps_ = mock_->bootstraps();
    if (bootstraps_.empty())
      error_ = "kpi-mock-kafka did not start: " + Tail(dir / "mock-kafka.log");
  }
  bool real() const override { return false; }
  bool AllDown() override { return mock_->Command("down all"); }
  bool AllUp() override { return mock_->Command("up all"); }
  bool MockCommand(const std::string& command) override { return mock_->Command(command); }
  std::string Logs() const override { return Tail(dir_ / "mock-kafka.log"); }

 private:
  fs::path dir_;
  std::unique_ptr<MockKafka> mock_;
};

// One Admin API call's result: the error of each topic ("" when none).
std::map<std::string, std::string> TopicResults(rd_kafka_queue_t* queue, int timeout_ms) {
  std::map<std::string, std::string> out;
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, timeout_ms);
  if (ev == nullptr) return {{"", "no answer in time"}};
  const rd_kafka_topic_result_t** results = nullptr;
  size_t n = 0;
  if (const auto* created = rd_kafka_event_CreateTopics_result(ev)) {
    results = rd_kafka_CreateTopics_result_topics(created, &n);
  } else if (const auto* deleted = rd_kafka_event_DeleteTopics_result(ev)) {
    results = rd_kafka_DeleteTopics_result_topics(deleted, &n);
  } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    out[""] = rd_kafka_event_error_string(ev);
  }
  for (size_t i = 0; i < n; ++i) {
    const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    out[rd_kafka_topic_result_name(results[i])] =
        err == RD_KAFKA_RESP_ERR_NO_ERROR ? "" : rd_kafka_err2name(err);
  }
  rd_kafka_event_destroy(ev);
  return out;
}

// Partitions of `topic` with a leader, per the metadata (-1: the topic is unknown).
int LedPartitions(rd_kafka_t* rk, const std::string& topic, int* leader_of, int32_t partition) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  int led = -1;
  if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      led = 0;
      for (int i = 0; i < md->topics[0].partition_cnt; ++i) {
        const rd_kafka_metadata_partition_t& p = md->topics[0].partitions[i];
        if (p.leader >= 0 && p.err == RD_KAFKA_RESP_ERR_NO_ERROR) ++led;
        if (leader_of != nullptr && p.id == partition) *leader_of = p.leader;
      }
    }
    rd_kafka_metadata_destroy(md);
  }
  rd_kafka_topic_destroy(rkt);
  return led;
}

std::string FirstLine(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

bool TestCluster::RealFromEnvironment() {
  const char* broker = std::getenv("KPITEST_BROKER");
  return broker != nullptr && std::string(broker) == "kafka";
}

std::unique_ptr<TestCluster> TestCluster::Start(const fs::path& dir,
                                                const std::vector<std::string>& topics,
                                                Options options) {
  static int clusters = 0;
  std::unique_ptr<TestCluster> cluster;
  if (RealFromEnvironment() || options.sasl || options.real) {
    cluster = std::make_unique<RealKafka>(dir, topics, options);
  } else {
    cluster = std::make_unique<MockCluster>(dir, options.brokers, topics);
  }
  cluster->group_ = "kpi-test-" + std::to_string(::getpid()) + "-" + std::to_string(++clusters);
  return cluster;
}

std::string TestCluster::KafkaYaml() const {
  std::string yaml = "  bootstrap.servers: " +
                     (processor_bootstraps_.empty() ? bootstraps_ : processor_bootstraps_) +
                     "\n  group.id: " + group_ + "\n";
  for (const auto& [k, v] : security_) yaml += "  " + k + ": " + v + "\n";
  return yaml;
}

RealKafka::RealKafka(const fs::path& dir, const std::vector<std::string>& topics, Options options)
    : dir_(dir), brokers_(options.brokers) {
  const char* shared = std::getenv("KPITEST_KAFKA_DIR");
  if (shared != nullptr && *shared != 0 && options.brokers == 1 && !options.sasl &&
      fs::exists(fs::path(shared) / "bootstrap")) {
    cluster_dir_ = shared;
  } else {
    cluster_dir_ = dir / "kafka";
    owned_ = true;
    std::vector<std::string> args = {"start", "--dir", cluster_dir_.string(), "--brokers",
                                     std::to_string(options.brokers)};
    if (options.sasl) args.emplace_back("--sasl");
    if (!Script(args, 180000)) {
      error_ = "tools/kafka/cluster.sh start failed:\n" + Tail(dir / "cluster.log");
      return;
    }
  }
  // The processor gets the client listeners with their security settings; the harness's own
  // clients use the internal PLAINTEXT listeners, so that they work whatever the security (and
  // whatever SASL mechanisms this build's librdkafka can do).
  std::ifstream in(cluster_dir_ / "client.properties");
  for (std::string line; std::getline(in, line);) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) security_[line.substr(0, eq)] = line.substr(eq + 1);
  }
  processor_bootstraps_ = FirstLine(cluster_dir_ / "bootstrap");
  bootstraps_ = FirstLine(cluster_dir_ / "admin_bootstrap");
  if (bootstraps_.empty() || processor_bootstraps_.empty()) {
    error_ = "no bootstrap files in " + cluster_dir_.string();
  } else if (MakeTopics(topics)) {
    return;
  }
  bootstraps_.clear();  // not ok()
}

RealKafka::~RealKafka() {
  if (owned_) Script({"stop", "--dir", cluster_dir_.string()}, 60000);
}

bool RealKafka::Script(const std::vector<std::string>& args, int timeout_ms) {
  std::vector<std::string> argv = {std::string(KPI_SOURCE_DIR) + "/tools/kafka/cluster.sh"};
  argv.insert(argv.end(), args.begin(), args.end());
  Process script(argv, dir_ / "cluster.log");
  return script.Wait(timeout_ms) == 0;
}

void* RealKafka::AdminClient() const {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps_.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  return rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
}

bool RealKafka::MakeTopics(const std::vector<std::string>& topics) {
  char err[512];
  auto* rk = static_cast<rd_kafka_t*>(AdminClient());
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  std::vector<TopicSpec> specs;
  for (const std::string& t : topics) specs.push_back(ParseTopicSpec(t));
  const int replication = std::min(brokers_, 3);
  const auto done = [&](bool ok) {
    rd_kafka_queue_destroy(queue);
    rd_kafka_destroy(rk);
    return ok;
  };
  // Delete what an earlier test left, and wait until it is gone.
  std::vector<rd_kafka_DeleteTopic_t*> deletes;
  for (const TopicSpec& t : specs) deletes.push_back(rd_kafka_DeleteTopic_new(t.name.c_str()));
  rd_kafka_DeleteTopics(rk, deletes.data(), deletes.size(), nullptr, queue);
  TopicResults(queue, 30000);
  rd_kafka_DeleteTopic_destroy_array(deletes.data(), deletes.size());
  for (const TopicSpec& t : specs) {
    const int64_t deadline = NowMs() + 30000;
    while (LedPartitions(rk, t.name, nullptr, 0) >= 0) {
      if (NowMs() > deadline) {
        error_ = "topic " + t.name + " still exists 30 s after its deletion";
        return done(false);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  for (const TopicSpec& t : specs) {
    const int64_t deadline = NowMs() + 30000;
    while (true) {
      rd_kafka_NewTopic_t* nt =
          rd_kafka_NewTopic_new(t.name.c_str(), t.partitions, replication, err, sizeof err);
      for (const auto& [k, v] : t.configs) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
      rd_kafka_CreateTopics(rk, &nt, 1, nullptr, queue);
      const std::map<std::string, std::string> results = TopicResults(queue, 30000);
      rd_kafka_NewTopic_destroy(nt);
      const auto it = results.find(t.name);
      if (it != results.end() && it->second.empty()) break;
      // A topic being deleted is still "already there" for a moment.
      if (NowMs() > deadline) {
        error_ = "creating topic " + t.name + ": " +
                 (it != results.end() ? it->second : results.begin()->second);
        return done(false);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  for (const TopicSpec& t : specs) {
    const int64_t deadline = NowMs() + 30000;
    while (LedPartitions(rk, t.name, nullptr, 0) != t.partitions) {
      if (NowMs() > deadline) {
        error_ = "topic " + t.name + ": not every partition has a leader after 30 s";
        return done(false);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return done(true);
}

bool RealKafka::KillBroker(int id) {
  return Script({"kill-broker", "--dir", cluster_dir_.string(), std::to_string(id)}, 30000);
}

bool RealKafka::StartBroker(int id) {
  return Script({"start-broker", "--dir", cluster_dir_.string(), std::to_string(id)}, 180000);
}

bool RealKafka::AllDown() {
  bool ok = true;
  for (int id = 1; id <= brokers_; ++id) ok = KillBroker(id) && ok;
  return ok;
}

bool RealKafka::AllUp() {
  bool ok = true;
  for (int id = 1; id <= brokers_; ++id) ok = StartBroker(id) && ok;
  return ok;
}

int RealKafka::Leader(const std::string& topic, int32_t partition) {
  auto* rk = static_cast<rd_kafka_t*>(AdminClient());
  int leader = -1;
  LedPartitions(rk, topic, &leader, partition);
  rd_kafka_destroy(rk);
  return leader;
}

std::string RealKafka::Logs() const {
  std::string out = Tail(dir_ / "cluster.log", 2000);
  for (int id = 1; id <= brokers_; ++id) {
    out += "\nbroker " + std::to_string(id) + ":\n" +
           Tail(cluster_dir_ / ("broker-" + std::to_string(id)) / "broker.log", 1500);
  }
  return out;
}

Producer::Producer(const std::string& bootstraps) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
  rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
  rd_kafka_conf_set(conf, "compression.type", "lz4", err, sizeof err);
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++*static_cast<int*>(opaque);
      std::fprintf(stderr, "test producer: delivery failed: %s\n", rd_kafka_err2str(m->err));
    }
  });
  rd_kafka_conf_set_opaque(conf, &failed_);
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
}

Producer::~Producer() {
  rd_kafka_flush(static_cast<rd_kafka_t*>(rk_), 10000);
  rd_kafka_destroy(static_cast<rd_kafka_t*>(rk_));
}

void Producer::Produce(const Produced& r) {
  auto* rk = static_cast<rd_kafka_t*>(rk_);
  while (true) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(r.topic.c_str()), RD_KAFKA_V_KEY(r.key.data(), r.key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk, 10);
      continue;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++failed_;
      std::fprintf(stderr, "test producer: produce to %s failed: %s\n", r.topic.c_str(),
                   rd_kafka_err2str(err));
    }
    break;
  }
  rd_kafka_poll(rk, 0);
}

bool Producer::Flush(int timeout_ms) {
  return rd_kafka_flush(static_cast<rd_kafka_t*>(rk_), timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR &&
         failed_ == 0;
}

std::vector<Consumed> ReadTopic(const std::string& bootstraps, const std::string& topic) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "group.id", "kpi-test-reader", err, sizeof err);
  rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err);
  rd_kafka_conf_set(conf, "fetch.wait.max.ms", "20", err, sizeof err);
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  std::vector<Consumed> out;
  if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      md->topic_cnt != 1) {
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return out;
  }
  const int partitions = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  int eof = 0;
  const int64_t deadline = NowMs() + 30000;
  while (eof < partitions && NowMs() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ++eof;
    } else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Consumed c;
      c.partition = m->partition;
      c.offset = m->offset;
      c.key.assign(static_cast<const char*>(m->key), m->key_len);
      c.tombstone = m->payload == nullptr;
      if (!c.tombstone) c.value.assign(static_cast<const char*>(m->payload), m->len);
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          c.headers[name] = std::string(static_cast<const char*>(value), size);
        }
      }
      out.push_back(std::move(c));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

std::map<std::string, int64_t> CommittedOffsets(const fs::path& state_path) {
  state::RocksDbOptions options;
  options.path = state_path.string();
  options.read_only = true;
  options.create_if_missing = false;
  options.block_cache_bytes = 1 << 20;
  std::map<std::string, int64_t> out;
  auto store = state::RocksDbStore::Open(options);
  if (!store) return out;
  for (uint16_t task = 0; task < 64; ++task) {
    const std::string prefix = keys::TablePrefix(task, keys::kOffset);
    (void)(*store)->Scan(prefix, state::PrefixEnd(prefix),
                         [&](std::string_view k, std::string_view v) {
                           // An undecodable offset shows as -1: never as progress.
                           const int64_t next = DecodeOffset(v).value_or(-1);
                           std::string_view rest = k.substr(prefix.size());  // lp(topic)
                           const std::string topic(keys::ReadLengthPrefixed(rest).value_or("?"));
                           out[topic + "[" + std::to_string(task) + "]"] = next;
                           return true;
                         });
  }
  return out;
}

int64_t CommittedRecords(const fs::path& state_path) {
  int64_t total = 0;
  for (const auto& [tp, next] : CommittedOffsets(state_path)) total += next;
  return total;
}

Table ReplayTable(const std::vector<std::string>& lines, Date as_of) {
  const Calendar calendar;
  state::MemoryStore store;
  EngineOptions options;
  options.as_of = as_of;
  auto engine = Checked(Engine::Open(store, calendar, options), "Engine::Open");
  for (const std::string& line : lines) {
    auto event = DecodeJson(line);
    if (!event) continue;
    auto valid = Validate(*event, as_of);
    if (valid) Checked(engine->Apply(*valid), "Engine::Apply");
  }
  Checked(engine->PrepareCommit(), "Engine::PrepareCommit");
  Table table;
  const std::vector<Row> rows = engine->Table().value();
  for (const Row& row : rows) {
    table[std::string(KpiName(row.kpi)) + "|" + row.week.ToString() + "|" + row.dimension] = {
        row.count, row.base};
  }
  return table;
}

std::string KeyHistory(const std::string& bootstraps, const std::string& topic,
                       const std::string& key) {
  std::string out;
  for (const Consumed& c : ReadTopic(bootstraps, topic)) {
    if (c.key != key) continue;
    output::KpiRow row;
    const bool ok = row.ParseFromString(c.value);
    out += "    [" + std::to_string(c.partition) + "]@" + std::to_string(c.offset) + " " +
           (ok ? std::to_string(row.count()) + "/" + std::to_string(row.base()) + " revision " +
                     std::to_string(row.revision()) + " as_of " + row.as_of()
               : std::string("undecodable")) +
           "\n";
  }
  return out;
}

Table LastValueTable(const std::string& bootstraps, const std::string& topic) {
  Table table;
  // A key always goes to one partition, and ReadTopic keeps each partition's order.
  for (const Consumed& c : ReadTopic(bootstraps, topic)) {
    output::KpiRow row;
    if (!row.ParseFromString(c.value)) continue;
    if (row.count() == 0 && row.base() == 0) {
      table.erase(c.key);
    } else {
      table[c.key] = {row.count(), row.base()};
    }
  }
  return table;
}

namespace {

// A row value in `format`; nullopt when it is not one.
std::optional<OutputRow> ParseOutputValue(const std::string& value, ValueFormat format) {
  if (format == ValueFormat::kProtobuf) {
    output::KpiRow row;
    if (!row.ParseFromString(value) || row.kpi().empty()) return std::nullopt;
    return OutputRow{row.count(), row.base(), row.revision()};
  }
  google::protobuf::Struct doc;
  if (!google::protobuf::util::JsonStringToMessage(value, &doc).ok()) return std::nullopt;
  const google::protobuf::Struct* fields = &doc;
  if (format == ValueFormat::kConnectJson) {
    const auto payload = doc.fields().find("payload");
    if (payload == doc.fields().end() || !payload->second.has_struct_value()) return std::nullopt;
    fields = &payload->second.struct_value();
  }
  const auto number = [&](const char* name) -> std::optional<double> {
    const auto it = fields->fields().find(name);
    if (it == fields->fields().end() || !it->second.has_number_value()) return std::nullopt;
    return it->second.number_value();
  };
  const auto count = number("count");
  const auto base = number("base");
  const auto revision = number("revision");
  if (!count || !base || !revision) return std::nullopt;
  return OutputRow{static_cast<int64_t>(*count), static_cast<int64_t>(*base),
                   static_cast<uint64_t>(*revision)};
}

}  // namespace

OutputRows LastOutputRows(const std::string& bootstraps, const std::string& topic,
                          ValueFormat value, KeyFormat key) {
  OutputRows out;
  // A key always goes to one partition, and ReadTopic keeps each partition's order.
  for (const Consumed& c : ReadTopic(bootstraps, topic)) {
    const std::optional<std::string> row_key = StringKeyOf(c.key, key);
    if (!row_key) {
      ++out.undecodable;
      continue;
    }
    if (c.tombstone) {
      ++out.tombstones;
      out.rows.erase(*row_key);
      continue;
    }
    const std::optional<OutputRow> row = ParseOutputValue(c.value, value);
    if (!row) {
      ++out.undecodable;
    } else if (row->count == 0 && row->base == 0) {
      ++out.zero_rows;
      out.rows.erase(*row_key);
    } else {
      out.rows[*row_key] = *row;
    }
  }
  return out;
}

Table TableOf(const OutputRows& rows) {
  Table table;
  for (const auto& [key, row] : rows.rows) table[key] = {row.count, row.base};
  return table;
}

std::multiset<std::pair<std::string, std::string>> WantedDeadLetters(
    const std::vector<std::string>& lines, const std::map<std::string, bool>& json_topics,
    Date as_of) {
  std::multiset<std::pair<std::string, std::string>> want;
  EventReader reader;
  for (const std::string& line : lines) {
    const Produced p = Route(line, json_topics, "contacts");
    const auto json = json_topics.find(p.topic);
    const std::optional<DeadLetterReason> reason = reader.DeadLetterReasonOf(
        {.bytes = p.value, .json = json != json_topics.end() && json->second, .key = p.key}, as_of);
    if (reason) want.insert({p.value, std::string(ReasonCode(*reason))});
  }
  return want;
}

std::string DeadLetterDifferences(const std::string& bootstraps, const std::string& topic,
                                  const std::vector<std::string>& lines, Date as_of) {
  const std::multiset<std::pair<std::string, std::string>> want =
      WantedDeadLetters(lines, kJsonTopics, as_of);
  std::map<std::string, int> times;
  std::multiset<std::pair<std::string, std::string>> got;
  for (const Consumed& c : ReadTopic(bootstraps, topic)) {
    const auto header = [&](const char* name) {
      const auto it = c.headers.find(name);
      return it == c.headers.end() ? std::string("?") : it->second;
    };
    ++times[header("source_topic") + "[" + header("source_partition") + "]@" +
            header("source_offset")];
    got.insert({c.value, header("reason")});
  }
  std::string out;
  for (const auto& [source, n] : times) {
    if (n != 1) out += source + " published " + std::to_string(n) + " times\n";
  }
  if (got != want) {
    size_t missing = 0;
    for (const auto& w : want) missing += got.count(w) < want.count(w) ? 1 : 0;
    out += "dead letters: " + std::to_string(got.size()) + " published, " +
           std::to_string(want.size()) + " expected, " + std::to_string(missing) +
           " expected ones missing or short\n";
  }
  return out;
}

std::vector<std::string> TopicSpecs(int partitions, int dlq_partitions) {
  std::vector<std::string> topics;
  for (const std::string& t : kInputTopics) topics.push_back(t + ":" + std::to_string(partitions));
  topics.push_back("kpi.results:" + std::to_string(partitions));
  if (dlq_partitions > 0) topics.push_back("kpi.dlq:" + std::to_string(dlq_partitions));
  return topics;
}

bool ProduceAll(const std::string& bootstraps, const std::vector<std::string>& lines) {
  Producer producer(bootstraps);
  for (const std::string& line : lines) producer.Produce(Route(line, {}, "contacts"));
  return producer.Flush(30000);
}

Table ServedTable(int http_port) {
  const auto [status, body] = HttpGet(http_port, "/kpi");
  return status == 200 ? TableOfKpiAnswer(body) : Table();
}

Table TableOfKpiAnswer(const std::string& body) {
  Table served;
  google::protobuf::Struct json;
  if (!google::protobuf::util::JsonStringToMessage(body, &json).ok()) return served;
  for (const auto& row : json.fields().at("rows").list_value().values()) {
    const auto& f = row.struct_value().fields();
    served[f.at("kpi").string_value() + "|" + f.at("week_start").string_value() + "|" +
           f.at("dimension").string_value()] = {static_cast<int64_t>(f.at("count").number_value()),
                                                static_cast<int64_t>(f.at("base").number_value())};
  }
  return served;
}

Table OutputTable(const std::string& bootstraps, const std::string& topic) {
  return LastValueTable(bootstraps, topic);
}

Produced Route(const std::string& line, const std::map<std::string, bool>& json_topics,
               const std::string& fallback_topic) {
  std::set<std::string> json;
  for (const auto& [topic, is_json] : json_topics) {
    if (is_json) json.insert(topic);
  }
  gen::Routed r = gen::Route(line, json, fallback_topic);
  return {std::move(r.topic), std::move(r.key), std::move(r.value)};
}

}  // namespace kpi::testing
