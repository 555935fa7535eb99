// Test helpers for HTTP on 127.0.0.1: a blocking HTTP/1.0 GET and a free port.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace kpi::testing {

// {status, body}; status -1 when the connection fails or the response is not HTTP.
std::pair<int, std::string> HttpGet(int port, const std::string& path_and_query);
// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
int FreePort();
// Percent-encodes a query parameter value.
std::string UrlEncode(std::string_view text);

}  // namespace kpi::testing
