// kpi-restore-bench: how long a task takes to restore from its changelog (docs/DESIGN.md,
// "Scale-out"), for a task holding a given number of events of state.
//
//   build/bin/kpi-restore-bench [--children 5500] [--weeks 26]
//
// Steps:
// 1. Replay a generated authority (every child in task 0) through the engine on a RocksDbStore,
//    committing every 10,000 events as `run` does.
// 2. Write the task's claim and snapshot to partition 0 of a changelog topic, as an owner does on
//    taking the task, into the in-memory cluster of processor/runtime/memory_bus.h. The mock
//    broker keeps about 5 MiB per partition, less than such a snapshot, so the broker is left out:
//    the figure is the restore's own cost (decode, clear, apply into RocksDB), to which a real
//    cluster adds the fetch of the snapshot's bytes.
// 3. Restore into a fresh RocksDbStore with TaskRestore in steps of `scale.restore_batch`
//    records, then open an engine on it and check that its table equals the source's.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "processor/calendar.h"
#include "processor/engine.h"
#include "processor/runtime/memory_bus.h"
#include "processor/runtime/restore.h"
#include "processor/validate.h"
#include "state/rocksdb/rocksdb_store.h"
#include "tools/gen/generator.h"
#include "tools/guarded_main.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::unique_ptr<kpi::state::RocksDbStore> OpenStore(const fs::path& path) {
  kpi::state::RocksDbOptions options;
  options.path = path.string();
  auto store = kpi::state::RocksDbStore::Open(options);
  if (!store) {
    std::fprintf(stderr, "kpi-restore-bench: %s\n", store.error().message.c_str());
    std::exit(1);
  }
  return std::move(*store);
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"kpi-restore-bench: a task's restore from its changelog"};
  kpi::gen::Params params;
  params.children = 5500;
  params.weeks = 26;
  int batch = 32;
  app.add_option("--children", params.children)->capture_default_str();
  app.add_option("--weeks", params.weeks)->capture_default_str();
  app.add_option("--restore-batch", batch, "changelog records per step")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const fs::path dir =
      fs::temp_directory_path() / ("kpi_restore_bench_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const kpi::Date as_of = kpi::gen::PeriodEnd(params);
  const kpi::Calendar calendar;
  kpi::EngineOptions options;
  options.as_of = as_of;

  // 1. The owner's state.
  auto source = OpenStore(dir / "source");
  auto engine = std::move(*kpi::Engine::Open(*source, calendar, options));
  uint64_t events = 0;
  const auto commit = [&] {
    if (!engine->PrepareCommit() || !source->Write(engine->TakeBatch())) {
      std::fprintf(stderr, "kpi-restore-bench: commit failed\n");
      std::exit(1);
    }
  };
  kpi::gen::Generate(params, [&](std::string_view line) {
    auto event = kpi::DecodeJson(line);
    if (!event) return;
    auto valid = kpi::Validate(*event, as_of);
    if (!valid) return;
    (void)engine->Apply(*valid);
    if (++events % 10000 == 0) commit();
  });
  commit();
  const std::vector<kpi::Row> expected = engine->Table().value();

  // 2. Its claim and snapshot on the changelog.
  auto cluster = kpi::runtime::MemoryCluster::Create();
  const kpi::runtime::TopicPartition log{"kpi.changelog", 0};
  cluster->CreateTopic(log.topic, 1);
  kpi::runtime::LogRecord claim;
  claim.type = kpi::runtime::LogRecord::Type::kClaim;
  claim.epoch = 1;
  claim.owner = "bench";
  cluster->Append(log.topic, 0, {log.topic, "", kpi::runtime::EncodeLogRecord(claim), {}});
  auto snapshot = kpi::runtime::TaskSnapshot(*source, 0, 1, 0, 256 << 10);
  if (!snapshot) {
    std::fprintf(stderr, "kpi-restore-bench: %s\n", snapshot.error().c_str());
    return 1;
  }
  uint64_t bytes = 0;
  uint64_t keys = 0;
  for (const kpi::runtime::LogRecord& r : *snapshot) {
    const std::string value = kpi::runtime::EncodeLogRecord(r);
    bytes += value.size();
    keys += r.ops.size();
    cluster->Append(log.topic, 0, {log.topic, "", value, {}});
  }

  // 3. The restore, timed.
  auto target = OpenStore(dir / "target");
  auto reader = cluster->NewReader();
  kpi::runtime::TaskRestore restore(log);
  const auto started = Clock::now();
  int steps = 0;
  while (restore.phase() != kpi::runtime::TaskRestore::Phase::kClaim) {
    auto phase = restore.Step(*reader, *target, batch);
    ++steps;
    if (!phase) {
      std::fprintf(stderr, "kpi-restore-bench: %s\n", phase.error().message.c_str());
      return 1;
    }
  }
  const double restore_s = Seconds(started);
  const auto opened = Clock::now();
  auto restored = kpi::Engine::Open(*target, calendar, options);
  const double open_s = Seconds(opened);
  bool equal = false;
  if (restored) {
    const std::vector<kpi::Row> got = (*restored)->Table().value();
    equal = std::equal(got.begin(), got.end(), expected.begin(), expected.end(),
                       [](const kpi::Row& a, const kpi::Row& b) {
                         return a.kpi == b.kpi && a.week == b.week && a.dimension == b.dimension &&
                                a.count == b.count && a.base == b.base && a.revision == b.revision;
                       });
  }
  std::printf("events of state        %llu (%u children, %u weeks, one task)\n",
              static_cast<unsigned long long>(events), params.children, params.weeks);
  std::printf("snapshot               %zu records, %.1f MiB, %llu keys\n", snapshot->size(),
              static_cast<double>(bytes) / (1 << 20), static_cast<unsigned long long>(keys));
  std::printf("restore                %.2f s (scan and apply, %d steps of %d records)\n", restore_s,
              steps, batch);
  std::printf("engine open            %.2f s (then serving)\n", open_s);
  std::printf("table after restore    %s (%zu rows)\n", equal ? "equal" : "DIFFERENT",
              expected.size());
  fs::remove_all(dir);
  return equal ? 0 : 1;
}

int main(int argc, char** argv) {
  return kpi::tools::GuardedMain("kpi-restore-bench", [&] { return Main(argc, argv); });
}
