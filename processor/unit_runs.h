// UnitRuns: the cell changes of the child-level units (KPIS-2.md section 7), collected as runs of
// weeks and summed into the cells at a fold (docs/DESIGN.md, "Units as runs of weeks").
//
// A unit's rows are retracted with the child's state before a change and added back with the
// state after it. Written as runs (kpi, dimension, first week, last week, count, base), a
// retraction and its re-addition cancel in every week the change does not reach, so those cells
// are never touched; a snapshot KPI held for years costs a few runs per change, not a delta per
// week and dimension; the children of a school on roll in the same weeks add to its cells once per
// fold, not once each.
//
// DistinctRuns builds the runs of one unit's distinct-child KPIs: each week counted once however
// many of the child's records put the child in it.
// Thread-safety: none; one per engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "processor/cells.h"
#include "processor/date.h"
#include "processor/dims.h"
#include "processor/kpis.h"

namespace kpi {

class UnitRuns {
 public:
  // `group`: UnitGroup(kpi, dim); the weeks first..last (week starts), each by (count, base).
  void Run(uint64_t group, Date first, Date last, int64_t count, int64_t base) {
    deltas_.push_back({group, first, last, count, base});
  }
  // One week's row (the week of `date`) of each dimension: extends the group's run of the week
  // before when the value is the same.
  void Row(Kpi kpi, Date date, const DimTable::Dims& dims, int64_t count, int64_t base) {
    const Date week = date.WeekStart();
    for (const uint32_t dim : dims) {
      const uint64_t group = UnitGroup(kpi, dim);
      // A row of each week of a period extends the group's run of last week when the value is
      // the same; the runs in flight are a few kpis' dimensions.
      bool extended = false;
      for (size_t i = deltas_.size(), seen = 0; i-- > 0 && seen < 16; ++seen) {
        Delta& run = deltas_[i];
        if (run.group != group) continue;
        if (run.last + 7 == week && run.count == count && run.base == base) {
          run.last = week;
          extended = true;
        }
        break;
      }
      if (!extended) Run(group, week, week, count, base);
    }
  }
  // Sums the pending runs into `cells`, touching only the cells whose net value moved, in key
  // order.
  void Fold(CellTable& cells);
  // True when enough runs are pending that they should be folded now (~1.3 MiB of runs).
  bool Full() const { return deltas_.size() >= kFoldRuns; }

 private:
  static constexpr size_t kFoldRuns = size_t{1} << 15;
  struct Delta {
    uint64_t group;
    Date first;
    Date last;
    int64_t count;
    int64_t base;
  };
  std::vector<Delta> deltas_;
  struct Edge {  // Fold's scratch: a run's value starts or ends at `week`
    uint64_t group;
    int32_t week;
    int64_t count;
    int64_t base;
  };
  std::vector<Edge> edges_;
  struct FoldedCell {
    uint64_t cell;
    int64_t count;
    int64_t base;
  };
  std::vector<FoldedCell> cells_;
};

class DistinctRuns {
 public:
  void Add(Kpi kpi, Date week, const DimTable::Dims& dims) {
    for (const uint32_t dim : dims) Extend(UnitGroup(kpi, dim), week);
  }
  // Writes each merged run to `runs` with (sign, 0).
  void Flush(UnitRuns& runs, int sign);

 private:
  struct Run {
    uint64_t group;
    Date first;
    Date last;
  };
  // Weeks arrive in order within a record; the group's latest run grows when the week follows it.
  void Extend(uint64_t group, Date week) {
    for (size_t i = runs_.size(); i-- > 0;) {
      if (runs_[i].group != group) continue;
      if (runs_[i].last + 7 == week) {
        runs_[i].last = week;
        return;
      }
      break;
    }
    runs_.push_back({group, week, week});
  }
  std::vector<Run> runs_;
};

}  // namespace kpi
