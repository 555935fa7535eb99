#include "processor/app/replay.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>

#include "processor/engine.h"
#include "processor/output.h"
#include "processor/row_formats.h"
#include "processor/task_set.h"
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

// The dead-letter file of --dlq: one NDJSON line a record, with its reason and place.
class DeadLetterFile {
 public:
  std::expected<void, std::string> Open(const std::string& path) {
    path_ = path;
    if (path.empty()) return {};
    out_.open(path, std::ios::binary | std::ios::trunc);
    if (!out_) return std::unexpected("cannot write dead-letter file " + path);
    return {};
  }
  // A too_large line is written with its length only, never its text.
  void Write(DeadLetterReason reason, std::string_view text, size_t length,
             const std::string& source) {
    if (!out_.is_open()) return;
    line_.assign("{\"reason\":");
    AppendJsonString(line_, ReasonCode(reason));
    if (reason == DeadLetterReason::kTooLarge) {
      line_.append(",\"bytes\":" + std::to_string(length));
    } else {
      line_.append(",\"line\":");
      AppendJsonString(line_, text);
    }
    line_.append(",\"source\":");
    AppendJsonString(line_, source);
    line_.append("}\n");
    out_.write(line_.data(), static_cast<std::streamsize>(line_.size()));
  }
  std::expected<void, std::string> Close() {
    if (!out_.is_open()) return {};
    out_.flush();
    if (!out_) return std::unexpected("write error on dead-letter file " + path_);
    return {};
  }

 private:
  std::string path_;
  std::ofstream out_;
  std::string line_;
};

std::expected<std::unique_ptr<state::StateStore>, std::string> OpenStore(
    const ReplayOptions& options) {
  if (options.state_dir.empty()) return std::make_unique<state::MemoryStore>();
  state::RocksDbOptions db;
  db.path = options.state_dir;
  db.block_cache_bytes = options.block_cache_mb << 20;
  db.write_buffer_bytes = options.write_buffer_mb << 20;
  auto opened = state::RocksDbStore::Open(db);
  if (!opened) return std::unexpected("state directory: " + opened.error().message);
  return std::move(*opened);
}

EngineOptions EngineOptionsOf(const ReplayOptions& options) {
  EngineOptions engine;
  engine.as_of = options.as_of;
  engine.assessment_limit = options.assessment_limit;
  engine.icpc_limit = options.icpc_limit;
  engine.limits = options.limits;
  engine.durable = !options.state_dir.empty();
  return engine;
}

// One replay: the inputs' lines decoded, validated and applied to the tasks' engines (one task
// per partition with --state, one in memory), committed every commit_every events or when an
// engine asks, then the table written.
class Replay {
 public:
  Replay(const ReplayOptions& options, state::StateStore& store)
      : options_(options),
        calendar_(options.closures, options.official_holidays),
        store_(store),
        durable_(!options.state_dir.empty()),
        tasks_(store, calendar_, EngineOptionsOf(options), durable_ ? options.memory_mb << 20 : 0),
        task_count_(durable_ ? std::max<uint32_t>(1, options.partitions) : 1),
        progress_(options.progress) {}

  // Opens every task's engine at --as-of; a state directory already later than it is refused.
  std::expected<void, std::string> Open() {
    std::set<int32_t> all;
    for (uint32_t task = 0; task < task_count_; ++task) all.insert(static_cast<int32_t>(task));
    tasks_.Budget(all);
    for (const int32_t task : all) {
      auto engine = tasks_.Get(task, options_.as_of);
      if (!engine) return std::unexpected("state error: " + engine.error());
      if ((*engine)->as_of() > options_.as_of) {
        return std::unexpected("the state directory is at as_of " + (*engine)->as_of().ToString() +
                               ", later than --as-of " + options_.as_of.ToString());
      }
      if (auto advanced = (*engine)->AdvanceAsOf(options_.as_of); !advanced) {
        return std::unexpected("state error: " + advanced.error().message);
      }
      engines_.push_back(*engine);
    }
    return dlq_.Open(options_.dlq);
  }

  std::expected<void, std::string> Read(const std::string& path) {
    std::ifstream in;
    in.rdbuf()->pubsetbuf(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    in.open(path, std::ios::binary);
    if (!in) return std::unexpected("cannot read input " + path);
    uint64_t line_number = 0;
    std::string_view whole;
    size_t length = 0;
    while (NextLine(in, line_, whole, length)) {
      ++line_number;
      const std::string_view text = Trim(whole);
      if (text.empty() && length <= options_.max_record_bytes) continue;
      ++summary_.read;
      const InputRecord record{
          .bytes = text, .json = true, .size = length, .max_bytes = options_.max_record_bytes};
      const std::expected<const ValidEvent*, DeadLetterReason> valid =
          reader_.Read(record, [this](const events::Event&) { return options_.as_of; });
      if (!valid) {
        ++summary_.dead_lettered[static_cast<size_t>(valid.error())];
        dlq_.Write(valid.error(), text, length, path + ":" + std::to_string(line_number));
        continue;
      }
      if (auto applied = Apply(**valid); !applied) return applied;
    }
    if (in.bad()) return std::unexpected("read error on input " + path);
    return {};
  }

  // The last commit, the table to --output, the summary.
  std::expected<ReplaySummary, std::string> Finish() {
    if (auto c = Commit(); !c) return std::unexpected(c.error());
    progress_.Done();
    summary_.engine = tasks_.Stats();
    if (auto written = WriteTable(); !written) return std::unexpected(written.error());
    if (auto closed = dlq_.Close(); !closed) return std::unexpected(closed.error());
    return summary_;
  }

 private:
  std::expected<void, std::string> Apply(const ValidEvent& event) {
    progress_.Event(summary_.read, event.record.recorded_at);
    const uint32_t task = PartitionOf(options_.partitioner, event.child_id, task_count_);
    Engine& engine = *engines_[task];
    if (auto applied = engine.Apply(event); !applied) {
      return std::unexpected("state error: " + applied.error().message);
    }
    if (++since_commit_ >= options_.commit_every || engine.CommitWanted()) {
      if (auto c = Commit(); !c) return c;
      since_commit_ = 0;
    }
    return {};
  }

  std::expected<void, std::string> Commit() {
    if (auto prepared = tasks_.PrepareCommit(); !prepared) {
      return std::unexpected("state error: " + prepared.error());
    }
    auto written = store_.Write(tasks_.TakeBatch());
    if (!written) return std::unexpected("state error: " + written.error().message);
    // Evictions and reloads leave free heap spread over the arenas; give it back to the system,
    // so that the resident set follows the memory bound rather than the churn.
    malloc_trim(0);
    return {};
  }

  std::expected<void, std::string> WriteTable() {
    std::ofstream out(options_.output, std::ios::binary | std::ios::trunc);
    if (!out) return std::unexpected("cannot write output " + options_.output);
    auto rows = options_.published
                    ? app::WritePublishedTable(tasks_, options_.small_count, out)
                    : app::WriteTable(tasks_, options_.output_format, options_.as_of, out);
    if (!rows) return std::unexpected(rows.error());
    summary_.rows = *rows;
    out.flush();
    if (!out) return std::unexpected("write error on output " + options_.output);
    return {};
  }

  const ReplayOptions& options_;
  const Calendar calendar_;
  state::StateStore& store_;
  const bool durable_;
  TaskSet tasks_;
  const uint32_t task_count_;
  std::vector<Engine*> engines_;  // by task
  Progress progress_;
  DeadLetterFile dlq_;
  EventReader reader_;
  std::vector<char> line_ = std::vector<char>(options_.max_record_bytes + 2);
  std::vector<char> buffer_ = std::vector<char>(1 << 20);
  uint64_t since_commit_ = 0;
  ReplaySummary summary_;
};

}  // namespace

std::expected<ReplaySummary, std::string> RunReplay(const ReplayOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  auto store = OpenStore(options);
  if (!store) return std::unexpected(store.error());
  Replay replay(options, **store);
  if (auto opened = replay.Open(); !opened) return std::unexpected(opened.error());
  for (const std::string& path : options.inputs) {
    if (auto read = replay.Read(path); !read) return std::unexpected(read.error());
  }
  auto summary = replay.Finish();
  if (summary) {
    summary->seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
  return summary;
}

namespace {

// Each KPI's table in the replay table's order (KPI name, then week and dimension), a KPI at a
// time: `lines(table, write)` writes the lines of one. Returns the rows written.
template <typename Lines>
std::expected<uint64_t, std::string> WriteByKpi(TaskSet& tasks, std::ostream& out, Lines lines) {
  std::vector<Kpi> kpis(AllKpis().begin(), AllKpis().end());
  std::ranges::sort(kpis, [](Kpi x, Kpi y) { return KpiName(x) < KpiName(y); });
  const auto write = [&out](const std::string& line) {
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
  };
  uint64_t rows = 0;
  for (const Kpi kpi : kpis) {
    auto table = tasks.Table(kpi);  // whole (kpi, week) groups
    if (!table) return std::unexpected("state error: " + table.error());
    lines(*table, write);
    rows += table->size();
  }
  return rows;
}

}  // namespace

std::expected<uint64_t, std::string> WriteTable(TaskSet& tasks, TableFormat format, Date as_of,
                                                std::ostream& out) {
  const std::string as_of_text = as_of.ToString();
  if (format == TableFormat::kCsv) out << CsvHeader();
  return WriteByKpi(tasks, out, [&](const std::vector<Row>& table, const auto& write) {
    for (const Row& row : table) {
      write(format == TableFormat::kCsv ? RowToCsv(row, as_of_text) : RowToJson(row));
    }
  });
}

std::expected<uint64_t, std::string> WritePublishedTable(TaskSet& tasks, int small_count,
                                                         std::ostream& out) {
  return WriteByKpi(tasks, out, [&](const std::vector<Row>& table, const auto& write) {
    const std::vector<bool> suppressed = Suppressed(table, small_count);
    for (size_t i = 0; i < table.size(); ++i) write(PublishedRowToJson(table[i], suppressed[i]));
  });
}

std::string FormatSummary(const ReplaySummary& s) {
  std::string out;
  char buf[256];
  std::snprintf(
      buf, sizeof buf, "events read     %llu\napplied         %llu\nstale           %llu\n",
      static_cast<unsigned long long>(s.read), static_cast<unsigned long long>(s.engine.applied),
      static_cast<unsigned long long>(s.engine.stale));
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
                static_cast<long long>(s.engine.live_missing_marks),
                static_cast<unsigned long long>(s.rows), s.seconds,
                s.seconds > 0 ? static_cast<double>(s.read) / s.seconds : 0.0);
  out += buf;
  if (s.engine.hot_children > 0) {
    std::snprintf(buf, sizeof buf,
                  "hot state       %llu children, ~%llu MiB; %llu read back, %llu evicted\n",
                  static_cast<unsigned long long>(s.engine.hot_children),
                  static_cast<unsigned long long>(s.engine.hot_bytes >> 20),
                  static_cast<unsigned long long>(s.engine.children_loaded),
                  static_cast<unsigned long long>(s.engine.children_evicted));
    out += buf;
  }
  if (s.engine.cells_evicted > 0) {
    std::snprintf(buf, sizeof buf, "KPI cells       %llu in memory; %llu read back, %llu evicted\n",
                  static_cast<unsigned long long>(s.engine.hot_cells),
                  static_cast<unsigned long long>(s.engine.cells_loaded),
                  static_cast<unsigned long long>(s.engine.cells_evicted));
    out += buf;
  }
  return out;
}

}  // namespace kpi::app
