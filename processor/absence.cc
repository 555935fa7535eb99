// Persistent and severe absence (KPIS.md): a year-to-date share over every mark of an enrolment,
// kept per absence unit (child, school, academic year A) as a day summary over the unit's window
// [1 Sep A - 7, 1 Sep A+1 + 7) and recomputed at commit for the units that changed
// (docs/DESIGN.md, "Persistent and severe absence").
#include <algorithm>

#include "processor/engine.h"

namespace kpi {
namespace {

// One byte a day: live marks (bits 0-1), absences (2-3), possible sessions (4-5); a day has at
// most two sessions, so two bits each suffice.
uint8_t DayMarks(uint8_t b) { return b & 3; }
uint8_t DayAbsences(uint8_t b) { return (b >> 2) & 3; }
uint8_t DayPossible(uint8_t b) { return (b >> 4) & 3; }

}  // namespace

void Engine::MarkUnitPending(ChildState& child, SchoolYear& unit) {
  if (unit.flush_pending) return;
  unit.flush_pending = true;
  if (!child.units_pending) {
    child.units_pending = true;
    pending_children_.push_back(child.slot);
  }
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

void Engine::ApplyAbsenceEntries(SchoolYear& unit, const std::vector<AbsenceEntry>& entries,
                                 int sign) {
  if (unit.school_dim == DimTable::kNone) unit.school_dim = dims_.School(unit.urn);
  for (const AbsenceEntry& e : entries) {
    const Dims dims = dims_.For(unit.school_dim, e.year, e.sen);
    const int64_t base = (e.flags & 1) ? sign : 0;
    for (const uint32_t dim : dims) {
      cells_.Add(PackCell(Kpi::kPersistentAbsence, e.week, dim), (e.flags & 2) ? sign : 0, base);
      cells_.Add(PackCell(Kpi::kSevereAbsence, e.week, dim), (e.flags & 4) ? sign : 0, base);
    }
  }
}

void Engine::FlushAbsenceUnit(ChildState& child, SchoolYear& unit) {
  if (auto loaded = LoadUnit(child, unit, buffer_, options_.task); !loaded) {
    Latch(loaded.error());
    return;
  }
  const Date year_start = AcademicYearStart(unit.academic_year);
  const Date first = SummaryStart(unit.academic_year);
  const std::string& summary = unit.summary;
  const auto day = [&](Date d) { return unit.SummaryDay(d - first); };

  // Rows: weeks with a live mark, up to the week of as_of, whose S(W) is in this academic year;
  // the year to date runs from 1 September to S(W).
  std::vector<AbsenceEntry> entries;
  if (!summary.empty()) {
    int64_t absence = 0;
    int64_t possible = 0;
    Date summed = year_start;  // days before it are summed
    for (Date week = first.WeekStart(); week < first + kSummaryDays && week <= as_of_week_;
         week = week + 7) {
      const Date s = std::min(week + 6, options_.as_of);
      if (AcademicYearOf(s) != unit.academic_year) continue;
      bool marked = false;
      for (int i = 0; i < 7; ++i) marked = marked || DayMarks(day(week + i)) > 0;
      for (; summed <= s; summed = summed + 1) {
        absence += DayAbsences(day(summed));
        possible += DayPossible(day(summed));
      }
      if (!marked) continue;
      AbsenceEntry e;
      e.week = week;
      const Profile* p = child.ProfileOn(s);
      e.year = p ? p->YearGroupIn(unit.academic_year) : kYearUnknown;
      e.sen = p ? p->sen : SenStatus::kNotGiven;
      if (possible > 0) {
        e.flags = 1;
        if (absence * 10 >= possible) e.flags |= 2;
        if (absence * 2 >= possible) e.flags |= 4;
      }
      entries.push_back(e);
    }
  }

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
  ApplyAbsenceEntries(unit, retract, -1);
  ApplyAbsenceEntries(unit, add, +1);
  child.bytes += (entries.size() - unit.entries.size()) * sizeof(AbsenceEntry);  // modular
  unit.entries = std::move(entries);
  unit.entries_dirty = options_.durable;
  MarkDirty(child);
}

}  // namespace kpi
