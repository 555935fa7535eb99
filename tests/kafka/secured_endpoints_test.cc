// The secured endpoints of a running processor (web.config_file: TLS and basic authentication),
// with the mock broker, the processor and a real Prometheus server as separate processes: curl
// reads /kpi over TLS with a password and gets the replay table; Prometheus scrapes /metrics over
// TLS with credentials and gets every event counted; a job with a wrong password, or without TLS,
// gets nothing.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include "tools/cluster/harness.h"
#include "tools/cluster/http_get.h"
#include "tools/cluster/web_testing.h"
#include "tools/gen/generator.h"

namespace kpi::testing {
namespace {

// The value of the first series of an instant query through Prometheus's API; nullopt when the
// result is empty or the query fails.
std::optional<double> QueryValue(int port, const std::string& promql) {
  const auto [status, body] = HttpGet(port, "/api/v1/query?query=" + UrlEncode(promql));
  google::protobuf::Struct json;
  if (status != 200 || !google::protobuf::util::JsonStringToMessage(body, &json).ok()) {
    return std::nullopt;
  }
  const auto& result =
      json.fields().at("data").struct_value().fields().at("result").list_value().values();
  if (result.empty()) return std::nullopt;
  return std::stod(
      result[0].struct_value().fields().at("value").list_value().values(1).string_value());
}

TEST(SecuredEndpointsTest, CurlAndPrometheusOverTlsWithPasswordsOthersRefused) {
  ASSERT_TRUE(fs::exists("/usr/bin/prometheus"))
      << "needs Debian's prometheus package (tools/install-deps.sh installs it)";
  const fs::path dir = fs::temp_directory_path() / ("kpi_secured_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ASSERT_TRUE(MakeTestPki(dir / "tls")) << Tail(dir / "tls" / "openssl.log");
  const std::string ca = (dir / "tls" / "ca.crt").string();
  {
    // As an operator writes it: paths relative to the file's folder.
    std::ofstream web(dir / "web.yml");
    web << "tls_server_config:\n  cert_file: tls/server.crt\n  key_file: tls/server.key\n"
        << "basic_auth_users:\n  prometheus: " << BcryptHash("scrape-secret", 10)
        << "\n  analyst: " << BcryptHash("query-secret", 10) << "\n";
  }

  MockKafka mock(dir, 1, TopicSpecs(1, 1));
  ASSERT_FALSE(mock.bootstraps().empty()) << Tail(dir / "mock-kafka.log");
  gen::Params p;
  p.children = 60;
  p.weeks = 3;
  p.start = Date::FromYmd(2026, 1, 5);
  const Date as_of = gen::PeriodEnd(p) - 2;
  std::vector<std::string> lines;
  gen::Generate(p, [&](std::string_view line) { lines.emplace_back(line); });
  ASSERT_TRUE(ProduceAll(mock.bootstraps(), lines));

  const int metrics_port = FreePort();
  const int http_port = FreePort();
  const int prometheus_port = FreePort();
  {
    std::ofstream cfg(dir / "config.yaml");
    cfg << "kafka:\n  bootstrap.servers: " << mock.bootstraps()
        << "\n  session.timeout.ms: 6000\n  fetch.wait.max.ms: 50\n"
        << "state:\n  path: " << (dir / "state").string() << "\n  block_cache_mb: 16\n"
        << "processing:\n  as_of: " << as_of.ToString() << "\n"
        << "metrics:\n  address: 127.0.0.1:" << metrics_port << "\n"
        << "http:\n  address: 127.0.0.1:" << http_port << "\n"
        << "web:\n  config_file: " << (dir / "web.yml").string() << "\n";
  }
  Process processor(
      {(BinaryDir() / "kpi-processor").string(), "run", "--config", (dir / "config.yaml").string()},
      dir / "processor.log");
  {
    // Three jobs on the same target: the right credentials over TLS, a wrong password, no TLS.
    std::ofstream cfg(dir / "prometheus.yml");
    cfg << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n";
    const auto job = [&](const std::string& name, const std::string& scheme,
                         const std::string& password) {
      cfg << "  - job_name: " << name << "\n    scheme: " << scheme << "\n"
          << "    tls_config:\n      ca_file: " << ca << "\n"
          << "    basic_auth:\n      username: prometheus\n      password: " << password << "\n"
          << "    static_configs:\n      - targets: ['127.0.0.1:" << metrics_port << "']\n";
    };
    job("secured", "https", "scrape-secret");
    job("wrong-password", "https", "not-the-secret");
    job("no-tls", "http", "scrape-secret");
  }
  Process prometheus({"/usr/bin/prometheus", "--config.file=" + (dir / "prometheus.yml").string(),
                      "--storage.tsdb.path=" + (dir / "tsdb").string(),
                      "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)},
                     dir / "prometheus.log");

  // curl, as the analyst: /kpi over TLS comes to the replay table once everything is consumed.
  const Table expected = ReplayTable(lines, as_of);
  const std::string kpi_url = "https://127.0.0.1:" + std::to_string(http_port) + "/kpi";
  const int64_t deadline = NowMs() + 120000;
  Table served;
  while (NowMs() < deadline && served != expected) {
    ASSERT_TRUE(processor.running()) << Tail(dir / "processor.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const CurlResult r = Curl({"--cacert", ca, "-u", "analyst:query-secret"}, kpi_url, dir);
    if (r.status == 200) served = TableOfKpiAnswer(r.body);
  }
  ASSERT_EQ(served, expected) << Tail(dir / "processor.log");
  EXPECT_GT(expected.size(), 50u);

  // Without the password, or without TLS, curl gets no counts; the probes need no password.
  CurlResult r = Curl({"--cacert", ca}, kpi_url, dir);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body.find("count"), std::string::npos);
  EXPECT_EQ(Curl({"--cacert", ca, "-u", "analyst:scrape-secret"}, kpi_url, dir).status, 401);
  r = Curl({"-u", "analyst:query-secret"}, "http://127.0.0.1:" + std::to_string(http_port) + "/kpi",
           dir);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(
      Curl({"--cacert", ca}, "https://127.0.0.1:" + std::to_string(http_port) + "/readyz", dir)
          .status,
      200);

  // Prometheus, secured job: up, and a scrape that counted every event.
  std::optional<double> consumed;
  while (NowMs() < deadline && consumed != static_cast<double>(lines.size())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    consumed = QueryValue(prometheus_port, "sum(kpi_events_consumed_total{job=\"secured\"})");
  }
  EXPECT_EQ(consumed, static_cast<double>(lines.size())) << Tail(dir / "prometheus.log");
  EXPECT_EQ(QueryValue(prometheus_port, "up{job=\"secured\"}"), 1.0);
  // The other jobs: scraped (so `up` exists) but down, and nothing of theirs stored.
  std::optional<double> wrong;
  std::optional<double> plain;
  while (NowMs() < deadline && (!wrong || !plain)) {
    wrong = QueryValue(prometheus_port, "up{job=\"wrong-password\"}");
    plain = QueryValue(prometheus_port, "up{job=\"no-tls\"}");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EXPECT_EQ(wrong, 0.0);
  EXPECT_EQ(plain, 0.0);
  EXPECT_FALSE(QueryValue(prometheus_port, "kpi_ready{job!=\"secured\"}").has_value());
  const auto [targets_status, targets] = HttpGet(prometheus_port, "/api/v1/targets");
  EXPECT_EQ(targets_status, 200);
  EXPECT_NE(targets.find("401 Unauthorized"), std::string::npos) << targets;

  // The processor's log says how it serves, and never holds a password.
  const std::string log = Tail(dir / "processor.log", 1 << 20);
  EXPECT_NE(log.find("https, basic authentication"), std::string::npos) << log;
  EXPECT_EQ(log.find("secret"), std::string::npos);

  processor.Signal(SIGTERM);
  EXPECT_EQ(processor.Wait(30000), 0);
  prometheus.Signal(SIGTERM);
  prometheus.Wait(30000);
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace kpi::testing
