// Runtime: `kpi-processor run`. Consumes the input topics as a consumer group and applies events
// to one Engine per task (input partition p of every topic). Every commit interval it writes, in
// one RocksDB batch, the state changes, the consumed offsets and an outbox holding the changed KPI
// rows and the dead letters; then it produces the outbox, waits for delivery and clears it. On
// start it delivers any outbox left by a crash; on assignment it seeks each partition to the
// offset stored with the state. So a crash at any point replays only uncommitted input, and
// nothing is emitted that the committed state does not hold.
// docs/DESIGN.md, "Commit and recovery", says what each crash point leaves behind.
//
// Ownership: owns its Kafka handles and the store; borrows the clock and the logger.
// Thread-safety: Run() on one thread; RequestStop() from any thread or a signal handler.
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "processor/calendar.h"
#include "processor/engine.h"
#include "processor/runtime/as_of.h"
#include "processor/runtime/bus.h"
#include "processor/runtime/clock.h"
#include "processor/runtime/config.h"
#include "processor/runtime/failure.h"
#include "processor/runtime/global_table.h"
#include "processor/runtime/publisher.h"
#include "processor/runtime/restore.h"
#include "processor/task_set.h"
#include "sinks/probe.h"
#include "state/rocksdb/rocksdb_store.h"

namespace spdlog {
class logger;
}

namespace kpi::runtime {

class Runtime final : private Source::Listener {
 public:
  // Opens the store and the Kafka clients of `config`.
  static std::expected<std::unique_ptr<Runtime>, Failure> Create(
      const Config& config, const Clock& clock, std::shared_ptr<spdlog::logger> log);
  // Test seam: the store every read and write goes through, made over the RocksDB store
  // (state/faulty_store.h injects storage faults).
  using StoreWrapper =
      std::function<std::unique_ptr<state::StateStore>(state::StateStore& rocksdb)>;
  // Opens the store, over the clients given (tests: memory_bus.h).
  static std::expected<std::unique_ptr<Runtime>, Failure> Create(
      const Config& config, const Clock& clock, std::shared_ptr<spdlog::logger> log, Bus bus,
      const StoreWrapper& wrap_store = {});
  ~Runtime() override;

  // Runs until RequestStop (then commits and leaves the group) or a failure.
  std::expected<void, Failure> Run();
  void RequestStop() { stop_.store(true); }
  // What the runtime reports about itself: counters, the committed table, readiness. Read it
  // from any thread (the metrics and query server does).
  const sinks::RuntimeProbe& probe() const { return probe_; }
  // Test seam: a crash at a step of the commit protocol (publisher.h). Run() then returns the
  // failure without writing or producing anything more, as a process killed there would.
  void SetFaultHook(FaultHook hook);

 private:
  Runtime(const Config& config, const Clock& clock, std::shared_ptr<spdlog::logger> log);

  // Source::Listener
  void OnAssign(std::vector<std::pair<TopicPartition, int64_t>>& parts) override;
  void OnRevoke(const std::vector<TopicPartition>& parts, bool lost) override;

  void Process(const InRecord& record);
  void DeadLetter(const InRecord& record, DeadLetterReason reason);
  void RollAsOf();
  void Commit();
  // A commit's last steps: `outbox` staged into `batch`, written atomically (the consumed offsets
  // become the positions), then delivered. Returns the tasks found fenced; nullopt after a
  // failure (latched).
  std::optional<std::set<int32_t>> WriteAndDeliver(state::WriteBatch batch,
                                                   const std::vector<OutMessage>& outbox);
  // Shared by both commits: the next input offset stored for `tp` (input.start when none; a
  // failure on a read error or corruption), an output row as its message, and the heap given
  // back after evictions.
  std::optional<int64_t> StoredOffset(const TopicPartition& tp);
  OutMessage RowMessage(const Row& row, const std::string& as_of) const;
  void TrimHeapAfterEvictions();
  // Lags, store sizes and the heartbeat, to the probe.
  void ReportStatus();
  void Fail(int exit_code, std::string message);
  void Fail(Failure failure) { Fail(failure.exit_code, std::move(failure.message)); }
  Date Today();  // the date in force (AsOfPolicy), from the clock and the engines' dates
  Date today_;   // the date in force: read once per loop iteration in RollAsOf

  // ---- scaled out (scale.enabled; runtime_scaled.cc, docs/DESIGN.md "Scale-out") ----
  struct OwnedTask {
    std::vector<TopicPartition> partitions;  // its input partitions assigned here
    std::unique_ptr<TaskRestore> restore;    // while being restored
    uint64_t epoch = 0;                      // of our claim
    uint64_t seq = 0;                        // of our last changelog commit
    uint64_t log_bytes = 0;                  // changelog bytes since the last snapshot
    bool ready() const { return restore == nullptr; }
  };
  // At start: every topic exists (else exit 2); scaled out, CheckScaledTopics too.
  std::expected<void, Failure> CheckTopics();
  // The input, changelog and cells topics' partition counts agree (else exit 2); every instance
  // reads the cells topic.
  std::expected<void, Failure> CheckScaledTopics();
  void ScaledAssign(std::vector<std::pair<TopicPartition, int64_t>>& parts);
  // One step of the restore under way; a finished restore claims, snapshots and serves the task.
  void StepRestores();
  // Produces `records` to the task's changelog partition now (claims and snapshots); returns
  // where they went.
  std::expected<std::vector<Delivered>, Failure> ProduceNow(const std::vector<OutMessage>& records);
  // The task's whole state to its changelog and its whole cell set to the cells topic.
  void WriteSnapshot(int32_t task, OwnedTask& owned, bool first);
  void CommitScaled();
  void Serve(int32_t task, OwnedTask& owned);
  // The commit's per-task records: changelog parts and changed cells into the outbox, the log
  // position into the batch.
  std::expected<void, std::string> StageTask(int32_t task, OwnedTask& owned,
                                             state::WriteBatch& batch,
                                             std::vector<OutMessage>& outbox);
  // Reads the cells (and, when emitting, the output) topic: the global table and /kpi follow.
  void ReadGlobal();
  // The emitter (the owner of task 0): catches up, then publishes every row; afterwards the
  // changed ones.
  void Emit(const std::vector<Row>& changed);
  sinks::ScaleStatus ScaleReport();
  OutMessage LogMessage(int32_t task, const LogRecord& record) const;
  OutMessage CellsMessage(int32_t task, const CellsRecord& record) const;

  std::map<int32_t, OwnedTask> owned_;
  GlobalTable global_;
  int32_t task_count_ = 0;                              // partitions of every input topic
  std::map<TopicPartition, int64_t> global_positions_;  // next offset read per partition
  enum class Emitter { kNo, kCatchingUp, kYes };
  Emitter emitter_ = Emitter::kNo;
  std::map<TopicPartition, int64_t> catch_up_to_;  // cells-topic ends to read before emitting
  std::string emitter_id_;       // instance/epoch, in the header of the rows this instance emits
  uint64_t restored_local_ = 0;  // restores completed, by source (ScaleReport)
  uint64_t restored_changelog_ = 0;
  uint64_t rebuilt_ = 0;
  uint64_t fencings_ = 0;
  int64_t last_emit_ms_ = 0;

  Config config_;
  const Clock& clock_;
  AsOfPolicy as_of_policy_;
  std::shared_ptr<spdlog::logger> log_;
  Calendar calendar_;
  std::unique_ptr<state::RocksDbStore> rocksdb_;      // its statistics
  std::unique_ptr<state::StateStore> wrapped_store_;  // tests only
  state::StateStore* store_ = nullptr;                // every read and write
  Bus bus_;
  std::unique_ptr<TaskSet> tasks_;
  std::unique_ptr<Publisher> publisher_;
  EventReader reader_;                              // decodes and validates into reused buffers
  std::map<TopicPartition, int64_t> next_offsets_;  // consumed, uncommitted
  // Assigned partitions and their position as of the last commit (-1: from the beginning).
  std::map<TopicPartition, int64_t> positions_;
  // One instance (scale.enabled false) must own every input partition: its rows are sums over
  // the tasks it owns. The input topics' partitions (from CheckTopics), and whether the current
  // assignment lacks some (another member is in the group), when nothing is processed.
  size_t input_partitions_ = 0;
  bool partial_assignment_ = false;
  std::vector<int64_t> event_unix_ms_;  // Kafka timestamps of the events since the last commit
  int64_t last_status_ms_ = 0;
  sinks::RuntimeProbe probe_;
  std::vector<OutMessage> dead_letters_;  // since the last commit
  uint64_t pending_ = 0;
  uint64_t evicted_at_trim_ = 0;  // the tasks' evictions when the heap was last trimmed
  int64_t last_commit_ms_ = 0;
  std::atomic<bool> stop_{false};
  std::optional<Failure> failure_;
};

}  // namespace kpi::runtime
