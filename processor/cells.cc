#include "processor/cells.h"

namespace kpi {

CellTable::CellTable() : slots_(1024, 0) {}

uint32_t CellTable::IndexOf(uint64_t key) {
  const size_t mask = slots_.size() - 1;
  for (size_t i = Hash(key) & mask;; i = (i + 1) & mask) {
    const uint32_t slot = slots_[i];
    if (slot == 0) {
      const auto index = static_cast<uint32_t>(cells_.size());
      cells_.push_back(Cell{.key = key});
      slots_[i] = index + 1;
      if (cells_.size() * 2 > slots_.size()) Grow();
      return index;
    }
    if (cells_[slot - 1].key == key) return slot - 1;
  }
}

void CellTable::Grow() {
  std::vector<uint32_t> slots(slots_.size() * 2, 0);
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
  Cell& cell = cells_[IndexOf(key)];
  cell.count = cell.committed_count = count;
  cell.base = cell.committed_base = base;
  cell.revision = revision;
  if (count < 0 || base < 0) corrupt_ = true;
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
