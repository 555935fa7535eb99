// The published table (KPIS-3.md section 3) as the tests compare it: key (kpi|week|dimension) ->
// "S" for a suppressed row, else "count/base", from a table (what the topic must hold) or from the
// published topic's records (what it holds: each key's last record, a tombstone removing it).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kpi.pb.h"
#include "processor/output.h"
#include "processor/published.h"

namespace kpi::testing {

using PublishedTable = std::map<std::string, std::string>;

// The published form of `table` (kpi|week|dimension -> count, base) at publish.small_count 5.
inline PublishedTable PublishedTableOf(
    const std::map<std::string, std::pair<int64_t, int64_t>>& table) {
  std::vector<Row> rows;
  for (const auto& [key, cell] : table) {
    const size_t a = key.find('|');
    const size_t b = key.find('|', a + 1);
    rows.push_back(Row{*KpiFromName(key.substr(0, a)), *Date::Parse(key.substr(a + 1, b - a - 1)),
                       key.substr(b + 1), cell.first, cell.second, 0, 0});
  }
  const std::vector<bool> suppressed = Suppressed(rows, kDefaultSmallCount);
  PublishedTable out;
  for (size_t i = 0; i < rows.size(); ++i) {
    out[RowKey(rows[i])] =
        suppressed[i] ? "S" : std::to_string(rows[i].count) + "/" + std::to_string(rows[i].base);
  }
  return out;
}

// One record of the published topic applied to `table` (protobuf values, string keys).
inline void ApplyPublished(PublishedTable& table, const std::string& key, const std::string& value,
                           bool tombstone) {
  output::KpiRow row;
  if (tombstone) {
    table.erase(key);
  } else if (row.ParseFromString(value)) {
    table[key] =
        row.suppressed() ? "S" : std::to_string(row.count()) + "/" + std::to_string(row.base());
  }
}

// How many rows of `expected` `actual` lacks or holds otherwise.
inline size_t PublishedDifferences(const PublishedTable& expected, const PublishedTable& actual) {
  size_t differ = 0;
  for (const auto& [key, value] : expected) {
    const auto it = actual.find(key);
    differ += it == actual.end() || it->second != value;
  }
  return differ;
}

}  // namespace kpi::testing
