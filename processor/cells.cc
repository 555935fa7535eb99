#include "processor/cells.h"

#include <algorithm>
#include <bit>

namespace kpi {

CellTable::CellTable() : slots_(1024, 0) {}

uint32_t CellTable::Insert(uint64_t key, bool& created) {
  const size_t mask = slots_.size() - 1;
  for (size_t i = Hash(key) & mask;; i = (i + 1) & mask) {
    const uint32_t slot = slots_[i];
    if (slot == 0) {
      const auto index = static_cast<uint32_t>(cells_.size());
      cells_.push_back(Cell{.key = key});
      slots_[i] = index + 1;
      if (cells_.size() * 2 > slots_.size()) Grow();
      created = true;
      return index;
    }
    if (cells_[slot - 1].key == key) return slot - 1;
  }
}

void CellTable::ReloadAt(uint32_t index) {
  Cell& cell = cells_[index];
  reload_(cell);
  if (cell.count < 0 || cell.base < 0) corrupt_ = true;
}

void CellTable::Grow() { Rehash(slots_.size() * 2); }

void CellTable::Rehash(size_t slot_count) {
  std::vector<uint32_t> slots(slot_count, 0);
  const size_t mask = slots.size() - 1;
  for (uint32_t index = 0; index < cells_.size(); ++index) {
    size_t i = Hash(cells_[index].key) & mask;
    while (slots[i] != 0) i = (i + 1) & mask;
    slots[i] = index + 1;
  }
  slots_ = std::move(slots);
}

const CellTable::Cell* CellTable::Find(uint64_t key) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = Hash(key) & mask;; i = (i + 1) & mask) {
    const uint32_t slot = slots_[i];
    if (slot == 0) return nullptr;
    if (cells_[slot - 1].key == key) return &cells_[slot - 1];
  }
}

void CellTable::Load(uint64_t key, int64_t count, int64_t base, uint64_t revision) {
  bool created = false;
  Cell& cell = cells_[Insert(key, created)];
  cell.count = cell.committed_count = count;
  cell.base = cell.committed_base = base;
  cell.revision = revision;
  if (count < 0 || base < 0) corrupt_ = true;
}

size_t CellTable::Evict(size_t keep) {
  if (cells_.size() <= keep) return 0;
  // The clean cells, least recently changed first; dirty ones stay whatever their age.
  std::vector<uint32_t> order;
  order.reserve(cells_.size());
  for (uint32_t i = 0; i < cells_.size(); ++i) {
    if (!cells_[i].dirty) order.push_back(i);
  }
  const size_t drop = std::min(order.size(), cells_.size() - keep);
  if (drop == 0) return 0;
  std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(drop - 1),
                   order.end(),
                   [&](uint32_t x, uint32_t y) { return cells_[x].used < cells_[y].used; });
  std::vector<bool> dropped(cells_.size(), false);
  for (size_t n = 0; n < drop; ++n) {
    dropped[order[n]] = true;
    evicted_weeks_.insert(CellWeek(cells_[order[n]].key).days());
  }
  // Compact the survivors (in their order), remapping the dirty list.
  std::vector<uint32_t> moved(cells_.size(), UINT32_MAX);
  std::vector<Cell> kept;
  kept.reserve(cells_.size() - drop);
  for (uint32_t i = 0; i < cells_.size(); ++i) {
    if (dropped[i]) continue;
    moved[i] = static_cast<uint32_t>(kept.size());
    kept.push_back(cells_[i]);
  }
  cells_ = std::move(kept);
  for (uint32_t& i : dirty_) i = moved[i];
  Rehash(std::max<size_t>(1024, std::bit_ceil(cells_.size() * 2 + 1)));
  ++epoch_;
  return drop;
}

void CellTable::EmitWeeks(Date after, Date upto) {
  for (Cell& cell : cells_) {
    const Date week = CellWeek(cell.key);
    if (week <= after || week > upto || (cell.count == 0 && cell.base == 0)) continue;
    cell.emit = true;
    if (!cell.dirty) {
      cell.dirty = true;
      dirty_.push_back(static_cast<uint32_t>(&cell - cells_.data()));
    }
  }
}

}  // namespace kpi
