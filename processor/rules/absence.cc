// Persistent and severe absence (KPIS.md): the rows of an absence unit from its day summary.
#include "processor/rules/absence.h"

namespace kpi::rules {

std::vector<AbsenceEntry> AbsenceEntries(const Context& ctx, const ChildState& child,
                                         const SchoolYear& unit) {
  std::vector<AbsenceEntry> entries;
  if (unit.summary.empty()) return entries;
  const Date year_start = AcademicYearStart(unit.academic_year);
  const Date first = SummaryStart(unit.academic_year);
  const auto day = [&](Date d) { return unit.SummaryDay(d - first); };
  int64_t absence = 0;
  int64_t possible = 0;
  Date summed = year_start;  // days before it are summed
  for (Date week = first.WeekStart(); week < first + kSummaryDays && week <= ctx.as_of_week;
       week = week + 7) {
    const Date s = std::min(week + 6, ctx.as_of);
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
  return entries;
}

void ContributeAbsence(const Context& ctx, SchoolYear& unit,
                       const std::vector<AbsenceEntry>& entries, int sign, CellSink& sink) {
  if (unit.school_dim == DimTable::kNone) unit.school_dim = ctx.dims.School(unit.urn);
  for (const AbsenceEntry& e : entries) {
    const Dims dims = ctx.dims.For(unit.school_dim, e.year, e.sen);
    const int64_t base = (e.flags & 1) ? sign : 0;
    for (const uint32_t dim : dims) {
      sink.AddCell(PackCell(Kpi::kPersistentAbsence, e.week, dim), (e.flags & 2) ? sign : 0, base);
      sink.AddCell(PackCell(Kpi::kSevereAbsence, e.week, dim), (e.flags & 4) ? sign : 0, base);
    }
  }
}

}  // namespace kpi::rules
