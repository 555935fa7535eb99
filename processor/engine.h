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

#include <array>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "processor/calendar.h"
#include "processor/date.h"
#include "processor/keys.h"
#include "processor/kpis.h"
#include "processor/record.h"
#include "processor/validate.h"
#include "state/state_store.h"
#include "state/write_buffer.h"

namespace kpi {

struct EngineOptions {
  Date as_of;                 // reporting date of a new store; snapshots at min(Sunday, as_of)
  int assessment_limit = 45;  // working days
  int icpc_limit = 15;        // working days
  uint16_t task = 0;          // input partition: the key prefix of this engine's state
};

struct Row {
  Kpi kpi;
  Date week;
  std::string dimension;
  int64_t count = 0;
  int64_t base = 0;
  uint64_t revision = 0;
};

enum class ApplyOutcome { kApplied, kStale };

struct EngineStats {
  uint64_t applied = 0;
  uint64_t stale = 0;
  int64_t live_missing_marks = 0;  // data-quality figure: live marks with code "-" or empty
};

class Engine {
 public:
  // Loads the KPI cells of `options.task` from `store`. A store that was already committed keeps
  // the as_of it was built for (options.as_of only seeds a new store); AdvanceAsOf moves it.
  // Fails if the store cannot be read or is corrupt.
  static std::expected<std::unique_ptr<Engine>, state::Error> Open(state::StateStore& store,
                                                                   const Calendar& calendar,
                                                                   const EngineOptions& options);

  std::expected<ApplyOutcome, state::Error> Apply(const ValidEvent& event);

  // Moves the reporting date forward (live: at midnight Europe/London). Snapshot rows are
  // restated at the new S(W) and the new week's rows appear; afterwards the cells equal those of
  // a replay of the same records at `as_of`. Cost: one pass over the task's plans, assessments
  // and S47s, and over its marks. A date before the current as_of is refused (InvalidArgument).
  std::expected<void, state::Error> AdvanceAsOf(Date as_of);

  // Brings the derived state up to date (persistent and severe absence) and returns the rows
  // changed since the previous call, each with its new revision, zero rows included. Their state
  // writes join the buffer; TakeBatch() takes everything for the commit.
  std::expected<std::vector<Row>, state::Error> PrepareCommit();
  state::WriteBatch TakeBatch() { return buffer_.TakeBatch(); }

  // The KPI table as of the last PrepareCommit: weeks up to the week of as_of, rows whose count
  // and base are both 0 left out, sorted by kpi name, week_start, dimension.
  std::vector<Row> Table() const;

  // One cell of this task (committed values), or nullopt when it was never touched.
  std::optional<Row> CellAt(Kpi kpi, Date week, std::string_view dimension) const;

  const EngineStats& stats() const { return stats_; }
  const EngineOptions& options() const { return options_; }
  Date as_of() const { return options_.as_of; }

 private:
  Engine(state::StateStore& store, const Calendar& calendar, const EngineOptions& options);

  struct Profile {
    Date effective;
    std::optional<Date> date_of_birth;
    uint8_t sen = 0;
    std::string urn;
  };
  using Profiles = std::vector<Profile>;  // live, by effective date
  // What one Apply knows about one child; profiles are loaded on first use.
  struct ChildContext {
    explicit ChildContext(std::string_view c) : child(c) {}
    std::string_view child;
    const Profiles* profiles = nullptr;
  };
  using Dims = std::array<uint32_t, 4>;  // all, school, year, sen (interned ids)
  struct Unit {
    std::string key;
    std::string id;  // event id (empty for marks)
  };
  struct Cell {
    int64_t count = 0;
    int64_t base = 0;
    uint64_t revision = 0;
    int64_t committed_count = 0;
    int64_t committed_base = 0;
    bool dirty = false;
    bool emit = false;  // report at the next commit even if unchanged (its week became visible)
  };
  struct AbsenceEntry {
    Date week;
    uint8_t year = 0;
    uint8_t sen = 0;
    uint8_t flags = 0;  // 1 base, 2 persistent, 4 severe
    bool operator==(const AbsenceEntry&) const = default;
  };

  // Store access that records the first failure in failed_.
  std::optional<Record> LoadRecord(std::string_view key);
  void Scan(std::string_view prefix, const state::ScanVisitor& visit);
  void ScanRange(std::string_view begin, std::string_view end, const state::ScanVisitor& visit);
  // Scans record versions (R or M keys) under `prefix`, decoded; an undecodable one is
  // corruption and stops the scan.
  void ScanRecords(std::string_view prefix,
                   const std::function<bool(std::string_view key, Record& record)>& visit);

  std::string IdentityKey(const ValidEvent& event) const;
  std::vector<Unit> DependentUnits(ChildContext& ctx, const ValidEvent& event,
                                   const std::optional<Record>& old);

  const Profiles& ProfilesOf(ChildContext& ctx);
  const Profile* ProfileOn(ChildContext& ctx, Date d);
  Dims DimsOn(ChildContext& ctx, Date d, std::string_view own_urn = {});
  Dims DimsFor(std::string_view school, uint8_t year, uint8_t sen);
  uint32_t Intern(const std::string& dim);

  void Contribute(ChildContext& ctx, std::string_view id, const Record& r, int sign);
  void AddCell(Kpi kpi, Date week, uint32_t dim, int64_t count, int64_t base);
  void AddRow(Kpi kpi, Date date, const Dims& dims, int64_t count, int64_t base);
  void AddDistinct(ChildContext& ctx, Kpi kpi, Date date, const Dims& dims, int sign);
  template <typename Visit>
  void ForEachSnapshotWeek(Date start, std::optional<Date> end, Visit visit);

  std::optional<Date> FirstIcpcNaming(ChildContext& ctx, std::string_view s47_id);
  std::optional<Date> EarliestCpStart(ChildContext& ctx);

  // Counts a mark's change into the day summaries of every absence unit whose window holds its
  // date, and marks those units for the next flush. `before`/`after`: the class of the live
  // version before and after (nullopt: none).
  void UpdateDaySummaries(std::string_view child, std::string_view urn, Date date,
                          std::optional<AttendanceClass> before,
                          std::optional<AttendanceClass> after);
  void FlushAbsenceUnit(const std::string& key, const keys::AbsenceUnitParts& unit);
  void ApplyAbsenceEntries(std::string_view urn, const std::vector<AbsenceEntry>& entries,
                           int sign);

  state::WriteBuffer buffer_;
  const Calendar& calendar_;
  EngineOptions options_;
  Date as_of_week_;
  std::optional<state::Error> failed_;

  std::unordered_map<std::string, uint32_t> dim_ids_;
  std::vector<std::string> dim_names_;
  uint32_t all_dim_ = 0;
  // DimsFor's caches of interned ids by raw value (kNoDim: not interned yet).
  static constexpr uint32_t kNoDim = UINT32_MAX;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> school_dims_;
  std::array<uint32_t, 256> year_dims_{};
  std::array<uint32_t, 256> sen_dims_{};
  std::string scratch_;

  // Profiles by child, read through: profile events replace a child's entry. Bounded: cleared
  // when it holds kMaxCachedChildren children.
  static constexpr size_t kMaxCachedChildren = 1 << 20;
  std::unordered_map<std::string, Profiles> profile_cache_;

  std::unordered_map<uint64_t, Cell> cells_;
  std::vector<uint64_t> dirty_cells_;
  std::map<std::string, keys::AbsenceUnitParts> dirty_units_;
  EngineStats stats_;
};

}  // namespace kpi
