// kpi-processor: the command-line entry point. Subcommands:
//   replay  NDJSON files -> final KPI table (see --help)
// Exceptions from third-party setup code stop here and become a message and an exit code.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "processor/app/replay.h"

namespace {

std::optional<kpi::Date> ParseDateArg(const std::string& text, const char* what) {
  const auto d = kpi::Date::Parse(text);
  if (!d)
    std::fprintf(stderr, "kpi-processor: %s must be YYYY-MM-DD, got '%s'\n", what, text.c_str());
  return d;
}

int Main(int argc, char** argv) {
  CLI::App app{"kpi-processor: exact weekly KPIs for children's services from event streams"};
  app.require_subcommand(1);

  kpi::app::ReplayOptions replay;
  std::string as_of;
  std::vector<std::string> closures;
  auto* cmd = app.add_subcommand(
      "replay",
      "Read NDJSON events (one JSON Event per line), write the final KPI table as NDJSON rows "
      "{kpi, week_start, dimension, count, base} sorted by kpi, week_start, dimension, leaving "
      "out rows whose count and base are both 0. Bad records go to --dlq as NDJSON "
      "{reason, line, source} and never stop the run. A summary goes to stderr.");
  cmd->add_option("--input", replay.inputs, "NDJSON event file (repeatable; read in order)")
      ->required();
  cmd->add_option("--as-of", as_of, "reporting date YYYY-MM-DD (snapshots, date range checks)")
      ->required();
  cmd->add_option("--output", replay.output, "where to write the KPI table (NDJSON)")->required();
  cmd->add_option("--dlq", replay.dlq, "where to write dead-lettered records (NDJSON)");
  cmd->add_option("--closure", closures,
                  "extra non-working date YYYY-MM-DD (repeatable), e.g. a local closure day");
  cmd->add_option("--assessment-limit", replay.assessment_limit,
                  "assessment timescale in working days")
      ->capture_default_str();
  cmd->add_option("--icpc-limit", replay.icpc_limit, "S47 to ICPC timescale in working days")
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  if (cmd->parsed()) {
    const auto d = ParseDateArg(as_of, "--as-of");
    if (!d) return 2;
    replay.as_of = *d;
    for (const std::string& c : closures) {
      const auto closure = ParseDateArg(c, "--closure");
      if (!closure) return 2;
      replay.closures.push_back(*closure);
    }
    const auto summary = kpi::app::RunReplay(replay);
    if (!summary) {
      std::fprintf(stderr, "kpi-processor replay: %s\n", summary.error().c_str());
      return 1;
    }
    std::fputs(kpi::app::FormatSummary(*summary).c_str(), stderr);
    return 0;
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kpi-processor: fatal: %s\n", e.what());
    return 1;
  }
}
