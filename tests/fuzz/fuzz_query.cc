// Fuzz target: the HTTP query layer (/kpi's query string, the dispatcher). Properties: any
// method, path and query gives a response with a status the server can send (200, 400, 404,
// 405 or 503) and a body that never echoes an unbounded share of the input; a query string that
// ParseQueryString accepts answers /kpi with 200 or 400, never 5xx, once the table is served.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "processor/kpis.h"
#include "sinks/query.h"
#include "tests/fuzz/require.h"

namespace {

const kpi::sinks::RuntimeProbe& Probe() {
  static kpi::sinks::RuntimeProbe* probe = [] {
    auto* p = new kpi::sinks::RuntimeProbe({"contacts"});
    std::vector<kpi::Row> rows;
    kpi::Row row;
    row.kpi = kpi::Kpi::kContacts;
    row.week = kpi::Date::FromYmd(2026, 3, 2);
    row.dimension = "all";
    row.count = 3;
    row.base = 0;
    rows.push_back(row);
    row.dimension = "school=100001";
    rows.push_back(row);
    p->Assigned(rows, kpi::Date::FromYmd(2026, 3, 6));
    return p;
  }();
  return *probe;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  // method \n path \n query
  const size_t a = in.find('\n');
  const size_t b = a == std::string_view::npos ? a : in.find('\n', a + 1);
  const std::string_view method = in.substr(0, a);
  const std::string_view path = a == std::string_view::npos ? "/kpi" : in.substr(a + 1, b - a - 1);
  const std::string_view query = b == std::string_view::npos ? in : in.substr(b + 1);
  const auto r = kpi::sinks::HandleHttp(Probe(), method, path, query, 0, 1000);
  kpi::fuzz::Require(
      r.status == 200 || r.status == 400 || r.status == 404 || r.status == 405 || r.status == 503,
      "a status the server sends");
  kpi::fuzz::Require(r.status == 200 || r.body.size() <= 4096 + (2 * in.size()),
                     "an error body of bounded size");
  if (kpi::sinks::ParseQueryString(query)) {
    const auto k = kpi::sinks::HandleKpiQuery(Probe(), query);
    kpi::fuzz::Require(k.status == 200 || k.status == 400, "/kpi answers 200 or 400");
  }
  return 0;
}
