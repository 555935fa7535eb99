// The task changelog of a scaled-out deployment (docs/DESIGN.md, "Scaling out"). Partition t of
// the changelog topic holds task t's history as framed records:
// - a claim: an instance takes the task with an epoch above every earlier one;
// - a commit: one commit's state changes for the task, in parts of bounded size, numbered
//   (epoch, seq, part i of n); a snapshot commit holds the task's whole key range.
// The valid history is what a restore applies: every epoch begins with a snapshot written by the
// claimant right after its claim; a commit counts when it belongs to the latest epoch seen (no
// newer claim or snapshot came before it) and its parts follow each other unbroken. A zombie
// (an instance that lost the task but still writes) writes with an old epoch after a newer claim,
// so its records are ignored, and they break nothing; the zombie notices because its records no
// longer land right after its previous ones and a newer claim is among those in between.
// Thread-safety: value types and pure functions; LogReplay is single-threaded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "processor/runtime/bus.h"
#include "state/state_store.h"

namespace kpi::runtime {

struct LogRecord {
  enum class Type : uint8_t { kClaim = 1, kCommit = 2 };
  Type type = Type::kCommit;
  uint64_t epoch = 0;
  std::string owner;  // a claim's instance id (for operators; correctness does not use it)
  uint64_t seq = 0;   // a commit's number within its epoch (the snapshot is 0)
  uint32_t part = 0;
  uint32_t parts = 1;
  bool snapshot = false;  // the task's whole key range: applied to an empty task
  state::WriteBatch ops;  // a commit part's share of the batch
  bool operator==(const LogRecord&) const = default;
};

std::string EncodeLogRecord(const LogRecord& r);
// nullopt: not a record this codec wrote.
std::optional<LogRecord> DecodeLogRecord(std::string_view bytes);

// One commit's records: `ops` split into parts of about `max_part_bytes` each (at least one
// part, even when `ops` is empty).
std::vector<LogRecord> CommitRecords(uint64_t epoch, uint64_t seq, bool snapshot,
                                     const state::WriteBatch& ops, size_t max_part_bytes);

// Reads a changelog partition in log order and yields the valid commits (see above).
class LogReplay {
 public:
  struct Commit {
    uint64_t epoch = 0;
    uint64_t seq = 0;
    bool snapshot = false;
    state::WriteBatch ops;
  };
  // Takes the next record; returns the valid commit it completes, if any. A record that does not
  // decode is passed as nullopt and ignored, as are records of an epoch older than the latest.
  std::optional<Commit> Add(const std::optional<LogRecord>& record);
  // The highest epoch claimed or written so far: a new claim takes the next one.
  uint64_t max_epoch() const { return max_epoch_; }
  // Whether a snapshot of the current epoch has been seen: the valid history is known from it.
  bool synced() const { return synced_; }
  // The last valid commit (epoch, seq), once synced.
  std::optional<std::pair<uint64_t, uint64_t>> last_commit() const { return last_; }

 private:
  uint64_t max_epoch_ = 0;
  bool synced_ = false;
  uint64_t base_epoch_ = 0;  // the epoch of the snapshot the history is built on
  std::optional<std::pair<uint64_t, uint64_t>> last_;
  // The commit being assembled.
  std::optional<Commit> partial_;
  uint32_t next_part_ = 0;
  uint32_t parts_ = 0;
};

// The offsets, after `last_offset` (the writer's previous record in the partition) and before its
// last record in `delivered` (its records since, in the order produced), that hold another
// writer's records: empty when its records follow each other unbroken. If there are any, the
// writer reads them: a claim with a higher epoch among them means it has been fenced.
std::vector<int64_t> ForeignOffsets(const std::vector<Delivered>& delivered, int64_t last_offset);

}  // namespace kpi::runtime
