// CellTable: the KPI cells of one task, `(kpi, week, dimension) -> (count, base, revision)`, in
// flat arrays indexed by an open-addressing hash of the packed key. Every event adds to a few
// cells, so this is the engine's innermost loop: no allocation once a cell exists, no strings.
//
// Bounded: Evict() drops the least recently changed clean cells (their committed values are in the
// store) and remembers their weeks; a later miss on a cell of such a week asks the reload hook for
// its stored value before the cell is used, so a late correction to an old week stays exact.
// Eviction moves cells, so an index is stable only until the next Evict() (epoch()).
//
// Invariant (always checked, in every build): count and base never go below zero. A cell is a
// sum of contributions that are each retracted only after being added, so a negative value means
// the state is corrupt; the table latches the first violation and the engine refuses to commit.
// Thread-safety: none. One table per engine, used from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_set>
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
// (kpi, interned dimension): the cells of one row across its weeks.
constexpr uint64_t UnitGroup(Kpi kpi, uint32_t dim) {
  return (static_cast<uint64_t>(kpi) << 32) | dim;
}

class CellTable {
 public:
  struct Cell {
    uint64_t key = 0;
    int64_t count = 0;
    int64_t base = 0;
    uint64_t revision = 0;
    int64_t committed_count = 0;
    int64_t committed_base = 0;
    uint32_t used = 0;  // the commit (TakeDirty call) that last found it changed: eviction order
    bool dirty = false;
    bool emit = false;  // report at the next commit even if unchanged (its week became visible)
  };

  CellTable();

  // Reads a cell's committed value from the store into `cell` (count, base, revision and the
  // committed pair); called for a missing cell of a week that had cells evicted. Returns false
  // when the read failed (the owner latches the error; the cell is left at zero).
  using Reload = std::function<bool(Cell& cell)>;
  void SetReload(Reload reload) { reload_ = std::move(reload); }

  // Adds to a cell, creating it at zero (or at its stored value, see Reload). Marks it dirty for
  // the next commit.
  void Add(uint64_t key, int64_t count, int64_t base) { AddAt(IndexOf(key), count, base); }
  // The index of a cell (created if absent); stable until the next Evict().
  uint32_t IndexOf(uint64_t key) {
    bool created = false;
    const uint32_t index = Insert(key, created);
    if (created && reload_ && MaybeStored(CellWeek(key))) ReloadAt(index);
    return index;
  }
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
  // The cell if it is in memory. A cell that is not may still be stored: see MaybeStored().
  const Cell* Find(uint64_t key) const;
  // True when a cell of this week may be in the store but not in memory (evicted, or not loaded
  // at open).
  bool MaybeStored(Date week) const { return evicted_weeks_.contains(week.days()); }
  void MarkMaybeStored(Date week) { evicted_weeks_.insert(week.days()); }
  const std::unordered_set<int32_t>& evicted_weeks() const { return evicted_weeks_; }

  // Drops clean cells, least recently changed first, until at most `keep` remain; returns how
  // many were dropped. Call only when every cell's committed value is in the store (no cell
  // dirty since the last commit was written). Invalidates indices: epoch() changes.
  size_t Evict(size_t keep);
  uint32_t epoch() const { return epoch_; }
  size_t size() const { return cells_.size(); }
  // The memory held: the cells' vector (its capacity) and the index.
  size_t bytes() const {
    return cells_.capacity() * sizeof(Cell) + slots_.capacity() * sizeof(uint32_t) +
           dirty_.capacity() * sizeof(uint32_t);
  }

  // Marks every non-zero cell of a week in (after, upto] for emission at the next commit: weeks
  // that just became visible as as_of moved (their future-dated flows are now reported).
  void EmitWeeks(Date after, Date upto);

  // Visits the cells marked since the last call, clearing their marks; `visit(Cell&)` decides
  // what to do with each (the engine bumps the revision of those that changed).
  template <typename Visit>
  void TakeDirty(Visit visit) {
    ++commits_;
    for (const uint32_t i : dirty_) {
      Cell& cell = cells_[i];
      cell.used = commits_;
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
  // The index of a cell, created at zero if absent (`created` is then set).
  uint32_t Insert(uint64_t key, bool& created);
  void ReloadAt(uint32_t index);
  void Grow();
  void Rehash(size_t slot_count);
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
  uint32_t commits_ = 0;
  uint32_t epoch_ = 0;
  std::unordered_set<int32_t> evicted_weeks_;  // day numbers of week starts
  Reload reload_;
};

}  // namespace kpi
