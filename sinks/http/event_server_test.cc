// The event server's HTTP/1.1 behaviour on real loopback sockets: keep-alive and pipelining,
// HEAD, request bodies, the probes' own thread, refusal at the caps when nothing can make room,
// the write deadline. (The limits under load are tests/http/http_limits_test.cc.)
#include "sinks/http/event_server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "tools/cluster/raw_http.h"

namespace kpi::sinks {
namespace {

using testing::RawConnection;
using testing::RawOptions;

HttpResponse Echo(const HttpRequest& r) {
  return HttpResponse{
      200, "text/plain",
      std::string(r.method) + " " + std::string(r.path) + "?" + std::string(r.query) + "\n"};
}

// A gate the handler waits at until the test opens it.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int waiting = 0;
  void Pass() {
    std::unique_lock lock(mu);
    ++waiting;
    cv.notify_all();
    cv.wait(lock, [this] { return open; });
  }
  bool WaitForWaiting(int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(5), [&] { return waiting >= n; });
  }
  void Open() {
    const std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
};

std::unique_ptr<EventServer> StartServer(HttpHandler handler, const HttpLimits& limits = {},
                                         HttpHandler fast = Echo) {
  std::vector<HttpListener> listeners;
  listeners.push_back(
      HttpListener{"test.address", "127.0.0.1:0", std::move(handler), {"/fast"}, std::move(fast)});
  auto server = EventServer::Start(std::move(listeners), limits, nullptr, nullptr);
  EXPECT_TRUE(server.has_value()) << server.error();
  return server ? std::move(*server) : nullptr;
}

TEST(EventServerTest, AnswersPipelinedRequestsInOrderOnOneConnection) {
  const auto server = StartServer(Echo);
  auto c = RawConnection::Open(server->port(0), RawOptions{});
  ASSERT_TRUE(c.has_value()) << c.error();
  ASSERT_TRUE(
      c->Send("GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\nGET /fast HTTP/1.1\r\nHost: h\r\n\r\n"
              "HEAD /c HTTP/1.1\r\nHost: h\r\n\r\n"));
  auto a = c->ReadResponse();
  ASSERT_TRUE(a.has_value()) << a.error();
  EXPECT_EQ(a->body, "GET /a?x=1\n");
  EXPECT_EQ(a->headers.count("connection"), 0U) << "HTTP/1.1 keeps the connection";
  auto b = c->ReadResponse();
  ASSERT_TRUE(b.has_value()) << b.error();
  EXPECT_EQ(b->body, "GET /fast?\n");
  // HEAD: the length of the body it would have had, and no body (the next response follows).
  ASSERT_TRUE(c->Send("GET /d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
  auto head = c->ReadResponse();
  ASSERT_TRUE(head.has_value()) << head.error();
  EXPECT_EQ(head->headers.at("content-length"), "9");  // "HEAD /c?\n"
  // ReadResponse took the HEAD's "length" from the next response's bytes; read them as raw.
  EXPECT_TRUE(head->body.starts_with("HTTP/1.1"));
  EXPECT_TRUE(c->WaitClosed(2000)) << "Connection: close is honoured";
  EXPECT_EQ(server->stats(0).requests, 4U);
}

TEST(EventServerTest, ReadsAndDropsARequestBody) {
  const auto server = StartServer(Echo);
  auto c = RawConnection::Open(server->port(0), RawOptions{});
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(
      c->Send("POST /p HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789"
              "GET /q HTTP/1.1\r\n\r\n"));
  auto p = c->ReadResponse();
  ASSERT_TRUE(p.has_value()) << p.error();
  EXPECT_EQ(p->body, "POST /p?\n");
  auto q = c->ReadResponse();
  ASSERT_TRUE(q.has_value()) << q.error();
  EXPECT_EQ(q->body, "GET /q?\n");
  ASSERT_TRUE(c->Send("POST /r HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
  auto r = c->ReadResponse();
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->status, 501);
  EXPECT_TRUE(c->WaitClosed(2000));
  EXPECT_EQ(server->stats(0).closed[static_cast<size_t>(CloseReason::kMalformed)], 1U);
}

// While every worker is held by slow requests, the inline paths still answer.
TEST(EventServerTest, InlinePathsAnswerWhileTheWorkersAreBusy) {
  Gate gate;
  const auto server = StartServer([&](const HttpRequest& r) {
    gate.Pass();
    return Echo(r);
  });
  std::vector<RawConnection> slow;
  for (int i = 0; i < 3; ++i) {
    auto c = RawConnection::Open(server->port(0), RawOptions{});
    ASSERT_TRUE(c.has_value());
    ASSERT_TRUE(c->Send(testing::GetRequest("/slow")));
    slow.push_back(std::move(*c));
  }
  ASSERT_TRUE(gate.WaitForWaiting(2)) << "the two workers never started the slow requests";
  const auto fast = testing::TimedGet(server->port(0), "/fast", RawOptions{});
  ASSERT_TRUE(fast.response.has_value()) << fast.response.error();
  EXPECT_EQ(fast.response->status, 200);
  EXPECT_LT(fast.elapsed, std::chrono::milliseconds(100));
  gate.Open();
  for (RawConnection& c : slow) {
    auto r = c.ReadResponse();
    ASSERT_TRUE(r.has_value()) << r.error();
    EXPECT_EQ(r->body, "GET /slow?\n");
  }
}

// At the per-client cap with every connection busy (none waiting for a head to close instead),
// a new connection is refused at once: closed without an answer, not queued.
TEST(EventServerTest, RefusesANewConnectionWhenNoneCanMakeRoom) {
  Gate gate;
  HttpLimits limits;
  limits.max_connections_per_client = 2;  // both busy in the two workers (a third could be queued)
  const auto server = StartServer(
      [&](const HttpRequest& r) {
        gate.Pass();
        return Echo(r);
      },
      limits);
  std::vector<RawConnection> busy;
  for (int i = 0; i < 2; ++i) {
    auto c = RawConnection::Open(server->port(0), RawOptions{});
    ASSERT_TRUE(c.has_value());
    ASSERT_TRUE(c->Send(testing::GetRequest("/busy")));
    busy.push_back(std::move(*c));
  }
  ASSERT_TRUE(gate.WaitForWaiting(2)) << "the two requests never reached the workers";
  auto extra = RawConnection::Open(server->port(0), RawOptions{});
  ASSERT_TRUE(extra.has_value()) << extra.error();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(extra->WaitClosed(1000)) << "the third connection was not refused";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_EQ(server->stats(0).closed[static_cast<size_t>(CloseReason::kRefusedAtCap)], 1U);
  // From another address there is room.
  RawOptions other;
  other.source = "127.0.0.2";
  const auto fast = testing::TimedGet(server->port(0), "/fast", other);
  ASSERT_TRUE(fast.response.has_value()) << fast.response.error();
  gate.Open();
  for (RawConnection& c : busy) EXPECT_TRUE(c.ReadResponse().has_value());
}

// A client that asks for a large response and never reads it is cut off at the write deadline.
TEST(EventServerTest, AClientThatDoesNotReadIsCutOffAtTheWriteDeadline) {
  HttpLimits limits;
  limits.write_timeout_ms = 500;
  const auto server = StartServer(
      [](const HttpRequest&) {
        return HttpResponse{200, "text/plain", std::string(64 << 20, 'x')};
      },
      limits);
  auto c = RawConnection::Open(server->port(0), RawOptions{});
  ASSERT_TRUE(c.has_value());
  ASSERT_TRUE(c->Send(testing::GetRequest("/big")));
  const auto start = std::chrono::steady_clock::now();
  while (server->stats(0).closed[static_cast<size_t>(CloseReason::kWriteTimeout)] == 0 &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(server->stats(0).closed[static_cast<size_t>(CloseReason::kWriteTimeout)], 1U)
      << "not cut off within 5 s";
  EXPECT_GE(took, std::chrono::milliseconds(400)) << "cut off before its deadline";
  EXPECT_EQ(server->stats(0).open_connections, 0U);
}

TEST(EventServerTest, FailsToStartOnAPortInUseNamingTheSetting) {
  const auto first = StartServer(Echo);
  std::vector<HttpListener> listeners;
  listeners.push_back(
      HttpListener{"http.address", "127.0.0.1:" + std::to_string(first->port(0)), Echo, {}, {}});
  const auto second = EventServer::Start(std::move(listeners), HttpLimits{}, nullptr, nullptr);
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.error().find("http.address: cannot listen on 127.0.0.1:"), std::string::npos)
      << second.error();
}

}  // namespace
}  // namespace kpi::sinks
