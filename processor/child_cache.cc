#include "processor/child_cache.h"

namespace kpi {

ChildState& ChildCache::Insert(std::unique_ptr<ChildState> child) {
  uint32_t slot = 0;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(children_.size());
    children_.emplace_back();
    flags_.emplace_back();
  }
  bytes_ += child->bytes;
  ++hot_;
  child->slot = slot;
  flags_[slot] = Flags{};
  const uint32_t hash = Hash(child->id);
  children_[slot] = std::move(child);
  IndexSlot(hash, slot);
  return *children_[slot];
}

void ChildCache::IndexSlot(uint32_t hash, uint32_t slot) {
  if ((indexed_ + 1) * 2 > index_.size()) {
    std::vector<IndexEntry> old(index_.size() * 2);
    old.swap(index_);
    const size_t mask = index_.size() - 1;
    for (const IndexEntry& e : old) {
      if (e.slot == 0) continue;
      size_t i = e.hash & mask;
      while (index_[i].slot != 0) i = (i + 1) & mask;
      index_[i] = e;
    }
  }
  const size_t mask = index_.size() - 1;
  size_t i = hash & mask;
  while (index_[i].slot != 0) i = (i + 1) & mask;
  index_[i] = {hash, slot + 1};
  ++indexed_;
}

void ChildCache::UnindexSlot(std::string_view id, uint32_t hash) {
  const size_t mask = index_.size() - 1;
  size_t i = hash & mask;
  while (!(index_[i].hash == hash && children_[index_[i].slot - 1]->id == id)) {
    i = (i + 1) & mask;
  }
  // Backward shift: move later entries of the run into the hole when their home allows it.
  for (size_t j = (i + 1) & mask; index_[j].slot != 0; j = (j + 1) & mask) {
    const size_t home = index_[j].hash & mask;
    const bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
    if (movable) {
      index_[i] = index_[j];
      i = j;
    }
  }
  index_[i] = {};
  --indexed_;
}

void ChildCache::Take(std::vector<uint32_t>& slots, bool dirty,
                      const std::function<void(ChildState&)>& visit) {
  // By index: a visit may mark children (into the other list today; safe for this one too).
  for (size_t i = 0; i < slots.size(); ++i) {  // NOLINT(modernize-loop-convert)
    const uint32_t slot = slots[i];
    ChildState* child = children_[slot].get();
    bool& flag = dirty ? flags_[slot].dirty : flags_[slot].pending;
    if (child == nullptr || !flag) continue;  // evicted, or its slot reused since
    flag = false;
    const size_t before = child->bytes;
    visit(*child);
    Resized(*child, before);
  }
  slots.clear();
}

void ChildCache::EvictDownTo(size_t target, const ChildState* keep,
                             const std::function<void(ChildState&)>& drop) {
  size_t steps = 0;
  while (bytes_ > target && hot_ > 1 && steps < 2 * children_.size() + 2) {
    ++steps;
    if (clock_hand_ >= children_.size()) clock_hand_ = 0;
    const auto slot = static_cast<uint32_t>(clock_hand_++);
    ChildState* child = children_[slot].get();
    if (child == nullptr || child == keep) continue;
    if (flags_[slot].referenced) {
      flags_[slot].referenced = false;
      continue;
    }
    bytes_ -= child->bytes;
    drop(*child);
    flags_[slot] = Flags{};
    --hot_;
    ++evicted_;
    UnindexSlot(child->id, Hash(child->id));
    children_[slot].reset();
    free_slots_.push_back(slot);
  }
}

void ChildCache::ForEach(const std::function<void(const ChildState&)>& visit) const {
  for (const auto& child : children_) {
    if (child) visit(*child);
  }
}

}  // namespace kpi
