#include "processor/runtime/published_topic.h"

#include <map>
#include <set>
#include <utility>

#include "processor/published.h"
#include "processor/row_formats.h"

namespace kpi::runtime {

GroupRows GroupsOf(const sinks::KpiView& view) {
  return [&view](Kpi kpi, Date week) {
    sinks::ViewQuery group;
    group.kpi = kpi;
    group.week = week;
    return view.Query(group);
  };
}

std::vector<OutMessage> PublishedMessages(const Config& config, const std::vector<Row>& changed,
                                          const GroupRows& before, const std::string& as_of,
                                          int64_t emitted_unix_ms) {
  std::vector<OutMessage> out;
  if (config.published_topic.empty()) return out;
  std::map<std::pair<Kpi, Date>, std::vector<const Row*>> touched;
  for (const Row& row : changed) touched[{row.kpi, row.week}].push_back(&row);
  for (const auto& [group, rows] : touched) {
    std::map<std::string, Row> now;  // by dimension
    for (Row& row : before(group.first, group.second)) {
      std::string dimension = row.dimension;
      now.emplace(std::move(dimension), std::move(row));
    }
    std::set<std::string> left;  // rows that fell to 0/0: no longer in the table
    for (const Row* row : rows) {
      if (row->count == 0 && row->base == 0) {
        now.erase(row->dimension);
        left.insert(row->dimension);
      } else {
        now.insert_or_assign(row->dimension, *row);
        left.erase(row->dimension);
      }
    }
    std::vector<Row> table;
    table.reserve(now.size());
    for (auto& [dimension, row] : now) table.push_back(std::move(row));
    const std::vector<bool> suppressed = Suppressed(table, config.publish_small_count);
    for (size_t i = 0; i < table.size(); ++i) {
      out.push_back(
          {config.published_topic,
           RowKeyIn(table[i], config.output_key_format),
           PublishedValue(table[i], suppressed[i], config.output_format, as_of, emitted_unix_ms),
           {}});
    }
    for (const std::string& dimension : left) {
      Row gone{group.first, group.second, dimension, 0, 0, 0, 0};
      OutMessage tombstone{
          config.published_topic, RowKeyIn(gone, config.output_key_format), {}, {}};
      tombstone.tombstone = true;
      out.push_back(std::move(tombstone));
    }
  }
  return out;
}

}  // namespace kpi::runtime
