// Persistent and severe absence (KPIS.md): a year-to-date share over every mark of an enrolment,
// kept per absence unit (child, school, academic year A) as a day summary over the unit's window
// [1 Sep A - 7, 1 Sep A+1 + 7) and recomputed at commit for the units that changed
// (docs/DESIGN.md, "Persistent and severe absence").
#include "processor/rules/absence.h"

#include <algorithm>

#include "processor/engine.h"

namespace kpi {

using rules::DayAbsences;
using rules::DayMarks;
using rules::DayPossible;

void Engine::MarkUnitPending(ChildState& child, SchoolYear& unit) {
  if (unit.flush_pending) return;
  unit.flush_pending = true;
  cache_.MarkPending(child);
}

void Engine::UpdateDaySummaries(ChildState& child, size_t own, Date date,
                                std::optional<AttendanceClass> before,
                                std::optional<AttendanceClass> after) {
  const auto delta = [](std::optional<AttendanceClass> c, int sign) {
    if (!c) return std::array<int, 3>{0, 0, 0};
    return std::array<int, 3>{sign, IsAbsence(*c) ? sign : 0, IsPossibleSession(*c) ? sign : 0};
  };
  const std::array<int, 3> minus = delta(before, -1);
  const std::array<int, 3> plus = delta(after, +1);
  const int year = child.years[own].academic_year;
  for (const int ay : {year - 1, year, year + 1}) {
    const int index = date - SummaryStart(ay);
    if (index < 0 || index >= kSummaryDays) continue;
    // Year() may add to child.years: take the own unit by index, never by a held reference.
    SchoolYear& unit = ay == year ? child.years[own] : child.Year(child.years[own].urn, ay);
    if (auto loaded = LoadUnit(child, unit, buffer_, options_.task); !loaded) {
      Latch(loaded.error());
      return;
    }
    char* held = nullptr;
    child.bytes += unit.HoldSummaryDay(index, held);
    const auto b = static_cast<uint8_t>(*held);
    const int marks = DayMarks(b) + minus[0] + plus[0];
    const int absences = DayAbsences(b) + minus[1] + plus[1];
    const int possible = DayPossible(b) + minus[2] + plus[2];
    if (marks < 0 || marks > 3 || absences < 0 || absences > 3 || possible < 0 || possible > 3) {
      Corrupt("an absence day summary went out of range");
      return;
    }
    *held = static_cast<char>(marks | (absences << 2) | (possible << 4));
    unit.summary_dirty = options_.durable;
    MarkUnitPending(child, unit);
  }
}

void Engine::FlushAbsenceUnit(ChildState& child, SchoolYear& unit) {
  if (auto loaded = LoadUnit(child, unit, buffer_, options_.task); !loaded) {
    Latch(loaded.error());
    return;
  }
  std::vector<AbsenceEntry> entries = rules::AbsenceEntries(Rules(), child, unit);

  // Only the entries that differ move cells (a new mark usually changes the weeks from its own
  // on); an entry retracted and added back unchanged would be work with no effect.
  const std::vector<AbsenceEntry>& stored = unit.entries;
  std::vector<AbsenceEntry> retract;
  std::vector<AbsenceEntry> add;
  for (size_t i = 0, j = 0; i < stored.size() || j < entries.size();) {
    if (j == entries.size() || (i < stored.size() && stored[i].week < entries[j].week)) {
      retract.push_back(stored[i++]);
    } else if (i == stored.size() || entries[j].week < stored[i].week) {
      add.push_back(entries[j++]);
    } else {
      if (!(stored[i] == entries[j])) {
        retract.push_back(stored[i]);
        add.push_back(entries[j]);
      }
      ++i;
      ++j;
    }
  }
  if (retract.empty() && add.empty()) return;  // the stored rows are already these
  rules::ContributeAbsence(Rules(), unit, retract, -1, sink_);
  rules::ContributeAbsence(Rules(), unit, add, +1, sink_);
  child.bytes += (entries.size() - unit.entries.size()) * sizeof(AbsenceEntry);  // modular
  unit.entries = std::move(entries);
  unit.entries_dirty = options_.durable;
  MarkDirty(child);
}

}  // namespace kpi
