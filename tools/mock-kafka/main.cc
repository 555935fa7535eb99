// kpi-mock-kafka: hosts librdkafka's mock cluster for the tests and the demo (never used by the
// processor, which reaches it like any cluster through bootstrap.servers).
//
//   kpi-mock-kafka --brokers 3 --topic contacts:6 --topic kpi.results:6
//       --bootstrap-file /tmp/bootstrap --control /tmp/control.fifo
//
// It writes the bootstrap list to --bootstrap-file (a temp file, then rename) once the cluster is
// up, then reads commands, one per line, from the --control FIFO and acknowledges each on stdout
// as "ok <command>" or "error <command>: <why>":
//   down <broker|all>            up <broker|all>            rtt <broker|all> <ms>
//   errors <api_key> <count> <error_code>   (the next <count> requests of that API fail)
//   topic <name> <partitions>    leader <topic> <partition> <broker>
// SIGTERM or SIGINT stops it cleanly: the cluster and its handle are destroyed.
#include <dirent.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tools/guarded_main.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

struct Cluster {
  rd_kafka_t* rk = nullptr;
  rd_kafka_mock_cluster_t* mc = nullptr;
  int brokers = 0;
};

bool ForBrokers(const Cluster& c, const std::string& which,
                const std::function<rd_kafka_resp_err_t(int32_t)>& f, std::string& why) {
  std::vector<int32_t> ids;
  if (which == "all") {
    for (int32_t id = 1; id <= c.brokers; ++id) ids.push_back(id);
  } else {
    ids.push_back(static_cast<int32_t>(std::stol(which)));
  }
  for (const int32_t id : ids) {
    const rd_kafka_resp_err_t err = f(id);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      why = rd_kafka_err2str(err);
      return false;
    }
  }
  return true;
}

std::string Execute(const Cluster& c, const std::string& line) {
  std::istringstream in(line);
  std::string cmd;
  in >> cmd;
  std::string why = "bad arguments";
  bool ok = false;
  try {
    if (cmd == "down" || cmd == "up") {
      std::string which;
      in >> which;
      ok = !which.empty() && ForBrokers(
                                 c, which,
                                 [&](int32_t id) {
                                   return cmd == "down" ? rd_kafka_mock_broker_set_down(c.mc, id)
                                                        : rd_kafka_mock_broker_set_up(c.mc, id);
                                 },
                                 why);
    } else if (cmd == "rtt") {
      std::string which;
      int ms = 0;
      in >> which >> ms;
      ok = !which.empty() &&
           ForBrokers(
               c, which, [&](int32_t id) { return rd_kafka_mock_broker_set_rtt(c.mc, id, ms); },
               why);
    } else if (cmd == "errors") {
      int api_key = -1;
      size_t count = 0;
      int code = 0;
      in >> api_key >> count >> code;
      if (api_key >= 0 && count > 0 && count <= 100000) {
        std::vector<rd_kafka_resp_err_t> errors(count, static_cast<rd_kafka_resp_err_t>(code));
        rd_kafka_mock_push_request_errors_array(c.mc, static_cast<int16_t>(api_key), count,
                                                errors.data());
        ok = true;
      }
    } else if (cmd == "topic") {
      std::string name;
      int partitions = 0;
      in >> name >> partitions;
      if (!name.empty() && partitions > 0) {
        const rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(c.mc, name.c_str(), partitions, 1);
        ok = err == RD_KAFKA_RESP_ERR_NO_ERROR;
        if (!ok) why = rd_kafka_err2str(err);
      }
    } else if (cmd == "leader") {
      std::string topic;
      int partition = -1;
      int broker = -1;
      in >> topic >> partition >> broker;
      const rd_kafka_resp_err_t err =
          rd_kafka_mock_partition_set_leader(c.mc, topic.c_str(), partition, broker);
      ok = err == RD_KAFKA_RESP_ERR_NO_ERROR;
      if (!ok) why = rd_kafka_err2str(err);
    } else {
      why = "unknown command";
    }
  } catch (const std::exception&) {
    ok = false;
  }
  return ok ? "ok " + line : "error " + line + ": " + why;
}

bool WriteAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text << "\n";
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// Sets TCP_NODELAY on the mock brokers' listening sockets, from which Linux copies it to every
// accepted connection. Kafka brokers set it on their connections; librdkafka 2.0.2's mock does not,
// and without it a small response waits for the client's delayed ACK: every produce took about
// 43 ms to be acknowledged, which no real cluster shows. There is no API for the mock's sockets,
// so every listening socket of this process is visited; call it once the cluster exists.
void NoDelayOnListeners() {
  DIR* fds = opendir("/proc/self/fd");
  if (fds == nullptr) return;
  const int self = dirfd(fds);
  while (const dirent* entry = readdir(fds)) {
    const int fd = std::atoi(entry->d_name);
    int listening = 0;
    socklen_t len = sizeof listening;
    if (fd == self || fd <= 2 || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
        listening == 0) {
      continue;
    }
    const int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  closedir(fds);
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"kpi-mock-kafka: librdkafka's mock Kafka cluster, for tests and the demo"};
  int brokers = 1;
  std::vector<std::string> topics;
  std::string bootstrap_file;
  std::string control;
  app.add_option("--brokers", brokers, "number of brokers")->capture_default_str();
  app.add_option("--topic", topics, "topic to create, NAME:PARTITIONS (repeatable)");
  app.add_option("--bootstrap-file", bootstrap_file, "where to write the bootstrap servers")
      ->required();
  app.add_option("--control", control, "FIFO to read commands from (created if missing)");
  CLI11_PARSE(app, argc, argv);

  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);

  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  Cluster c;
  c.brokers = brokers;
  c.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (c.rk == nullptr) {
    std::fprintf(stderr, "kpi-mock-kafka: %s\n", errstr);
    return 1;
  }
  c.mc = rd_kafka_mock_cluster_new(c.rk, brokers);
  if (c.mc == nullptr) {
    std::fprintf(stderr, "kpi-mock-kafka: cannot create the mock cluster\n");
    rd_kafka_destroy(c.rk);
    return 1;
  }
  NoDelayOnListeners();
  for (const std::string& t : topics) {
    const size_t colon = t.rfind(':');
    const std::string name = t.substr(0, colon);
    const int partitions = colon == std::string::npos ? 1 : std::stoi(t.substr(colon + 1));
    if (rd_kafka_mock_topic_create(c.mc, name.c_str(), partitions, 1) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "kpi-mock-kafka: cannot create topic %s\n", name.c_str());
    }
  }
  const std::string bootstraps = rd_kafka_mock_cluster_bootstraps(c.mc);
  if (!WriteAtomically(bootstrap_file, bootstraps)) {
    std::fprintf(stderr, "kpi-mock-kafka: cannot write %s\n", bootstrap_file.c_str());
    g_stop = 1;
  }
  std::fprintf(stderr, "kpi-mock-kafka: %d broker(s) at %s\n", brokers, bootstraps.c_str());

  int fd = -1;
  int keep_open = -1;  // our own writer, so that the FIFO never reports EOF between clients
  if (!control.empty()) {
    struct stat st {};
    if (::stat(control.c_str(), &st) != 0) ::mkfifo(control.c_str(), 0600);
    fd = ::open(control.c_str(), O_RDONLY | O_NONBLOCK);
    keep_open = ::open(control.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd < 0) std::fprintf(stderr, "kpi-mock-kafka: cannot open %s\n", control.c_str());
  }
  std::string pending;
  while (!g_stop) {
    if (fd < 0) {
      ::usleep(100 * 1000);
      continue;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) continue;
    pending.append(buf, static_cast<size_t>(n));
    size_t eol;
    while ((eol = pending.find('\n')) != std::string::npos) {
      const std::string line = pending.substr(0, eol);
      pending.erase(0, eol + 1);
      if (line.empty()) continue;
      std::printf("%s\n", Execute(c, line).c_str());
      std::fflush(stdout);
    }
  }
  if (fd >= 0) ::close(fd);
  if (keep_open >= 0) ::close(keep_open);
  rd_kafka_mock_cluster_destroy(c.mc);
  rd_kafka_destroy(c.rk);
  std::fprintf(stderr, "kpi-mock-kafka: stopped\n");
  return 0;
}

int main(int argc, char** argv) {
  return kpi::tools::GuardedMain("kpi-mock-kafka", [&] { return Main(argc, argv); });
}
