// kpi-replay-bench: replay throughput of the KPI core on one core, beside the limit of the same
// run: a parse-only pass over the same input. Attendance-heavy generated input, decoded from
// NDJSON (the fast path) and from protobuf. Everything is in memory before the clock starts;
// state is the in-memory store, committed every --commit-every events as `replay` does.
//
//   build/bin/kpi-replay-bench --children 2000 --weeks 26
//   build/bin/kpi-replay-bench --children 1000 --start 2021-09-06 --weeks 234   (4.5 years)
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "processor/calendar.h"
#include "processor/engine.h"
#include "processor/validate.h"
#include "state/memory_store.h"
#include "tools/gen/generator.h"
#include "tools/guarded_main.h"

namespace {

// The thread's CPU time, not the wall clock: on this shared VM the hypervisor steals up to a
// quarter of the time (top's `st`), which made wall-clock figures of the same binary vary by two.
// Events per CPU-second of one thread is what "on one core" means.
struct Clock {
  using time_point = double;
  static double now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
};

double Seconds(double since) { return Clock::now() - since; }

template <typename Decode>
double ParseOnly(const std::vector<std::string>& input, Decode decode, uint64_t& decoded) {
  const auto start = Clock::now();
  decoded = 0;
  for (const std::string& in : input) decoded += decode(in).has_value() ? 1 : 0;
  return Seconds(start);
}

template <typename Decode>
double Replay(const std::vector<std::string>& input, Decode decode, kpi::Date as_of,
              uint64_t commit_every, bool durable, size_t& rows) {
  const kpi::Calendar calendar;
  kpi::state::MemoryStore store;
  kpi::EngineOptions options;
  options.as_of = as_of;
  options.durable = durable;
  kpi::EventReader validator;
  auto engine = std::move(*kpi::Engine::Open(store, calendar, options));
  const auto start = Clock::now();
  uint64_t since = 0;
  const auto commit = [&] {
    auto rows = engine->PrepareCommit();
    if (!rows || !store.Write(engine->TakeBatch())) {
      std::fprintf(stderr, "kpi-replay-bench: commit failed\n");
      std::exit(1);
    }
  };
  for (const std::string& in : input) {
    auto event = decode(in);
    if (!event) continue;
    auto valid = validator.Validate(**event, as_of);
    if (!valid) continue;
    if (auto applied = engine->Apply(**valid); !applied) {
      std::fprintf(stderr, "kpi-replay-bench: state error: %s\n", applied.error().message.c_str());
      std::exit(1);
    }
    if (++since >= commit_every) {
      commit();
      since = 0;
    }
  }
  commit();
  const double seconds = Seconds(start);
  rows = engine->Table().value().size();
  return seconds;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"kpi-replay-bench: replay events/s on one core beside a parse-only pass"};
  kpi::gen::Params p;
  p.children = 2000;
  p.weeks = 26;
  uint64_t commit_every = 100000;
  app.add_option("--children", p.children)->capture_default_str();
  app.add_option("--weeks", p.weeks)->capture_default_str();
  std::string start;
  app.add_option("--start", start, "first day of the period, YYYY-MM-DD (kpi-gen's default)");
  app.add_option("--commit-every", commit_every)->capture_default_str();
  std::string only;
  app.add_option("--only", only, "run one format's replay only (for a profile), 5 times")
      ->check(CLI::IsMember({"ndjson", "protobuf"}));
  CLI11_PARSE(app, argc, argv);
  if (!start.empty()) {
    const std::optional<kpi::Date> d = kpi::Date::Parse(start);
    if (!d) {
      std::fprintf(stderr, "kpi-replay-bench: --start must be YYYY-MM-DD\n");
      return 2;
    }
    p.start = *d;
  }

  std::vector<std::string> json;
  kpi::gen::Generate(p, [&](std::string_view line) { json.emplace_back(line); });
  std::vector<std::string> proto;
  for (const std::string& line : json) {
    auto e = kpi::DecodeJsonWithProtobuf(line);
    proto.push_back(e ? e->SerializeAsString() : line);
  }
  const kpi::Date as_of = kpi::gen::PeriodEnd(p);
  const auto n = static_cast<double>(json.size());
  std::printf("input: %zu events (%u children, %u weeks, attendance-heavy), as_of %s\n",
              json.size(), p.children, p.weeks, as_of.ToString().c_str());
  std::printf("events per CPU-second of one thread (the clock excludes time stolen by the host)\n");
  std::printf("%-10s %16s %16s %8s %18s %8s\n", "format", "parse-only ev/s", "replay ev/s", "ratio",
              "+ state writes ev/s", "rows");
  // Decoding into a reused message, as `replay` and `run` do.
  kpi::EventReader reader;
  const auto json_decode = [&](const std::string& s) { return reader.DecodeJson(s); };
  const auto proto_decode = [&](const std::string& s) { return reader.DecodeProtobuf(s); };
  if (!only.empty()) {
    const bool pb = only == "protobuf";
    for (int i = 0; i < 5; ++i) {
      size_t rows = 0;
      const double seconds = pb ? Replay(proto, proto_decode, as_of, commit_every, false, rows)
                                : Replay(json, json_decode, as_of, commit_every, false, rows);
      std::printf("%-10s %16s %16.0f %8s %18s %8zu\n", only.c_str(), "-", n / seconds, "-", "-",
                  rows);
    }
    return 0;
  }
  for (int f = 0; f < 2; ++f) {
    uint64_t decoded = 0;
    size_t rows = 0;
    const double parse =
        f == 0 ? ParseOnly(json, json_decode, decoded) : ParseOnly(proto, proto_decode, decoded);
    // `replay` without --state: the table only. Then the same with every change written behind
    // into the in-memory store at each commit, as `replay --state` does into RocksDB.
    double seconds[2];
    for (const bool durable : {false, true}) {
      seconds[durable ? 1 : 0] =
          f == 0 ? Replay(json, json_decode, as_of, commit_every, durable, rows)
                 : Replay(proto, proto_decode, as_of, commit_every, durable, rows);
    }
    std::printf("%-10s %16.0f %16.0f %8.3f %18.0f %8zu\n", f == 0 ? "ndjson" : "protobuf",
                n / parse, n / seconds[0], parse / seconds[0], n / seconds[1], rows);
  }
  // The register's afternoon present marks ("\\" in JSON, an escape) written '/' instead: the
  // same table; the escape must cost the fast path nothing worth naming (goal: within 10%).
  {
    std::vector<std::string> slash = json;
    size_t rewritten = 0;
    for (std::string& line : slash) {
      const size_t at = line.find(R"("code":"\\")");
      if (at == std::string::npos) continue;
      line.replace(at, 11, R"("code":"/")");
      ++rewritten;
    }
    size_t rows = 0;
    size_t slash_rows = 0;
    const double real = Replay(json, json_decode, as_of, commit_every, false, rows);
    const double plain = Replay(slash, json_decode, as_of, commit_every, false, slash_rows);
    std::printf(
        "ndjson, afternoon marks '\\' (%zu, escaped) against the same written '/': %.0f and %.0f "
        "ev/s, ratio %.3f (goal >= 0.9); rows %zu and %zu\n",
        rewritten, n / real, n / plain, plain / real, rows, slash_rows);
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("peak RSS: %.0f MiB (input held in memory twice)\n",
              static_cast<double>(usage.ru_maxrss) / 1024.0);
  return 0;
}

int main(int argc, char** argv) {
  return kpi::tools::GuardedMain("kpi-replay-bench", [&] { return Main(argc, argv); });
}
