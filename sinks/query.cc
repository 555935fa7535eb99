#include "sinks/query.h"

#include <algorithm>
#include <map>

#include "processor/output.h"
#include "processor/published.h"

namespace kpi::sinks {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> UrlDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

HttpResponse Error(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = "{\"error\":";
  AppendJsonString(r.body, message);
  r.body += "}\n";
  return r;
}

// A request's own text quoted in an error: at most 64 bytes of it, so that an error answer stays
// small whatever the request (fuzz_query found a 4 KB query echoed as 24 KB of escapes).
std::string Echo(std::string_view text) {
  constexpr size_t kMax = 64;
  return text.size() <= kMax ? std::string(text) : std::string(text.substr(0, kMax)) + "...";
}

HttpResponse Text(int status, std::string body) {
  return HttpResponse{status, "text/plain; charset=utf-8", std::move(body)};
}

}  // namespace

std::optional<std::map<std::string, std::string>> ParseQueryString(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    auto name = UrlDecode(pair.substr(0, eq));
    auto value = UrlDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!name || !value) return std::nullopt;
    out[*name] = *value;
  }
  return out;
}

// Whether each of `rows` is suppressed in the published table: each row's whole (kpi, week)
// group is read from the view, whatever the query selected of it.
static std::vector<bool> PublishedFlags(const KpiView& view, const std::vector<Row>& rows,
                                        int small_count) {
  std::map<std::pair<Kpi, Date>, std::map<std::string, bool>> groups;
  for (const Row& row : rows) groups.try_emplace({row.kpi, row.week});
  for (auto& [key, flags] : groups) {
    ViewQuery group;
    group.kpi = key.first;
    group.week = key.second;
    const std::vector<Row> members = view.Query(group);
    const std::vector<bool> s = Suppressed(members, small_count);
    for (size_t i = 0; i < members.size(); ++i) flags[members[i].dimension] = s[i];
  }
  std::vector<bool> out;
  out.reserve(rows.size());
  for (const Row& row : rows) out.push_back(groups[{row.kpi, row.week}][row.dimension]);
  return out;
}

HttpResponse HandleKpiQuery(const RuntimeProbe& probe, std::string_view query) {
  if (!probe.ready()) return Error(503, "not ready: partitions are not assigned and restored");
  const auto params = ParseQueryString(query);
  if (!params) return Error(400, "malformed query string");
  const std::optional<Date> as_of = probe.view().as_of();
  if (!as_of) return Error(503, "not ready: no table yet");
  ViewQuery q;
  bool published = false;
  for (const auto& [name, value] : *params) {
    if (name == "view") {
      if (value != "exact" && value != "published") {
        return Error(400, "view: expected exact or published");
      }
      published = value == "published";
    } else if (name == "kpi") {
      q.kpi = KpiFromName(value);
      if (!q.kpi) return Error(400, "kpi: unknown KPI '" + Echo(value) + "' (KPIS.md names)");
    } else if (name == "week") {
      if (value == "current") {
        q.week = as_of->WeekStart();
      } else if (value == "previous") {
        q.week = as_of->WeekStart() - 7;
      } else if (const std::optional<Date> d = Date::Parse(value)) {
        q.week = d->WeekStart();
      } else {
        return Error(400, "week: expected YYYY-MM-DD, current or previous");
      }
    } else if (name == "dimension") {
      if (std::find(kDimensionKinds.begin(), kDimensionKinds.end(), value) !=
          kDimensionKinds.end()) {
        q.dimension_kind = value;
      } else if (value.find('=') != std::string::npos) {
        q.dimension = value;
      } else {
        return Error(400,
                     "dimension: expected a kind (all, school, year, sen, category, age, gender, "
                     "ethnicity, outcome) or a value like year=7");
      }
    } else {
      return Error(400, "unknown parameter '" + Echo(name) + "' (kpi, week, dimension, view)");
    }
  }
  const std::string as_of_text = as_of->ToString();
  HttpResponse r;
  r.body = "{\"as_of\":\"" + as_of_text + "\",\"rows\":[";
  bool first = true;
  const std::vector<Row> rows = probe.view().Query(q);
  const std::vector<bool> suppressed =
      published ? PublishedFlags(probe.view(), rows, probe.small_count()) : std::vector<bool>();
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!first) r.body.push_back(',');
    first = false;
    if (!published) {
      r.body += RowToJson(rows[i], as_of_text);
    } else if (suppressed[i]) {
      r.body += PublishedRowToJson(rows[i], true);
      r.body.pop_back();  // newline
    } else {
      std::string line = RowToJson(rows[i], as_of_text);
      line.pop_back();  // '}'
      r.body += line + ",\"suppressed\":false}";
    }
  }
  r.body += "]}\n";
  return r;
}

HttpResponse HandleHealth(const RuntimeProbe& probe, int64_t now_steady_ms, int64_t stall_ms) {
  const int64_t beat = probe.last_heartbeat_ms();
  if (beat == 0) return Text(503, "starting\n");
  if (now_steady_ms - beat > stall_ms) {
    return Text(503, "stalled: the main loop has not reported for " +
                         std::to_string((now_steady_ms - beat) / 1000) + " s\n");
  }
  return Text(200, "ok\n");
}

HttpResponse HandleReady(const RuntimeProbe& probe) {
  if (probe.ready()) return Text(200, "ready\n");
  // Scaled out: how far the restores have come (as of the last status report).
  const std::optional<ScaleStatus> scale = probe.Snapshot().status.scale;
  if (scale && scale->tasks_restoring > 0) {
    return Text(503, "not ready: restoring " + std::to_string(scale->tasks_restoring) +
                         " task(s), " + std::to_string(scale->restore_records_remaining) +
                         " changelog record(s) left to read; " +
                         std::to_string(scale->tasks_owned) + " task(s) serving\n");
  }
  return Text(503, "not ready\n");
}

HttpResponse HandleHttp(const RuntimeProbe& probe, std::string_view method, std::string_view path,
                        std::string_view query, int64_t now_steady_ms, int64_t stall_ms) {
  if (path != "/kpi" && path != "/healthz" && path != "/readyz") {
    return Error(404, "not found: the paths are /kpi, /healthz and /readyz");
  }
  if (method != "GET" && method != "HEAD") return Error(405, "method not allowed: use GET");
  if (path == "/kpi") return HandleKpiQuery(probe, query);
  if (path == "/healthz") return HandleHealth(probe, now_steady_ms, stall_ms);
  return HandleReady(probe);
}

}  // namespace kpi::sinks
