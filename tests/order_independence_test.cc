// EVENTS.md: "the final KPI results are a function of the set of live records only. Any arrival
// order of the same input gives the same final results." Checked on a generated authority of a
// few thousand children, in arrival order, shuffled, reversed, and against a from-scratch replay
// of only the final live versions.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "processor/engine.h"
#include "processor/output.h"
#include "processor/published.h"
#include "processor/validate.h"
#include "state/memory_store.h"
#include "state/rocksdb/rocksdb_store.h"
#include "tools/cluster/checked.h"
#include "tools/gen/generator.h"

namespace kpi {
namespace {

struct Input {
  std::vector<ValidEvent> events;  // arrival order, dead letters removed
  Date as_of;
};

const Input& Generated() {
  static const Input input = [] {
    gen::Params p;
    p.children = 3000;
    p.weeks = 5;
    p.start = Date::FromYmd(2026, 2, 2);
    p.stale_rate = 0.02;  // more corrections of every sort than a real authority sends
    p.delete_rate = 0.03;
    p.correction_rate = 0.03;
    Input in;
    in.as_of = gen::PeriodEnd(p) - 2;  // a Friday: the last week's snapshots are at as_of
    gen::Generate(p, [&](std::string_view line) {
      auto event = DecodeJson(line);
      if (!event) return;
      auto valid = Validate(*event, in.as_of);
      if (valid) in.events.push_back(std::move(*valid));
    });
    return in;
  }();
  return input;
}

// The exact table, or the published one (KPIS-3.md section 3, publish.small_count 5).
std::string TableOf(Engine& engine, bool published = false) {
  std::string table;
  const std::vector<Row> rows = engine.Table().value();
  const std::vector<bool> suppressed = Suppressed(rows, kDefaultSmallCount);
  for (size_t i = 0; i < rows.size(); ++i) {
    table += published ? PublishedRowToJson(rows[i], suppressed[i]) : RowToJson(rows[i]);
  }
  return table;
}

std::string ReplayOn(state::StateStore& store, const std::vector<const ValidEvent*>& order,
                     Date as_of, EngineStats* stats = nullptr, size_t memory_bytes = 0,
                     bool published = false) {
  const Calendar calendar;
  EngineOptions options;
  options.as_of = as_of;
  options.memory_bytes = memory_bytes;
  auto engine = kpi::testing::Checked(Engine::Open(store, calendar, options), "Engine::Open");
  size_t n = 0;
  for (const ValidEvent* e : order) {
    EXPECT_TRUE(engine->Apply(*e).has_value());
    if (++n % 5000 == 0) {  // commit now and then, as the runtime does
      EXPECT_TRUE(engine->PrepareCommit().has_value());
      EXPECT_TRUE(store.Write(engine->TakeBatch()).has_value());
    }
  }
  EXPECT_TRUE(engine->PrepareCommit().has_value());
  EXPECT_TRUE(store.Write(engine->TakeBatch()).has_value());
  if (stats != nullptr) *stats = engine->stats();
  return TableOf(*engine, published);
}

std::string Replay(const std::vector<const ValidEvent*>& order, Date as_of,
                   EngineStats* stats = nullptr, bool published = false) {
  state::MemoryStore store;
  return ReplayOn(store, order, as_of, stats, 0, published);
}

std::vector<const ValidEvent*> ArrivalOrder() {
  std::vector<const ValidEvent*> order;
  for (const ValidEvent& e : Generated().events) order.push_back(&e);
  return order;
}

std::string Identity(const ValidEvent& e) {
  const Record& r = e.record;
  std::string id = e.child_id + '\x1f' + std::to_string(static_cast<int>(r.kind())) + '\x1f';
  if (const auto* mark = std::get_if<body::Attendance>(&r.body)) {
    return id + mark->school_urn + '\x1f' + mark->date.ToString() +
           std::to_string(static_cast<int>(mark->session));
  }
  if (const auto* profile = std::get_if<body::Profile>(&r.body)) {
    return id + profile->effective_date.ToString();
  }
  return id + e.event_id;
}

TEST(OrderIndependenceTest, TheTableIsRichEnoughToMeanSomething) {
  EngineStats stats;
  const std::string table = Replay(ArrivalOrder(), Generated().as_of, &stats);
  std::set<std::string> kpis;
  for (size_t pos = 0; (pos = table.find("{\"kpi\":\"", pos)) != std::string::npos; ++pos) {
    kpis.insert(table.substr(pos + 8, table.find('"', pos + 8) - pos - 8));
  }
  std::string missing;
  for (const Kpi kpi : AllKpis()) {
    if (!kpis.contains(std::string(KpiName(kpi)))) missing += " " + std::string(KpiName(kpi));
  }
  EXPECT_EQ(missing, "") << "KPIs the generated input never exercises";
  EXPECT_GT(stats.stale, 0u);
  EXPECT_GT(Generated().events.size(), 50000u);
}

// The published table (KPIS-3.md section 3) is a function of the table: shuffled input gives the
// same one, and it suppresses rows by both rules.
TEST(OrderIndependenceTest, ShuffledInputGivesTheSamePublishedTable) {
  std::vector<const ValidEvent*> order = ArrivalOrder();
  const std::string expected = Replay(order, Generated().as_of, nullptr, /*published=*/true);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(9));
  EXPECT_EQ(Replay(order, Generated().as_of, nullptr, /*published=*/true), expected);
  size_t suppressed = 0;
  size_t secondary = 0;  // suppressed with a count and base neither of which is small
  for (size_t pos = 0; (pos = expected.find("\"suppressed\":true", pos)) != std::string::npos;
       ++pos) {
    ++suppressed;
  }
  const std::string exact = Replay(ArrivalOrder(), Generated().as_of);
  std::stringstream published_lines(expected);
  std::stringstream exact_lines(exact);
  for (std::string p, e; std::getline(published_lines, p) && std::getline(exact_lines, e);) {
    if (p.find("\"suppressed\":true") == std::string::npos) continue;
    const auto value = [&](const char* field) {
      const size_t at = e.find(field);
      return std::stoll(e.substr(at + std::strlen(field)));
    };
    const int64_t count = value("\"count\":");
    const int64_t base = value("\"base\":");
    if (!(count >= 1 && count <= 5) && !(base >= 1 && base <= 5)) ++secondary;
  }
  EXPECT_GT(suppressed, 1000u);
  EXPECT_GT(secondary, 10u);
}

TEST(OrderIndependenceTest, ShuffledAndReversedOrdersGiveByteIdenticalTables) {
  const std::vector<const ValidEvent*> arrival = ArrivalOrder();
  const std::string expected = Replay(arrival, Generated().as_of);
  ASSERT_FALSE(expected.empty());
  for (const uint64_t seed : {1u, 2u, 3u}) {
    std::vector<const ValidEvent*> order = arrival;
    std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
    EXPECT_EQ(Replay(order, Generated().as_of), expected) << "seed " << seed;
  }
  std::vector<const ValidEvent*> reversed(arrival.rbegin(), arrival.rend());
  EXPECT_EQ(Replay(reversed, Generated().as_of), expected);
}

TEST(OrderIndependenceTest, EqualsAFromScratchReplayOfTheLiveRecordsOnly) {
  // The current version of each record: greatest recorded_at, later arrival on a tie.
  std::map<std::string, const ValidEvent*> current;
  for (const ValidEvent& e : Generated().events) {
    auto [it, inserted] = current.emplace(Identity(e), &e);
    if (!inserted && !(e.record.recorded_at < it->second->record.recorded_at)) it->second = &e;
  }
  std::vector<const ValidEvent*> live;
  for (const ValidEvent& e : Generated().events) {  // keep arrival order among them
    const ValidEvent* winner = current[Identity(e)];
    if (winner == &e && !e.record.deleted) live.push_back(&e);
  }
  ASSERT_LT(live.size(), Generated().events.size());
  EXPECT_EQ(Replay(live, Generated().as_of), Replay(ArrivalOrder(), Generated().as_of));
}

TEST(OrderIndependenceTest, TheRocksDbStoreGivesTheSameTable) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("kpi_order_rocksdb_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  state::RocksDbOptions options;
  options.path = dir.string();
  options.block_cache_bytes = 16 << 20;
  auto store = kpi::testing::Checked(state::RocksDbStore::Open(options), "RocksDbStore::Open");
  std::vector<const ValidEvent*> order = ArrivalOrder();
  std::shuffle(order.begin(), order.end(), std::mt19937_64(9));
  EXPECT_EQ(ReplayOn(*store, order, Generated().as_of), Replay(ArrivalOrder(), Generated().as_of));
  store.reset();
  std::filesystem::remove_all(dir);
}

// A hot state of 256 KiB holds a few dozen of the 3,000 children: nearly every event reads its
// child back from the store after an eviction, deletes and stale versions included.
TEST(OrderIndependenceTest, ATinyMemoryBoundEvictsAndReloadsAndGivesTheSameTable) {
  const std::string expected = Replay(ArrivalOrder(), Generated().as_of);
  std::vector<const ValidEvent*> order = ArrivalOrder();
  std::shuffle(order.begin(), order.end(), std::mt19937_64(4));
  state::MemoryStore store;
  EngineStats stats;
  EXPECT_EQ(ReplayOn(store, order, Generated().as_of, &stats, 256 << 10), expected);
  EXPECT_GT(stats.children_evicted, 10000u);
  EXPECT_GT(stats.children_loaded, stats.children_evicted);
  EXPECT_LE(stats.hot_bytes, 256u << 10);
  // The KPI cells too: a quarter of the bound holds about a thousand of them.
  EXPECT_GT(stats.cells_evicted, 10000u);
  EXPECT_GT(stats.cells_loaded, 1000u);
  std::printf("evicted %llu children, %llu cells; read back %llu children, %llu cells\n",
              static_cast<unsigned long long>(stats.children_evicted),
              static_cast<unsigned long long>(stats.cells_evicted),
              static_cast<unsigned long long>(stats.children_loaded),
              static_cast<unsigned long long>(stats.cells_loaded));
}

// Eviction under as_of moves: AdvanceAsOf reads cold children back one at a time, and the cells
// it restates from the store.
TEST(OrderIndependenceTest, AdvancingAsOfUnderATinyMemoryBoundEqualsAReplayAtTheNewDate) {
  const Calendar calendar;
  state::MemoryStore store;
  EngineOptions options;
  options.as_of = Generated().as_of;
  options.memory_bytes = 256 << 10;
  auto engine = kpi::testing::Checked(Engine::Open(store, calendar, options), "Engine::Open");
  size_t n = 0;
  for (const ValidEvent& e : Generated().events) {
    ASSERT_TRUE(engine->Apply(e).has_value());
    if (++n % 5000 == 0) {  // commits evict KPI cells
      ASSERT_TRUE(engine->PrepareCommit().has_value());
      ASSERT_TRUE(store.Write(engine->TakeBatch()).has_value());
    }
  }
  const Date as_of = Generated().as_of + 3;
  ASSERT_TRUE(engine->AdvanceAsOf(as_of).has_value());
  ASSERT_TRUE(engine->PrepareCommit().has_value());
  ASSERT_TRUE(store.Write(engine->TakeBatch()).has_value());
  EXPECT_EQ(TableOf(*engine), Replay(ArrivalOrder(), as_of));
  EXPECT_GT(engine->stats().children_evicted, 0u);
  EXPECT_GT(engine->stats().cells_evicted, 0u);
}

// Across a school year's end: the past year's marks and absence units leave memory at the
// write-backs, an as_of still inside the past year's window reads its units back to restate
// them, and an as_of past that window leaves them alone. Each table equals a replay at its date.
TEST(OrderIndependenceTest, AdvancingAsOfAcrossASchoolYearWithPastYearsReleasedEqualsAReplay) {
  gen::Params p;
  p.children = 400;
  p.weeks = 22;
  p.start = Date::FromYmd(2025, 6, 2);
  p.stale_rate = 0.02;
  p.delete_rate = 0.03;
  p.correction_rate = 0.03;
  const Date first_as_of = Date::FromYmd(2025, 7, 16);  // a Wednesday, the last week of term
  std::vector<ValidEvent> events;
  gen::Generate(p, [&](std::string_view line) {
    auto event = DecodeJson(line);
    if (!event) return;
    auto valid = Validate(*event, first_as_of);
    if (valid) events.push_back(std::move(*valid));
  });
  std::vector<const ValidEvent*> order;
  for (const ValidEvent& e : events) order.push_back(&e);
  const Calendar calendar;
  state::MemoryStore store;
  EngineOptions options;
  options.as_of = first_as_of;
  auto engine = kpi::testing::Checked(Engine::Open(store, calendar, options), "Engine::Open");
  size_t n = 0;
  for (const ValidEvent& e : events) {
    ASSERT_TRUE(engine->Apply(e).has_value());
    if (++n % 2000 == 0) {  // write-backs release the past year
      ASSERT_TRUE(engine->PrepareCommit().has_value());
      ASSERT_TRUE(store.Write(engine->TakeBatch()).has_value());
    }
  }
  ASSERT_TRUE(engine->PrepareCommit().has_value());
  ASSERT_TRUE(store.Write(engine->TakeBatch()).has_value());
  EXPECT_EQ(TableOf(*engine), Replay(order, first_as_of));
  // The 2024-25 window ends on 2025-09-09 (1 September 2025 + 7 days, exclusive).
  for (const Date as_of :
       {Date::FromYmd(2025, 7, 18), Date::FromYmd(2025, 7, 21), Date::FromYmd(2025, 9, 7),
        Date::FromYmd(2025, 9, 10), Date::FromYmd(2025, 9, 16), Date::FromYmd(2025, 10, 22)}) {
    ASSERT_TRUE(engine->AdvanceAsOf(as_of).has_value());
    ASSERT_TRUE(engine->PrepareCommit().has_value());
    ASSERT_TRUE(store.Write(engine->TakeBatch()).has_value());
    EXPECT_EQ(TableOf(*engine), Replay(order, as_of)) << as_of.ToString();
  }
}

TEST(OrderIndependenceTest, AdvancingAsOfEqualsAReplayAtTheNewDate) {
  const Calendar calendar;
  state::MemoryStore store;
  EngineOptions options;
  options.as_of = Generated().as_of;  // a Friday
  auto engine = kpi::testing::Checked(Engine::Open(store, calendar, options), "Engine::Open");
  for (const ValidEvent& e : Generated().events) ASSERT_TRUE(engine->Apply(e).has_value());
  ASSERT_TRUE(engine->PrepareCommit().has_value());
  ASSERT_TRUE(store.Write(engine->TakeBatch()).has_value());
  // Saturday, Sunday, the next Monday (a new week), and a jump of two weeks.
  for (const int days : {1, 2, 3, 17}) {
    const Date as_of = Generated().as_of + days;
    ASSERT_TRUE(engine->AdvanceAsOf(as_of).has_value());
    ASSERT_TRUE(engine->PrepareCommit().has_value());
    ASSERT_TRUE(store.Write(engine->TakeBatch()).has_value());
    EXPECT_EQ(TableOf(*engine), Replay(ArrivalOrder(), as_of)) << as_of.ToString();
  }
  EXPECT_FALSE(engine->AdvanceAsOf(Generated().as_of).has_value());  // never backwards
}

}  // namespace
}  // namespace kpi
