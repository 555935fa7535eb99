// The input partitions' offsets: the next one consumed since the last commit, and the position
// the last commit stored with the state (keys::OffsetKey, per task and topic). A commit writes the
// consumed offsets in its batch, and they become the positions once it is written.
//
// Ownership: borrows the store. Thread-safety: the runtime's loop.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <optional>

#include "processor/runtime/bus.h"
#include "processor/runtime/failure.h"
#include "state/state_store.h"

namespace kpi::runtime {

class InputPositions {
 public:
  InputPositions(state::StateStore& store, bool start_latest)
      : store_(store), start_latest_(start_latest) {}

  // The next offset stored for `tp`; with none, input.start's (kOffsetEnd or kOffsetBeginning).
  // A failure (exit 3) on a read error or an undecodable value.
  std::expected<int64_t, Failure> Stored(const TopicPartition& tp) const;
  // `tp` is served from `offset` (a stored offset, or kOffset…: -1, from wherever it starts).
  void Serve(const TopicPartition& tp, int64_t offset) {
    committed_[tp] = offset >= 0 ? offset : -1;
  }
  void Drop(const TopicPartition& tp) { committed_.erase(tp); }
  void Consumed(const TopicPartition& tp, int64_t offset) { next_[tp] = offset + 1; }
  // The offset the next record of `tp` must have (-1: any): one fetched before a seek is older.
  int64_t Expected(const TopicPartition& tp) const;
  // The consumed offsets, of `task`'s partitions or of all, as the commit batch's writes.
  void Stage(state::WriteBatch& batch, std::optional<int32_t> task = std::nullopt) const;
  // The commit is written: the consumed offsets are the positions.
  void Committed();
  // Each partition served, with its position: the next offset consumed (-1: not yet known).
  template <typename F>
  void ForEach(F&& f) const {
    for (const auto& [tp, committed] : committed_) {
      const auto pending = next_.find(tp);
      f(tp, pending != next_.end() ? pending->second : committed);
    }
  }

 private:
  state::StateStore& store_;
  bool start_latest_;
  std::map<TopicPartition, int64_t> next_;       // consumed, uncommitted
  std::map<TopicPartition, int64_t> committed_;  // as of the last commit (-1: from the start)
};

}  // namespace kpi::runtime
