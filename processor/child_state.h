// ChildState: everything the engine keeps about one child while the child is hot: the current
// version of each of its records, its live profiles, its attendance marks and absence units per
// (school, academic year), and its distinct-child references. Typed structs, no encoded bytes:
// an event reads and changes these in place.
//
// Durability is write-behind: every part carries a dirty flag, and WriteBack() puts exactly the
// dirty parts into a write batch, in the key layout of processor/keys.h, for the next atomic
// commit. Load() builds a child from that layout. So a child can be dropped from memory at any
// time after WriteBack() and read again later with nothing lost (docs/DESIGN.md, "Hot state").
// Thread-safety: none; owned by one engine.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "processor/cells.h"
#include "processor/date.h"
#include "processor/dims.h"
#include "processor/kpis.h"
#include "processor/record.h"
#include "processor/values.h"
#include "state/status.h"
#include "state/write_buffer.h"

namespace kpi {

// A record of any kind but attendance, in its current version (a delete is kept as a tombstone
// version, so that an older version arriving later is still stale).
struct RecordVersion {
  std::string id;  // the key suffix: the event id, or for a profile its effective date (4 bytes)
  Record record;
  bool dirty = false;
  Kind kind() const { return record.kind(); }
};

// A live profile: the dimensions a child's records take from the date it is effective.
struct Profile {
  Date effective;
  std::optional<Date> date_of_birth;
  SenStatus sen = SenStatus::kNotGiven;
  std::string urn;
  Gender gender = Gender::kNotGiven;
  uint8_t ethnicity = 0;                  // kEthnicityCodes position plus one
  uint32_t school_dim = DimTable::kNone;  // interned on first use
  int birth_year = 0;                     // of date_of_birth, for the year group
  int birth_month = 0;
  uint8_t YearGroupIn(int academic_year) const {
    return date_of_birth ? kpi::YearGroupIn(birth_year, birth_month, academic_year) : kYearUnknown;
  }
};

// One attendance mark version, 16 bytes. Its date is the academic year's 1 September plus `day`.
struct MarkVersion {
  int64_t seconds = 0;  // recorded_at
  int32_t nanos = 0;
  uint16_t day = 0;
  uint8_t session = 0;  // Session: kAm or kPm
  AttendanceClass cls : 4 = AttendanceClass::kMissing;
  bool deleted : 1 = false;
  bool part_time : 1 = false;  // the code is C2

  RecordedAt recorded_at() const { return {seconds, nanos}; }
  void set_recorded_at(const RecordedAt& at) {
    seconds = at.seconds;
    nanos = at.nanos;
  }
};
static_assert(sizeof(MarkVersion) == 16);

// What the hot state holds of a mark: half a byte a session (docs/DESIGN.md, "Attendance marks").
// 0: no mark; 1: a deleted mark (its version still makes older ones stale); 2 + class for a live
// mark, plus kPartTimeBit for C2.
inline constexpr uint8_t kNoMark = 0;
inline constexpr uint8_t kDeletedMark = 1;
inline constexpr uint8_t kPartTimeBit = 8;
inline uint8_t MarkNibble(const MarkVersion& m) {
  if (m.deleted) return kDeletedMark;
  return static_cast<uint8_t>((2 + static_cast<int>(m.cls)) | (m.part_time ? kPartTimeBit : 0));
}
inline bool IsLiveMark(uint8_t nibble) { return nibble >= 2; }
inline AttendanceClass NibbleClass(uint8_t nibble) {
  return static_cast<AttendanceClass>((nibble & 7) - 2);
}
inline bool NibblePartTime(uint8_t nibble) { return (nibble & kPartTimeBit) != 0; }

// An absence unit's day summary covers [1 Sep A - 7, 1 Sep A+1 + 7): kSummaryDays (values.h).
inline Date SummaryStart(int academic_year) { return AcademicYearStart(academic_year) - 7; }

// (school, academic year A): the marks dated in A at that school, and the absence unit of A (its
// day summary, whose window reaches a week into the years around A, and its stored rows).
struct SchoolYear {
  std::string urn;
  int academic_year = 0;
  uint32_t school_dim = DimTable::kNone;  // interned on first use
  // The marks dated in A: a byte a day of the year, AM in the low nibble and PM in the high one
  // (MarkNibble), or empty if the year has none. Their versions (recorded_at) are in the store;
  // `newest` bounds them, so that only a version older than it needs the store's.
  std::vector<uint8_t> sessions;
  RecordedAt newest;  // no mark of the year has a later recorded_at (when `sessions` is not empty)
  // The versions the store does not hold yet (with a durable state, those since the last
  // write-back; without one, every mark), by (day, session).
  std::vector<MarkVersion> versions;
  // false: the marks are still only in the store (a child read back loads a year's marks when an
  // event needs them: most events touch the current year, and past years hold most marks).
  bool marks_loaded = true;
  // The day summary's days [summary_from, kSummaryDays): the days before the first marked one
  // are zero and not held (a unit that only holds the week of its neighbour year's first days
  // takes a few bytes, not kSummaryDays). Empty: all zero.
  std::string summary;
  uint16_t summary_from = 0;
  std::vector<AbsenceEntry> entries;  // rows stored for the unit, by week
  // false: the unit (summary and entries) was released from memory as a past year's and is only
  // in the store; LoadUnit reads it back when an event or a flush needs it.
  bool unit_loaded = true;
  bool summary_dirty = false;
  bool entries_dirty = false;
  bool flush_pending = false;  // the unit's rows must be recomputed before the next commit
  // The cells a mark of `cached_week` with `cached_dims` adds to (attendance, absence and
  // unauthorised absence rate, each in four dimensions): marks of a week share them.
  Date cached_week;
  DimTable::Dims cached_dims{};
  std::array<uint32_t, 12> cached_cells{};
  uint32_t cached_epoch = 0;  // CellTable::epoch() when cached: eviction moves cells
  bool cache_valid = false;

  // The summary's byte of day index i (0 for days not held).
  uint8_t SummaryDay(int i) const {
    return i >= summary_from && i < kSummaryDays && !summary.empty()
               ? static_cast<uint8_t>(summary[i - summary_from])
               : uint8_t{0};
  }
  // The summary's byte of day index i (0 <= i < kSummaryDays), held from now on; returns the
  // bytes this allocated.
  size_t HoldSummaryDay(int i, char*& byte);
  // The whole summary (kSummaryDays bytes), for the store.
  std::string FullSummary() const;
  // Holds `full` (kSummaryDays bytes) from its first non-zero day; returns the bytes held.
  size_t SetSummary(std::string_view full);

  Date first = {};  // 1 September of academic_year
  Date first_day() const { return first; }
  // The nibble of (day, session): kNoMark if the year holds no mark there.
  uint8_t Nibble(uint16_t day, uint8_t session) const {
    return day < sessions.size() ? (sessions[day] >> (session == 2 ? 4 : 0)) & 0xf : kNoMark;
  }
  // Sets the nibble of (day, session); returns the bytes this allocated (the whole year's days on
  // the first mark).
  size_t SetNibble(uint16_t day, uint8_t session, uint8_t nibble);
  // The version at (day, session) in `versions`, or nullptr.
  MarkVersion* FindVersion(uint16_t day, uint8_t session);
  // Inserts or replaces the version at (mark.day, mark.session); returns the bytes allocated.
  size_t PutVersion(const MarkVersion& mark);
};

// A child's references to the cells of one (kpi, dimension), counted by week. `key` is
// PackRef(kpi, dim, week), so the weeks of one (kpi, dimension) sort together: they are stored
// as one value (keys.h, D), and a plan open for years is one key, not one per week.
constexpr uint64_t PackRef(Kpi kpi, uint32_t dim, Date week) {
  return (static_cast<uint64_t>(kpi) << 56) | (static_cast<uint64_t>(dim) << 24) |
         (static_cast<uint32_t>(week.days()) & 0xffffffu);
}
constexpr uint64_t RefGroup(uint64_t ref) { return ref >> 24; }  // (kpi, dim)
constexpr Kpi RefKpi(uint64_t ref) { return static_cast<Kpi>(ref >> 56); }
constexpr uint32_t RefDim(uint64_t ref) { return static_cast<uint32_t>(ref >> 24); }
constexpr Date RefWeek(uint64_t ref) {  // 24 bits of day number, sign-extended, as CellWeek
  return Date(static_cast<int32_t>(static_cast<uint32_t>(ref) << 8) >> 8);
}

struct DistinctRef {
  uint64_t key = 0;  // PackRef
  uint32_t refs = 0;
  bool dirty = false;
};

struct ChildState {
  std::string id;
  uint32_t slot = 0;  // its ChildCache slot while it is hot (the cache keeps its storage flags)
  std::vector<RecordVersion> records;
  std::vector<Profile> profiles;  // live, by effective date (derived from `records`)
  std::vector<SchoolYear> years;
  uint32_t last_year = 0;         // index of the year found last: the next lookup tries it first
  std::vector<DistinctRef> refs;  // sorted by key; see RefAt
  bool from_store = false;        // read back from the store: years' marks load on demand
  size_t bytes = 0;               // approximate memory held (the hot state's budget counts it)

  // The reference of `key` (PackRef), inserted with 0 references if absent (`inserted`).
  DistinctRef& RefAt(uint64_t key, bool& inserted);
  // The current version of (kind, id), or nullptr.
  const RecordVersion* FindRecord(Kind kind, std::string_view id) const;
  RecordVersion* FindRecord(Kind kind, std::string_view id) {
    return const_cast<RecordVersion*>(static_cast<const ChildState*>(this)->FindRecord(kind, id));
  }
  // The (urn, academic year) entry, created empty if absent.
  SchoolYear& Year(std::string_view urn, int academic_year);
  SchoolYear* FindYear(std::string_view urn, int academic_year);
  // Rebuilds `profiles` from the profile records.
  void RebuildProfiles();
  // The live profile governing date d (the latest effective on or before d), or nullptr.
  const Profile* ProfileOn(Date d) const;
  Profile* ProfileOn(Date d) {
    return const_cast<Profile*>(static_cast<const ChildState*>(this)->ProfileOn(d));
  }
};

// Approximate heap footprint of the parts, for the memory budget.
inline constexpr size_t kChildBytes = sizeof(ChildState) + 64;
inline constexpr size_t kRefBytes = sizeof(DistinctRef);
size_t RecordBytes(const RecordVersion& r);
inline constexpr size_t kYearBytes = sizeof(SchoolYear) + 32;

// Reads a child from the store (through the buffer, so unwritten write-backs are seen): records,
// references and absence units; marks are read per school year by LoadMarks. A child with
// nothing stored comes back empty. Errors: failed reads, and undecodable keys or values
// (corruption, never taken for absence).
std::expected<ChildState, state::Error> LoadChild(state::WriteBuffer& buffer, uint16_t task,
                                                  std::string_view child, DimTable& dims);

// Drops from memory the marks and the absence unit of every school year older than the child's
// newest year with marks, once they are written back: they are read again (LoadMarks, LoadUnit)
// only for a late correction, a profile change or an as_of inside their window, so a child's
// memory follows its current year, not its history.
void ReleasePastYears(ChildState& child);

// Reads the absence unit of `year` (day summary and rows) from the store if it was released.
std::expected<void, state::Error> LoadUnit(ChildState& child, SchoolYear& year,
                                           state::WriteBuffer& buffer, uint16_t task);

// Reads the marks of `year` from the store if they are not loaded yet.
std::expected<void, state::Error> LoadMarks(ChildState& child, SchoolYear& year,
                                            state::WriteBuffer& buffer, uint16_t task);

// The recorded_at of the version the store holds at (day, session) of `year`, or nullopt if it
// holds none: for a version older than `year.newest` whose mark is not in `year.versions`.
std::expected<std::optional<RecordedAt>, state::Error> StoredMarkVersion(
    const ChildState& child, const SchoolYear& year, uint16_t day, uint8_t session,
    state::WriteBuffer& buffer, uint16_t task);

// Appends the dirty parts of `child` to `batch` (puts, and deletes of what fell to zero or
// empty) and clears their flags; drops references that fell to zero and releases past marks
// (ReleasePastYears).
void WriteBack(ChildState& child, state::WriteBatch& batch, uint16_t task, const DimTable& dims);

}  // namespace kpi
