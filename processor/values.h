// The stored values of the state tables (processor/keys.h) other than records (record.h), all in
// the codec of processor/coding.h: a format byte first, fields in a fixed byte order. Each
// decoder returns nullopt for bytes it did not write, which callers report as corruption.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "processor/date.h"
#include "processor/kpis.h"
#include "processor/record.h"

namespace kpi {

// M: one attendance mark version. The key holds the child, school, date and session.
struct StoredMark {
  RecordedAt recorded_at;
  AttendanceClass code = AttendanceClass::kMissing;
  bool deleted = false;
  bool part_time = false;  // the code is C2
  bool operator==(const StoredMark&) const = default;
};
std::string EncodeMark(const StoredMark& mark);
std::optional<StoredMark> DecodeMark(std::string_view bytes);

// D: a child's distinct-child reference counts of one (kpi, dimension), by week: weeks strictly
// increasing, counts never 0 (a week that falls to 0 is left out; a value with none is deleted).
struct WeekRefs {
  Date week;
  uint32_t refs = 0;
  bool operator==(const WeekRefs&) const = default;
};
std::string EncodeDistinctRefs(const std::vector<WeekRefs>& weeks);
std::optional<std::vector<WeekRefs>> DecodeDistinctRefs(std::string_view bytes);

// E: the persistent/severe absence rows stored for a unit (docs/DESIGN.md, "Persistent and
// severe"), by week.
struct AbsenceEntry {
  Date week;
  uint8_t year = 0;
  SenStatus sen = SenStatus::kNotGiven;
  uint8_t flags = 0;  // 1 base, 2 persistent, 4 severe
  bool operator==(const AbsenceEntry&) const = default;
};
std::string EncodeAbsenceEntries(const std::vector<AbsenceEntry>& entries);
std::optional<std::vector<AbsenceEntry>> DecodeAbsenceEntries(std::string_view bytes);

// Y: an absence unit's day summary, kSummaryDays bytes (an all-zero summary is deleted), stored
// as runs of zero and non-zero days.
inline constexpr int kSummaryDays = 380;
std::string EncodeDaySummary(std::string_view summary);
std::optional<std::string> DecodeDaySummary(std::string_view bytes);

// C: a KPI cell as committed.
struct StoredCell {
  int64_t count = 0;
  int64_t base = 0;
  uint64_t revision = 0;
  bool operator==(const StoredCell&) const = default;
};
std::string EncodeCell(const StoredCell& cell);
std::optional<StoredCell> DecodeCell(std::string_view bytes);

// A: the as_of a task's table was built for.
std::string EncodeAsOf(Date as_of);
std::optional<Date> DecodeAsOf(std::string_view bytes);
// The state format of a stored as_of value: 1 for the unversioned format 1 (4 bytes), else its
// format byte (0 for an empty value). A directory whose as_of is of another format than
// coding::kFormat was written by another release and is refused at open (docs/DESIGN.md,
// "Upgrading").
int AsOfFormat(std::string_view bytes);

// O: the next input offset of a (topic, task).
std::string EncodeOffset(int64_t next_offset);
std::optional<int64_t> DecodeOffset(std::string_view bytes);

}  // namespace kpi
