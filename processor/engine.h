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
#include "processor/child_state.h"
#include "processor/date.h"
#include "processor/dims.h"
#include "processor/keys.h"
#include "processor/kpis.h"
#include "processor/record.h"
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

struct Row {
  Kpi kpi;
  Date week;
  std::string dimension;
  int64_t count = 0;
  int64_t base = 0;
  uint64_t revision = 0;
  // The packed cell key (cells.h) when the row comes from an engine; engines sharing a DimTable
  // agree on it.
  uint64_t cell = 0;
};

// The global rows from the tasks' parts: rows of the same (kpi, week, dimension) added up (count,
// base and revision; a child is in one task only, so the sum is exact), rows whose count and base
// are both 0 left out, sorted as Engine::Table() sorts.
std::vector<Row> SumRows(std::vector<Row> parts);

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
    const size_t child_bytes = stats_.hot_bytes / std::max<size_t>(1, stats_.hot_children);
    return buffer_.bytes() > options_.memory_bytes / 8 ||
           dirty_children_.size() * child_bytes > options_.memory_bytes / 4 ||
           cells_.bytes() > options_.memory_bytes / 2;
  }

  const EngineStats& stats() const { return stats_; }
  const EngineOptions& options() const { return options_; }
  Date as_of() const { return options_.as_of; }

 private:
  Engine(state::StateStore& store, const Calendar& calendar, const EngineOptions& options);

  // ---- hot state (engine.cc) ----
  // The child's state, read from the store if it is not hot; nullptr after a failed read.
  ChildState* Child(std::string_view child_id);
  void MarkDirty(ChildState& child);
  void Latch(const state::Error& error) {
    if (!failed_) failed_ = error;
  }
  void Corrupt(const char* what) { Latch(state::Corruption(what)); }
  // Drops least recently used children until the hot state is within its budget. `keep` is not
  // dropped.
  void EvictIfNeeded(const ChildState* keep);
  void Evict(uint32_t slot);
  // At the start of a commit (every clean cell is stored): drops the least recently changed KPI
  // cells when they hold more than a quarter of memory_bytes.
  void EvictCells();
  // A cell's stored value (nullopt: never stored).
  std::expected<std::optional<StoredCell>, state::Error> ReadCell(uint64_t cell);
  // Visits the stored cells with keys in [from, to), through the buffer; `visit` returns false to
  // stop. A key or value that does not decode is corruption.
  std::expected<void, state::Error> ScanStoredCells(
      std::string_view from, std::string_view to,
      const std::function<bool(const keys::CellKeyParts&, const StoredCell&)>& visit);
  // Reads the stored cells of the weeks in (after, upto] that are not in memory (as_of moved:
  // they are about to be reported).
  void LoadWeeks(Date after, Date upto);
  // Flushes the child's pending absence units (their rows into the cells).
  void FlushUnits(ChildState& child);
  // The ids of every child whose contributions as_of can move (snapshot records or absence
  // units), hot or stored.
  std::vector<std::string> AllChildren();

  std::expected<ApplyOutcome, state::Error> ApplyRecord(ChildState& child, const ValidEvent& event);
  std::expected<ApplyOutcome, state::Error> ApplyMark(ChildState& child, const ValidEvent& event);

  // ---- the KPI rules of KPIS.md (rules.cc) ----
  using Dims = DimTable::Dims;
  // A record's contribution to the cells and references, computed from the current state.
  void Contribute(ChildState& child, const RecordVersion& r, int sign);
  // A live mark of `year` at `day` (its nibble: MarkNibble).
  void ContributeMark(ChildState& child, SchoolYear& year, uint16_t day, uint8_t nibble, int sign);
  void ContributeEhcRequest(ChildState& child, const body::EhcRequest& request, int sign);
  // The child's records (indices) whose contribution can depend on the event's record, other
  // than the record itself; the same set before and after the change.
  std::vector<uint32_t> DependentRecords(ChildState& child, const ValidEvent& event,
                                         const Record* old);
  // For a profile: contributes every live mark dated in [from, to) (to: none = no end).
  void ContributeMarksIn(ChildState& child, Date from, std::optional<Date> to, int sign);
  bool IsSnapshot(Kind kind) const;

  // The dimensions of a record dated d: school from the record (`own_school`, for marks,
  // exclusions and enrolments) or else from the profile on d; year group and SEN from the profile.
  Dims DimsOn(ChildState& child, Date d, uint32_t own_school = DimTable::kNone);
  uint32_t OwnSchool(std::string_view urn);
  void AddRow(Kpi kpi, Date date, const Dims& dims, int64_t count, int64_t base);
  void AddDistinct(ChildState& child, Kpi kpi, Date date, const Dims& dims, int sign);
  // Calls visit(week, S(W)) for each week up to the week of as_of (from restate_from_) in which a
  // record of [start, end) is open at S(W). `visit` returns false to stop; it may only stop at a
  // week from which it would stop at every later one (restate_from_ skips earlier weeks).
  template <typename Visit>
  void ForEachSnapshotWeek(Date start, std::optional<Date> end, Visit visit);
  std::optional<Date> FirstIcpcNaming(const ChildState& child, std::string_view s47_id) const;
  std::optional<Date> EarliestCpStart(const ChildState& child) const;
  // The extra cuts of a CP plan's row dated d (KPIS-2.md section 2): category, age, gender and
  // ethnicity, in the shape of Dims so that AddRow and AddDistinct take them.
  Dims PlanCuts(ChildState& child, const body::CpPlan& plan, Date d);

  // ---- the child-level units of KPIS-2.md section 7 (units.cc) ----
  // A unit is a group of KPIs computed from all the child's records of some kinds at once
  // (periods merged from several records, reviews numbered within a period, the latest visit, the
  // latest enrolment end). Like a record's contribution, it is a function of the child's current
  // state and as_of: ApplyRecord retracts the units a record's kind feeds before the change and
  // adds them back after it, and AdvanceAsOf restates them.
  // A unit's distinct-child KPIs are deduplicated within the unit, so they keep no per-child
  // references (a pupil on roll for years would otherwise hold one per week and dimension).
  static constexpr uint8_t kUnitEnrolments = 1;  // pupils_on_roll, ehe_open
  static constexpr uint8_t kUnitEhc = 2;  // ehc_plans_open, ehc_reviews_overdue: plans, reviews
  static constexpr uint8_t kUnitCp = 4;   // CP periods: CP reviews, their timeliness, CP visits
  static constexpr uint8_t kUnitCla = 8;  // care periods: cla_started, CLA reviews and visits
  static constexpr uint8_t kUnitExclusions = 16;  // the year-to-date excluded pupils
  static constexpr uint8_t kAllUnits = 31;
  // A unit's cell changes are collected as runs of weeks (UnitRun, UnitRow) and summed into the
  // cells by FoldUnitRuns at the next commit (or as_of move, or once kFoldRuns are pending):
  // a retraction and its re-addition cancel in every week the change does not reach, so those
  // cells are never touched, and a snapshot KPI held for years costs a few runs per change, not a
  // delta per week and dimension; the children of a school on roll in the same weeks add to its
  // cells once per fold, not once each.
  static uint8_t UnitsOf(Kind kind);
  // The first week whose unit rows a change from `before` (nullptr: none) to `after` can move.
  static Date UnitsFrom(const Record* before, const Record& after);
  void ContributeUnits(ChildState& child, uint8_t units, int sign);
  // `group`: UnitGroup(kpi, dim); the weeks first..last (week starts), each by (count, base).
  void UnitRun(uint64_t group, Date first, Date last, int64_t count, int64_t base);
  void UnitRow(Kpi kpi, Date date, const Dims& dims, int64_t count, int64_t base);
  void FoldUnitRuns();
  void MaybeFoldUnitRuns() {
    if (unit_deltas_.size() >= kFoldRuns) FoldUnitRuns();
  }
  static constexpr size_t kFoldRuns = size_t{1} << 15;  // ~1.3 MiB of runs, 2 MiB of edges
  struct UnitDelta {
    uint64_t group;
    Date first;
    Date last;
    int64_t count;
    int64_t base;
  };
  std::vector<UnitDelta> unit_deltas_;
  struct UnitEdge {  // FoldUnitRuns' scratch: a run's value starts or ends at `week`
    uint64_t group;
    int32_t week;
    int64_t count;
    int64_t base;
  };
  std::vector<UnitEdge> unit_edges_;
  struct UnitCell {
    uint64_t cell;
    int64_t count;
    int64_t base;
  };
  std::vector<UnitCell> unit_cells_;
  void ContributeEnrolments(ChildState& child, int sign);
  void ContributeExclusions(ChildState& child, int sign);
  void ContributeEhcPlans(ChildState& child, int sign);
  void ContributePeriods(ChildState& child, bool care, int sign);

  // ---- persistent and severe absence (absence.cc) ----
  // Counts a mark's change into the day summaries of every absence unit whose window holds its
  // date, and marks those units for the next flush. `before`/`after`: the class of the live
  // version before and after (nullopt: none).
  // `own`: the index in child.years of the mark's own (school, academic year).
  void UpdateDaySummaries(ChildState& child, size_t own, Date date,
                          std::optional<AttendanceClass> before,
                          std::optional<AttendanceClass> after);
  void FlushAbsenceUnit(ChildState& child, SchoolYear& unit);
  void ApplyAbsenceEntries(SchoolYear& unit, const std::vector<AbsenceEntry>& entries, int sign);
  void MarkUnitPending(ChildState& child, SchoolYear& unit);

  // Reads go through the buffer, which holds what evictions wrote back during the interval; the
  // commit's own write-back goes straight to commit_batch_ (nothing reads between PrepareCommit
  // and the store write), after the buffer's entries, so a key in both takes the later value.
  state::WriteBuffer buffer_;
  state::WriteBatch commit_batch_;
  const Calendar& calendar_;
  EngineOptions options_;
  Date as_of_week_;
  // Snapshot weeks before it are not visited (ForEachSnapshotWeek): AdvanceAsOf sets it to the
  // old as_of's week, since S(W) of every earlier week is the same under both dates.
  Date restate_from_ = kNoRestateBound;
  static constexpr Date kNoRestateBound = Date(INT32_MIN / 4);
  static constexpr Date kNoRestateLimit = Date(INT32_MAX / 4);  // no week at all
  std::optional<state::Error> failed_;

  DimTable own_dims_;
  DimTable& dims_;  // options.dims or own_dims_
  CellTable cells_;

  // Children by dense slot; a dropped child's slot is reused.
  // Slots by child id: open addressing with linear probing over (hash, slot + 1) pairs, the ids
  // compared in the children themselves; deletion shifts the probe run back (no tombstones).
  struct IndexEntry {
    uint32_t hash = 0;
    uint32_t slot = 0;  // slot + 1; 0 is empty
  };
  uint32_t FindSlot(std::string_view child_id, uint32_t hash) const;
  void IndexSlot(uint32_t hash, uint32_t slot);
  void UnindexSlot(std::string_view child_id, uint32_t hash);
  static uint32_t HashId(std::string_view child_id) {
    return static_cast<uint32_t>(std::hash<std::string_view>{}(child_id));
  }
  std::vector<IndexEntry> child_index_ = std::vector<IndexEntry>(1024);
  size_t indexed_ = 0;
  std::vector<std::unique_ptr<ChildState>> children_;
  std::vector<uint32_t> free_slots_;
  size_t clock_hand_ = 0;
  std::vector<uint32_t> dirty_children_;    // slots with ChildState::dirty
  std::vector<uint32_t> pending_children_;  // slots with ChildState::units_pending
  EngineStats stats_;
};

template <typename Visit>
void Engine::ForEachSnapshotWeek(Date start, std::optional<Date> end, Visit visit) {
  for (Date week = std::max(start.WeekStart(), restate_from_); week <= as_of_week_;
       week = week + 7) {
    const Date s = std::min(week + 6, options_.as_of);
    if (end && *end <= s) break;  // closed at S(W), and at every later S
    if (start > s) continue;      // opens after as_of inside the week of as_of
    if (!visit(week, s)) break;
  }
}

}  // namespace kpi
