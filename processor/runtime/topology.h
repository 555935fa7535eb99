// What one instance and a scaled-out one do differently, behind one interface. Runtime keeps the
// poll loop, the decode of each record and the one commit pipeline (stage, write the batch,
// deliver the outbox, trim the heap, report); a Topology decides which tasks are served and when,
// and what a commit stages and publishes for them besides their state.
//   OneInstance (one_instance.cc): serves every input partition or none; a commit's output is
//     the changed global rows, summed over its tasks.
//   ScaledOut (scaled_out.cc, docs/DESIGN.md "Scale-out"): restores the tasks it is given from
//     their changelog, writes their commits to it, publishes their cells; every instance reads
//     the global table, and the owner of task 0 emits it.
//
// Ownership: a topology borrows its runtime's parts (RuntimeParts). Thread-safety: the loop's.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "processor/calendar.h"
#include "processor/runtime/bus.h"
#include "processor/runtime/clock.h"
#include "processor/runtime/config.h"
#include "processor/runtime/failure.h"
#include "processor/runtime/input_positions.h"
#include "processor/runtime/outbox.h"
#include "processor/runtime/publisher.h"
#include "processor/task_set.h"
#include "sinks/probe.h"
#include "state/state_store.h"

namespace spdlog {
class logger;
}

namespace kpi::runtime {

// The runtime's parts a topology works with.
struct RuntimeParts {
  const Config& config;
  const Clock& clock;
  spdlog::logger& log;
  state::StateStore& store;
  Bus& bus;
  TaskSet& tasks;
  Publisher& publisher;
  sinks::RuntimeProbe& probe;
  InputPositions& positions;
  FailureLatch& failure;
};

class Topology {
 public:
  virtual ~Topology() = default;

  // The topics it needs besides the input, output and dead-letter ones.
  virtual std::vector<std::string> Topics() const { return {}; }
  // At start, once every topic is found: `input_partitions` over the input topics.
  virtual std::expected<void, Failure> Start(size_t input_partitions) = 0;
  // The consumer group gave these partitions; `offset` is where each is fetched from.
  virtual void Assign(std::vector<std::pair<TopicPartition, int64_t>>& parts, Date today) = 0;
  // These tasks were revoked (after a commit); their engines are dropped.
  virtual void Revoke(const std::set<int32_t>& tasks) = 0;
  // Whether a record fetched now is processed (its task served, and not fetched before a seek).
  virtual bool Accepts(const InRecord& record) const = 0;
  // Once per loop turn: the work between records (restores, reading the global table).
  virtual void Step(Date today) = 0;
  // A commit's records for its tasks: their state changes and consumed offsets into `batch`,
  // what they publish into `outbox`. Returns the global rows that changed, for the probe (none
  // when the global table is read back from the cells topic).
  virtual std::expected<std::vector<Row>, Failure> Stage(Date today, state::WriteBatch& batch,
                                                         std::vector<OutMessage>& outbox) = 0;
  // The commit is written and delivered; `fenced`: tasks another instance claimed meanwhile.
  virtual void Committed(const std::set<int32_t>& fenced) = 0;
  // At start: the output a crash left for `tasks` was not published (claimed meanwhile).
  virtual void FencedAtStart(size_t /*tasks*/) {}
  // The as_of of the table this instance serves.
  virtual Date TableAsOf(Date today) const { return today; }
  virtual std::optional<sinks::ScaleStatus> Report() const { return std::nullopt; }
};

// An output row as its message, produced at `emitted_unix_ms` (an emitter adds its header): in
// output.format and output.key_format, and a tombstone for a zero row with output.tombstones.
OutMessage RowMessage(const Config& config, const Row& row, const std::string& as_of,
                      int64_t emitted_unix_ms);

// The topology `config` asks for (scale.enabled: ScaledOut); a configuration error when the bus
// lacks what it needs.
std::expected<std::unique_ptr<Topology>, Failure> MakeTopology(const RuntimeParts& parts);

}  // namespace kpi::runtime
