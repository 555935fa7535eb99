// A scaled-out instance (scale.enabled): the tasks the group gives it are restored from their
// changelog, each commit of theirs is written to it and their cells to the cells topic; every
// instance reads the cells topic into the global table, and the owner of task 0 emits it. See
// docs/DESIGN.md, "Scale-out", for why the result stays exact.
//
// Ownership: borrows the runtime's parts. Thread-safety: the runtime's loop.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "processor/runtime/changelog.h"
#include "processor/runtime/global_table.h"
#include "processor/runtime/restore.h"
#include "processor/runtime/topology.h"

namespace kpi::runtime {

class ScaledOut final : public Topology {
 public:
  // The instance id (scale.instance_id, else the host name) and the bus's readers checked.
  static std::expected<std::unique_ptr<Topology>, Failure> Create(const RuntimeParts& parts);

  std::vector<std::string> Topics() const override;
  // The input, changelog and cells topics' partition counts agree (else exit 2); every instance
  // reads the cells topic.
  std::expected<void, Failure> Start(size_t input_partitions) override;
  void Assign(std::vector<std::pair<TopicPartition, int64_t>>& parts, Date today) override;
  void Revoke(const std::set<int32_t>& tasks) override;
  bool Accepts(const InRecord& record) const override;
  void Step(Date today) override;
  std::expected<std::vector<Row>, Failure> Stage(Date today, state::WriteBatch& batch,
                                                 std::vector<OutMessage>& outbox) override;
  void Committed(const std::set<int32_t>& fenced) override;
  void FencedAtStart(size_t tasks) override { fencings_ += tasks; }
  Date TableAsOf(Date today) const override { return global_.as_of().value_or(today); }
  std::optional<sinks::ScaleStatus> Report() const override;

 private:
  ScaledOut(const RuntimeParts& parts, std::string instance_id);

  struct OwnedTask {
    std::vector<TopicPartition> partitions;  // its input partitions assigned here
    std::unique_ptr<TaskRestore> restore;    // while being restored
    uint64_t epoch = 0;                      // of our claim
    uint64_t seq = 0;                        // of our last changelog commit
    uint64_t log_bytes = 0;                  // changelog bytes since the last snapshot
    bool ready() const { return restore == nullptr; }
  };
  void Fail(int exit_code, std::string message) {
    parts_.failure.Fail(exit_code, std::move(message));
  }
  void Fail(Failure failure) { parts_.failure.Fail(std::move(failure)); }
  bool failed() const { return parts_.failure.failed(); }

  // One step of the restore under way; a finished restore claims, snapshots and serves the task.
  void StepRestores();
  // Produces `records` to their partitions now (claims, snapshots, emitted rows); returns where
  // they went.
  std::expected<std::vector<Delivered>, Failure> ProduceNow(const std::vector<OutMessage>& records);
  // The task's whole state to its changelog and its whole cell set to the cells topic.
  void WriteSnapshot(int32_t task, OwnedTask& owned, bool first);
  void Serve(int32_t task, OwnedTask& owned);
  // The emitter's role, taken with task 0: first read the cells topic up to its current end.
  void CatchUp(uint64_t epoch);
  // The commit's per-task records: changelog parts and changed cells into the outbox, the log
  // position into the batch.
  std::expected<void, std::string> StageTask(int32_t task, OwnedTask& owned,
                                             state::WriteBatch& batch,
                                             std::vector<OutMessage>& outbox);
  // Reads the cells (and, when emitting, the output) topic: the global table and /kpi follow.
  void ReadGlobal();
  // Caught up: reads the output topic from its ends as they are now, then emits every row.
  void StartEmitting();
  // The emitter: publishes `rows` of the global table.
  void Emit(const std::vector<Row>& rows);
  OutMessage LogMessage(int32_t task, const LogRecord& record) const;
  OutMessage CellsMessage(int32_t task, const CellsRecord& record) const;

  RuntimeParts parts_;
  std::string instance_id_;
  Date today_;  // as of the last Step
  std::map<int32_t, OwnedTask> owned_;
  GlobalTable global_;
  int32_t task_count_ = 0;                              // partitions of every input topic
  std::map<TopicPartition, int64_t> global_positions_;  // next offset read per partition
  enum class Emitter { kNo, kCatchingUp, kYes };
  Emitter emitter_ = Emitter::kNo;
  std::map<TopicPartition, int64_t> catch_up_to_;  // cells-topic ends to read before emitting
  std::string emitter_id_;       // instance/epoch, in the header of the rows this instance emits
  uint64_t restored_local_ = 0;  // restores completed, by source (Report)
  uint64_t restored_changelog_ = 0;
  uint64_t rebuilt_ = 0;
  uint64_t fencings_ = 0;
};

}  // namespace kpi::runtime
