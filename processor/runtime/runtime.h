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
#include <map>
#include <memory>
#include <optional>
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
#include "processor/runtime/publisher.h"
#include "processor/runtime/tasks.h"
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
  // Opens the store, over the clients given (tests: memory_bus.h).
  static std::expected<std::unique_ptr<Runtime>, Failure> Create(
      const Config& config, const Clock& clock, std::shared_ptr<spdlog::logger> log, Bus bus);
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
  // Lags, store sizes and the heartbeat, to the probe.
  void ReportStatus();
  void Fail(int exit_code, std::string message);
  void Fail(Failure failure) { Fail(failure.exit_code, std::move(failure.message)); }
  Date Today();  // the date in force (AsOfPolicy), from the clock and the engines' dates
  Date today_;   // the date in force: read once per loop iteration in RollAsOf

  Config config_;
  const Clock& clock_;
  AsOfPolicy as_of_policy_;
  std::shared_ptr<spdlog::logger> log_;
  Calendar calendar_;
  std::unique_ptr<state::RocksDbStore> store_;
  Bus bus_;
  std::unique_ptr<TaskSet> tasks_;
  std::unique_ptr<Publisher> publisher_;
  EventReader reader_;                              // decodes and validates into reused buffers
  std::map<TopicPartition, int64_t> next_offsets_;  // consumed, uncommitted
  // Assigned partitions and their position as of the last commit (-1: from the beginning).
  std::map<TopicPartition, int64_t> positions_;
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
