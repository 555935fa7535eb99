// Scaled out: whether this instance may still write a task (docs/DESIGN.md, "Scale-out"). After a
// delivery of the task's changelog records, the records between this instance's previous one and
// these are read back: a claim with a higher epoch among them means another instance took the
// task, and this one is fenced. The offset of this instance's last record per task is kept in
// the store (\xff\xff W task), so that a restart checks what it delivers.
//
// Ownership: borrows the store and the reader. Thread-safety: the runtime's loop.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "processor/runtime/bus.h"
#include "processor/runtime/failure.h"
#include "state/state_store.h"

namespace kpi::runtime {

class ChangelogFence {
 public:
  ChangelogFence(state::StateStore& store, PartitionReader& reader, int64_t timeout_ms)
      : store_(store), reader_(reader), timeout_ms_(timeout_ms) {}

  // The changelog topic; empty (one instance): no fencing.
  void SetTopic(std::string topic) { topic_ = std::move(topic); }
  const std::string& topic() const { return topic_; }

  // Stores the offset of this instance's last record in the task's changelog partition (its claim
  // or snapshot).
  std::expected<void, Failure> SetLastOffset(int32_t task, int64_t offset);
  // Whether the writer of `task`'s changelog records at `delivered` (epoch `epoch`) was fenced:
  // between its previous record and these, a claim with a higher epoch landed. Updates the last
  // offset when it was not (stored by AppendLastOffsets).
  std::expected<bool, Failure> Check(int32_t task, uint64_t epoch,
                                     const std::vector<Delivered>& delivered);
  // The last offsets of `tasks`, into the batch that clears a delivered outbox.
  void AppendLastOffsets(const std::set<int32_t>& tasks, state::WriteBatch& batch);

 private:
  std::expected<int64_t, Failure> LastOffset(int32_t task);

  state::StateStore& store_;
  PartitionReader& reader_;
  int64_t timeout_ms_;
  std::string topic_;
  std::map<int32_t, int64_t> last_offsets_;  // by task, cached from the store
};

}  // namespace kpi::runtime
