#include "processor/published.h"

#include <algorithm>
#include <map>
#include <string_view>
#include <utility>

#include "processor/output.h"
#include "processor/row_formats.h"

namespace kpi {
namespace {

bool Small(int64_t v, int k) { return v >= 1 && v <= k; }

// The value secondary suppression compares: the base when it is greater than 0, else the count.
int64_t ValueOf(const Row& row) { return row.base > 0 ? row.base : row.count; }

// Secondary suppression in one group (indices into `rows`), after the primary rule.
void Secondary(std::span<const Row> rows, const std::vector<size_t>& group,
               std::vector<bool>& suppressed) {
  const auto all = std::find_if(group.begin(), group.end(),
                                [&](size_t i) { return rows[i].dimension == "all"; });
  if (all == group.end() || suppressed[*all]) return;
  std::map<std::string_view, std::vector<size_t>> families;
  for (const size_t i : group) {
    const std::string_view family = SplitDimension(rows[i].dimension).first;
    if (family != "all") families[family].push_back(i);
  }
  for (const auto& [family, members] : families) {
    const auto hidden =
        std::count_if(members.begin(), members.end(), [&](size_t i) { return suppressed[i]; });
    if (hidden != 1) continue;
    const size_t* pick = nullptr;
    for (const size_t& i : members) {
      if (suppressed[i]) continue;
      if (pick == nullptr || ValueOf(rows[i]) < ValueOf(rows[*pick]) ||
          (ValueOf(rows[i]) == ValueOf(rows[*pick]) && rows[i].dimension < rows[*pick].dimension)) {
        pick = &i;
      }
    }
    if (pick != nullptr) suppressed[*pick] = true;  // one pass: it causes nothing more
  }
}

}  // namespace

std::vector<bool> Suppressed(std::span<const Row> rows, int small_count) {
  std::vector<bool> suppressed(rows.size(), false);
  if (small_count <= 0) return suppressed;
  std::map<std::pair<Kpi, Date>, std::vector<size_t>> groups;
  for (size_t i = 0; i < rows.size(); ++i) {
    suppressed[i] = Small(rows[i].count, small_count) || Small(rows[i].base, small_count);
    groups[{rows[i].kpi, rows[i].week}].push_back(i);
  }
  for (const auto& [key, group] : groups) Secondary(rows, group, suppressed);
  return suppressed;
}

std::string PublishedRowToJson(const Row& row, bool suppressed) {
  if (!suppressed) {
    std::string line = RowToJson(row);
    line.resize(line.size() - 2);  // "}\n"
    line.append(",\"suppressed\":false}\n");
    return line;
  }
  std::string line;
  AppendRowKeyJson(line, row);
  line.append(",\"suppressed\":true}\n");
  return line;
}

}  // namespace kpi
