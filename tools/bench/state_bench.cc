// kpi-state-bench: the state store's write rate beside RocksDB's own `db_bench fillrandom` with
// the same key and value sizes, batch size and options, measured in the same run.
//
//   build/bin/kpi-state-bench [--children 2000] [--weeks 26] [--commit-every 10000]
//
// Steps:
// 1. Replay a generated authority through the engine on a RocksDbStore, committing every
//    --commit-every events as the runtime does (commit.max_events), and keep every batch the
//    engine writes. "in the engine's run" is the time spent inside StateStore::Write there.
// 2. Write the kept batches back to back into a fresh RocksDbStore: the store's own write rate.
// 3. Run `db_bench --benchmarks=fillrandom` with the batches' mean key size, value size and batch
//    size, the store's options (LZ4, 10 bloom bits per key, the write buffer and block cache
//    sizes, WAL on, no sync) and as many operations: RocksDB's rate for that shape.
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "processor/calendar.h"
#include "processor/engine.h"
#include "processor/validate.h"
#include "state/rocksdb/rocksdb_store.h"
#include "tools/gen/generator.h"
#include "tools/guarded_main.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using kpi::state::Error;
using kpi::state::StateStore;
using kpi::state::WriteBatch;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Passes everything to `base`; keeps a copy of every batch and the time spent writing it.
class RecordingStore final : public StateStore {
 public:
  explicit RecordingStore(StateStore& base) : base_(base) {}
  std::expected<std::optional<std::string>, Error> Get(std::string_view key) override {
    return base_.Get(key);
  }
  std::expected<void, Error> Write(const WriteBatch& batch) override {
    batches.push_back(batch);
    const auto start = Clock::now();
    auto r = base_.Write(batch);
    write_seconds += Seconds(start);
    return r;
  }
  std::expected<void, Error> Scan(std::string_view begin, std::string_view end,
                                  const kpi::state::ScanVisitor& visit) override {
    return base_.Scan(begin, end, visit);
  }
  std::vector<WriteBatch> batches;
  double write_seconds = 0;

 private:
  StateStore& base_;
};

// The output of `command` (stdout), or nullopt if it could not run or failed.
std::optional<std::string> Run(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = ::pclose(pipe);
  if (status != 0) return std::nullopt;
  return out;
}

std::unique_ptr<kpi::state::RocksDbStore> OpenStore(const fs::path& path,
                                                    const kpi::state::RocksDbOptions& base) {
  kpi::state::RocksDbOptions options = base;
  options.path = path.string();
  auto store = kpi::state::RocksDbStore::Open(options);
  if (!store) {
    std::fprintf(stderr, "kpi-state-bench: cannot open %s: %s\n", path.c_str(),
                 store.error().message.c_str());
    std::exit(1);
  }
  return std::move(*store);
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"kpi-state-bench: state-store writes/s beside db_bench fillrandom"};
  kpi::gen::Params p;
  p.children = 2000;
  p.weeks = 26;
  uint64_t commit_every = 10000;
  std::string db_bench = "db_bench";
  std::string dir_option;
  app.add_option("--children", p.children)->capture_default_str();
  app.add_option("--weeks", p.weeks)->capture_default_str();
  app.add_option("--commit-every", commit_every, "events per commit (commit.max_events)")
      ->capture_default_str();
  app.add_option("--db-bench", db_bench, "RocksDB's db_bench (Debian: rocksdb-tools)")
      ->capture_default_str();
  app.add_option("--dir", dir_option, "scratch directory (default: a new one under /tmp)");
  CLI11_PARSE(app, argc, argv);

  const fs::path dir = dir_option.empty() ? fs::temp_directory_path() /
                                                ("kpi_state_bench_" + std::to_string(::getpid()))
                                          : fs::path(dir_option);
  fs::remove_all(dir);
  fs::create_directories(dir);
  const kpi::state::RocksDbOptions defaults;  // the processor's defaults (state.* settings)
  bool db_bench_asserts = false;

  // 1. The engine's run, keeping its batches.
  std::vector<std::string> lines;
  kpi::gen::Generate(p, [&](std::string_view line) { lines.emplace_back(line); });
  const kpi::Date as_of = kpi::gen::PeriodEnd(p);
  const kpi::Calendar calendar;
  uint64_t applied = 0;
  double engine_seconds = 0;
  std::vector<WriteBatch> batches;
  double in_run_write_seconds = 0;
  {
    auto rocks = OpenStore(dir / "engine", defaults);
    RecordingStore store(*rocks);
    kpi::EngineOptions options;
    options.as_of = as_of;
    auto engine = std::move(*kpi::Engine::Open(store, calendar, options));
    const auto commit = [&] {
      (void)engine->PrepareCommit();
      (void)store.Write(engine->TakeBatch());
    };
    const auto start = Clock::now();
    uint64_t since = 0;
    for (const std::string& line : lines) {
      auto event = kpi::DecodeJson(line);
      if (!event) continue;
      auto valid = kpi::Validate(*event, as_of);
      if (!valid) continue;
      (void)engine->Apply(*valid);
      ++applied;
      if (++since >= commit_every) {
        commit();
        since = 0;
      }
    }
    commit();
    engine_seconds = Seconds(start);
    batches = std::move(store.batches);
    in_run_write_seconds = store.write_seconds;
  }
  uint64_t ops = 0;
  uint64_t deletes = 0;
  uint64_t key_bytes = 0;
  uint64_t value_bytes = 0;
  for (const WriteBatch& batch : batches) {
    for (const auto& op : batch) {
      ++ops;
      key_bytes += op.key.size();
      if (op.value) {
        value_bytes += op.value->size();
      } else {
        ++deletes;
      }
    }
  }
  if (ops == 0) {
    std::fprintf(stderr, "kpi-state-bench: the engine wrote nothing\n");
    return 1;
  }
  const uint64_t key_size = (key_bytes + ops / 2) / ops;
  const uint64_t value_size =
      (value_bytes + (ops - deletes) / 2) / std::max<uint64_t>(1, ops - deletes);
  const uint64_t batch_size = (ops + batches.size() / 2) / batches.size();

  // 2. The kept batches, back to back, into a fresh store.
  double store_seconds = 0;
  {
    auto store = OpenStore(dir / "replay", defaults);
    const auto start = Clock::now();
    for (const WriteBatch& batch : batches) {
      if (auto r = store->Write(batch); !r) {
        std::fprintf(stderr, "kpi-state-bench: write failed: %s\n", r.error().message.c_str());
        return 1;
      }
    }
    store_seconds = Seconds(start);
  }

  // 3. db_bench fillrandom (and fillseq: the store's batches are sorted), same shape.
  const auto db_bench_rate = [&](const std::string& benchmark) -> double {
    const std::string command =
        db_bench + " --benchmarks=" + benchmark + " --db=" + (dir / benchmark).string() +
        " --num=" + std::to_string(ops) + " --key_size=" + std::to_string(key_size) +
        " --value_size=" + std::to_string(value_size) +
        " --batch_size=" + std::to_string(batch_size) +
        " --write_buffer_size=" + std::to_string(defaults.write_buffer_bytes) +
        " --cache_size=" + std::to_string(defaults.block_cache_bytes) +
        " --bloom_bits=" + std::to_string(defaults.bloom_bits_per_key) +
        " --compression_type=lz4 --sync=" + (defaults.sync ? "1" : "0") +
        " --disable_wal=0 --threads=1 --max_background_jobs=2 2>&1";
    const std::optional<std::string> out = Run(command);
    if (!out) return 0;
    if (out->find("Assertions are enabled") != std::string::npos) db_bench_asserts = true;
    std::smatch m;
    const std::regex line(benchmark + R"(\s*:\s*[0-9.]+ micros/op (\d+) ops/sec)");
    return std::regex_search(*out, m, line) ? std::stod(m[1].str()) : 0;
  };
  const double db_bench_ops = db_bench_rate("fillrandom");
  const double db_bench_seq = db_bench_rate("fillseq");
  fs::remove_all(dir);

  std::printf("input               %zu events (%u children, %u weeks), %llu applied, %zu commits\n",
              lines.size(), p.children, p.weeks, static_cast<unsigned long long>(applied),
              batches.size());
  std::printf(
      "state writes        %llu operations (%llu deletes), mean key %llu B, value %llu B, "
      "batch %llu\n",
      static_cast<unsigned long long>(ops), static_cast<unsigned long long>(deletes),
      static_cast<unsigned long long>(key_size), static_cast<unsigned long long>(value_size),
      static_cast<unsigned long long>(batch_size));
  std::printf(
      "engine run          %.0f events/s; %.1f%% of its time inside StateStore::Write "
      "(%.0f writes/s there)\n",
      static_cast<double>(applied) / engine_seconds, 100.0 * in_run_write_seconds / engine_seconds,
      static_cast<double>(ops) / in_run_write_seconds);
  std::printf("RocksDbStore        %.0f writes/s (the batches back to back)\n",
              static_cast<double>(ops) / store_seconds);
  if (db_bench_ops <= 0) {
    std::printf(
        "db_bench fillrandom not measured: `%s` failed (Debian: apt-get install "
        "rocksdb-tools)\n",
        db_bench.c_str());
    return 1;
  }
  std::printf("db_bench fillrandom %.0f writes/s (same sizes, batch and options)\n", db_bench_ops);
  std::printf(
      "db_bench fillseq    %.0f writes/s (the same, keys in order as in the store's "
      "batches)\n",
      db_bench_seq);
  std::printf("ratio store / db_bench fillrandom %.2f, / fillseq %.2f\n",
              static_cast<double>(ops) / store_seconds / db_bench_ops,
              static_cast<double>(ops) / store_seconds / db_bench_seq);
  if (db_bench_asserts) {
    std::printf(
        "note: this db_bench was built with assertions on (it says so), which slows its "
        "own code; the RocksDB library is the same one the store links\n");
  }
  return 0;
}

int main(int argc, char** argv) {
  return kpi::tools::GuardedMain("kpi-state-bench", [&] { return Main(argc, argv); });
}
