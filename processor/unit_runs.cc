#include "processor/unit_runs.h"

#include <algorithm>

namespace kpi {

void UnitRuns::Fold(CellTable& cells) {
  // Each run [first, last] of value v is +v at `first` and -v a week after `last`; summed per
  // (group, week) and accumulated along the weeks, a retraction and a re-addition cancel wherever
  // the change does not reach, and only the weeks where the net value is not zero touch a cell.
  edges_.clear();
  for (const Delta& run : deltas_) {
    edges_.push_back({run.group, run.first.days(), run.count, run.base});
    edges_.push_back({run.group, (run.last + 7).days(), -run.count, -run.base});
  }
  deltas_.clear();
  std::sort(edges_.begin(), edges_.end(), [](const Edge& x, const Edge& y) {
    return x.group != y.group ? x.group < y.group : x.week < y.week;
  });
  cells_.clear();
  int64_t count = 0;
  int64_t base = 0;
  for (size_t i = 0; i < edges_.size();) {
    const Edge& at = edges_[i];
    const uint64_t group = at.group;
    const int32_t week = at.week;
    for (; i < edges_.size() && edges_[i].group == group && edges_[i].week == week; ++i) {
      count += edges_[i].count;
      base += edges_[i].base;
    }
    if (count == 0 && base == 0) continue;
    // Every run closes, so a non-zero sum has a later edge in the same group.
    const int32_t until = edges_[i].week;
    const auto kpi = static_cast<Kpi>(group >> 32);
    const auto dim = static_cast<uint32_t>(group);
    for (int32_t w = week; w < until; w += 7) {
      cells_.push_back({PackCell(kpi, Date(w), dim), count, base});
    }
  }
  // In key order: the order in which they become dirty, and so that of a commit's rows.
  std::sort(cells_.begin(), cells_.end(),
            [](const FoldedCell& x, const FoldedCell& y) { return x.cell < y.cell; });
  for (const FoldedCell& c : cells_) cells.Add(c.cell, c.count, c.base);
  // The runs and edges are bounded (kFoldRuns); the cells of one fold are not (a backfill's commit
  // can emit hundreds of thousands), and memory_mb does not count them: not kept past 1.5 MiB.
  if (cells_.capacity() > (size_t{1} << 16)) cells_ = {};
}

void DistinctRuns::Flush(UnitRuns& runs, int sign) {
  std::sort(runs_.begin(), runs_.end(), [](const Run& x, const Run& y) {
    return x.group != y.group ? x.group < y.group : x.first < y.first;
  });
  for (size_t i = 0; i < runs_.size();) {
    Run merged = runs_[i];
    for (++i;
         i < runs_.size() && runs_[i].group == merged.group && runs_[i].first <= merged.last + 7;
         ++i) {
      merged.last = std::max(merged.last, runs_[i].last);
    }
    runs.Run(merged.group, merged.first, merged.last, sign, 0);
  }
}

}  // namespace kpi
