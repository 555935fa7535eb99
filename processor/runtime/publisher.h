// Delivery of a commit's outbox (docs/DESIGN.md, "Commit and recovery"): the messages written in
// the commit's batch are produced, the delivery is awaited, and then they are deleted from the
// store. What a crash leaves is delivered at the next start, and dead letters exactly once: each
// delivery also records, per dead-letter partition, the offset after the last one delivered, so
// that a restart reads the dead-letter topic back from there and leaves out those a crash
// delivered but did not delete (identified by their source topic, partition and offset). Rows are
// upserts: delivering one twice is harmless.
//
// Ownership: borrows the store, the producer and the reader. Thread-safety: the runtime's loop.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "processor/runtime/bus.h"
#include "processor/runtime/failure.h"
#include "processor/runtime/outbox.h"
#include "state/state_store.h"

namespace kpi::runtime {

// The points of a commit where a test can inject a crash (Runtime::SetFaultHook).
enum class CommitStep { kBatchWritten, kProduced, kDelivered, kOutboxDeleted };
const char* CommitStepName(CommitStep step);
// Returns true to crash at the step (of a commit delivering `outbox`): nothing more is written or
// produced.
using FaultHook = std::function<bool(CommitStep, const std::vector<OutMessage>& outbox)>;

// The headers that identify a dead letter.
inline constexpr const char* kSourceTopic = "source_topic";
inline constexpr const char* kSourcePartition = "source_partition";
inline constexpr const char* kSourceOffset = "source_offset";
// A `too_large` dead letter has no key or value, and this header with the record's size.
inline constexpr const char* kRecordBytes = "record_bytes";

class Publisher {
 public:
  Publisher(state::StateStore& store, Producer& producer, PartitionReader& reader,
            std::string dlq_topic, int64_t delivery_timeout_ms)
      : store_(store),
        producer_(producer),
        reader_(reader),
        dlq_topic_(std::move(dlq_topic)),
        delivery_timeout_ms_(delivery_timeout_ms) {}
  void SetFaultHook(FaultHook hook) { fault_ = std::move(hook); }
  bool Crash(CommitStep step, const std::vector<OutMessage>& outbox) const {
    return fault_ && fault_(step, outbox);
  }

  // Puts `messages` into the commit's batch; returns their outbox keys for Deliver.
  std::vector<std::string> Stage(const std::vector<OutMessage>& messages,
                                 state::WriteBatch& batch) {
    return outbox_.Add(messages, batch);
  }
  // Scaled out: the changelog topic. A delivery then produces the changelog records first and
  // checks each task's for fencing (FenceCheck); the task's other messages (cells, dead letters)
  // are published only when it was not fenced.
  void SetChangelog(std::string topic) { changelog_topic_ = std::move(topic); }
  // The offset of this instance's last record in the task's changelog partition (its claim or
  // snapshot), stored so that a restart can check what it delivers.
  std::expected<void, Failure> SetLastOffset(int32_t task, int64_t offset);

  // Produces `messages` (staged under `keys` in a batch already written), waits for delivery,
  // deletes them from the store. Returns the tasks found fenced (their other messages were not
  // published).
  std::expected<std::set<int32_t>, Failure> Deliver(std::vector<std::string> keys,
                                                    const std::vector<OutMessage>& messages);
  // At start: what a crash left, less the dead letters already in their topic, delivered.
  std::expected<std::set<int32_t>, Failure> DeliverStored();

  // Whether the writer of `task`'s changelog records at `delivered` (epoch `epoch`) was fenced:
  // between its previous record and these, a claim with a higher epoch landed. Updates the last
  // offset when it was not.
  std::expected<bool, Failure> FenceCheck(int32_t task, uint64_t epoch,
                                          const std::vector<Delivered>& delivered);

 private:
  // The identities of the dead letters in the dead-letter topic from the stored marks on.
  std::expected<std::set<std::string>, Failure> DeliveredDeadLetters();
  // Produces and flushes.
  std::expected<std::vector<Delivered>, Failure> Send(const std::vector<const OutMessage*>& batch,
                                                      std::optional<CommitStep> crash_at,
                                                      const std::vector<OutMessage>& messages);
  std::expected<int64_t, Failure> LastOffset(int32_t task);

  state::StateStore& store_;
  Producer& producer_;
  PartitionReader& reader_;
  std::string dlq_topic_;
  int64_t delivery_timeout_ms_;
  Outbox outbox_;
  FaultHook fault_;
  std::string changelog_topic_;              // empty: one instance
  std::map<int32_t, int64_t> last_offsets_;  // by task, cached from the store
};

}  // namespace kpi::runtime
