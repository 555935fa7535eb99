// Restoring a task's state from its changelog partition (changelog.h) into the local store, in
// steps small enough to run inside the poll loop.
//
// 1. Scan: read the retained partition from its low watermark to its end, following the valid
//    history: where its last snapshot starts and which commit is last.
// 2. If the local store already holds that commit (the task's `L` key names it: an instance
//    regaining a task it held), keep the local state. Otherwise clear the task's key range and
//    apply the last snapshot and the commits after it.
// 3. The caller claims the task (produces a claim with epoch max_epoch() + 1) and then catches up
//    to its claim: commits the previous owner made meanwhile are applied too; a claim with the
//    same or a higher epoch before ours means another instance won, and we stop.
// A partition whose retained records hold no complete snapshot (retention dropped it) cannot
// rebuild the task: the key range is cleared, offsets included, so the task is rebuilt from the
// input topics' beginning (exact again, only slower). A partition never written (low and high
// watermarks 0) keeps the local state as it is: the first claim snapshots it.
// Ownership: borrows nothing between calls. Thread-safety: the runtime's loop.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "processor/runtime/bus.h"
#include "processor/runtime/changelog.h"
#include "processor/runtime/failure.h"
#include "state/state_store.h"

namespace kpi::runtime {

// The last changelog commit the local state of `task` holds: its key and value codec.
std::string LogPositionKey(int32_t task);
std::string EncodeLogPosition(uint64_t epoch, uint64_t seq);
std::optional<std::pair<uint64_t, uint64_t>> DecodeLogPosition(std::string_view bytes);

// The snapshot records of `task` as the local store holds it (its whole key range), as commit
// (epoch, seq).
std::expected<std::vector<LogRecord>, std::string> TaskSnapshot(state::StateStore& store,
                                                                int32_t task, uint64_t epoch,
                                                                uint64_t seq,
                                                                size_t max_part_bytes);

class TaskRestore {
 public:
  enum class Phase {
    kScan,     // reading the partition to its end
    kApply,    // applying the last snapshot and what follows
    kClaim,    // restored: the caller produces the claim and calls CatchUp
    kCatchUp,  // reading to our claim
    kDone,     // the task is ours, its state restored
    kLost,     // another claim came first
  };
  TaskRestore(TopicPartition changelog) : tp_(std::move(changelog)) {}

  // Does up to `max_records` records' worth of work; returns the phase reached.
  std::expected<Phase, Failure> Step(PartitionReader& reader, state::StateStore& store,
                                     int max_records);
  // After the claim at `claim_offset` with `epoch` was delivered.
  void Claimed(uint64_t epoch, int64_t claim_offset);

  Phase phase() const { return phase_; }
  uint64_t max_epoch() const { return scan_.max_epoch(); }
  // Where our claim went: the writer's previous record for the fencing check.
  int64_t claim_offset() const { return claim_offset_; }
  // Whether the local state was kept, restored from the log, or cleared for a rebuild.
  enum class Source { kNone, kLocal, kLog, kRebuild };
  Source source() const { return source_; }
  // Progress: records read of those to read (both phases).
  int64_t records_read() const { return read_; }
  int64_t records_total() const { return total_; }
  // The last valid commit after the restore (epoch, seq); nullopt when there is none.
  std::optional<std::pair<uint64_t, uint64_t>> last_commit() const { return last_; }

 private:
  std::expected<void, Failure> Start(PartitionReader& reader, state::StateStore& store);
  std::expected<void, std::string> Apply(state::StateStore& store, const LogReplay::Commit& c);
  std::expected<void, std::string> ClearTask(state::StateStore& store);

  TopicPartition tp_;
  Phase phase_ = Phase::kScan;
  bool started_ = false;
  int64_t low_ = 0;
  int64_t high_ = 0;
  int64_t position_ = 0;                 // the next offset to read
  LogReplay scan_;                       // the whole retained history
  LogReplay apply_;                      // from the last snapshot on
  std::optional<int64_t> part0_offset_;  // where the commit being scanned began
  std::optional<int64_t> snapshot_offset_;
  std::optional<std::pair<uint64_t, uint64_t>> last_;
  uint64_t epoch_ = 0;
  int64_t claim_offset_ = -1;
  Source source_ = Source::kNone;
  int64_t read_ = 0;
  int64_t total_ = 0;
  bool needs_assign_ = false;  // the catch-up reads from high_ again
};

}  // namespace kpi::runtime
