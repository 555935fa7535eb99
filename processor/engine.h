// Engine: the exact KPI core. Applies validated events to per-child state and maintains the KPI
// cells of KPIS.md incrementally, so that at any commit the cells equal the KPIs of the set of
// live records (docs/DESIGN.md explains why). Pure: state goes through StateStore, time comes in
// as `as_of`; no I/O, clock or logging here.
//
// Ownership: borrows the store and the calendar, which must outlive the engine. The engine buffers
// its writes (state::WriteBuffer); TakeBatch() hands them over for one atomic commit.
// Thread-safety: none. One engine per task, used from one thread.
// Errors: a failed or corrupt store read is returned as state::Error; after one, the engine's
// memory no longer matches any committed state and the caller must not commit (tier 3: exit and
// restart from the last commit).
#pragma once

#include <algorithm>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "processor/calendar.h"
#include "processor/cells.h"
#include "processor/child_cache.h"
#include "processor/child_state.h"
#include "processor/date.h"
#include "processor/dims.h"
#include "processor/keys.h"
#include "processor/kpis.h"
#include "processor/record.h"
#include "processor/rules/rules.h"
#include "processor/stored_cells.h"
#include "processor/unit_runs.h"
#include "processor/validate.h"
#include "processor/values.h"
#include "state/state_store.h"
#include "state/write_buffer.h"

namespace kpi {

struct EngineOptions {
  Date as_of;                 // reporting date of a new store; snapshots at min(Sunday, as_of)
  int assessment_limit = 45;  // working days
  int icpc_limit = 15;        // working days
  KpiLimits limits;           // KPIS-2.md section 6
  uint16_t task = 0;          // input partition: the key prefix of this engine's state
  // Bound on the hot state (children and KPI cells held in memory), in bytes; 0: unbounded. Past
  // it, the least recently used children are written back to the buffer and dropped, and read
  // again from the store when an event names them. The KPI cells take at most a quarter: past it,
  // at the next commit, the least recently changed are dropped (their values are in the store)
  // down to an eighth, and read again when an event adds to one.
  size_t memory_bytes = 0;
  // false: nothing is read from or written to the store but the KPI cells' starting values (a
  // replay that only wants the table). Memory is then unbounded: memory_bytes must be 0.
  bool durable = true;
  // The dimension table, shared by the engines of one instance so that their packed cell keys
  // (Row::cell) agree and global rows are summed by integer key; null: the engine's own. Not
  // thread-safe: engines sharing one run on one thread.
  DimTable* dims = nullptr;
};

enum class ApplyOutcome { kApplied, kStale };

struct EngineStats {
  uint64_t applied = 0;
  uint64_t stale = 0;
  int64_t live_missing_marks = 0;  // data-quality figure: live marks with code "-" or empty
  uint64_t children_loaded = 0;    // children read from the store (first use or after eviction)
  uint64_t children_evicted = 0;   // children dropped from memory to stay within memory_bytes
  size_t hot_children = 0;         // children in memory now
  size_t hot_bytes = 0;            // their approximate footprint
  uint64_t cells_loaded = 0;       // KPI cells read back from the store after eviction
  uint64_t cells_evicted = 0;      // KPI cells dropped from memory to stay within memory_bytes
  size_t hot_cells = 0;            // KPI cells in memory at the last commit (or open)
};

class Engine {
 public:
  // Loads the KPI cells of `options.task` from `store`. A store that was already committed keeps
  // the as_of it was built for (options.as_of only seeds a new store); AdvanceAsOf moves it.
  // Children are read on first use. Fails if the store cannot be read or is corrupt.
  static std::expected<std::unique_ptr<Engine>, state::Error> Open(state::StateStore& store,
                                                                   const Calendar& calendar,
                                                                   const EngineOptions& options);

  std::expected<ApplyOutcome, state::Error> Apply(const ValidEvent& event);

  // Moves the reporting date forward (live: at midnight Europe/London). Snapshot rows are
  // restated at the new S(W) and the new week's rows appear; afterwards the cells equal those of
  // a replay of the same records at `as_of`. Cost: one pass over every child of the task (cold
  // ones are read from the store). A date before the current as_of is refused (InvalidArgument).
  std::expected<void, state::Error> AdvanceAsOf(Date as_of);

  // Brings the derived state up to date (persistent and severe absence), writes every change of
  // the hot state behind into the buffer and returns the rows changed since the previous call,
  // each with its new revision, zero rows included. TakeBatch() then takes everything for the
  // commit; the caller must write that batch to the store before the next Apply.
  std::expected<std::vector<Row>, state::Error> PrepareCommit();
  state::WriteBatch TakeBatch();

  // The KPI table as of the last PrepareCommit (of one KPI, or all): weeks up to the week of
  // as_of, rows whose count and base are both 0 left out, sorted by kpi name, week_start,
  // dimension. Evicted cells are read from the store, so call it after the commit's batch is
  // written. Fails if the store cannot be read or is corrupt.
  std::expected<std::vector<Row>, state::Error> Table(std::optional<Kpi> kpi = std::nullopt);

  // One cell of this task by packed key (Row::cell): its committed count, base and revision,
  // read from the store if it was evicted; nullopt when it was never stored.
  std::expected<std::optional<StoredCell>, state::Error> CommittedCell(uint64_t cell);

  // True when the next commit's batch would be large beside memory_bytes: what evictions wrote
  // back since the last commit holds more than an eighth of it, or the dirty children (each
  // written back whole at worst) a quarter; or when the KPI cells, which are evicted only at a
  // commit, hold half. The caller should commit soon (the engine never
  // writes the store itself), so that the memory bound stays a bound in a backfill, where most
  // children change between commits.
  bool CommitWanted() const {
    if (options_.memory_bytes == 0) return false;
    const size_t child_bytes = cache_.bytes() / std::max<size_t>(1, cache_.size());
    return buffer_.bytes() > options_.memory_bytes / 8 ||
           cache_.dirty() * child_bytes > options_.memory_bytes / 4 ||
           cells_.bytes() > options_.memory_bytes / 2;
  }

  EngineStats stats() const {
    EngineStats s = stats_;
    s.children_evicted = cache_.evicted();
    s.cells_loaded = stored_.loaded();
    s.cells_evicted = stored_.evicted();
    s.hot_children = cache_.size();
    s.hot_bytes = cache_.bytes();
    return s;
  }
  const EngineOptions& options() const { return options_; }
  Date as_of() const { return options_.as_of; }

 private:
  Engine(state::StateStore& store, const Calendar& calendar, const EngineOptions& options);

  // ---- hot state (engine.cc; the slots are ChildCache's) ----
  // The child's state, read from the store if it is not hot; nullptr after a failed read.
  ChildState* Child(std::string_view child_id);
  void MarkDirty(ChildState& child) {
    if (options_.durable) cache_.MarkDirty(child);
  }
  void Latch(const state::Error& error) {
    if (!failed_) failed_ = error;
  }
  void Corrupt(const char* what) { Latch(state::Corruption(what)); }
  // Drops least recently used children until the hot state is within its budget. `keep` is not
  // dropped.
  void EvictIfNeeded(const ChildState* keep);
  // Flushes the child's absence units marked flush_pending (their rows into the cells).
  void FlushUnits(ChildState& child);
  // The ids of every child whose contributions as_of can move (snapshot records or absence
  // units), hot or stored.
  std::vector<std::string> AllChildren();

  std::expected<ApplyOutcome, state::Error> ApplyRecord(ChildState& child, const ValidEvent& event);
  std::expected<ApplyOutcome, state::Error> ApplyMark(ChildState& child, const ValidEvent& event);

  // ---- the rules (processor/rules/) ----
  // The rules' context at the current as_of, visiting snapshot weeks from `restate_from`.
  rules::Context Rules(Date restate_from = rules::Context::kEveryWeek) const {
    return {calendar_,
            options_.limits,
            options_.assessment_limit,
            options_.icpc_limit,
            options_.as_of,
            as_of_week_,
            restate_from,
            dims_};
  }
  void Contribute(ChildState& child, const RecordVersion& v, int sign) {
    rules::Contribute(Rules(), child, v, sign, sink_);
  }
  // Takes the rules' corruption and the cells' read errors, if any, into failed_; true when the
  // engine has failed.
  bool Failed() {
    if (const char* what = sink_.TakeCorruption()) Corrupt(what);
    if (stored_.error()) Latch(*stored_.error());
    return failed_.has_value();
  }
  // The units' runs are summed into the cells at each commit, before an as_of move shows new
  // weeks, and when enough are pending (unit_runs.h).
  void FoldUnitRuns() { unit_runs_.Fold(cells_); }
  void MaybeFoldUnitRuns() {
    if (unit_runs_.Full()) FoldUnitRuns();
  }

  // ---- persistent and severe absence (absence.cc) ----
  // Counts a mark's change into the day summaries of every absence unit whose window holds its
  // date, and marks those units for the next flush. `before`/`after`: the class of the live
  // version before and after (nullopt: none).
  // `own`: the index in child.years of the mark's own (school, academic year).
  void UpdateDaySummaries(ChildState& child, size_t own, Date date,
                          std::optional<AttendanceClass> before,
                          std::optional<AttendanceClass> after);
  void FlushAbsenceUnit(ChildState& child, SchoolYear& unit);
  void MarkUnitPending(ChildState& child, SchoolYear& unit);

  // Reads go through the buffer, which holds what evictions wrote back during the interval; the
  // commit's own write-back goes straight to commit_batch_ (nothing reads between PrepareCommit
  // and the store write), after the buffer's entries, so a key in both takes the later value.
  state::WriteBuffer buffer_;
  state::WriteBatch commit_batch_;
  const Calendar& calendar_;
  EngineOptions options_;
  Date as_of_week_;
  std::optional<state::Error> failed_;

  DimTable own_dims_;
  DimTable& dims_;  // options.dims or own_dims_
  StoredCells stored_{buffer_, dims_, options_.task, options_.memory_bytes};
  CellTable& cells_ = stored_.cells();
  UnitRuns unit_runs_;
  EngineStats stats_;
  rules::CellSink sink_{cells_, unit_runs_, options_.durable, stats_.live_missing_marks};

  ChildCache cache_;
};

}  // namespace kpi
