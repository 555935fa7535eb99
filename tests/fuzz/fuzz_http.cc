// Fuzz target: the request-head scanner and parser of the endpoints' server (sinks/http). The
// first byte picks how the rest arrives (in pieces of 1 to 64 bytes); the limits are small so that
// they are reached. Properties: the scanner ends in the same state with the same head size however
// the bytes are split, and never reports a head longer than the input; a refusal is 400, 414 or
// 431; a parsed head has a path starting with '/' and a target within max_url_bytes, and a parse
// error is one of the statuses the server sends (400, 413, 414, 501, 505).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sinks/http/request_head.h"
#include "tests/fuzz/require.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using kpi::fuzz::Require;
  using kpi::sinks::HeadScanner;
  if (size == 0) return 0;
  const size_t step = 1 + data[0] % 64;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  kpi::sinks::HttpLimits limits;
  limits.max_url_bytes = 64;
  limits.max_header_bytes = 256;
  limits.max_headers = 8;
  limits.max_body_bytes = 1000;

  HeadScanner whole(limits);
  const HeadScanner::State at_once = whole.Scan(in);
  HeadScanner pieces(limits);
  HeadScanner::State state = HeadScanner::State::kIncomplete;
  for (size_t end = step; state == HeadScanner::State::kIncomplete; end += step) {
    state = pieces.Scan(in.substr(0, end < in.size() ? end : in.size()));
    if (end >= in.size()) break;
  }
  Require(state == at_once, "the scanner's verdict does not depend on how the bytes arrive");
  if (state == HeadScanner::State::kComplete) {
    Require(pieces.head_size() == whole.head_size(), "the head size does not depend on the split");
    Require(whole.head_size() <= in.size(), "a head within the input");
    const auto head = kpi::sinks::ParseRequestHead(in.substr(0, whole.head_size()), limits);
    if (head) {
      Require(!head->path.empty() && head->path.front() == '/', "a path starts with /");
      Require(head->path.size() + head->query.size() <= limits.max_url_bytes,
              "a target within max_url_bytes");
      Require(head->content_length <= limits.max_body_bytes, "a body within max_body_bytes");
    } else {
      const int s = head.error().status;
      Require(s == 400 || s == 413 || s == 414 || s == 501 || s == 505, "a parse error's status");
    }
  } else if (state == HeadScanner::State::kRefused) {
    const int s = whole.error().status;
    Require(s == 400 || s == 414 || s == 431, "a refusal's status");
  }
  return 0;
}
