// kpi-http-bench: requests per second and latency of the endpoints' server (sinks/http) under
// concurrency, for /kpi and /metrics beside a plain GET of a static file from the same server in
// the same run: the static file is what the server itself costs; the gap to it is the handlers'.
// Prints figures; not a test.
//
//   build/bin/kpi-http-bench [--seconds 3] [--clients 1,8,64] [--weeks 52] [--schools 30]
//                            [--held 1000]
//
// The server is the processor's: an EventServer with its two worker threads, /kpi answered from a
// RuntimeProbe holding a synthetic committed table (every KPI, --weeks weeks, the all, year, SEN
// and --schools school dimensions), /metrics from the ProcessorCollector over the same probe, and
// /static returning the bytes of a file read once at start (the example configuration, about the
// size of a week of one KPI from /kpi). Clients are threads of this
// process on kept-alive connections, each sending its next request when the last is answered; the
// machine's cores are shared between them and the server, as they are in a pod with a sidecar.
// With --held N, N idle connections (from addresses 127.0.0.2 on, 100 each) are held open on the
// port for the whole run (the header deadline raised to an hour so that they stay).
#include <prometheus/text_serializer.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "sinks/http/event_server.h"
#include "sinks/prometheus/collector.h"
#include "sinks/query.h"
#include "tools/cluster/raw_http.h"
#include "tools/guarded_main.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Result {
  uint64_t requests = 0;
  uint64_t failures = 0;
  std::vector<int64_t> micros;  // sorted
  size_t bytes = 0;             // of one response body
};

// `clients` threads GET `path` back to back for `seconds`.
Result Load(int port, const std::string& path, int clients, double seconds) {
  std::atomic<bool> stop{false};
  std::vector<std::vector<int64_t>> micros(static_cast<size_t>(clients));
  std::atomic<uint64_t> failures{0};
  std::atomic<size_t> bytes{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      kpi::testing::KeptAliveClient client(port, kpi::testing::RawOptions{});
      const std::string request = kpi::testing::GetRequest(path, "", true);
      while (!stop.load()) {
        const auto start = Clock::now();
        const auto r = client.Request(request);
        if (!r || r->status != 200) {
          failures.fetch_add(1);
          return;
        }
        bytes.store(r->body.size());
        micros[static_cast<size_t>(i)].push_back(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (std::thread& t : threads) t.join();
  Result out;
  for (const auto& m : micros) out.micros.insert(out.micros.end(), m.begin(), m.end());
  std::sort(out.micros.begin(), out.micros.end());
  out.requests = out.micros.size();
  out.failures = failures.load();
  out.bytes = bytes.load();
  return out;
}

double Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto i = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1));
  return static_cast<double>(sorted[i]) / 1000.0;
}

std::vector<kpi::Row> SyntheticTable(kpi::Date monday, int weeks, int schools) {
  std::vector<std::string> dimensions = {"all", "sen=none", "sen=support", "sen=ehcp"};
  for (int y = 0; y <= 13; ++y) dimensions.push_back("year=" + std::to_string(y));
  for (int s = 0; s < schools; ++s) dimensions.push_back("school=" + std::to_string(100001 + s));
  std::vector<kpi::Row> rows;
  for (const kpi::Kpi kpi : kpi::AllKpis()) {
    for (int w = 0; w < weeks; ++w) {
      for (size_t d = 0; d < dimensions.size(); ++d) {
        rows.push_back(kpi::Row{kpi, monday - 7 * w, dimensions[d],
                                static_cast<int64_t>(17 + w + d), static_cast<int64_t>(40 + d), 1});
      }
    }
  }
  return rows;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"kpi-http-bench: /kpi and /metrics beside a static file, under concurrency"};
  double seconds = 3;
  std::vector<int> client_counts = {1, 8, 64};
  int weeks = 52;
  int schools = 30;
  int held = 0;
  std::string static_file = KPI_SOURCE_DIR "/deploy/kpi-processor.example.yaml";
  app.add_option("--seconds", seconds, "length of each measurement")->capture_default_str();
  app.add_option("--clients", client_counts, "concurrent clients, one measurement each")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--weeks", weeks, "weeks in the committed table")->capture_default_str();
  app.add_option("--schools", schools, "school dimension values")->capture_default_str();
  app.add_option("--held", held, "idle connections held open during the run")
      ->capture_default_str();
  app.add_option("--static-file", static_file, "the file /static serves")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::ifstream in(static_file, std::ios::binary);
  std::stringstream file;
  file << in.rdbuf();
  const std::string static_body = file.str();
  if (static_body.empty()) {
    std::fprintf(stderr, "kpi-http-bench: cannot read %s\n", static_file.c_str());
    return 2;
  }

  const kpi::Date monday = kpi::Date::FromYmd(2026, 11, 30);
  kpi::sinks::RuntimeProbe probe({"contacts"});
  const std::vector<kpi::Row> table = SyntheticTable(monday, weeks, schools);
  probe.Assigned(table, monday + 3);
  probe.Status({}, 1);
  const kpi::sinks::ProcessorCollector collector(probe, kpi::sinks::MetricsOptions{}, nullptr);

  std::vector<kpi::sinks::HttpListener> listeners;
  listeners.push_back(kpi::sinks::HttpListener{
      "bench.address",
      "127.0.0.1:0",
      [&](const kpi::sinks::HttpRequest& r) -> kpi::sinks::HttpResponse {
        if (r.path == "/kpi") return kpi::sinks::HandleKpiQuery(probe, r.query);
        if (r.path == "/metrics") {
          std::ostringstream text;
          prometheus::TextSerializer().Serialize(text, collector.Collect());
          return {200, "text/plain; version=0.0.4; charset=utf-8", text.str()};
        }
        if (r.path == "/static") return {200, "text/markdown; charset=utf-8", static_body};
        return {404, "text/plain", "not found\n"};
      },
      {},
      {}});
  kpi::sinks::HttpLimits limits;
  if (held > 0) limits.header_timeout_ms = 3600000;  // so that the held connections stay held
  auto server = kpi::sinks::EventServer::Start(std::move(listeners), limits, nullptr, nullptr);
  if (!server) {
    std::fprintf(stderr, "kpi-http-bench: %s\n", server.error().c_str());
    return 1;
  }
  const int port = (*server)->port(0);
  std::vector<kpi::testing::RawConnection> idle;
  for (int i = 0; i < held; ++i) {
    kpi::testing::RawOptions options;
    options.source = "127.0.0." + std::to_string(2 + i / 100);  // under the per-client cap
    auto c = kpi::testing::RawConnection::Open(port, options);
    if (c) idle.push_back(std::move(*c));
  }

  std::printf("table: %zu rows (%d KPIs, %d weeks); %zu idle connections held; %u cores\n",
              table.size(), kpi::kKpiCount, weeks, idle.size(),
              std::thread::hardware_concurrency());
  std::printf("%-44s %8s %9s %10s %10s %10s %8s\n", "path", "clients", "bytes", "req/s", "p50 ms",
              "p99 ms", "failed");
  const std::vector<std::string> paths = {"/static", "/kpi?kpi=contacts&week=current&dimension=all",
                                          "/kpi?kpi=attendance_rate&week=current", "/metrics"};
  for (const int clients : client_counts) {
    for (const std::string& path : paths) {
      const Result r = Load(port, path, clients, seconds);
      std::printf("%-44s %8d %9zu %10.0f %10.2f %10.2f %8llu\n", path.c_str(), clients, r.bytes,
                  static_cast<double>(r.requests) / seconds, Percentile(r.micros, 0.5),
                  Percentile(r.micros, 0.99), static_cast<unsigned long long>(r.failures));
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  return kpi::tools::GuardedMain("kpi-http-bench", [&] { return Main(argc, argv); });
}
