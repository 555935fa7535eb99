// The endpoints under slow, idle, oversized and crowded clients (README "HTTP limits"): the
// processor's Server, on real sockets, against clients that misbehave on purpose. Each test states
// the time it allows and fails with what it saw.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sinks/prometheus/server.h"
#include "tools/cluster/raw_http.h"
#include "tools/cluster/web_testing.h"

namespace kpi::sinks {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using testing::RawConnection;
using testing::RawOptions;

const Date kMon = Date::FromYmd(2026, 3, 2);
constexpr auto kProbeBound = milliseconds(100);   // the bound for /healthz and /readyz
constexpr auto kQueryBound = milliseconds(1000);  // for /kpi and /metrics beside held connections
constexpr char kUser[] = "analyst:query-secret";

int64_t SteadyMs() {
  return std::chrono::duration_cast<milliseconds>(Clock::now().time_since_epoch()).count();
}

double Ms(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1000.0; }

fs::path& PkiDir() {
  static fs::path dir;
  return dir;
}

// Waits up to `limit` for `done`; false when it never held.
bool WaitFor(const std::function<bool()>& done, milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > end) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

class HttpLimitsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    PkiDir() = fs::temp_directory_path() / ("kpi_http_limits_" + std::to_string(::getpid()));
    ASSERT_TRUE(testing::MakeTestPki(PkiDir())) << "the openssl command failed";
  }
  static void TearDownTestSuite() { fs::remove_all(PkiDir()); }

  HttpLimitsTest() : probe_({"contacts"}) {
    std::vector<Row> rows;
    for (int week = 0; week < 52; ++week) {
      for (int year = 0; year < 14; ++year) {
        rows.push_back(Row{Kpi::kContacts, kMon - 7 * week, "year=" + std::to_string(year),
                           int64_t{week + year + 1}, 0, 1});
      }
      rows.push_back(Row{Kpi::kContacts, kMon - 7 * week, "all", 99, 0, 1});
    }
    probe_.Assigned(rows, kMon + 2);
    Beat();
  }

 public:
  void Beat() { probe_.Status({}, SteadyMs()); }

 protected:
  // A server on free ports, plain or with TLS and passwords.
  std::unique_ptr<Server> Start(const HttpLimits& limits, bool secured,
                                std::shared_ptr<spdlog::logger> log = nullptr) {
    ServerOptions options;
    options.metrics_address = "127.0.0.1:0";
    options.http_address = "127.0.0.1:0";
    options.limits = limits;
    if (secured) {
      TlsServerConfig tls;
      tls.cert_file = (PkiDir() / "server.crt").string();
      tls.key_file = (PkiDir() / "server.key").string();
      options.web.tls = tls;
      options.web.basic_auth_users = {{"analyst", testing::BcryptHash("query-secret")}};
    }
    auto server = Server::Start(probe_, options, std::move(log));
    EXPECT_TRUE(server.has_value()) << server.error();
    return server ? std::move(*server) : nullptr;
  }

  RuntimeProbe probe_;
};

// Opens `idle` connections that send nothing and `half` that send part of a request, to `port`.
// With TLS, the idle ones do not even shake hands; the half-sent ones do, then stop mid-header.
std::vector<RawConnection> Hold(int port, int idle, int half, bool tls,
                                const std::string& source = "") {
  std::vector<RawConnection> held;
  for (int i = 0; i < idle + half; ++i) {
    RawOptions options;
    options.tls = tls;
    options.handshake = i >= idle;
    options.source = source;
    auto c = RawConnection::Open(port, options);
    if (!c) {
      ADD_FAILURE() << "connection " << i << " to port " << port << ": " << c.error();
      break;
    }
    if (i >= idle && !c->Send("GET /kpi?kpi=contacts HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")) {
      ADD_FAILURE() << "half-sent request " << i << " could not be sent";
    }
    held.push_back(std::move(*c));
  }
  return held;
}

// Holds 500 idle and 500 half-sent connections on each port, then checks the probes, /kpi and
// /metrics answer within their bounds, and that every held connection is still held.
void ProbesAnswerBesideHeldConnections(HttpLimitsTest& t, Server& server, bool tls,
                                       const std::string& credentials) {
  std::vector<RawConnection> held;
  for (const int port : {server.metrics_port(), server.http_port()}) {
    for (RawConnection& c : Hold(port, 500, 500, tls)) held.push_back(std::move(c));
  }
  ASSERT_EQ(held.size(), 2000U);
  EXPECT_TRUE(WaitFor(
      [&] {
        return server.http_stats()->open_connections == 1000 &&
               server.metrics_stats()->open_connections == 1000;
      },
      milliseconds(10000)))
      << "the server holds " << server.http_stats()->open_connections << " on the http port and "
      << server.metrics_stats()->open_connections << " on the metrics port, not 1000 each";

  RawOptions options;
  options.tls = tls;
  options.timeout_ms = 5000;
  std::chrono::microseconds slowest_probe{0};
  std::chrono::microseconds slowest_query{0};
  for (int round = 0; round < 10; ++round) {
    t.Beat();
    for (const char* path : {"/healthz", "/readyz"}) {
      const auto r = testing::TimedGet(server.http_port(), path, options);
      ASSERT_TRUE(r.response.has_value()) << path << ": " << r.response.error();
      EXPECT_EQ(r.response->status, 200) << path << ": " << r.response->body;
      EXPECT_LE(r.elapsed, kProbeBound) << path << " took " << Ms(r.elapsed) << " ms";
      slowest_probe = std::max(slowest_probe, r.elapsed);
    }
    for (const auto& [port, path] :
         {std::pair{server.http_port(), "/kpi?kpi=contacts&week=2026-03-02"},
          std::pair{server.metrics_port(), "/metrics"}}) {
      const auto r = testing::TimedGet(port, path, options, credentials);
      ASSERT_TRUE(r.response.has_value()) << path << ": " << r.response.error();
      EXPECT_EQ(r.response->status, 200) << path << ": " << r.response->body.substr(0, 200);
      EXPECT_LE(r.elapsed, kQueryBound) << path << " took " << Ms(r.elapsed) << " ms";
      slowest_query = std::max(slowest_query, r.elapsed);
    }
  }
  // (The last request's own connection may take a moment to be closed after its answer.)
  EXPECT_TRUE(WaitFor(
      [&] {
        return server.http_stats()->open_connections == 1000 &&
               server.metrics_stats()->open_connections == 1000;
      },
      milliseconds(1000)))
      << "a held connection was dropped: " << server.http_stats()->open_connections << " and "
      << server.metrics_stats()->open_connections << " open";
  std::printf(
      "beside 2 x (500 idle + 500 half-sent)%s: slowest probe %.1f ms (bound %lld), "
      "slowest /kpi or /metrics %.1f ms (bound %lld)\n",
      tls ? " over TLS with passwords" : "", Ms(slowest_probe),
      static_cast<long long>(kProbeBound.count()), Ms(slowest_query),
      static_cast<long long>(kQueryBound.count()));
}

// The caps raised so that all 2,000 connections are held (the point is what holding them costs:
// nothing), and the deadline past the test's length.
HttpLimits Roomy() {
  HttpLimits limits;
  limits.max_connections = 2048;
  limits.max_connections_per_client = 2048;
  limits.header_timeout_ms = 120000;
  return limits;
}

TEST_F(HttpLimitsTest, ProbesAnswerWhileEveryPortHoldsIdleAndHalfSentConnections) {
  const auto server = Start(Roomy(), false);
  ASSERT_NE(server, nullptr);
  ProbesAnswerBesideHeldConnections(*this, *server, false, "");
}

TEST_F(HttpLimitsTest, ProbesAnswerWhileEveryPortHoldsIdleAndHalfSentConnectionsOverTls) {
  const auto server = Start(Roomy(), true);
  ASSERT_NE(server, nullptr);
  ProbesAnswerBesideHeldConnections(*this, *server, true, kUser);
}

// With the default caps (1,024 per port, 128 per client address), 2,000 connections from eleven
// addresses: the server keeps within the caps by closing the connections that waited longest for
// a request, and the probes, from a held address or a new one, still answer in time.
TEST_F(HttpLimitsTest, AtTheCapsTheLongestWaitingMakeRoomAndTheProbesStillAnswer) {
  const HttpLimits limits;
  const auto server = Start(limits, false);
  ASSERT_NE(server, nullptr);
  std::vector<RawConnection> held = Hold(server->http_port(), 300, 300, false, "127.0.0.1");
  EXPECT_TRUE(WaitFor(
      [&] {
        const HttpStats s = *server->http_stats();
        return s.accepted == 600 && s.open_connections == 128;
      },
      milliseconds(5000)))
      << "one address holds " << server->http_stats()->open_connections
      << " connections, not its cap of 128 (" << server->http_stats()->accepted << " accepted)";
  for (int a = 2; a <= 11; ++a) {
    for (RawConnection& c :
         Hold(server->http_port(), 70, 70, false, "127.0.0." + std::to_string(a))) {
      held.push_back(std::move(c));
    }
  }
  EXPECT_TRUE(WaitFor(
      [&] {
        const HttpStats s = *server->http_stats();
        return s.accepted == 2000 && s.open_connections == 1024;
      },
      milliseconds(5000)))
      << server->http_stats()->open_connections << " open, not the cap of 1024 ("
      << server->http_stats()->accepted << " of 2000 accepted)";
  const HttpStats stats = *server->http_stats();
  EXPECT_EQ(stats.closed[static_cast<size_t>(CloseReason::kEvictedAtCap)], 2000U - 1024U);
  EXPECT_EQ(stats.closed[static_cast<size_t>(CloseReason::kRefusedAtCap)], 0U);
  for (const char* source : {"127.0.0.1", "127.0.0.5", "127.0.0.99"}) {
    RawOptions options;
    options.source = source;
    for (const char* path : {"/healthz", "/readyz"}) {
      const auto r = testing::TimedGet(server->http_port(), path, options);
      ASSERT_TRUE(r.response.has_value()) << source << " " << path << ": " << r.response.error();
      EXPECT_EQ(r.response->status, 200);
      EXPECT_LE(r.elapsed, kProbeBound) << source << " " << path << " took " << Ms(r.elapsed);
    }
  }
  // The connections closed to make room were the oldest: the last ones opened are still held.
  EXPECT_FALSE(held.back().WaitClosed(50));
  EXPECT_TRUE(held.front().WaitClosed(50));
}

// A client sending one byte a second is cut off at the header deadline (5 s by default), with a
// 408, and nothing of it is held after.
TEST_F(HttpLimitsTest, AClientSendingAByteASecondIsCutOffAtTheHeaderDeadline) {
  const HttpLimits limits;
  const auto server = Start(limits, false);
  ASSERT_NE(server, nullptr);
  auto c = RawConnection::Open(server->http_port(), RawOptions{});
  ASSERT_TRUE(c.has_value()) << c.error();
  const auto start = Clock::now();
  const std::string request = testing::GetRequest("/kpi?kpi=contacts");
  bool closed = false;
  for (size_t i = 0; i < request.size() && !closed; ++i) {
    if (!c->Send(request.substr(i, 1))) break;
    closed = c->WaitClosed(1000);
  }
  const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  EXPECT_TRUE(closed) << "still open after " << took.count() << " ms";
  EXPECT_GE(took.count(), limits.header_timeout_ms - 100);
  EXPECT_LE(took.count(), limits.header_timeout_ms + 1000) << "the deadline is 5000 ms";
  EXPECT_TRUE(
      WaitFor([&] { return server->http_stats()->open_connections == 0; }, milliseconds(1000)))
      << server->http_stats()->open_connections << " connection(s) still held";
  EXPECT_EQ(server->http_stats()->closed[static_cast<size_t>(CloseReason::kHeaderTimeout)], 1U);
}

// A TLS client that connects and never sends its ClientHello is cut off at the same deadline.
TEST_F(HttpLimitsTest, ATlsClientThatNeverSaysHelloIsCutOffAtTheHeaderDeadline) {
  const HttpLimits limits;
  const auto server = Start(limits, true);
  ASSERT_NE(server, nullptr);
  for (const int port : {server->http_port(), server->metrics_port()}) {
    RawOptions options;
    options.tls = true;
    options.handshake = false;
    auto c = RawConnection::Open(port, options);
    ASSERT_TRUE(c.has_value()) << c.error();
    const auto start = Clock::now();
    const bool closed = c->WaitClosed(limits.header_timeout_ms + 1000);
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    EXPECT_TRUE(closed) << "port " << port << " still open after " << took.count() << " ms";
    EXPECT_GE(took.count(), limits.header_timeout_ms - 100);
  }
  EXPECT_EQ(server->http_stats()->open_connections, 0U);
  EXPECT_EQ(server->metrics_stats()->open_connections, 0U);
  EXPECT_EQ(server->http_stats()->closed[static_cast<size_t>(CloseReason::kHeaderTimeout)], 1U);
}

// A 1 MB header, a 1 MB URL and 10,000 headers: 431, 414 and 431 within a second, the server
// unharmed; plain and over TLS.
TEST_F(HttpLimitsTest, OversizedRequestHeadsAreRefusedQuickly) {
  const std::string mb(1 << 20, 'a');
  std::string many_headers;
  for (int i = 0; i < 10000; ++i) many_headers += "X-H" + std::to_string(i) + ": v\r\n";
  const std::vector<std::pair<std::string, int>> cases = {
      {"GET /kpi HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + mb + "\r\n\r\n", 431},
      {"GET /kpi?kpi=" + mb + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414},
      {"GET /kpi HTTP/1.1\r\nHost: 127.0.0.1\r\n" + many_headers + "\r\n", 431},
  };
  for (const bool tls : {false, true}) {
    const auto server = Start(HttpLimits{}, tls);
    ASSERT_NE(server, nullptr);
    RawOptions options;
    options.tls = tls;
    for (const auto& [request, status] : cases) {
      const auto start = Clock::now();
      auto c = RawConnection::Open(server->http_port(), options);
      ASSERT_TRUE(c.has_value()) << c.error();
      EXPECT_TRUE(c->Send(request)) << "the server stopped reading before the answer";
      const auto r = c->ReadResponse();
      const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
      ASSERT_TRUE(r.has_value()) << status << (tls ? " over TLS: " : ": ") << r.error();
      EXPECT_EQ(r->status, status) << r->body;
      EXPECT_LE(took, kQueryBound) << status << " took " << took.count() << " ms";
      EXPECT_EQ(r->headers.contains("connection") ? r->headers.at("connection") : "", "close");
      EXPECT_TRUE(c->WaitClosed(2000));
    }
    EXPECT_EQ(server->http_stats()->closed[static_cast<size_t>(CloseReason::kTooLarge)], 3U);
    const auto probe = testing::TimedGet(server->http_port(), "/healthz", options);
    ASSERT_TRUE(probe.response.has_value()) << probe.response.error();
    EXPECT_EQ(probe.response->status, 200);
    EXPECT_TRUE(
        WaitFor([&] { return server->http_stats()->open_connections == 0; }, milliseconds(2000)));
  }
}

// 64 well-behaved clients of /kpi and /metrics for 10 s, on kept-alive connections: every
// request answered 200, and p99 within 250 ms (measured here on 2 cores: see the printed figures).
TEST_F(HttpLimitsTest, SixtyFourConcurrentClientsAreAllAnsweredInTime) {
  constexpr auto kP99Bound = milliseconds(250);
  const auto server = Start(HttpLimits{}, false);
  ASSERT_NE(server, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::vector<int64_t>> latencies(64);
  std::vector<std::string> errors(64);
  std::vector<std::thread> clients;
  for (int i = 0; i < 64; ++i) {
    clients.emplace_back([&, i] {
      const bool metrics = i % 2 == 1;
      const int port = metrics ? server->metrics_port() : server->http_port();
      const std::string request =
          testing::GetRequest(metrics ? "/metrics" : "/kpi?kpi=contacts&dimension=year", "", true);
      testing::KeptAliveClient client(port, RawOptions{});
      while (!stop.load()) {
        const auto start = Clock::now();
        const auto r = client.Request(request);
        if (!r || r->status != 200) {
          errors[i] = r ? "status " + std::to_string(r->status) : r.error();
          failures.fetch_add(1);
          return;
        }
        latencies[i].push_back(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(10));  // the load's length, not a wait
  stop = true;
  for (std::thread& t : clients) t.join();
  std::vector<int64_t> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(failures.load(), 0) << "first error: "
                                << *std::find_if(errors.begin(), errors.end(),
                                                 [](const std::string& e) { return !e.empty(); });
  const double p50 = static_cast<double>(all[all.size() / 2]) / 1000.0;
  const double p99 = static_cast<double>(all[all.size() * 99 / 100]) / 1000.0;
  std::printf("64 clients, 10 s: %zu requests, p50 %.2f ms, p99 %.2f ms (bound %lld ms)\n",
              all.size(), p50, p99, static_cast<long long>(kP99Bound.count()));
  EXPECT_LE(p99, static_cast<double>(kP99Bound.count()));
}

// Refused and cut-off connections are logged as counts, at most once every 10 s per port, and the
// lines name no address, path or header.
TEST_F(HttpLimitsTest, RefusalsAreLoggedAsCountsAtMostEveryTenSeconds) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
  auto log = std::make_shared<spdlog::logger>("sinks", sink);
  const auto text = [&] {
    std::string all;
    for (const std::string& line : sink->last_formatted()) all += line;
    return all;
  };
  const auto server = Start(HttpLimits{}, false, log);
  ASSERT_NE(server, nullptr);
  const auto lines_with = [&](const std::string& needle) {
    std::istringstream in(text());
    int n = 0;
    for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
    return n;
  };
  const std::string secret = "C1234567";  // stands for a child's identifier in a request
  for (int i = 0; i < 20; ++i) {
    auto c = RawConnection::Open(server->http_port(), RawOptions{});
    ASSERT_TRUE(c.has_value()) << c.error();
    c->Send("GET /kpi?child=" + secret + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n");
    const auto r = c->ReadResponse();
    ASSERT_TRUE(r.has_value()) << r.error();
    EXPECT_EQ(r->status, 414);
  }
  ASSERT_TRUE(WaitFor([&] { return lines_with("too_large 20") == 1; }, milliseconds(12000)))
      << "no summary line within 12 s; the log holds:\n"
      << text();
  // More refusals at once: no second line until 10 s after the first.
  for (int i = 0; i < 5; ++i) {
    auto c = RawConnection::Open(server->http_port(), RawOptions{});
    ASSERT_TRUE(c.has_value());
    c->Send("GET /" + std::string(9000, 'b') + " HTTP/1.1\r\n\r\n");
    EXPECT_TRUE(c->ReadResponse().has_value());
  }
  std::this_thread::sleep_for(milliseconds(2000));  // a window in which no line may appear
  EXPECT_EQ(lines_with("connections turned away"), 1) << text();
  // (The start line names the server's own address; the summary names no client's.)
  for (const std::string& line : sink->last_formatted()) {
    if (line.find("turned away") == std::string::npos) continue;
    for (const std::string& forbidden : {secret, std::string("127.0.0.1"), std::string("/kpi")}) {
      EXPECT_EQ(line.find(forbidden), std::string::npos) << forbidden << " in: " << line;
    }
  }
}

}  // namespace
}  // namespace kpi::sinks
