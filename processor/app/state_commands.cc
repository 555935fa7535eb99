#include "processor/app/state_commands.h"

#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

#include "processor/calendar.h"
#include "processor/keys.h"
#include "processor/task_set.h"
#include "processor/values.h"
#include "state/rocksdb/rocksdb_store.h"

namespace kpi::app {
namespace {

constexpr int kTasks = 1 << 16;

std::unique_ptr<state::RocksDbStore> OpenReadOnly(const std::string& path) {
  state::RocksDbOptions options;
  options.path = path;
  options.read_only = true;
  options.create_if_missing = false;
  options.block_cache_bytes = 16 << 20;
  auto store = state::RocksDbStore::Open(options);
  if (!store) {
    std::fprintf(stderr, "kpi-processor state: %s\n", store.error().message.c_str());
    return nullptr;
  }
  return std::move(*store);
}

// Visits one table of every task that has one.
bool ForEachTask(
    state::RocksDbStore& store, char table,
    const std::function<void(int task, std::string_view key, std::string_view value)>& visit) {
  for (int task = 0; task < kTasks; ++task) {
    const std::string prefix = keys::TablePrefix(static_cast<uint16_t>(task), table);
    auto scanned =
        store.Scan(prefix, state::PrefixEnd(prefix), [&](std::string_view k, std::string_view v) {
          visit(task, k.substr(prefix.size()), v);
          return true;
        });
    if (!scanned) {
      std::fprintf(stderr, "kpi-processor state: %s\n", scanned.error().message.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int StateOffsets(const std::string& path) {
  auto store = OpenReadOnly(path);
  if (!store) return 3;
  std::printf("%-24s %9s %14s\n", "topic", "partition", "next_offset");
  bool undecodable = false;
  const bool ok = ForEachTask(
      *store, keys::kOffset, [&](int task, std::string_view rest, std::string_view value) {
        const std::optional<int64_t> offset = DecodeOffset(value);
        const std::string topic(keys::ReadLengthPrefixed(rest).value_or("?"));
        if (!offset) {
          std::printf("%-24s %9d %14s\n", topic.c_str(), task, "undecodable");
          undecodable = true;
          return;
        }
        std::printf("%-24s %9d %14lld\n", topic.c_str(), task, static_cast<long long>(*offset));
      });
  return ok && !undecodable ? 0 : 3;
}

int StateRows(const std::string& path) {
  auto store = OpenReadOnly(path);
  if (!store) return 3;
  std::printf("%9s %12s %12s\n", "partition", "cells", "nonzero_rows");
  int last = -1;
  long long cells = 0;
  long long nonzero = 0;
  long long undecodable = 0;
  const auto flush = [&] {
    if (last >= 0) std::printf("%9d %12lld %12lld\n", last, cells, nonzero);
  };
  const bool ok =
      ForEachTask(*store, keys::kCell, [&](int task, std::string_view, std::string_view value) {
        if (task != last) {
          flush();
          last = task;
          cells = nonzero = 0;
        }
        ++cells;
        const std::optional<StoredCell> cell = DecodeCell(value);
        if (!cell) {
          ++undecodable;
        } else if (cell->count != 0 || cell->base != 0) {
          ++nonzero;
        }
      });
  flush();
  if (undecodable > 0) {
    std::fprintf(stderr, "kpi-processor state: %lld undecodable KPI cells (state corruption)\n",
                 undecodable);
    return 3;
  }
  return ok ? 0 : 3;
}

int StateSize(const std::string& path) {
  auto store = OpenReadOnly(path);
  if (!store) return 3;
  std::printf("estimated live data  %llu bytes\nsst files            %llu bytes\n",
              static_cast<unsigned long long>(store->EstimatedLiveBytes()),
              static_cast<unsigned long long>(store->TotalSstBytes()));
  return 0;
}

namespace {

// One attempt of StateExport: the table to `out`; an error message on failure.
std::expected<uint64_t, std::string> ExportOnce(const std::string& path, TableFormat format,
                                                std::ostream& out) {
  auto store = OpenReadOnly(path);
  if (!store) return std::unexpected(std::string("cannot open the state directory"));
  std::set<int> tasks;
  if (!ForEachTask(*store, keys::kAsOf,
                   [&](int task, std::string_view, std::string_view) { tasks.insert(task); })) {
    return std::unexpected(std::string("cannot read the state directory"));
  }
  const Calendar calendar({}, {});
  TaskSet set(*store, calendar, EngineOptions{}, 64 << 20);
  for (const int task : tasks) {
    if (auto engine = set.Get(task, Date()); !engine) return std::unexpected(engine.error());
  }
  return WriteTable(set, format, set.LatestAsOf(), out);
}

}  // namespace

int StateExport(const std::string& path, TableFormat format, const std::string& output) {
  // A failed attempt leaves part of a table: standard output gets the table from memory once it
  // is whole; a file is written beside its name and renamed into place, a KPI at a time.
  const bool to_stdout = output == "-";
  const std::string partial = output + ".partial";
  std::ostringstream text;
  std::ofstream file;
  std::expected<uint64_t, std::string> rows = std::unexpected(std::string());
  for (int attempt = 0; attempt < 5 && !rows; ++attempt) {
    text.str("");
    if (!to_stdout) file.open(partial, std::ios::binary | std::ios::trunc);
    if (!to_stdout && !file) {
      std::fprintf(stderr, "kpi-processor state export: cannot write %s\n", partial.c_str());
      return 1;
    }
    rows = ExportOnce(path, format, to_stdout ? static_cast<std::ostream&>(text) : file);
    if (!to_stdout) file.close();
  }
  if (!rows) {
    if (!to_stdout) std::remove(partial.c_str());
    std::fprintf(stderr, "kpi-processor state export: %s\n", rows.error().c_str());
    return 3;
  }
  if (to_stdout) {
    std::cout << text.view() << std::flush;
    return std::cout ? 0 : 1;
  }
  if (!file || std::rename(partial.c_str(), output.c_str()) != 0) {
    std::remove(partial.c_str());
    std::fprintf(stderr, "kpi-processor state export: cannot write %s\n", output.c_str());
    return 1;
  }
  std::fprintf(stderr, "kpi-processor state export: %llu rows to %s\n",
               static_cast<unsigned long long>(*rows), output.c_str());
  return 0;
}

}  // namespace kpi::app
