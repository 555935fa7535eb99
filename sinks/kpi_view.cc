#include "sinks/kpi_view.h"

namespace kpi::sinks {

std::string_view DimensionKind(std::string_view dimension) {
  const size_t eq = dimension.find('=');
  return eq == std::string_view::npos ? dimension : dimension.substr(0, eq);
}

void KpiView::Reset(const std::vector<Row>& rows, Date as_of) {
  std::map<Key, Row> fresh;
  for (Row& row : SumRows(rows)) {
    Key key{KpiName(row.kpi), row.week, row.dimension};
    fresh.emplace(std::move(key), std::move(row));
  }
  const std::lock_guard lock(mu_);
  rows_ = std::move(fresh);
  as_of_ = as_of;
}

void KpiView::Upsert(const std::vector<Row>& rows, Date as_of) {
  const std::lock_guard lock(mu_);
  for (const Row& row : rows) {
    Key key{KpiName(row.kpi), row.week, row.dimension};
    if (row.count == 0 && row.base == 0) {
      rows_.erase(key);
    } else {
      rows_.insert_or_assign(std::move(key), row);
    }
  }
  as_of_ = as_of;
}

std::vector<Row> KpiView::Query(const ViewQuery& q) const {
  std::vector<Row> out;
  const std::lock_guard lock(mu_);
  auto it = rows_.begin();
  auto end = rows_.end();
  if (q.kpi) {  // one KPI: its range of the map
    const std::string_view name = KpiName(*q.kpi);
    it = rows_.lower_bound(Key{name, Date(INT32_MIN), ""});
    end = rows_.upper_bound(Key{name, Date(INT32_MAX), ""});
  }
  while (it != end) {
    if (q.week && it->second.week != *q.week) {
      // Jump to the week within this KPI, or past this KPI's weeks: a scrape reads two weeks
      // of a table that holds every week, under the lock that commits wait for.
      const std::string_view name = std::get<0>(it->first);
      const Date to = it->second.week < *q.week ? *q.week : Date(INT32_MAX);
      it = rows_.lower_bound(Key{name, to, ""});
      continue;
    }
    const Row& row = (it++)->second;
    if (q.dimension && row.dimension != *q.dimension) continue;
    if (q.dimension_kind && DimensionKind(row.dimension) != *q.dimension_kind) continue;
    out.push_back(row);
  }
  return out;
}

std::optional<Date> KpiView::as_of() const {
  const std::lock_guard lock(mu_);
  return as_of_;
}

size_t KpiView::size() const {
  const std::lock_guard lock(mu_);
  return rows_.size();
}

}  // namespace kpi::sinks
