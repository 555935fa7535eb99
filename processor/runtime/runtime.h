// Runtime: `kpi-processor run`. Consumes the input topics as a consumer group and applies events
// to one Engine per task (input partition p of every topic); its Topology (topology.h) says which
// tasks it serves and what their commits publish: one instance, or one of several scaled out. Every
// commit interval it writes, in one RocksDB batch, the state changes, the consumed offsets and an
// outbox holding the changed KPI rows and the dead letters; then it produces the outbox, waits for
// delivery and clears it. On start it delivers any outbox left by a crash; on assignment it seeks
// each partition to the offset stored with the state. So a crash at any point replays only
// uncommitted input, and nothing is emitted that the committed state does not hold. docs/DESIGN.md,
// "Commit and recovery", says what each crash point leaves behind.
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
#include "processor/runtime/input_positions.h"
#include "processor/runtime/publisher.h"
#include "processor/runtime/topology.h"
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
  // The one commit pipeline: the topology stages its tasks' state, offsets and output with the
  // dead letters; the batch is written atomically (the consumed offsets become the positions),
  // the outbox delivered, the heap trimmed after evictions, and the commit reported.
  void Commit();
  // A commit's last steps: `outbox` staged into `batch`, written, then delivered. Returns the
  // tasks found fenced; nullopt after a failure (latched).
  std::optional<std::set<int32_t>> WriteAndDeliver(state::WriteBatch batch,
                                                   const std::vector<OutMessage>& outbox);
  void TrimHeapAfterEvictions();
  // At start: every topic exists (else exit 2), the input topics' partitions counted, and the
  // topology started.
  std::expected<void, Failure> CheckTopics();
  // At start: whatever a crash left in the outbox, before anything new.
  void DeliverStored();
  // Lags, store sizes and the heartbeat, to the probe.
  void ReportStatus();
  void Fail(int exit_code, std::string message) { failure_.Fail(exit_code, std::move(message)); }
  void Fail(Failure failure) { failure_.Fail(std::move(failure)); }
  Date Today();  // the date in force (AsOfPolicy), from the clock and the engines' dates
  Date today_;   // the date in force: read once per loop iteration in RollAsOf

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
  std::unique_ptr<InputPositions> positions_;
  EventReader reader_;                  // decodes and validates into reused buffers
  std::vector<int64_t> event_unix_ms_;  // Kafka timestamps of the events since the last commit
  int64_t last_status_ms_ = 0;
  sinks::RuntimeProbe probe_;
  std::vector<OutMessage> dead_letters_;  // since the last commit
  uint64_t pending_ = 0;
  uint64_t evicted_at_trim_ = 0;  // the tasks' evictions when the heap was last trimmed
  int64_t last_commit_ms_ = 0;
  std::atomic<bool> stop_{false};
  FailureLatch failure_;
  std::unique_ptr<Topology> topology_;  // over the parts above
};

}  // namespace kpi::runtime
