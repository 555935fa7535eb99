// The state key layout (docs/DESIGN.md, "State keys"). Every key starts with the task id (the
// input partition number, 2 bytes big-endian) so that a task's state is one contiguous range that
// can move between instances, then a one-byte table tag:
//   R  record version     task R lp(child) kind natural_id        -> EncodeRecord (record.h)
//   M  attendance mark    task M lp(child) lp(urn) date session   -> EncodeMark (values.h)
//   D  distinct references task D lp(child) kpi lp(dim)           -> reference count per week
//   E  absence unit       task E lp(child) lp(urn) u16 year       -> stored absence rows
//   Y  absence day summary task Y lp(child) lp(urn) u16 year      -> the day bytes, as runs
//   C  KPI cell           task C kpi week dim                     -> count, base, revision
//   O  consumed offset    task O lp(topic)                        -> next offset
//   A  as_of              task A                                  -> day number
// Values are in the codec of coding.h (values.h names each).
// lp(x) is a varint length then the bytes, so a prefix ending in lp(child) names one child
// exactly. Dates are 4 bytes big-endian (sign bit flipped) so that scans run in date order.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "processor/date.h"
#include "processor/kpis.h"
#include "processor/record.h"

namespace kpi::keys {

inline constexpr char kRecord = 'R';
inline constexpr char kMark = 'M';
inline constexpr char kDistinct = 'D';
inline constexpr char kAbsenceUnit = 'E';
inline constexpr char kDaySummary = 'Y';
inline constexpr char kCell = 'C';
inline constexpr char kOffset = 'O';
inline constexpr char kAsOf = 'A';

std::string TablePrefix(uint16_t task, char table);
std::string ChildPrefix(uint16_t task, char table, std::string_view child);

void AppendLengthPrefixed(std::string& out, std::string_view s);
// Reads one lp(x) from the front of `in` and advances past it; nullopt when malformed.
std::optional<std::string_view> ReadLengthPrefixed(std::string_view& in);
void AppendDate(std::string& out, Date d);
// Reads a date written by AppendDate from the front of `in` and advances; nullopt when short.
std::optional<Date> ReadDate(std::string_view& in);

std::string RecordKindPrefix(uint16_t task, std::string_view child, Kind kind);
// Records with an event id (every kind but attendance and profile).
std::string RecordKey(uint16_t task, std::string_view child, Kind kind, std::string_view event_id);
std::string MarkKey(uint16_t task, std::string_view child, std::string_view urn, Date date,
                    uint8_t session);
std::string MarkUrnPrefix(uint16_t task, std::string_view child, std::string_view urn);
std::string DistinctKey(uint16_t task, std::string_view child, Kpi kpi, std::string_view dim);
std::string AbsenceUnitKey(uint16_t task, std::string_view child, std::string_view urn,
                           int academic_year);
std::string DaySummaryKey(uint16_t task, std::string_view child, std::string_view urn,
                          int academic_year);
std::string CellKey(uint16_t task, Kpi kpi, Date week, std::string_view dim);
std::string OffsetKey(uint16_t task, std::string_view topic);
std::string AsOfKey(uint16_t task);

// Parsing (for loading cells and children, and for the operator's `state` commands).
struct CellKeyParts {
  Kpi kpi;
  Date week;
  std::string dim;
};
std::optional<CellKeyParts> ParseCellKey(std::string_view key);
// Splits a key of a per-child table (R, M, D, E) into the child and what follows lp(child).
struct ChildKeyParts {
  std::string_view child;
  std::string_view rest;
};
std::optional<ChildKeyParts> SplitChildKey(std::string_view key);

}  // namespace kpi::keys
