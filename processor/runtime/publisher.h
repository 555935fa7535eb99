// Delivery of a commit's outbox (docs/DESIGN.md, "Commit and recovery"): the messages written in
// the commit's batch are produced, the delivery is awaited, and then they are deleted from the
// store. What a crash leaves is delivered at the next start, dead letters exactly once
// (dead_letter_marks.h); rows are upserts, so delivering one twice is harmless. Scaled out, a
// task's changelog records go first and its other messages only when it was not fenced
// (changelog_fence.h).
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
#include "processor/runtime/changelog_fence.h"
#include "processor/runtime/dead_letter_marks.h"
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

class Publisher {
 public:
  Publisher(state::StateStore& store, Producer& producer, PartitionReader& reader,
            std::string dlq_topic, int64_t delivery_timeout_ms)
      : store_(store),
        producer_(producer),
        reader_(reader),
        dlq_topic_(std::move(dlq_topic)),
        delivery_timeout_ms_(delivery_timeout_ms),
        fence_(store, reader, delivery_timeout_ms) {}
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
  void SetChangelog(std::string topic) { fence_.SetTopic(std::move(topic)); }
  ChangelogFence& fence() { return fence_; }

  // Produces `messages` (staged under `keys` in a batch already written), waits for delivery,
  // deletes them from the store. Returns the tasks found fenced (their other messages were not
  // published).
  std::expected<std::set<int32_t>, Failure> Deliver(std::vector<std::string> keys,
                                                    const std::vector<OutMessage>& messages);
  // At start: what a crash left, less the dead letters already in their topic, delivered.
  std::expected<std::set<int32_t>, Failure> DeliverStored();

 private:
  // Produces and flushes.
  std::expected<std::vector<Delivered>, Failure> Send(const std::vector<const OutMessage*>& batch,
                                                      std::optional<CommitStep> crash_at,
                                                      const std::vector<OutMessage>& messages);

  state::StateStore& store_;
  Producer& producer_;
  PartitionReader& reader_;
  std::string dlq_topic_;
  int64_t delivery_timeout_ms_;
  Outbox outbox_;
  FaultHook fault_;
  ChangelogFence fence_;
};

}  // namespace kpi::runtime
