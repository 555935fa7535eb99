// StoredCells: one task's KPI cells (CellTable) over their stored values. It loads the cells at
// open (within a bound: the weeks of the others are remembered and their cells read back when an
// event adds to one), evicts the least recently changed at a commit, reads back the weeks an
// as_of move makes visible, answers a cell's committed value and the whole table, and turns a
// commit's changed cells into rows and store writes.
//
// Reads go through the engine's WriteBuffer. A failed or corrupt read is latched (error()): the
// engine then refuses to commit. Thread-safety: none; one per engine.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "processor/cells.h"
#include "processor/date.h"
#include "processor/dims.h"
#include "processor/keys.h"
#include "processor/kpis.h"
#include "processor/values.h"
#include "state/state_store.h"
#include "state/write_buffer.h"

namespace kpi {

// One row of the KPI table, or of a commit's changes.
struct Row {
  Kpi kpi;
  Date week;
  std::string dimension;
  int64_t count = 0;
  int64_t base = 0;
  uint64_t revision = 0;
  // The packed cell key (cells.h) when the row comes from an engine; engines sharing a DimTable
  // agree on it.
  uint64_t cell = 0;
};

// The global rows from the tasks' parts: rows of the same (kpi, week, dimension) added up (count,
// base and revision; a child is in one task only, so the sum is exact), rows whose count and base
// are both 0 left out, sorted as StoredCells::Table() sorts.
std::vector<Row> SumRows(std::vector<Row> parts);

class StoredCells {
 public:
  // memory_bytes: the engine's bound (0: unbounded); the cells load up to an eighth of it and are
  // evicted past a quarter, down to an eighth.
  StoredCells(state::WriteBuffer& buffer, DimTable& dims, uint16_t task, size_t memory_bytes)
      : buffer_(buffer), dims_(dims), task_(task), memory_bytes_(memory_bytes) {}
  StoredCells(const StoredCells&) = delete;
  StoredCells& operator=(const StoredCells&) = delete;

  // Loads the task's stored cells. Fails if the store cannot be read or is corrupt.
  std::expected<void, state::Error> Open();

  CellTable& cells() { return cells_; }
  const CellTable& cells() const { return cells_; }

  // At the start of a commit (every clean cell is stored): drops the least recently changed
  // cells when they hold more than a quarter of memory_bytes.
  void Evict();
  // Reads the stored cells of the weeks in (after, upto] that are not in memory.
  void LoadWeeks(Date after, Date upto);
  // The changed cells since the last call, each with its new revision (zero rows included);
  // with `durable`, their stored values are appended to `batch`.
  std::vector<Row> TakeChanged(bool durable, state::WriteBatch& batch);

  // One cell's committed count, base and revision, read from the store if it was evicted;
  // nullopt when it was never stored.
  std::expected<std::optional<StoredCell>, state::Error> Committed(uint64_t cell);
  // The table (Engine::Table): weeks up to `last_week`, zero rows left out, sorted.
  std::expected<std::vector<Row>, state::Error> Table(std::optional<Kpi> kpi, Date last_week);

  const std::optional<state::Error>& error() const { return error_; }
  uint64_t loaded() const { return loaded_; }    // cells read back after eviction
  uint64_t evicted() const { return evicted_; }  // cells dropped to stay within the bound

 private:
  std::expected<std::optional<StoredCell>, state::Error> Read(uint64_t cell);
  // Visits the stored cells with keys in [from, to); `visit` returns false to stop. A key or
  // value that does not decode is corruption.
  std::expected<void, state::Error> Scan(
      std::string_view from, std::string_view to,
      const std::function<bool(const keys::CellKeyParts&, const StoredCell&)>& visit);
  void Latch(const state::Error& error) {
    if (!error_) error_ = error;
  }

  state::WriteBuffer& buffer_;
  DimTable& dims_;
  uint16_t task_;
  size_t memory_bytes_;
  CellTable cells_;
  std::optional<state::Error> error_;
  uint64_t loaded_ = 0;
  uint64_t evicted_ = 0;
};

}  // namespace kpi
