#include "processor/task_set.h"

#include <algorithm>
#include <unordered_map>

namespace kpi {
namespace {

std::string TaskError(int32_t task, const state::Error& error) {
  return "task " + std::to_string(task) + ": " + error.message;
}

}  // namespace

TaskSet::TaskSet(state::StateStore& store, const Calendar& calendar, EngineOptions options,
                 size_t memory_bytes)
    : store_(store),
      calendar_(calendar),
      options_(options),
      memory_bytes_(memory_bytes),
      memory_per_task_(memory_bytes) {}

std::expected<Engine*, std::string> TaskSet::Get(int32_t task, Date as_of) {
  auto it = engines_.find(task);
  if (it != engines_.end()) return it->second.get();
  EngineOptions options = options_;
  options.as_of = as_of;
  options.task = static_cast<uint16_t>(task);
  options.memory_bytes = memory_per_task_;
  options.dims = &dims_;
  auto engine = Engine::Open(store_, calendar_, options);
  if (!engine) return std::unexpected(TaskError(task, engine.error()));
  return engines_.emplace(task, std::move(*engine)).first->second.get();
}

void TaskSet::Budget(const std::set<int32_t>& owned) {
  memory_per_task_ = memory_bytes_ / std::max<size_t>(1, owned.size());
}

std::set<int32_t> TaskSet::owned() const {
  std::set<int32_t> out;
  for (const auto& [task, engine] : engines_) out.insert(task);
  return out;
}

Date TaskSet::LatestAsOf() const {
  Date latest(0);
  for (const auto& [task, engine] : engines_) latest = std::max(latest, engine->as_of());
  return latest;
}

std::expected<bool, std::string> TaskSet::Advance(Date as_of) {
  bool advanced = false;
  for (auto& [task, engine] : engines_) {
    if (engine->as_of() >= as_of) continue;
    if (auto r = engine->AdvanceAsOf(as_of); !r) {
      return std::unexpected("advancing as_of: " + TaskError(task, r.error()));
    }
    advanced = true;
  }
  return advanced;
}

std::expected<std::vector<Row>, std::string> TaskSet::Table(std::optional<Kpi> kpi) {
  std::vector<Row> parts;
  for (const auto& [task, engine] : engines_) {
    auto part = engine->Table(kpi);
    if (!part) return std::unexpected(TaskError(task, part.error()));
    if (engines_.size() == 1) return std::move(*part);  // already in the table's form
    std::move(part->begin(), part->end(), std::back_inserter(parts));
  }
  return SumRows(std::move(parts));
}

std::expected<void, std::string> TaskSet::PrepareCommit() {
  for (auto& [task, engine] : engines_) {
    if (auto rows = engine->PrepareCommit(); !rows) {
      return std::unexpected(TaskError(task, rows.error()));
    }
  }
  return {};
}

std::expected<std::vector<Row>, std::string> TaskSet::ChangedTotals() {
  std::unordered_map<uint64_t, Row> changed;  // by packed cell key; the first task's row
  for (auto& [task, engine] : engines_) {
    auto rows = engine->PrepareCommit();
    if (!rows) return std::unexpected(TaskError(task, rows.error()));
    for (Row& row : *rows) {
      if (row.week <= engine->as_of().WeekStart()) changed.try_emplace(row.cell, std::move(row));
    }
  }
  std::vector<Row> totals;
  totals.reserve(changed.size());
  for (auto& [cell, row] : changed) totals.push_back(std::move(row));
  // Packed-key order: deterministic (kpi, week, then dimension by interning order).
  std::sort(totals.begin(), totals.end(),
            [](const Row& x, const Row& y) { return x.cell < y.cell; });
  for (Row& total : totals) {
    total.count = total.base = 0;
    total.revision = 0;
    for (const auto& [task, engine] : engines_) {
      auto part = engine->CommittedCell(total.cell);
      if (!part) return std::unexpected(TaskError(task, part.error()));
      if (*part) {
        total.count += (*part)->count;
        total.base += (*part)->base;
        total.revision += (*part)->revision;
      }
    }
  }
  return totals;
}

state::WriteBatch TaskSet::TakeBatch() {
  state::WriteBatch batch;
  for (auto& [task, engine] : engines_) {
    state::WriteBatch part = engine->TakeBatch();
    if (batch.empty()) {
      batch = std::move(part);
    } else {
      std::move(part.begin(), part.end(), std::back_inserter(batch));
    }
  }
  return batch;
}

bool TaskSet::CommitWanted() const {
  return std::any_of(engines_.begin(), engines_.end(),
                     [](const auto& e) { return e.second->CommitWanted(); });
}

EngineStats TaskSet::Stats() const {
  EngineStats sum;
  for (const auto& [task, engine] : engines_) {
    const EngineStats s = engine->stats();
    sum.applied += s.applied;
    sum.stale += s.stale;
    sum.live_missing_marks += s.live_missing_marks;
    sum.children_loaded += s.children_loaded;
    sum.children_evicted += s.children_evicted;
    sum.hot_children += s.hot_children;
    sum.hot_bytes += s.hot_bytes;
    sum.cells_loaded += s.cells_loaded;
    sum.cells_evicted += s.cells_evicted;
    sum.hot_cells += s.hot_cells;
  }
  return sum;
}

uint64_t TaskSet::Evictions() const {
  uint64_t evicted = 0;
  for (const auto& [task, engine] : engines_) {
    evicted += engine->stats().children_evicted + engine->stats().cells_evicted;
  }
  return evicted;
}

}  // namespace kpi
