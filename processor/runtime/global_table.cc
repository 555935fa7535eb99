#include "processor/runtime/global_table.h"

#include <algorithm>
#include <tuple>

#include "processor/coding.h"
#include "processor/output.h"

namespace kpi::runtime {

bool CellsRecord::operator==(const CellsRecord& o) const {
  const auto same = [](const Row& a, const Row& b) {
    return a.kpi == b.kpi && a.week == b.week && a.dimension == b.dimension && a.count == b.count &&
           a.base == b.base && a.revision == b.revision;
  };
  return epoch == o.epoch && snapshot == o.snapshot && part == o.part && parts == o.parts &&
         as_of == o.as_of && rows.size() == o.rows.size() &&
         std::equal(rows.begin(), rows.end(), o.rows.begin(), same);
}

std::string EncodeCellsRecord(const CellsRecord& r) {
  std::string out;
  coding::ByteWriter w(out);
  w.Varint(r.epoch);
  w.U8(r.snapshot ? 1 : 0);
  w.Varint(r.part);
  w.Varint(r.parts);
  w.Day(r.as_of);
  w.Varint(r.rows.size());
  for (const Row& row : r.rows) {
    // The KPI by name: instances of different builds agree on names, not on enum values.
    w.Bytes(KpiName(row.kpi));
    w.Day(row.week);
    w.Bytes(row.dimension);
    w.Signed(row.count);
    w.Signed(row.base);
    w.Varint(row.revision);
  }
  return out;
}

std::optional<CellsRecord> DecodeCellsRecord(std::string_view bytes) {
  std::optional<coding::ByteReader> in = coding::ByteReader::Open(bytes);
  CellsRecord r;
  uint8_t snapshot = 0;
  uint64_t part = 0;
  uint64_t parts = 0;
  uint64_t rows = 0;
  if (!in || !in->Varint(r.epoch) || !in->U8(snapshot) || snapshot > 1 || !in->Varint(part) ||
      !in->Varint(parts) || parts == 0 || part >= parts || parts > UINT32_MAX ||
      !in->Day(r.as_of) || !in->Varint(rows) || rows > bytes.size()) {
    return std::nullopt;
  }
  r.snapshot = snapshot == 1;
  r.part = static_cast<uint32_t>(part);
  r.parts = static_cast<uint32_t>(parts);
  r.rows.resize(rows);
  for (Row& row : r.rows) {
    std::string_view name;
    int64_t count = 0;
    int64_t base = 0;
    if (!in->Bytes(name)) return std::nullopt;
    const std::optional<Kpi> kpi = KpiFromName(name);
    if (!kpi || !in->Day(row.week) || !in->Bytes(row.dimension) || !in->Signed(count) ||
        !in->Signed(base) || !in->Varint(row.revision)) {
      return std::nullopt;
    }
    row.kpi = *kpi;
    row.count = count;
    row.base = base;
  }
  if (!in->done()) return std::nullopt;
  return r;
}

std::vector<CellsRecord> CellsSnapshot(uint64_t epoch, Date as_of, const std::vector<Row>& rows,
                                       size_t rows_per_part) {
  std::vector<CellsRecord> parts(
      std::max<size_t>(1, (rows.size() + rows_per_part - 1) / std::max<size_t>(1, rows_per_part)));
  for (size_t i = 0; i < parts.size(); ++i) {
    CellsRecord& p = parts[i];
    p.epoch = epoch;
    p.snapshot = true;
    p.part = static_cast<uint32_t>(i);
    p.parts = static_cast<uint32_t>(parts.size());
    p.as_of = as_of;
    const size_t from = i * rows_per_part;
    const size_t to = std::min(rows.size(), from + rows_per_part);
    if (from < to)
      p.rows.assign(rows.begin() + static_cast<long>(from), rows.begin() + static_cast<long>(to));
  }
  return parts;
}

void GlobalTable::Unset(const std::string& key, const Part& part) {
  Row& total = totals_.at(key);
  total.count -= part.count;
  total.base -= part.base;
  total.revision -= part.revision;
  changed_.insert(key);
}

void GlobalTable::Set(Task& task, const std::string& key, const Row& row, const Part& part) {
  auto [it, added] = totals_.try_emplace(key, row);
  Row& total = it->second;
  if (added) total.count = total.base = 0, total.revision = 0;
  Part& old = task.cells[key];
  if (!added && old.count == part.count && old.base == part.base && old.revision == part.revision) {
    return;
  }
  total.count += part.count - old.count;
  total.base += part.base - old.base;
  total.revision += part.revision - old.revision;  // unsigned: the sum of the parts is >= 0
  old = part;
  changed_.insert(key);
}

void GlobalTable::Add(int32_t task_id, const std::optional<CellsRecord>& record) {
  if (!record) return;
  const CellsRecord& r = *record;
  Task& task = tasks_[task_id];
  if (r.epoch < task.epoch) return;  // a zombie's
  if (!r.snapshot) {
    if (r.epoch > task.epoch) {  // this epoch's snapshot is gone (retention)
      task.epoch = r.epoch;
      task.synced = false;
    }
    for (const Row& row : r.rows) {
      Set(task, RowKey(row), row, {row.count, row.base, row.revision});
    }
    task.as_of = std::max(task.as_of, r.as_of);
    return;
  }
  if (r.part == 0) {
    task.pending = r;
    task.pending->rows.clear();
    task.pending_cells.clear();
  } else if (!task.pending || task.pending->epoch != r.epoch || task.pending->part + 1 != r.part ||
             task.pending->parts != r.parts) {
    task.pending.reset();  // a part is missing: wait for the next snapshot
    return;
  }
  task.pending->part = r.part;
  for (const Row& row : r.rows) {
    const std::string key = RowKey(row);
    task.pending_cells[key] = {row.count, row.base, row.revision};
    // So that Set at completion knows the row's identity; its total starts at nothing.
    if (auto [it, added] = totals_.try_emplace(key, row); added) {
      it->second.count = it->second.base = 0;
      it->second.revision = 0;
    }
  }
  if (r.part + 1 < r.parts) return;
  // Complete: the task's cells become the snapshot's.
  for (const auto& [key, part] : task.cells) {
    if (!task.pending_cells.contains(key)) Unset(key, part);
  }
  std::erase_if(task.cells, [&](const auto& c) { return !task.pending_cells.contains(c.first); });
  for (const auto& [key, part] : task.pending_cells) {
    Row identity = totals_.at(key);
    Set(task, key, identity, part);
  }
  task.epoch = r.epoch;
  task.synced = true;
  task.as_of = r.as_of;
  task.pending.reset();
  task.pending_cells.clear();
}

void GlobalTable::Touch(const std::string& key) {
  if (totals_.contains(key)) changed_.insert(key);
}

std::vector<Row> GlobalTable::TakeChanged() {
  std::vector<Row> out;
  out.reserve(changed_.size());
  for (const std::string& key : changed_) out.push_back(totals_.at(key));
  changed_.clear();
  return out;
}

std::vector<Row> GlobalTable::All() const {
  std::vector<Row> out;
  out.reserve(totals_.size());
  for (const auto& [key, row] : totals_) out.push_back(row);
  return out;
}

std::optional<Date> GlobalTable::as_of() const {
  std::optional<Date> earliest;
  for (const auto& [id, task] : tasks_) {
    if (task.synced || !task.cells.empty()) {
      earliest = earliest ? std::min(*earliest, task.as_of) : task.as_of;
    }
  }
  return earliest;
}

std::vector<Row> GlobalTable::Table() const {
  std::vector<Row> out;
  const std::optional<Date> upto = as_of();
  if (!upto) return out;
  for (const auto& [key, row] : totals_) {
    if ((row.count != 0 || row.base != 0) && row.week <= upto->WeekStart()) out.push_back(row);
  }
  std::sort(out.begin(), out.end(), [](const Row& a, const Row& b) {
    return std::tuple(KpiName(a.kpi), a.week, std::string_view(a.dimension)) <
           std::tuple(KpiName(b.kpi), b.week, std::string_view(b.dimension));
  });
  return out;
}

bool GlobalTable::synced(int32_t task) const {
  const auto it = tasks_.find(task);
  return it != tasks_.end() && it->second.synced;
}

}  // namespace kpi::runtime
