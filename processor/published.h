// The published table of KPIS-3.md section 3: the table with statistical disclosure control, for
// figures that leave the service. A pure function of the table: a row is suppressed when its count
// or base is small (1 to publish.small_count), and, in a (kpi, week) group whose `all` row is
// published, one more row of a family (school, year, sen, ...) that has exactly one suppressed row
// (the smallest by value, ties to the smallest dimension). The operational outputs stay exact.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "processor/engine.h"

namespace kpi {

inline constexpr int kDefaultSmallCount = 5;  // publish.small_count

// Whether each row of `rows` is suppressed, by index. `rows` holds whole (kpi, week) groups in any
// order (every row of a group the table has: suppression reads the group).
std::vector<bool> Suppressed(std::span<const Row> rows, int small_count);

// A published row as one NDJSON line (with its newline): the table's line with
// "suppressed":false after base, or the key and "suppressed":true alone.
std::string PublishedRowToJson(const Row& row, bool suppressed);

}  // namespace kpi
