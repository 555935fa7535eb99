// The generator's school year: the terms most English local authorities set, so that generated
// attendance marks fall on school days only (no marks in August or at Christmas). The dates
// follow common practice, not any one authority's published calendar:
// - the year starts on the first weekday from 3 September; the summer holiday starts 22 July;
// - half terms are the week (Monday to Friday) of the last Monday of October, of the Monday
//   between 12 and 18 February, and of the spring bank holiday (last Monday of May);
// - Christmas is 20 December to 4 January; Easter is the two weeks from the Monday before Good
//   Friday.
// Bank holidays in term are not school days either. Thread-safety: immutable after construction.
#pragma once

#include "processor/calendar.h"
#include "processor/date.h"

namespace kpi::gen {

class SchoolTerms {
 public:
  explicit SchoolTerms(const Calendar& calendar) : calendar_(calendar) {}

  bool IsSchoolDay(Date d) const;

 private:
  const Calendar& calendar_;
};

}  // namespace kpi::gen
