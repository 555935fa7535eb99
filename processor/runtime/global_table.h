// The global KPI table of a scaled-out deployment (docs/DESIGN.md, "Scale-out"). Each task's
// owner publishes its changed cells to partition t of the cells topic as absolute values (count,
// base, revision), tagged with its epoch: first, right after claiming the task, the task's whole
// cell set (a snapshot, in parts), then after every commit the cells it changed. Every instance
// reads the whole topic into a GlobalTable, which keeps the latest value per (row, task) along
// the valid history and sums them: distinct children never span tasks, so the sums are the
// single-instance table.
// - A snapshot of a newer epoch replaces the task's cells when its last part arrives.
// - Records of an older epoch than the task's current one (a zombie's) are ignored.
// - Deltas of the current epoch overwrite cells; a delta of a newer epoch before its snapshot
//   (the snapshot was dropped by retention) is ignored, and the task is marked unsynced until the
//   next snapshot: owners publish one whenever the bytes since the last pass a threshold.
// Thread-safety: none; the runtime's loop.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "processor/engine.h"

namespace kpi::runtime {

struct CellsRecord {
  uint64_t epoch = 0;
  bool snapshot = false;
  uint32_t part = 0;  // snapshots only: part i of n
  uint32_t parts = 1;
  Date as_of;
  std::vector<Row> rows;  // kpi, week, dimension, count, base, revision (the task's part)
  bool operator==(const CellsRecord&) const;
};

std::string EncodeCellsRecord(const CellsRecord& r);
std::optional<CellsRecord> DecodeCellsRecord(std::string_view bytes);
// A snapshot's records: `rows` in parts of at most `rows_per_part` rows (one part when empty).
std::vector<CellsRecord> CellsSnapshot(uint64_t epoch, Date as_of, const std::vector<Row>& rows,
                                       size_t rows_per_part);

class GlobalTable {
 public:
  // Takes the next record of task `task`'s partition. A record that does not decode is passed
  // as nullopt and ignored.
  void Add(int32_t task, const std::optional<CellsRecord>& record);

  // The rows whose totals changed since the last call (zero rows included, so that a row that
  // went to zero is published as such), in key order.
  std::vector<Row> TakeChanged();
  // Every row ever seen (zero rows included), in key order: a new emitter publishes them all.
  std::vector<Row> All() const;
  // The table as Engine::Table gives it: rows whose count and base are both 0 left out, up to the
  // week of the earliest as_of of the tasks.
  std::vector<Row> Table() const;
  // Marks the row of `key` (RowKey) changed, so that the next TakeChanged publishes it again.
  void Touch(const std::string& key);
  // The earliest as_of over the tasks seen (nullopt: none yet).
  std::optional<Date> as_of() const;
  bool synced(int32_t task) const;
  size_t rows() const { return totals_.size(); }

 private:
  struct Part {
    int64_t count = 0;
    int64_t base = 0;
    uint64_t revision = 0;
  };
  struct Task {
    uint64_t epoch = 0;
    bool synced = false;
    Date as_of;
    std::unordered_map<std::string, Part> cells;  // by row key
    // A newer epoch's snapshot being assembled.
    std::optional<CellsRecord> pending;
    std::unordered_map<std::string, Part> pending_cells;
  };
  void Set(Task& task, const std::string& key, const Row& row, const Part& part);
  void Unset(const std::string& key, const Part& part);

  std::map<int32_t, Task> tasks_;
  std::map<std::string, Row> totals_;  // by row key: count, base, revision summed
  std::set<std::string> changed_;
};

}  // namespace kpi::runtime
