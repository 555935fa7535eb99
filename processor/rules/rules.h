// The KPI rules of KPIS.md and KPIS-2.md as functions of a child's state: what each live record
// contributes to the KPI cells, what the child-level units contribute, and which of a child's
// records depend on which (docs/DESIGN.md, "KPI cells as a sum of contributions").
//
// Every rule takes the child's state, the record version (or, for a unit, the child's records), a
// sign (+1 add, -1 retract), an explicit Context (as_of, the restate-from week, calendar, limits,
// dimension table) and writes into a CellSink. No rule keeps history or reads anything else, so a
// rule retracted with the state before a change and added back with the state after it moves the
// cells exactly; a rule can be tested with a CellTable and a ChildState alone (rules_test.cc).
//
// Where each KPI's rule is: social_care.cc (KPIs 1-20: contacts to CLA, the CP repeat flags),
// schools.cc (21-32 but absence: attendance, exclusions, moves, pupils on roll, EHE), absence.cc
// (persistent and severe absence), ehc.cc (37-53), periods.cc (CP and CLA reviews and visits,
// cla_started). kinds.cc holds the table of what each record kind means (KindTraits).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "processor/calendar.h"
#include "processor/cells.h"
#include "processor/child_state.h"
#include "processor/date.h"
#include "processor/dims.h"
#include "processor/kpis.h"
#include "processor/record.h"
#include "processor/unit_runs.h"

namespace kpi::rules {

using Dims = DimTable::Dims;

// What a rule may read besides the child: the reporting date, the week from which snapshot weeks
// are visited, the calendar and limits, and the dimension table (written: names are interned).
struct Context {
  static constexpr Date kEveryWeek = Date(INT32_MIN / 4);  // restate_from: no bound
  static constexpr Date kNoWeek = Date(INT32_MAX / 4);     // restate_from: no week at all

  const Calendar& calendar;
  const KpiLimits& limits;
  int assessment_limit;  // working days (KPIS.md)
  int icpc_limit;        // working days
  Date as_of;
  Date as_of_week;  // as_of.WeekStart()
  // Snapshot weeks before it are not visited: their S(W), or the rows visited, cannot change.
  Date restate_from = kEveryWeek;
  DimTable& dims;

  Context From(Date week) const {
    Context c = *this;
    c.restate_from = week;
    return c;
  }
  // Calls visit(week, S(W)) for each week up to the week of as_of (from restate_from) in which a
  // record of [start, end) is open at S(W), where S(W) = min(Sunday of W, as_of). `visit` returns
  // false to stop; it may only stop at a week from which it would stop at every later one.
  template <typename Visit>
  void ForEachSnapshotWeek(Date start, std::optional<Date> end, Visit visit) const {
    for (Date week = std::max(start.WeekStart(), restate_from); week <= as_of_week;
         week = week + 7) {
      const Date s = std::min(week + 6, as_of);
      if (end && *end <= s) break;  // closed at S(W), and at every later S
      if (start > s) continue;      // opens after as_of inside the week of as_of
      if (!visit(week, s)) break;
    }
  }
  // The dimensions of a record dated d: school from the record (`own_school`, for marks,
  // exclusions and enrolments) or else from the profile on d; year group and SEN from the profile.
  Dims DimsOn(ChildState& child, Date d, uint32_t own_school = DimTable::kNone) const {
    Profile* p = child.ProfileOn(d);
    uint32_t school = own_school;
    if (school == DimTable::kNone) {
      if (p == nullptr) {
        school = dims.School("");
      } else {
        if (p->school_dim == DimTable::kNone) p->school_dim = dims.School(p->urn);
        school = p->school_dim;
      }
    }
    const uint8_t year = p ? p->YearGroupIn(AcademicYearOf(d)) : kYearUnknown;
    return dims.For(school, year, p ? p->sen : SenStatus::kNotGiven);
  }
  uint32_t OwnSchool(std::string_view urn) const {
    return urn.empty() ? DimTable::kNone : dims.School(urn);
  }
};

// Where the rules write: the KPI cells, the distinct-child references of the child, the units'
// runs. A reference count going below zero is corruption: latched, and taken by the engine.
class CellSink {
 public:
  CellSink(CellTable& cells, UnitRuns& units, bool durable, int64_t& live_missing_marks)
      : cells_(cells), units_(units), durable_(durable), live_missing_marks_(live_missing_marks) {}

  void AddRow(Kpi kpi, Date date, const Dims& dims, int64_t count, int64_t base) {
    const Date week = date.WeekStart();
    for (const uint32_t dim : dims) cells_.Add(PackCell(kpi, week, dim), count, base);
  }
  void AddCell(uint64_t cell, int64_t count, int64_t base) { cells_.Add(cell, count, base); }
  // The child counted once in each (kpi, week of date, dimension) however many records put it
  // there: through the child's reference counts.
  void AddDistinct(ChildState& child, Kpi kpi, Date date, const Dims& dims, int sign);
  UnitRuns& units() { return units_; }
  CellTable& cells() { return cells_; }
  void CountMissingMark(int sign) { live_missing_marks_ += sign; }

  // True once if a reference changed since the last call (the child must be written back).
  bool TakeRefsChanged() { return std::exchange(refs_changed_, false); }
  // The corruption found since the last call, or nullptr.
  const char* TakeCorruption() { return std::exchange(corruption_, nullptr); }

 private:
  CellTable& cells_;
  UnitRuns& units_;
  bool durable_;
  int64_t& live_missing_marks_;
  bool refs_changed_ = false;
  const char* corruption_ = nullptr;
};

// ---- the kinds (kinds.cc) ----
// A record's own contribution (none for kinds that only feed units or shape dimensions).
void Contribute(const Context& ctx, ChildState& child, const RecordVersion& v, int sign,
                CellSink& sink);
// The child-level units of KPIS-2.md section 7: a group of KPIs computed from all the child's
// records of some kinds at once. Bits of KindTraits::units.
inline constexpr uint8_t kUnitEnrolments = 1;   // pupils_on_roll, ehe_open
inline constexpr uint8_t kUnitEhc = 2;          // ehc_plans_open, ehc_reviews_overdue
inline constexpr uint8_t kUnitCp = 4;           // CP periods: CP reviews, their timeliness, visits
inline constexpr uint8_t kUnitCla = 8;          // care periods: cla_started, CLA reviews, visits
inline constexpr uint8_t kUnitExclusions = 16;  // the year-to-date excluded pupils
inline constexpr uint8_t kAllUnits = 31;
void ContributeUnits(const Context& ctx, ChildState& child, uint8_t units, int sign,
                     CellSink& sink);

struct KindTraits {
  // Its contribution depends on as_of (restated when as_of moves).
  bool snapshot = false;
  // The units its records feed (retracted before a change of one, added back after it).
  uint8_t units = 0;
  // The record's contribution; nullptr: none of its own.
  void (*contribute)(const Context&, ChildState&, const RecordVersion&, int, CellSink&) = nullptr;
  // Adds to `out` the child's records (indices) whose contribution depends on the record `id`
  // changing from `before` (nullptr: new) to `after`, other than itself; nullptr: none.
  void (*dependents)(const ChildState&, std::string_view id, const Record* before,
                     const Record& after, std::vector<uint32_t>& out) = nullptr;
  // The date from which the units read a record of this kind (a review enters the state at
  // S(W) >= its date); nullptr: the units read it in every week.
  std::optional<Date> (*units_read_from)(const Record&) = nullptr;
};
const KindTraits& TraitsOf(Kind kind);

// The records whose contribution can depend on this change (TraitsOf(kind).dependents).
std::vector<uint32_t> DependentRecords(const ChildState& child, std::string_view id,
                                       const Record* before, const Record& after);
// The first week whose unit rows a change from `before` (nullptr: none) to `after` can move:
// Context::kEveryWeek, a week start, or Context::kNoWeek.
Date UnitsFrom(const Record* before, const Record& after);

// ---- attendance (schools.cc) ----
// A live mark of `year` at `day` (its nibble: MarkNibble).
void ContributeMark(const Context& ctx, ChildState& child, SchoolYear& year, uint16_t day,
                    uint8_t nibble, int sign, CellSink& sink);
// Every live mark dated in [from, to) (to: none = no end): a profile's dependents.
void ContributeMarksIn(const Context& ctx, ChildState& child, Date from, std::optional<Date> to,
                       int sign, CellSink& sink);

}  // namespace kpi::rules
