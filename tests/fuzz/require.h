// The fuzz targets' property check: names the property that failed, then aborts (a finding).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace kpi::fuzz {

inline void Require(bool holds, const char* property) {
  if (!holds) {
    std::fprintf(stderr, "property failed: %s\n", property);
    std::abort();
  }
}

}  // namespace kpi::fuzz
