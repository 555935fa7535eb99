#include "processor/app/replay.h"

#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <memory>

#include "processor/engine.h"
#include "processor/output.h"
#include "state/memory_store.h"
#include "state/rocksdb/rocksdb_store.h"

namespace kpi::app {
namespace {

// The next line of `in` without its newline, in `buf` (of the bound plus 2 bytes): `line` views
// it and `length` is its length. A line longer than the bound is skipped to its end instead of
// held: `length` is then its whole length and `line` only its start. false at the end.
bool NextLine(std::istream& in, std::vector<char>& buf, std::string_view& line, size_t& length) {
  in.getline(buf.data(), static_cast<std::streamsize>(buf.size()));
  const auto got = static_cast<size_t>(in.gcount());
  if (in.bad() || (got == 0 && in.eof())) return false;
  if (in.fail() && !in.eof()) {
    // The buffer filled before a newline: count the rest of the line without keeping it.
    in.clear();
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    const auto rest = static_cast<size_t>(in.gcount());
    length = got + rest - (in.eof() || rest == 0 ? 0 : 1);
    line = std::string_view(buf.data(), got);
    return true;
  }
  length = got - (in.eof() ? 0 : 1);  // gcount counts the newline it extracted
  line = std::string_view(buf.data(), length);
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

using Engines = std::vector<std::unique_ptr<Engine>>;

std::expected<void, std::string> Commit(Engines& engines, state::StateStore& store) {
  state::WriteBatch batch;
  for (auto& engine : engines) {
    auto rows = engine->PrepareCommit();
    if (!rows) return std::unexpected("state error: " + rows.error().message);
    state::WriteBatch part = engine->TakeBatch();
    std::move(part.begin(), part.end(), std::back_inserter(batch));
  }
  auto written = store.Write(batch);
  if (!written) return std::unexpected("state error: " + written.error().message);
  // Evictions and reloads leave free heap spread over the arenas; give it back to the system, so
  // that the resident set follows the memory bound rather than the churn.
  malloc_trim(0);
  return {};
}

// The table of one KPI, summed over the tasks (SumRows). A KPI at a time, so that a long
// history's table is never in memory whole.
std::expected<std::vector<Row>, std::string> GlobalTable(const Engines& engines, Kpi kpi) {
  std::vector<Row> parts;
  for (const auto& engine : engines) {
    auto table = engine->Table(kpi);
    if (!table) return std::unexpected("state error: " + table.error().message);
    if (engines.size() == 1) return std::move(*table);
    std::move(table->begin(), table->end(), std::back_inserter(parts));
  }
  return SumRows(std::move(parts));
}

// A progress line on a terminal, for replays longer than a few seconds; silent otherwise.
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO) == 1) {}
  void Event(uint64_t read, const RecordedAt& recorded_at) {
    if (recorded_at.seconds > latest_) latest_ = recorded_at.seconds;
    if (!enabled_ || (read & 0xffff) != 0) return;
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    if (elapsed < 2 || now - last_ < std::chrono::milliseconds(500)) return;
    last_ = now;
    shown_ = true;
    const Date reached(static_cast<int32_t>(latest_ / 86400));
    std::fprintf(stderr, "\rreplay: %llu events, %.0f events/s, recorded up to %s\033[K",
                 static_cast<unsigned long long>(read), static_cast<double>(read) / elapsed,
                 reached.ToString().c_str());
  }
  void Done() {
    if (shown_) std::fputs("\r\033[K", stderr);
  }

 private:
  bool enabled_;
  bool shown_ = false;
  int64_t latest_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_ = start_;
};

}  // namespace

std::expected<ReplaySummary, std::string> RunReplay(const ReplayOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  ReplaySummary summary;
  const Calendar calendar(options.closures, options.official_holidays);
  const bool durable = !options.state_dir.empty();
  std::unique_ptr<state::StateStore> store;
  if (durable) {
    state::RocksDbOptions db;
    db.path = options.state_dir;
    db.block_cache_bytes = options.block_cache_mb << 20;
    db.write_buffer_bytes = options.write_buffer_mb << 20;
    auto opened = state::RocksDbStore::Open(db);
    if (!opened) return std::unexpected("state directory: " + opened.error().message);
    store = std::move(*opened);
  } else {
    store = std::make_unique<state::MemoryStore>();
  }
  const uint32_t tasks = durable ? std::max<uint32_t>(1, options.partitions) : 1;
  Engines engines;
  for (uint32_t task = 0; task < tasks; ++task) {
    EngineOptions engine_options;
    engine_options.as_of = options.as_of;
    engine_options.assessment_limit = options.assessment_limit;
    engine_options.icpc_limit = options.icpc_limit;
    engine_options.limits = options.limits;
    engine_options.task = static_cast<uint16_t>(task);
    engine_options.durable = durable;
    engine_options.memory_bytes = durable ? (options.memory_mb << 20) / tasks : 0;
    auto opened = Engine::Open(*store, calendar, engine_options);
    if (!opened) return std::unexpected("state error: " + opened.error().message);
    Engine& engine = **opened;
    if (engine.as_of() > options.as_of) {
      return std::unexpected("the state directory is at as_of " + engine.as_of().ToString() +
                             ", later than --as-of " + options.as_of.ToString());
    }
    if (auto advanced = engine.AdvanceAsOf(options.as_of); !advanced) {
      return std::unexpected("state error: " + advanced.error().message);
    }
    engines.push_back(std::move(*opened));
  }

  std::ofstream dlq;
  if (!options.dlq.empty()) {
    dlq.open(options.dlq, std::ios::binary | std::ios::trunc);
    if (!dlq) return std::unexpected("cannot write dead-letter file " + options.dlq);
  }
  Progress progress(options.progress);
  EventReader reader;
  std::string dlq_line;
  std::vector<char> line(options.max_record_bytes + 2);
  std::vector<char> buffer(1 << 20);
  uint64_t since_commit = 0;
  for (const std::string& path : options.inputs) {
    std::ifstream in;
    in.rdbuf()->pubsetbuf(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    in.open(path, std::ios::binary);
    if (!in) return std::unexpected("cannot read input " + path);
    uint64_t line_number = 0;
    std::string_view whole;
    size_t length = 0;
    while (NextLine(in, line, whole, length)) {
      ++line_number;
      const std::string_view text = Trim(whole);
      if (text.empty() && length <= options.max_record_bytes) continue;
      ++summary.read;
      std::expected<const events::Event*, DeadLetterReason> event =
          std::unexpected(DeadLetterReason::kTooLarge);
      if (length <= options.max_record_bytes) event = reader.DecodeJson(text);
      std::expected<const ValidEvent*, DeadLetterReason> valid =
          event ? reader.Validate(**event, options.as_of) : std::unexpected(event.error());
      if (!valid) {
        ++summary.dead_lettered[static_cast<size_t>(valid.error())];
        if (dlq.is_open()) {
          dlq_line.assign("{\"reason\":");
          AppendJsonString(dlq_line, ReasonCode(valid.error()));
          if (valid.error() == DeadLetterReason::kTooLarge) {
            dlq_line.append(",\"bytes\":" + std::to_string(length));
          } else {
            dlq_line.append(",\"line\":");
            AppendJsonString(dlq_line, text);
          }
          dlq_line.append(",\"source\":");
          AppendJsonString(dlq_line, path + ":" + std::to_string(line_number));
          dlq_line.append("}\n");
          dlq.write(dlq_line.data(), static_cast<std::streamsize>(dlq_line.size()));
        }
        continue;
      }
      progress.Event(summary.read, (*valid)->record.recorded_at);
      const uint32_t task = PartitionOf(options.partitioner, (*valid)->child_id, tasks);
      auto applied = engines[task]->Apply(**valid);
      if (!applied) return std::unexpected("state error: " + applied.error().message);
      if (++since_commit >= options.commit_every || engines[task]->CommitWanted()) {
        if (auto c = Commit(engines, *store); !c) return std::unexpected(c.error());
        since_commit = 0;
      }
    }
    if (in.bad()) return std::unexpected("read error on input " + path);
  }
  if (auto c = Commit(engines, *store); !c) return std::unexpected(c.error());
  progress.Done();
  for (const auto& engine : engines) {
    summary.applied += engine->stats().applied;
    summary.stale += engine->stats().stale;
    summary.live_missing_marks += engine->stats().live_missing_marks;
    summary.hot_children += engine->stats().hot_children;
    summary.hot_bytes += engine->stats().hot_bytes;
    summary.children_loaded += engine->stats().children_loaded;
    summary.children_evicted += engine->stats().children_evicted;
    summary.hot_cells += engine->stats().hot_cells;
    summary.cells_loaded += engine->stats().cells_loaded;
    summary.cells_evicted += engine->stats().cells_evicted;
  }

  std::ofstream out(options.output, std::ios::binary | std::ios::trunc);
  if (!out) return std::unexpected("cannot write output " + options.output);
  // In the table's order: by KPI name, then week and dimension (Engine::Table).
  std::vector<Kpi> kpis(AllKpis().begin(), AllKpis().end());
  std::ranges::sort(kpis, [](Kpi x, Kpi y) { return KpiName(x) < KpiName(y); });
  for (const Kpi kpi : kpis) {
    auto table = GlobalTable(engines, kpi);
    if (!table) return std::unexpected(table.error());
    for (const Row& row : *table) {
      const std::string line = RowToJson(row);
      out.write(line.data(), static_cast<std::streamsize>(line.size()));
      ++summary.rows;
    }
  }
  out.flush();
  if (!out) return std::unexpected("write error on output " + options.output);
  if (dlq.is_open()) {
    dlq.flush();
    if (!dlq) return std::unexpected("write error on dead-letter file " + options.dlq);
  }
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return summary;
}

std::string FormatSummary(const ReplaySummary& s) {
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "events read     %llu\napplied         %llu\nstale           %llu\n",
                static_cast<unsigned long long>(s.read), static_cast<unsigned long long>(s.applied),
                static_cast<unsigned long long>(s.stale));
  out += buf;
  uint64_t dead = 0;
  for (const uint64_t n : s.dead_lettered) dead += n;
  std::snprintf(buf, sizeof buf, "dead-lettered   %llu\n", static_cast<unsigned long long>(dead));
  out += buf;
  for (int r = 0; r < kDeadLetterReasonCount; ++r) {
    if (s.dead_lettered[r] == 0) continue;
    std::snprintf(buf, sizeof buf, "  %-17s %llu\n",
                  std::string(ReasonCode(static_cast<DeadLetterReason>(r))).c_str(),
                  static_cast<unsigned long long>(s.dead_lettered[r]));
    out += buf;
  }
  std::snprintf(buf, sizeof buf,
                "missing marks   %lld (live marks with code '-' or empty)\nrows written    "
                "%llu\nelapsed         %.3f s\nthroughput      %.0f events/s\n",
                static_cast<long long>(s.live_missing_marks),
                static_cast<unsigned long long>(s.rows), s.seconds,
                s.seconds > 0 ? static_cast<double>(s.read) / s.seconds : 0.0);
  out += buf;
  if (s.hot_children > 0) {
    std::snprintf(buf, sizeof buf,
                  "hot state       %llu children, ~%llu MiB; %llu read back, %llu evicted\n",
                  static_cast<unsigned long long>(s.hot_children),
                  static_cast<unsigned long long>(s.hot_bytes >> 20),
                  static_cast<unsigned long long>(s.children_loaded),
                  static_cast<unsigned long long>(s.children_evicted));
    out += buf;
  }
  if (s.cells_evicted > 0) {
    std::snprintf(buf, sizeof buf, "KPI cells       %llu in memory; %llu read back, %llu evicted\n",
                  static_cast<unsigned long long>(s.hot_cells),
                  static_cast<unsigned long long>(s.cells_loaded),
                  static_cast<unsigned long long>(s.cells_evicted));
    out += buf;
  }
  return out;
}

}  // namespace kpi::app
