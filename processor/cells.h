// CellTable: the KPI cells of one task, `(kpi, week, dimension) -> (count, base, revision)`, in
// flat arrays indexed by an open-addressing hash of the packed key. Every event adds to a few
// cells, so this is the engine's innermost loop: no allocation once a cell exists, no strings.
//
// Invariant (always checked, in every build): count and base never go below zero. A cell is a
// sum of contributions that are each retracted only after being added, so a negative value means
// the state is corrupt; the table latches the first violation and the engine refuses to commit.
// Thread-safety: none. One table per engine, used from one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "processor/date.h"
#include "processor/kpis.h"

namespace kpi {

// (kpi, week, interned dimension) packed into 64 bits: the key of cells.
constexpr uint64_t PackCell(Kpi kpi, Date week, uint32_t dim) {
  return (static_cast<uint64_t>(kpi) << 56) |
         (static_cast<uint64_t>(static_cast<uint32_t>(week.days()) & 0xffffffu) << 32) | dim;
}
constexpr Kpi CellKpi(uint64_t packed) { return static_cast<Kpi>(packed >> 56); }
constexpr Date CellWeek(uint64_t packed) {
  // 24 bits of day number, sign-extended: weeks from 1990 to 2100 fit with room to spare.
  return Date(static_cast<int32_t>(static_cast<uint32_t>(packed >> 32) << 8) >> 8);
}
constexpr uint32_t CellDim(uint64_t packed) { return static_cast<uint32_t>(packed); }

class CellTable {
 public:
  struct Cell {
    uint64_t key = 0;
    int64_t count = 0;
    int64_t base = 0;
    uint64_t revision = 0;
    int64_t committed_count = 0;
    int64_t committed_base = 0;
    bool dirty = false;
    bool emit = false;  // report at the next commit even if unchanged (its week became visible)
  };

  CellTable();

  // Adds to a cell, creating it at zero. Marks it dirty for the next commit.
  void Add(uint64_t key, int64_t count, int64_t base) { AddAt(IndexOf(key), count, base); }
  // The index of a cell (created at zero if absent); stable for the table's life.
  uint32_t IndexOf(uint64_t key);
  // Add() by index.
  void AddAt(uint32_t index, int64_t count, int64_t base) {
    Cell& cell = cells_[index];
    cell.count += count;
    cell.base += base;
    if (cell.count < 0 || cell.base < 0) corrupt_ = true;
    if (!cell.dirty) {
      cell.dirty = true;
      dirty_.push_back(index);
    }
  }
  // A committed cell read from the store (Open).
  void Load(uint64_t key, int64_t count, int64_t base, uint64_t revision);
  const Cell* Find(uint64_t key) const;

  // Marks every non-zero cell of a week in (after, upto] for emission at the next commit: weeks
  // that just became visible as as_of moved (their future-dated flows are now reported).
  void EmitWeeks(Date after, Date upto);

  // Visits the cells marked since the last call, clearing their marks; `visit(Cell&)` decides
  // what to do with each (the engine bumps the revision of those that changed).
  template <typename Visit>
  void TakeDirty(Visit visit) {
    for (const uint32_t i : dirty_) {
      Cell& cell = cells_[i];
      visit(cell);
      cell.dirty = false;
      cell.emit = false;
    }
    dirty_.clear();
  }

  const std::vector<Cell>& cells() const { return cells_; }
  // True once a cell went negative: the state is corrupt.
  bool corrupt() const { return corrupt_; }

 private:
  void Grow();
  static uint64_t Hash(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return key;
  }

  std::vector<Cell> cells_;
  std::vector<uint32_t> slots_;  // index into cells_ plus one; 0 is empty. Size a power of two.
  std::vector<uint32_t> dirty_;
  bool corrupt_ = false;
};

}  // namespace kpi
