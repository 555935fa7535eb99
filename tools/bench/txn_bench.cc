// kpi-txn-bench: what Kafka transactions would add to each commit's delivery (docs/DESIGN.md,
// "Real Kafka"). Prints figures; not a test.
//
//   build/bin/kpi-txn-bench [--broker kafka|mock] [--commits 200] [--rows 1700]
//
// Each "commit" produces --rows messages shaped like KPI rows (key kpi|week|dimension, a 60-byte
// value) to kpi.results and waits until the broker has them, as the processor's commit waits for
// its outbox: once with today's idempotent producer (acks=all, a flush), and once as a Kafka
// transaction (begin, produce, commit). The limit beside it is the first: the same messages,
// broker and run. The mock accepts transactions without making them transactional
// (../shared/notes/KAFKA_MOCK.md): only --broker kafka measures them.
#include <librdkafka/rdkafka.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "tools/bench/bench_cluster.h"
#include "tools/guarded_main.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Figures {
  double mean = 0;
  double p50 = 0;
  double p99 = 0;
};

Figures Summarise(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  Figures f;
  for (const double m : ms) f.mean += m / static_cast<double>(ms.size());
  f.p50 = ms[ms.size() / 2];
  f.p99 = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  return f;
}

// The per-commit times in ms, or an empty vector (with a message) when the producer failed.
std::vector<double> Commits(const std::string& bootstraps, bool transactional, int commits,
                            int rows) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] :
       std::vector<std::pair<std::string, std::string>>{{"bootstrap.servers", bootstraps},
                                                        {"enable.idempotence", "true"},
                                                        {"acks", "all"},
                                                        {"linger.ms", "5"},
                                                        {"compression.type", "lz4"}}) {
    rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err);
  }
  if (transactional) rd_kafka_conf_set(conf, "transactional.id", "kpi-txn-bench", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  std::vector<double> ms;
  const auto fail = [&](const char* what, rd_kafka_error_t* e) {
    std::fprintf(stderr, "kpi-txn-bench: %s: %s\n", what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    ms.clear();
  };
  if (transactional) {
    if (rd_kafka_error_t* e = rd_kafka_init_transactions(rk, 30000)) {
      fail("init_transactions", e);
      rd_kafka_destroy(rk);
      return ms;
    }
  }
  const std::string value(60, 'v');
  for (int c = 0; c < commits; ++c) {
    const auto start = Clock::now();
    if (transactional) {
      if (rd_kafka_error_t* e = rd_kafka_begin_transaction(rk)) {
        fail("begin_transaction", e);
        break;
      }
    }
    for (int r = 0; r < rows; ++r) {
      const std::string key = "contacts|2026-01-" + std::to_string(5 + r % 20) +
                              "|school=" + std::to_string(100000 + r);
      while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("kpi.results"),
                               RD_KAFKA_V_KEY(key.data(), key.size()),
                               RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk, 5);
      }
    }
    if (transactional) {
      if (rd_kafka_error_t* e = rd_kafka_commit_transaction(rk, 30000)) {
        fail("commit_transaction", e);
        break;
      }
    } else if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "kpi-txn-bench: flush did not finish in 30 s\n");
      ms.clear();
      break;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  rd_kafka_destroy(rk);
  return ms;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"kpi-txn-bench: a commit's delivery with and without a Kafka transaction"};
  std::string broker = "kafka";
  int commits = 200;
  int rows = 1700;  // about a commit's rows at 20,000 events/s (kpi-latency-bench)
  app.add_option("--broker", broker, "kafka (tools/kafka/cluster.sh) or mock")
      ->capture_default_str();
  app.add_option("--commits", commits)->capture_default_str();
  app.add_option("--rows", rows, "messages per commit")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const kpi::bench::fs::path dir = kpi::bench::ScratchDir("kpi_txn_bench");
  const auto cluster = kpi::bench::StartCluster(dir, 8, "kpi-txn-bench", false, broker);
  const std::vector<double> plain = Commits(cluster->bootstraps(), false, commits, rows);
  const std::vector<double> txn = Commits(cluster->bootstraps(), true, commits, rows);
  if (plain.empty() || txn.empty()) return 1;
  const Figures p = Summarise(plain);
  const Figures t = Summarise(txn);
  std::printf("broker                  %s; %d commits of %d messages each\n",
              broker == "kafka" ? "Apache Kafka 4.4 (one broker)" : "librdkafka's mock", commits,
              rows);
  std::printf("idempotent, flush       mean %.1f ms  p50 %.1f  p99 %.1f   (the limit: today's)\n",
              p.mean, p.p50, p.p99);
  std::printf(
      "transaction, commit     mean %.1f ms  p50 %.1f  p99 %.1f   (%.1f ms more a commit)\n",
      t.mean, t.p50, t.p99, t.mean - p.mean);
  kpi::bench::fs::remove_all(dir);
  return 0;
}

int main(int argc, char** argv) {
  return kpi::tools::GuardedMain("kpi-txn-bench", [&] { return Main(argc, argv); });
}
