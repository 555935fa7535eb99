#include "sinks/http/request_head.h"

#include <gtest/gtest.h>

#include <string>

namespace kpi::sinks {
namespace {

// Feeds `text` to a scanner in pieces of `step` bytes; the state after the last piece.
HeadScanner::State ScanInSteps(HeadScanner& scanner, const std::string& text, size_t step) {
  HeadScanner::State state = HeadScanner::State::kIncomplete;
  for (size_t end = step; state == HeadScanner::State::kIncomplete; end += step) {
    state = scanner.Scan(std::string_view(text).substr(0, std::min(end, text.size())));
    if (end >= text.size()) break;
  }
  return state;
}

TEST(HeadScannerTest, FindsTheEndOfAHeadHoweverTheBytesAreSplit) {
  const std::string request = "GET /kpi?week=current HTTP/1.1\r\nHost: x\r\n\r\nnext";
  for (const size_t step : {1, 2, 3, 7, 100}) {
    HeadScanner scanner{HttpLimits{}};
    EXPECT_EQ(ScanInSteps(scanner, request, step), HeadScanner::State::kComplete) << step;
    EXPECT_EQ(scanner.head_size(), request.size() - 4) << step;
  }
}

TEST(HeadScannerTest, AcceptsBareLineFeedsAndAnEmptyLineBeforeTheRequest) {
  HeadScanner scanner{HttpLimits{}};
  const std::string request = "\r\nGET / HTTP/1.0\nA: b\n\n";
  EXPECT_EQ(scanner.Scan(request), HeadScanner::State::kComplete);
  EXPECT_EQ(scanner.head_size(), request.size());
  const auto head = ParseRequestHead(request, HttpLimits{});
  ASSERT_TRUE(head.has_value()) << head.error().reason;
  EXPECT_EQ(head->path, "/");
  EXPECT_FALSE(head->keep_alive);
}

TEST(HeadScannerTest, RefusesALongRequestLineWith414BeforeItEnds) {
  HttpLimits limits;
  limits.max_url_bytes = 100;
  HeadScanner scanner{limits};
  const std::string line = "GET /" + std::string(200, 'a');  // no line end yet
  EXPECT_EQ(scanner.Scan(line), HeadScanner::State::kRefused);
  EXPECT_EQ(scanner.error().status, 414);
  HeadScanner fits{limits};
  EXPECT_EQ(fits.Scan("GET /" + std::string(99, 'a')), HeadScanner::State::kIncomplete);
}

TEST(HeadScannerTest, RefusesLongOrManyHeaderFieldsWith431) {
  HttpLimits limits;
  limits.max_header_bytes = 1000;
  limits.max_headers = 10;
  HeadScanner big{limits};
  EXPECT_EQ(big.Scan("GET / HTTP/1.1\r\nX: " + std::string(1000, 'v')),
            HeadScanner::State::kRefused);
  EXPECT_EQ(big.error().status, 431);
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 11; ++i) many += "A: b\r\n";
  HeadScanner lines{limits};
  EXPECT_EQ(lines.Scan(many), HeadScanner::State::kRefused);
  EXPECT_EQ(lines.error().status, 431);
  std::string ten = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 10; ++i) ten += "A: b\r\n";
  HeadScanner fits{limits};
  EXPECT_EQ(fits.Scan(ten + "\r\n"), HeadScanner::State::kComplete);
}

TEST(HeadScannerTest, RefusesAFloodOfEmptyLines) {
  HeadScanner scanner{HttpLimits{}};
  EXPECT_EQ(scanner.Scan(std::string(100, '\n')), HeadScanner::State::kRefused);
  EXPECT_EQ(scanner.error().status, 400);
}

TEST(ParseRequestHeadTest, ReadsMethodPathQueryVersionAndTheFieldsThatMatter) {
  const auto head = ParseRequestHead(
      "GET /kpi?kpi=contacts&week=current HTTP/1.1\r\nHost: a\r\nauthorization:  Basic eA== "
      "\r\nConnection: Keep-Alive, Close\r\nContent-Length: 3\r\n\r\n",
      HttpLimits{});
  ASSERT_TRUE(head.has_value()) << head.error().reason;
  EXPECT_EQ(head->method, "GET");
  EXPECT_EQ(head->path, "/kpi");
  EXPECT_EQ(head->query, "kpi=contacts&week=current");
  EXPECT_EQ(head->minor_version, 1);
  EXPECT_EQ(head->authorization, "Basic eA==");
  EXPECT_FALSE(head->keep_alive);
  EXPECT_EQ(head->content_length, 3U);
}

TEST(ParseRequestHeadTest, KeepsAliveByVersionUnlessAsked) {
  EXPECT_TRUE(ParseRequestHead("GET / HTTP/1.1\r\n\r\n", HttpLimits{})->keep_alive);
  EXPECT_FALSE(ParseRequestHead("GET / HTTP/1.0\r\n\r\n", HttpLimits{})->keep_alive);
  EXPECT_TRUE(ParseRequestHead("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", HttpLimits{})
                  ->keep_alive);
}

TEST(ParseRequestHeadTest, TakesThePathOfAnAbsoluteTarget) {
  const auto head =
      ParseRequestHead("GET http://host:9465/readyz?x HTTP/1.1\r\n\r\n", HttpLimits{});
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->path, "/readyz");
  EXPECT_EQ(head->query, "x");
}

TEST(ParseRequestHeadTest, RefusesWhatCouldBeReadTwoWays) {
  const auto status = [](const std::string& head) {
    const auto parsed = ParseRequestHead(head, HttpLimits{});
    return parsed ? 200 : parsed.error().status;
  };
  EXPECT_EQ(status("GET  / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1 x\r\n\r\n"), 400);
  EXPECT_EQ(status("GET kpi HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status("G(T / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET /\x01 HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/2.0\r\n\r\n"), 505);
  EXPECT_EQ(status("GET / HTTQ/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nA b\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nA : b\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"), 200);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"), 400);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n"), 413);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n"), 400);
  EXPECT_EQ(status("GET /" + std::string(8192, 'a') + " HTTP/1.1\r\n\r\n"), 414);
}

TEST(ParseRequestHeadTest, ErrorsNeverQuoteTheRequest) {
  const auto parsed = ParseRequestHead("GET /kpi?child=C123456 HTTP/9.9\r\n\r\n", HttpLimits{});
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().reason.find("C123456"), std::string::npos);
}

}  // namespace
}  // namespace kpi::sinks
