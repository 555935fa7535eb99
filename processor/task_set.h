// The tasks an instance owns (task = partition number of the co-partitioned input topics), each
// with its Engine over the shared StateStore, and the global rows summed from their parts.
// Distinct children never span tasks (a child's events share a key, so a partition), so the
// global row of a cell is the sum of the tasks' parts.
//
// Ownership: owns the engines and their DimTable; borrows the store and the calendar.
// Thread-safety: none; the runtime's loop.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "processor/calendar.h"
#include "processor/engine.h"
#include "state/state_store.h"

namespace kpi {

class TaskSet {
 public:
  // `options`: every engine's options but the task, the as_of of a new store and the memory,
  // which `memory_bytes` gives for all the tasks together.
  TaskSet(state::StateStore& store, const Calendar& calendar, EngineOptions options,
          size_t memory_bytes);

  // The engine of `task`, opened (at `as_of` if its state is new) on first use. Errors name the
  // task.
  std::expected<Engine*, std::string> Get(int32_t task, Date as_of);
  // Splits the memory budget over `owned` (the tasks owned after an assignment); engines opened
  // before keep their share until reopened.
  void Budget(const std::set<int32_t>& owned);
  void Drop(int32_t task) { engines_.erase(task); }
  // The engine of `task` if it is open.
  Engine* Find(int32_t task) {
    const auto it = engines_.find(task);
    return it == engines_.end() ? nullptr : it->second.get();
  }
  bool empty() const { return engines_.empty(); }
  std::set<int32_t> owned() const;

  // The latest as_of of the engines (the epoch when there are none).
  Date LatestAsOf() const;
  // Moves every engine behind `as_of` to it; true when one moved.
  std::expected<bool, std::string> Advance(Date as_of);

  // The committed table of every task (of one KPI, or all), summed (SumRows).
  std::expected<std::vector<Row>, std::string> Table(std::optional<Kpi> kpi = std::nullopt);

  // A commit's first half: every engine's derived state brought up to date, and the global rows
  // of the cells that changed (up to each engine's as_of week), summed over the tasks, in
  // packed-key order. Then TakeBatch() takes the state changes for the commit's batch.
  std::expected<std::vector<Row>, std::string> ChangedTotals();
  state::WriteBatch TakeBatch();
  // A commit's first half when no rows are wanted (replay: the table is read at the end).
  std::expected<void, std::string> PrepareCommit();

  bool CommitWanted() const;
  uint64_t Evictions() const;  // children and cells evicted so far, over the engines owned
  // The engines' statistics, added up.
  EngineStats Stats() const;

 private:
  state::StateStore& store_;
  const Calendar& calendar_;
  EngineOptions options_;
  size_t memory_bytes_;
  size_t memory_per_task_;
  // Shared by the engines (declared first: it outlives them), so a changed cell's global row is
  // summed across tasks by its packed key.
  DimTable dims_;
  std::map<int32_t, std::unique_ptr<Engine>> engines_;
};

}  // namespace kpi
