#include "processor/child_state.h"

#include <gtest/gtest.h>

#include "processor/cells.h"
#include "processor/engine.h"
#include "processor/keys.h"
#include "state/memory_store.h"
#include "tools/cluster/checked.h"

namespace kpi {
namespace {

ValidEvent Mark(std::string child, Date date, uint8_t session, AttendanceClass cls,
                int64_t recorded) {
  ValidEvent e;
  e.child_id = std::move(child);
  e.event_id = "m";
  e.record.recorded_at = {recorded, 0};
  e.record.body = body::Attendance{"100001", date, static_cast<Session>(session), cls};
  return e;
}

ValidEvent Contact(std::string child, std::string id, Date date) {
  ValidEvent e;
  e.child_id = std::move(child);
  e.event_id = std::move(id);
  e.record.recorded_at = {1, 0};
  e.record.body = body::Contact{date};
  return e;
}

const Date kMonday = Date::FromYmd(2025, 10, 6);

TEST(ChildStateTest, WriteBackThenLoadGivesTheSameChild) {
  state::MemoryStore store;
  state::WriteBuffer buffer(store);
  DimTable dims;
  ChildState c;
  c.id = "child-1";
  RecordVersion& r = c.records.emplace_back();
  r.id = "c1";
  r.record.body = body::Contact{kMonday};
  r.record.recorded_at = {5, 7};
  r.dirty = true;
  SchoolYear& y = c.Year("100001", 2025);
  MarkVersion m;
  m.day = static_cast<uint16_t>(kMonday - y.first_day());
  m.session = 1;
  m.cls = AttendanceClass::kAuthorisedAbsence;
  m.set_recorded_at({9, 0});
  c.bytes += y.SetNibble(m.day, m.session, MarkNibble(m)) + y.PutVersion(m);
  y.newest = m.recorded_at();
  char* byte = nullptr;
  c.bytes += y.HoldSummaryDay(20, byte);
  *byte = 0x15;
  EXPECT_EQ(y.summary.size(), static_cast<size_t>(kSummaryDays - 20));  // held from day 20
  c.bytes += y.HoldSummaryDay(10, byte);                                // extended back
  EXPECT_EQ(y.summary.size(), static_cast<size_t>(kSummaryDays - 10));
  EXPECT_EQ(y.SummaryDay(20), 0x15);
  EXPECT_EQ(y.SummaryDay(9), 0);
  y.summary_dirty = true;
  y.entries = {{kMonday, 3, SenStatus::kSenSupport, 7}};
  y.entries_dirty = true;
  c.refs.push_back({PackRef(Kpi::kContacts, dims.all(), kMonday), 2, true});
  c.refs.push_back({PackRef(Kpi::kContacts, dims.all(), kMonday + 7), 0, true});  // fell to 0
  c.refs.push_back({PackRef(Kpi::kCinPlansOpen, dims.all(), kMonday), 1, true});

  state::WriteBatch batch;
  WriteBack(c, batch, 3, dims);
  ASSERT_TRUE(store.Write(batch).has_value());

  auto loaded = LoadChild(buffer, 3, "child-1", dims);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  ASSERT_EQ(loaded->records.size(), 1u);
  EXPECT_EQ(loaded->records[0].id, "c1");
  EXPECT_EQ(loaded->records[0].record.recorded_at, (RecordedAt{5, 7}));
  EXPECT_EQ(loaded->records[0].record.as<body::Contact>().contact_date, kMonday);
  ASSERT_EQ(loaded->years.size(), 1u);
  SchoolYear& ly = loaded->years[0];
  EXPECT_FALSE(ly.marks_loaded);  // a year's marks are read when an event needs them
  const size_t bytes_before_marks = loaded->bytes;
  ASSERT_TRUE(LoadMarks(*loaded, ly, buffer, 3).has_value());
  // Loaded as half a byte a session over the year's days, the versions left in the store.
  EXPECT_EQ(ly.sessions.size(), 365u);
  EXPECT_EQ(loaded->bytes, bytes_before_marks + 365);  // the budget counts them
  EXPECT_TRUE(ly.versions.empty());
  EXPECT_EQ(ly.Nibble(m.day, 1), MarkNibble(m));
  EXPECT_EQ(NibbleClass(ly.Nibble(m.day, 1)), AttendanceClass::kAuthorisedAbsence);
  EXPECT_EQ(ly.Nibble(m.day, 2), kNoMark);
  EXPECT_EQ(ly.Nibble(m.day + 1, 1), kNoMark);
  EXPECT_EQ(ly.newest, (RecordedAt{9, 0}));
  auto version = StoredMarkVersion(*loaded, ly, m.day, 1, buffer, 3);
  ASSERT_TRUE(version.has_value());
  EXPECT_EQ(*version, (RecordedAt{9, 0}));
  auto none = StoredMarkVersion(*loaded, ly, m.day, 2, buffer, 3);
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
  EXPECT_TRUE(y.versions.empty());  // written back: the store holds them now
  EXPECT_EQ(ly.FullSummary(), y.FullSummary());
  EXPECT_EQ(ly.FullSummary().size(), static_cast<size_t>(kSummaryDays));
  EXPECT_EQ(ly.summary_from, 20);  // held from its first non-zero day
  EXPECT_EQ(ly.entries, y.entries);
  ASSERT_EQ(loaded->refs.size(), 2u);  // the zero count is not stored
  EXPECT_EQ(loaded->refs[0].key, PackRef(Kpi::kContacts, dims.all(), kMonday));
  EXPECT_EQ(loaded->refs[0].refs, 2u);
  EXPECT_EQ(loaded->refs[1].key, PackRef(Kpi::kCinPlansOpen, dims.all(), kMonday));
  EXPECT_EQ(RefWeek(loaded->refs[1].key), kMonday);
  EXPECT_EQ(c.refs.size(), 2u);  // and is dropped from memory at the write-back
  // Another task's keys are another child entirely.
  auto other = LoadChild(buffer, 4, "child-1", dims);
  ASSERT_TRUE(other.has_value());
  EXPECT_TRUE(other->records.empty() && other->years.empty() && other->refs.empty());
}

TEST(ChildStateTest, AnUndecodableStoredValueIsCorruptionNeverAbsence) {
  state::MemoryStore store;
  ASSERT_TRUE(store.Write({{keys::RecordKey(0, "child-1", Kind::kContact, "c1"), "garbage"}}));
  state::WriteBuffer buffer(store);
  DimTable dims;
  auto loaded = LoadChild(buffer, 0, "child-1", dims);
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.error().code, state::ErrorCode::kCorruption);

  // Through the engine: the event naming that child fails, and so does the commit after it.
  const Calendar calendar;
  EngineOptions options;
  options.as_of = kMonday + 4;
  auto engine = kpi::testing::Checked(Engine::Open(store, calendar, options), "Engine::Open");
  EXPECT_FALSE(engine->Apply(Contact("child-1", "c2", kMonday)).has_value());
  EXPECT_FALSE(engine->PrepareCommit().has_value());
}

TEST(ChildStateTest, ReleasePastYearsKeepsTheNewestYearAndAnythingNotWrittenBack) {
  ChildState c;
  c.id = "child-1";
  MarkVersion m;
  m.session = 1;
  m.set_recorded_at({1, 0});
  c.Year("100001", 2023);
  c.Year("100002", 2024);
  c.Year("100001", 2025);
  c.bytes = 0;
  for (SchoolYear& y : c.years) c.bytes += y.SetNibble(0, 1, MarkNibble(m));
  c.bytes += c.years[1].PutVersion(m);  // not written back yet
  ReleasePastYears(c);
  EXPECT_TRUE(c.years[0].sessions.empty());
  EXPECT_FALSE(c.years[0].marks_loaded);  // read again on demand
  EXPECT_EQ(c.years[1].Nibble(0, 1), MarkNibble(m));
  EXPECT_EQ(c.years[2].Nibble(0, 1), MarkNibble(m));    // the newest year
  EXPECT_EQ(c.bytes, 365 + 365 + sizeof(MarkVersion));  // 2023-24 had 366 days
}

// A past year's absence unit leaves memory once written back, and LoadUnit reads the same summary
// and rows again; a unit not written back yet stays.
TEST(ChildStateTest, APastYearsAbsenceUnitIsReleasedAndReadBack) {
  state::MemoryStore store;
  state::WriteBuffer buffer(store);
  DimTable dims;
  ChildState c;
  c.id = "child-1";
  MarkVersion m;
  m.session = 1;
  m.set_recorded_at({1, 0});
  for (const int year : {2024, 2025}) {
    SchoolYear& y = c.Year("100001", year);
    c.bytes += y.SetNibble(0, 1, MarkNibble(m)) + y.PutVersion(m);
    char* byte = nullptr;
    c.bytes += y.HoldSummaryDay(30, byte);
    *byte = 0x11;
    y.summary_dirty = true;
    y.entries = {{kMonday, 3, SenStatus::kNone, 1}};
    c.bytes += sizeof(AbsenceEntry);
    y.entries_dirty = true;
  }

  const size_t unit_bytes = (kSummaryDays - 30) + sizeof(AbsenceEntry);
  const size_t before = c.bytes;
  state::WriteBatch batch;
  WriteBack(c, batch, 0, dims);
  ASSERT_TRUE(store.Write(batch).has_value());
  SchoolYear& past = c.years[0];
  EXPECT_FALSE(past.unit_loaded);
  EXPECT_TRUE(past.summary.empty() && past.entries.empty());
  EXPECT_TRUE(c.years[1].unit_loaded);                                      // the newest year stays
  EXPECT_EQ(c.bytes, before - 2 * sizeof(MarkVersion) - 365 - unit_bytes);  // 2024-25: 365 days
  ASSERT_TRUE(LoadUnit(c, past, buffer, 0).has_value());
  EXPECT_TRUE(past.unit_loaded);
  EXPECT_EQ(past.FullSummary(), c.years[1].FullSummary());
  EXPECT_EQ(past.entries, c.years[1].entries);
  EXPECT_EQ(c.bytes, before - 2 * sizeof(MarkVersion) - 365);
}

// Once a child has marks in a newer school year, its older years' marks leave memory at the next
// write-back, and a late correction to one of them reads them back and is exact.
TEST(ChildStateTest, PastYearsMarksAreReleasedAndReadBackForACorrection) {
  const Calendar calendar;
  EngineOptions options;
  options.as_of = Date::FromYmd(2025, 12, 1);
  const Date last_year = Date::FromYmd(2025, 3, 3);  // academic year 2024
  std::vector<ValidEvent> events;
  for (int d = 0; d < 5; ++d) {
    events.push_back(Mark("child-1", last_year + d, 1, AttendanceClass::kPresent, 1));
  }
  events.push_back(Mark("child-1", kMonday, 1, AttendanceClass::kPresent, 2));  // year 2025
  // The correction: a day of last year becomes an unauthorised absence.
  const ValidEvent correction =
      Mark("child-1", last_year + 2, 1, AttendanceClass::kUnauthorisedAbsence, 3);

  state::MemoryStore store;
  auto engine = kpi::testing::Checked(Engine::Open(store, calendar, options), "Engine::Open");
  const auto commit = [&] {
    ASSERT_TRUE(engine->PrepareCommit().has_value());
    ASSERT_TRUE(store.Write(engine->TakeBatch()).has_value());
  };
  for (const ValidEvent& e : events) ASSERT_TRUE(engine->Apply(e).has_value());
  commit();  // releases last year's marks
  ASSERT_TRUE(engine->Apply(correction).has_value());
  commit();

  options.durable = false;  // the reference: everything in memory, nothing released
  state::MemoryStore unused;
  auto reference = kpi::testing::Checked(Engine::Open(unused, calendar, options), "Engine::Open");
  for (const ValidEvent& e : events) ASSERT_TRUE(reference->Apply(e).has_value());
  ASSERT_TRUE(reference->Apply(correction).has_value());
  ASSERT_TRUE(reference->PrepareCommit().has_value());
  const std::vector<Row> want = reference->Table().value();
  const std::vector<Row> got = engine->Table().value();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(KpiName(got[i].kpi), KpiName(want[i].kpi));
    EXPECT_EQ(got[i].week, want[i].week);
    EXPECT_EQ(got[i].dimension, want[i].dimension);
    EXPECT_EQ(got[i].count, want[i].count) << KpiName(got[i].kpi) << " " << got[i].dimension;
    EXPECT_EQ(got[i].base, want[i].base);
  }
}

// A written-back mark's version is in the store only: a version older than the year's newest is
// judged against it (read back), one at least as new needs no read. Stale and applied alike
// equal an engine that holds every version in memory.
TEST(ChildStateTest, AVersionOlderThanTheYearsNewestIsJudgedByTheStoredOne) {
  const Calendar calendar;
  EngineOptions options;
  options.as_of = kMonday + 28;
  const std::vector<ValidEvent> first = {
      Mark("child-1", kMonday, 1, AttendanceClass::kPresent, 10),
      Mark("child-1", kMonday + 1, 1, AttendanceClass::kPresent, 20),
  };
  const std::vector<ValidEvent> then = {
      Mark("child-1", kMonday, 1, AttendanceClass::kUnauthorisedAbsence, 5),     // stale
      Mark("child-1", kMonday, 1, AttendanceClass::kAuthorisedAbsence, 15),      // applied
      Mark("child-1", kMonday, 1, AttendanceClass::kUnauthorisedAbsence, 12),    // stale (held)
      Mark("child-1", kMonday + 1, 1, AttendanceClass::kAuthorisedAbsence, 20),  // equal: applied
      Mark("child-1", kMonday + 2, 2, AttendanceClass::kPresent, 1),  // new session: applied
  };
  state::MemoryStore store;
  auto engine = kpi::testing::Checked(Engine::Open(store, calendar, options), "Engine::Open");
  for (const ValidEvent& e : first) ASSERT_TRUE(engine->Apply(e).has_value());
  ASSERT_TRUE(engine->PrepareCommit().has_value());
  ASSERT_TRUE(store.Write(engine->TakeBatch()).has_value());
  std::vector<ApplyOutcome> outcomes;
  for (const ValidEvent& e : then) {
    auto outcome = engine->Apply(e);
    ASSERT_TRUE(outcome.has_value());
    outcomes.push_back(*outcome);
  }
  ASSERT_TRUE(engine->PrepareCommit().has_value());
  EXPECT_EQ(outcomes, (std::vector<ApplyOutcome>{ApplyOutcome::kStale, ApplyOutcome::kApplied,
                                                 ApplyOutcome::kStale, ApplyOutcome::kApplied,
                                                 ApplyOutcome::kApplied}));

  options.durable = false;
  state::MemoryStore unused;
  auto reference = kpi::testing::Checked(Engine::Open(unused, calendar, options), "Engine::Open");
  for (const ValidEvent& e : first) ASSERT_TRUE(reference->Apply(e).has_value());
  for (const ValidEvent& e : then) ASSERT_TRUE(reference->Apply(e).has_value());
  ASSERT_TRUE(reference->PrepareCommit().has_value());
  EXPECT_EQ(engine->stats().stale, 2u);
  EXPECT_EQ(reference->stats().stale, 2u);
  const std::vector<Row> want = reference->Table().value();
  const std::vector<Row> got = engine->Table().value();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].count, want[i].count) << KpiName(got[i].kpi) << " " << got[i].dimension;
    EXPECT_EQ(got[i].base, want[i].base);
  }
}

// A directory of the first releases (unversioned values, format 1), or of format 2 (its cells
// counted under the former working-day rule), is refused with a message that says what to do,
// never read with the wrong codec or the wrong rules.
TEST(ChildStateTest, AnOlderFormatDirectoryIsRefusedClearly) {
  state::MemoryStore store;
  const int32_t days = kMonday.days();
  ASSERT_TRUE(
      store.Write({{keys::AsOfKey(0), std::string(reinterpret_cast<const char*>(&days), 4)}}));
  const Calendar calendar;
  EngineOptions options;
  options.as_of = kMonday;
  auto engine = Engine::Open(store, calendar, options);
  ASSERT_FALSE(engine.has_value());
  EXPECT_NE(engine.error().message.find("older release"), std::string::npos);
  EXPECT_NE(engine.error().message.find("state format 1"), std::string::npos);
  std::string format2 = EncodeAsOf(kMonday);
  format2[0] = 2;
  state::MemoryStore second;
  ASSERT_TRUE(second.Write({{keys::AsOfKey(0), format2}}));
  auto refused = Engine::Open(second, calendar, options);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("older release (state format 2"), std::string::npos);
  // A current as_of opens, and the store's as_of wins over the option.
  state::MemoryStore current;
  ASSERT_TRUE(current.Write({{keys::AsOfKey(0), EncodeAsOf(kMonday + 7)}}));
  auto opened = Engine::Open(current, calendar, options);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  EXPECT_EQ((*opened)->as_of(), kMonday + 7);
}

TEST(CellTableTest, ACellBelowZeroLatchesCorruption) {
  CellTable cells;
  const uint64_t key = PackCell(Kpi::kContacts, kMonday, 0);
  cells.Add(key, 1, 0);
  cells.Add(key, -1, 0);
  EXPECT_FALSE(cells.corrupt());
  cells.Add(key, -1, 0);
  EXPECT_TRUE(cells.corrupt());
}

TEST(CellTableTest, KeysSurviveGrowth) {
  CellTable cells;
  for (uint32_t dim = 0; dim < 5000; ++dim)
    cells.Add(PackCell(Kpi::kAbsenceRate, kMonday, dim), dim, 1);
  for (uint32_t dim = 0; dim < 5000; ++dim) {
    const CellTable::Cell* cell = cells.Find(PackCell(Kpi::kAbsenceRate, kMonday, dim));
    ASSERT_NE(cell, nullptr);
    EXPECT_EQ(cell->count, static_cast<int64_t>(dim));
  }
  EXPECT_EQ(CellWeek(PackCell(Kpi::kAbsenceRate, kMonday, 3)), kMonday);
  EXPECT_EQ(cells.Find(PackCell(Kpi::kContacts, kMonday, 1)), nullptr);
}

// A mark whose day summary already holds three marks for one day cannot be counted: the state
// is inconsistent, and the engine says so instead of wrapping the two-bit counter.
TEST(EngineInvariantTest, AnOverfullDaySummaryFailsTheEventAsCorruption) {
  state::MemoryStore store;
  std::string summary(kSummaryDays, '\0');
  summary[kMonday - SummaryStart(2025)] = 3;  // three live marks on one day
  ASSERT_TRUE(store.Write(
      {{keys::DaySummaryKey(0, "child-1", "100001", 2025), EncodeDaySummary(summary)}}));
  const Calendar calendar;
  EngineOptions options;
  options.as_of = kMonday + 4;
  auto engine = kpi::testing::Checked(Engine::Open(store, calendar, options), "Engine::Open");
  auto applied = engine->Apply(Mark("child-1", kMonday, 1, AttendanceClass::kPresent, 1));
  ASSERT_FALSE(applied.has_value());
  EXPECT_EQ(applied.error().code, state::ErrorCode::kCorruption);
}

}  // namespace
}  // namespace kpi
