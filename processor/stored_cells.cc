#include "processor/stored_cells.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "processor/coding.h"

namespace kpi {

std::expected<void, state::Error> StoredCells::Open() {
  const size_t load_bytes = memory_bytes_ / 8;
  if (memory_bytes_ != 0) {
    cells_.SetReload([this](CellTable::Cell& cell) {
      auto stored = Read(cell.key);
      if (!stored) {
        Latch(stored.error());
        return false;
      }
      if (*stored) {
        cell.count = cell.committed_count = (*stored)->count;
        cell.base = cell.committed_base = (*stored)->base;
        cell.revision = (*stored)->revision;
      }
      ++loaded_;
      return true;
    });
  }
  const std::string prefix = keys::TablePrefix(task_, keys::kCell);
  auto scanned = Scan(prefix, state::PrefixEnd(prefix),
                      [&](const keys::CellKeyParts& parts, const StoredCell& cell) {
                        if (load_bytes != 0 && cells_.bytes() >= load_bytes) {
                          cells_.MarkMaybeStored(parts.week);
                        } else {
                          cells_.Load(PackCell(parts.kpi, parts.week, dims_.Intern(parts.dim)),
                                      cell.count, cell.base, cell.revision);
                        }
                        return true;
                      });
  if (!scanned) return scanned;
  if (cells_.corrupt()) return std::unexpected(state::Corruption("negative KPI cell"));
  return {};
}

void StoredCells::Evict() {
  if (memory_bytes_ == 0 || cells_.bytes() <= memory_bytes_ / 4) return;
  // Down to an eighth, counting each kept cell with its share of the index.
  const size_t per_cell = sizeof(CellTable::Cell) + 4 * sizeof(uint32_t);
  evicted_ += cells_.Evict(memory_bytes_ / 8 / per_cell);
}

std::expected<std::optional<StoredCell>, state::Error> StoredCells::Read(uint64_t cell) {
  auto value =
      buffer_.Get(keys::CellKey(task_, CellKpi(cell), CellWeek(cell), dims_.Name(CellDim(cell))));
  if (!value) return std::unexpected(value.error());
  if (!*value) return std::optional<StoredCell>();
  std::optional<StoredCell> stored = DecodeCell(**value);
  if (!stored) return std::unexpected(state::Corruption("bad KPI cell"));
  return stored;
}

std::expected<std::optional<StoredCell>, state::Error> StoredCells::Committed(uint64_t cell) {
  if (const CellTable::Cell* hot = cells_.Find(cell)) {
    return StoredCell{hot->committed_count, hot->committed_base, hot->revision};
  }
  if (!cells_.MaybeStored(CellWeek(cell))) return std::optional<StoredCell>();
  return Read(cell);
}

std::expected<void, state::Error> StoredCells::Scan(
    std::string_view from, std::string_view to,
    const std::function<bool(const keys::CellKeyParts&, const StoredCell&)>& visit) {
  std::optional<state::Error> bad;
  auto scanned = buffer_.Scan(from, to, [&](std::string_view key, std::string_view value) {
    const std::optional<keys::CellKeyParts> parts = keys::ParseCellKey(key);
    const std::optional<StoredCell> stored = DecodeCell(value);
    if (!parts || !stored) {
      bad = state::Corruption("bad KPI cell");
      return false;
    }
    return visit(*parts, *stored);
  });
  if (!scanned) return scanned;
  if (bad) return std::unexpected(*bad);
  return {};
}

void StoredCells::LoadWeeks(Date after, Date upto) {
  const bool any = std::ranges::any_of(cells_.evicted_weeks(), [&](int32_t week) {
    return Date(week) > after && Date(week) <= upto;
  });
  if (!any) return;
  for (const Kpi kpi : AllKpis()) {
    std::string from = keys::TablePrefix(task_, keys::kCell);
    from.push_back(static_cast<char>(kpi));
    std::string to = from;
    keys::AppendDate(from, after + 1);
    keys::AppendDate(to, upto + 1);
    auto scanned = Scan(from, to, [&](const keys::CellKeyParts& parts, const StoredCell& stored) {
      const uint64_t packed = PackCell(parts.kpi, parts.week, dims_.Intern(parts.dim));
      if (cells_.Find(packed) == nullptr) {
        cells_.Load(packed, stored.count, stored.base, stored.revision);
        ++loaded_;
      }
      return true;
    });
    if (!scanned) {
      Latch(scanned.error());
      return;
    }
  }
}

std::vector<Row> StoredCells::TakeChanged(bool durable, state::WriteBatch& batch) {
  std::vector<Row> changed;
  cells_.TakeDirty([&](CellTable::Cell& cell) {
    if (!cell.emit && cell.count == cell.committed_count && cell.base == cell.committed_base) {
      return;
    }
    ++cell.revision;
    cell.committed_count = cell.count;
    cell.committed_base = cell.base;
    const Kpi kpi = CellKpi(cell.key);
    const Date week = CellWeek(cell.key);
    const std::string& dim = dims_.Name(CellDim(cell.key));
    if (durable) {
      batch.push_back({keys::CellKey(task_, kpi, week, dim),
                       EncodeCell({cell.count, cell.base, cell.revision})});
    }
    changed.push_back({kpi, week, dim, cell.count, cell.base, cell.revision, cell.key});
  });
  return changed;
}

std::expected<std::vector<Row>, state::Error> StoredCells::Table(std::optional<Kpi> kpi,
                                                                 Date last_week) {
  std::vector<Row> rows;
  const auto add = [&](uint64_t key, int64_t count, int64_t base, uint64_t revision) {
    const Date week = CellWeek(key);
    if (week > last_week || (count == 0 && base == 0)) return;
    rows.push_back({CellKpi(key), week, dims_.Name(CellDim(key)), count, base, revision, key});
  };
  for (const CellTable::Cell& cell : cells_.cells()) {
    if (kpi && CellKpi(cell.key) != *kpi) continue;
    add(cell.key, cell.committed_count, cell.committed_base, cell.revision);
  }
  if (!cells_.evicted_weeks().empty()) {
    // The cells not in memory, from the store (those in memory hold the same committed values).
    std::string from = keys::TablePrefix(task_, keys::kCell);
    if (kpi) from.push_back(static_cast<char>(*kpi));
    auto scanned = Scan(from, state::PrefixEnd(from),
                        [&](const keys::CellKeyParts& parts, const StoredCell& stored) {
                          const uint64_t packed =
                              PackCell(parts.kpi, parts.week, dims_.Intern(parts.dim));
                          if (cells_.Find(packed) == nullptr) {
                            add(packed, stored.count, stored.base, stored.revision);
                          }
                          return true;
                        });
    if (!scanned) return std::unexpected(scanned.error());
  }
  std::sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) {
    const std::string_view xn = KpiName(x.kpi);
    const std::string_view yn = KpiName(y.kpi);
    if (xn != yn) return xn < yn;
    if (x.week != y.week) return x.week < y.week;
    return x.dimension < y.dimension;
  });
  return rows;
}

std::vector<Row> SumRows(std::vector<Row> parts) {
  std::map<std::tuple<std::string_view, Date, std::string_view>, Row*> sum;
  std::vector<Row> rows;
  rows.reserve(parts.size());
  for (Row& part : parts) {
    const auto [it, inserted] = sum.try_emplace({KpiName(part.kpi), part.week, part.dimension});
    if (inserted) {
      it->second = &part;
    } else {
      it->second->count += part.count;
      it->second->base += part.base;
      it->second->revision += part.revision;
    }
  }
  for (auto& [key, row] : sum) {
    if (row->count != 0 || row->base != 0) rows.push_back(std::move(*row));
  }
  return rows;
}

}  // namespace kpi
