// One instance (scale.enabled false): it owns every input partition or processes none, and a
// commit's output is the changed global rows, summed over its tasks (TaskSet::ChangedTotals).
//
// Ownership: borrows the runtime's parts. Thread-safety: the runtime's loop.
#pragma once

#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "processor/runtime/topology.h"

namespace kpi::runtime {

class OneInstance final : public Topology {
 public:
  explicit OneInstance(const RuntimeParts& parts) : parts_(parts) {}

  std::expected<void, Failure> Start(size_t input_partitions) override {
    input_partitions_ = input_partitions;
    return {};
  }
  // Every partition: each task's engine opened and its partitions fetched from the stored
  // offsets. Fewer: paused, and nothing is processed until a rebalance gives them all.
  void Assign(std::vector<std::pair<TopicPartition, int64_t>>& parts, Date today) override;
  void Revoke(const std::set<int32_t>& /*tasks*/) override {}
  bool Accepts(const InRecord& /*record*/) const override { return !partial_assignment_; }
  void Step(Date /*today*/) override {}
  std::expected<std::vector<Row>, Failure> Stage(Date today, state::WriteBatch& batch,
                                                 std::vector<OutMessage>& outbox) override;
  void Committed(const std::set<int32_t>& /*fenced*/) override {}

 private:
  RuntimeParts parts_;
  // The input topics' partitions (Start), and whether the current assignment lacks some
  // (another member is in the group).
  size_t input_partitions_ = 0;
  bool partial_assignment_ = false;
};

}  // namespace kpi::runtime
