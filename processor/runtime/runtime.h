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
#include <string>
#include <utility>

#include "processor/calendar.h"
#include "processor/engine.h"
#include "processor/runtime/as_of.h"
#include "processor/runtime/clock.h"
#include "processor/runtime/config.h"
#include "processor/runtime/outbox.h"
#include "sinks/probe.h"
#include "state/rocksdb/rocksdb_store.h"

struct rd_kafka_s;
namespace spdlog {
class logger;
}

namespace kpi::runtime {

// Exit codes: the supervisor restarts on anything but 0 and kExitConfig.
inline constexpr int kExitOk = 0;
inline constexpr int kExitConfig = 2;
inline constexpr int kExitState = 3;  // store unreadable or corrupt
inline constexpr int kExitKafka = 4;  // fatal client error, output not delivered

struct Failure {
  int exit_code;
  std::string message;  // names settings, topics, partitions; never record content
};

class Runtime {
 public:
  static std::expected<std::unique_ptr<Runtime>, Failure> Create(
      const Config& config, const Clock& clock, std::shared_ptr<spdlog::logger> log);
  ~Runtime();

  // Runs until RequestStop (then commits and leaves the group) or a failure.
  std::expected<void, Failure> Run();
  void RequestStop() { stop_.store(true); }
  // What the runtime reports about itself: counters, the committed table, readiness. Read it
  // from any thread (the metrics and query server does).
  const sinks::RuntimeProbe& probe() const { return probe_; }

 private:
  Runtime(const Config& config, const Clock& clock, std::shared_ptr<spdlog::logger> log);
  static void RebalanceCallback(rd_kafka_s* rk, int err, void* partitions, void* opaque);

  void OnAssign(void* partitions);
  void OnRevoke(void* partitions);
  void Process(void* message);
  void DeadLetter(void* message, DeadLetterReason reason);
  // At start: whatever a crash left in the outbox, read back from the store and delivered.
  void DeliverStored();
  // Produces the outbox entries `keys` (holding `messages`), waits for delivery, then deletes
  // them from the store. A commit passes what it has just written: no read back.
  void Deliver(std::vector<std::string> keys, const std::vector<OutMessage>& messages);
  void RollAsOf();
  void Commit();
  // Lags, store sizes and the heartbeat, to the probe.
  void ReportStatus();
  void Fail(int exit_code, std::string message);
  Engine* EngineFor(int32_t task);
  Date Today();  // the date in force (AsOfPolicy), from the clock and the engines' dates
  Date today_;   // the date in force: read once per loop iteration in RollAsOf

  Config config_;
  const Clock& clock_;
  AsOfPolicy as_of_policy_;
  std::shared_ptr<spdlog::logger> log_;
  Calendar calendar_;
  std::unique_ptr<state::RocksDbStore> store_;
  rd_kafka_s* consumer_ = nullptr;
  rd_kafka_s* producer_ = nullptr;
  // Shared by the engines (declared first: it outlives them), so a changed cell's global row is
  // summed across tasks by its packed key.
  DimTable dims_;
  std::map<int32_t, std::unique_ptr<Engine>> engines_;  // by task
  size_t memory_per_task_ = 0;
  EventReader reader_;          // decodes and validates into reused buffers
  bool commit_wanted_ = false;  // an engine's evictions filled its write buffer (CommitWanted)  //
                                // state.memory_mb shared by the tasks owned (EngineOptions)
  std::map<std::pair<std::string, int32_t>, int64_t> next_offsets_;  // consumed, uncommitted
  // Assigned partitions and their position as of the last commit (-1: from the beginning).
  std::map<std::pair<std::string, int32_t>, int64_t> positions_;
  std::vector<int64_t> event_unix_ms_;  // Kafka timestamps of the events since the last commit
  int64_t last_status_ms_ = 0;
  sinks::RuntimeProbe probe_;
  std::vector<OutMessage> dead_letters_;  // since the last commit
  Outbox outbox_;
  uint64_t pending_ = 0;
  uint64_t evicted_at_trim_ = 0;  // the tasks' evictions when the heap was last trimmed
  int64_t last_commit_ms_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> delivery_failed_{false};
  std::optional<Failure> failure_;
};

}  // namespace kpi::runtime
