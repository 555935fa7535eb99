// KpiView: the committed global KPI table, as the output topic has it, for readers on other
// threads (HTTP queries, Prometheus gauges). The runtime replaces it on assignment and upserts
// the rows of every commit; a row whose count and base are both 0 is absent, as in the replay
// table.
//
// Thread-safety: every method is safe from any thread (one mutex; readers copy out).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "processor/date.h"
#include "processor/engine.h"
#include "processor/kpis.h"

namespace kpi::sinks {

struct ViewQuery {
  std::optional<Kpi> kpi = std::nullopt;
  std::optional<Date> week = std::nullopt;  // a week_start (Monday)
  std::optional<std::string> dimension = std::nullopt;
  std::optional<std::string> dimension_kind = std::nullopt;  // "all", "school", "year", "sen"
};

class KpiView {
 public:
  // Replaces the whole table (rows may come from several tasks: equal keys are summed, as the
  // runtime's global rows are).
  void Reset(const std::vector<Row>& rows, Date as_of);
  // Sets each row's committed value; a 0/0 row is removed.
  void Upsert(const std::vector<Row>& rows, Date as_of);

  // Rows matching `q`, sorted by kpi name, week_start, dimension (the replay table's order).
  std::vector<Row> Query(const ViewQuery& q) const;
  // nullopt before the first Reset.
  std::optional<Date> as_of() const;
  size_t size() const;

 private:
  using Key = std::tuple<std::string_view, Date, std::string>;  // kpi name (static), week, dim
  mutable std::mutex mu_;
  std::map<Key, Row> rows_;
  std::optional<Date> as_of_;
};

// "school=100001" -> "school"; "all" -> "all".
std::string_view DimensionKind(std::string_view dimension);
// Every dimension kind, the four of KPIS.md and the extra cut families of KPIS-2.md, in the order
// the metrics select them (the cap drops the later ones first).
inline constexpr std::array<std::string_view, 9> kDimensionKinds = {
    "all", "sen", "year", "school", "category", "age", "gender", "ethnicity", "outcome"};

}  // namespace kpi::sinks
