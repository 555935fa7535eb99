// A tool's main: runs `body`, and an exception that escapes it becomes a message on stderr and
// exit code 1 instead of std::terminate. Thread-safety: call from main only.
#pragma once

#include <cstdio>
#include <exception>

namespace kpi::tools {

template <typename Body>
int GuardedMain(const char* name, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: fatal: %s\n", name, e.what());
  } catch (...) {
    std::fprintf(stderr, "%s: fatal: unknown exception\n", name);
  }
  return 1;
}

}  // namespace kpi::tools
