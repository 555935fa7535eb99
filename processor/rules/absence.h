// Persistent and severe absence (KPIS.md): a year-to-date share over every mark of an enrolment,
// kept per absence unit (child, school, academic year A) as a day summary over the unit's window
// [1 Sep A - 7, 1 Sep A+1 + 7). The engine maintains the summaries (absence.cc beside it); the
// rows of a unit are a function of its summary, the child's profiles and as_of, here.
#pragma once

#include <cstdint>
#include <vector>

#include "processor/rules/rules.h"

namespace kpi::rules {

// One byte a day of a unit's summary: live marks (bits 0-1), absences (2-3), possible sessions
// (4-5); a day has at most two sessions, so two bits each suffice.
inline uint8_t DayMarks(uint8_t b) { return b & 3; }
inline uint8_t DayAbsences(uint8_t b) { return (b >> 2) & 3; }
inline uint8_t DayPossible(uint8_t b) { return (b >> 4) & 3; }

// The unit's rows: weeks with a live mark, up to the week of as_of, whose S(W) is in the unit's
// academic year; the year to date runs from 1 September to S(W). Sorted by week.
std::vector<AbsenceEntry> AbsenceEntries(const Context& ctx, const ChildState& child,
                                         const SchoolYear& unit);
// persistent_absence and severe_absence: the entries' rows into the cells.
void ContributeAbsence(const Context& ctx, SchoolYear& unit,
                       const std::vector<AbsenceEntry>& entries, int sign, CellSink& sink);

}  // namespace kpi::rules
