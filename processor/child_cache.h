// ChildCache: the children of one engine held in memory ("hot"), by dense slot, with an index by
// id, the clock eviction, the memory accounting of the hot state, and which children have
// something to write back (dirty) or absence units awaiting a flush (pending). The storage flags
// live here, beside the slots, not in ChildState's domain data.
//
// The index: open addressing with linear probing over (hash, slot + 1) pairs, the ids compared in
// the children themselves; deletion shifts the probe run back (no tombstones). A dropped child's
// slot is reused.
// Thread-safety: none; one cache per engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "processor/child_state.h"

namespace kpi {

class ChildCache {
 public:
  // The hot child of `id`, or nullptr; a hit counts as a use for the clock.
  ChildState* Find(std::string_view id) {
    const uint32_t slot = FindSlot(id, Hash(id));
    if (slot == UINT32_MAX) return nullptr;
    flags_[slot].referenced = true;
    return children_[slot].get();
  }
  // Holds `child` (not hot yet), counting its bytes.
  ChildState& Insert(std::unique_ptr<ChildState> child);

  // The child has something to write back; listed once until TakeDirty.
  void MarkDirty(const ChildState& child) {
    Flags& f = flags_[child.slot];
    if (f.dirty) return;
    f.dirty = true;
    dirty_.push_back(child.slot);
  }
  // Some absence unit of the child awaits a flush; listed once until TakePending.
  void MarkPending(const ChildState& child) {
    Flags& f = flags_[child.slot];
    if (f.pending) return;
    f.pending = true;
    pending_.push_back(child.slot);
  }
  // Counts a hot child's change of size: `before` was its `bytes` before the change.
  void Resized(const ChildState& child, size_t before) { bytes_ += child.bytes - before; }

  bool IsDirty(const ChildState& child) const { return flags_[child.slot].dirty; }
  bool IsPending(const ChildState& child) const { return flags_[child.slot].pending; }

  // Calls visit(child) for each child with units pending (TakePending) or dirty (TakeDirty),
  // clearing its flag first and the list after; each visit's change of the child's size is
  // counted.
  void TakePending(const std::function<void(ChildState&)>& visit) { Take(pending_, false, visit); }
  void TakeDirty(const std::function<void(ChildState&)>& visit) { Take(dirty_, true, visit); }

  // Clock: drops children until the hot state holds at most `target` bytes or one child is
  // left, a child used since the hand last passed getting a second chance; `keep` is not
  // dropped. `drop(child)` runs before each child goes (to flush and write it back; its flags
  // are still set).
  void EvictDownTo(size_t target, const ChildState* keep,
                   const std::function<void(ChildState&)>& drop);

  // Calls visit(child) for each hot child.
  void ForEach(const std::function<void(const ChildState&)>& visit) const;

  size_t bytes() const { return bytes_; }  // the hot children's approximate footprint
  size_t size() const { return hot_; }     // hot children
  size_t dirty() const { return dirty_.size(); }
  uint64_t evicted() const { return evicted_; }

 private:
  struct Flags {
    bool dirty = false;
    bool pending = false;
    bool referenced = true;  // the clock bit
  };
  struct IndexEntry {
    uint32_t hash = 0;
    uint32_t slot = 0;  // slot + 1; 0 is empty
  };
  static uint32_t Hash(std::string_view id) {
    return static_cast<uint32_t>(std::hash<std::string_view>{}(id));
  }
  uint32_t FindSlot(std::string_view id, uint32_t hash) const {
    const size_t mask = index_.size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      const IndexEntry& e = index_[i];
      if (e.slot == 0) return UINT32_MAX;
      if (e.hash == hash && children_[e.slot - 1]->id == id) return e.slot - 1;
    }
  }
  void IndexSlot(uint32_t hash, uint32_t slot);
  void UnindexSlot(std::string_view id, uint32_t hash);
  void Take(std::vector<uint32_t>& slots, bool dirty,
            const std::function<void(ChildState&)>& visit);

  std::vector<IndexEntry> index_ = std::vector<IndexEntry>(1024);
  size_t indexed_ = 0;
  std::vector<std::unique_ptr<ChildState>> children_;
  std::vector<Flags> flags_;
  std::vector<uint32_t> free_slots_;
  size_t clock_hand_ = 0;
  std::vector<uint32_t> dirty_;    // slots with Flags::dirty
  std::vector<uint32_t> pending_;  // slots with Flags::pending
  size_t bytes_ = 0;
  size_t hot_ = 0;
  uint64_t evicted_ = 0;
};

}  // namespace kpi
