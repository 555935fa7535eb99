// kpi-processor: the command-line entry point. Subcommands:
//   replay  NDJSON files -> final KPI table
//   run     the streaming processor: Kafka in, KPI rows and dead letters out, RocksDB state
//   state   inspect a state directory (offsets, rows, size)
//   hash-password  a bcrypt hash for the web configuration's basic_auth_users
// Exceptions from third-party setup code stop here and become a message and an exit code.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "processor/app/replay.h"
#include "processor/app/state_commands.h"
#include "processor/runtime/clock.h"
#include "processor/runtime/runtime.h"
#include "sinks/prometheus/server.h"
#include "sinks/web/basic_auth.h"

extern char** environ;

namespace {

std::atomic<kpi::runtime::Runtime*> g_runtime{nullptr};
void OnSignal(int) {
  if (kpi::runtime::Runtime* rt = g_runtime.load()) rt->RequestStop();
}

// One named logger per module; all to stderr.
void CreateLoggers() {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  for (const char* name : {"runtime", "kafka", "sinks"}) {
    auto logger = std::make_shared<spdlog::logger>(name, sink);
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
    spdlog::register_logger(logger);
  }
}

// Raises the soft limit on open files to the hard one: each HTTP port may hold
// http.max_connections sockets besides RocksDB's files and Kafka's. Warns when even the hard limit
// leaves less room than the caps.
void RaiseFileLimit(const kpi::sinks::HttpLimits& limits, spdlog::logger& log) {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return;
  if (files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
    ::getrlimit(RLIMIT_NOFILE, &files);
  }
  const rlim_t wanted = 2 * static_cast<rlim_t>(limits.max_connections) + 1024;
  if (files.rlim_cur < wanted) {
    log.warn(
        "open files are limited to {}, fewer than two ports of http.max_connections ({}) and "
        "1024 for the store and Kafka: raise the limit (ulimit -n) or lower "
        "http.max_connections; meanwhile a port pauses accepting when none are left",
        static_cast<uint64_t>(files.rlim_cur), limits.max_connections);
  }
}

int RunProcessor(const std::string& config_path) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  const auto config = kpi::runtime::LoadConfig(config_path, env);
  if (!config) {
    std::fprintf(stderr, "kpi-processor run: configuration: %s\n", config.error().c_str());
    return kpi::runtime::kExitConfig;
  }
  CreateLoggers();
  const auto log = spdlog::get("runtime");
  const kpi::runtime::SystemClock clock;
  auto rt = kpi::runtime::Runtime::Create(*config, clock, log);
  if (!rt) {
    log->critical("{}", rt.error().message);
    return rt.error().exit_code;
  }
  kpi::sinks::ServerOptions endpoints;
  endpoints.metrics_address = config->metrics_address;
  endpoints.http_address = config->http_address;
  endpoints.stall_ms = int64_t{config->http_stall_seconds} * 1000;
  endpoints.metrics.dimension_kinds = config->metrics_dimensions;
  endpoints.metrics.max_series = static_cast<size_t>(config->metrics_max_series);
  endpoints.web = config->web;
  endpoints.limits = config->http_limits;
  RaiseFileLimit(config->http_limits, *spdlog::get("sinks"));
  auto server = kpi::sinks::Server::Start((*rt)->probe(), endpoints, spdlog::get("sinks"));
  if (!server) {
    log->critical("{}", server.error());
    return kpi::runtime::kExitConfig;
  }
  g_runtime.store(rt->get());
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  auto ran = (*rt)->Run();
  g_runtime.store(nullptr);
  if (!ran) {
    log->critical("{} (exit {})", ran.error().message, ran.error().exit_code);
    return ran.error().exit_code;
  }
  return kpi::runtime::kExitOk;
}

std::optional<kpi::Date> ParseDateArg(const std::string& text, const char* what) {
  const auto d = kpi::Date::Parse(text);
  if (!d)
    std::fprintf(stderr, "kpi-processor: %s must be YYYY-MM-DD, got '%s'\n", what, text.c_str());
  return d;
}

// The replay subcommand's arguments as given, before they are checked into ReplayOptions.
struct ReplayArgs {
  kpi::app::ReplayOptions options;
  std::string as_of;
  std::vector<std::string> closures;
  std::string bank_holidays_file;
  std::vector<std::string> limits;
  std::string partitioner = "consistent_random";
  std::string output_format = "ndjson";
  std::string view = "exact";
};

// "ndjson" or "csv" (an error message names `option` otherwise).
std::optional<kpi::app::TableFormat> ParseTableFormat(const std::string& text, const char* option) {
  if (text == "ndjson") return kpi::app::TableFormat::kNdjson;
  if (text == "csv") return kpi::app::TableFormat::kCsv;
  std::fprintf(stderr, "kpi-processor: %s must be ndjson or csv, got '%s'\n", option, text.c_str());
  return std::nullopt;
}

CLI::App* AddReplay(CLI::App& app, ReplayArgs& args) {
  auto* cmd = app.add_subcommand(
      "replay",
      "Read NDJSON events (one JSON Event per line), write the final KPI table as NDJSON rows "
      "{kpi, week_start, dimension, count, base} sorted by kpi, week_start, dimension, leaving "
      "out rows whose count and base are both 0. Bad records go to --dlq as NDJSON "
      "{reason, line, source} and never stop the run. A summary goes to stderr.");
  cmd->add_option("--input", args.options.inputs, "NDJSON event file (repeatable; read in order)")
      ->required();
  cmd->add_option("--as-of", args.as_of, "reporting date YYYY-MM-DD (snapshots, date range checks)")
      ->required();
  cmd->add_option("--output", args.options.output, "where to write the KPI table (NDJSON)")
      ->required();
  cmd->add_option("--output-format", args.output_format,
                  "ndjson, or csv: a header row (kpi, week_start, dimension, count, base, "
                  "dimension_kind, dimension_value, as_of), then the same rows, for PostgreSQL's "
                  "COPY ... WITH (FORMAT csv, HEADER)")
      ->capture_default_str();
  cmd->add_option("--view", args.view,
                  "exact (the table), or published: KPIS-3.md section 3's table for sharing, "
                  "small values suppressed (NDJSON, \"suppressed\":true or false on each row)")
      ->capture_default_str();
  cmd->add_option("--small-count", args.options.small_count,
                  "with --view published: values from 1 to this are small (publish.small_count)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--dlq", args.options.dlq, "where to write dead-lettered records (NDJSON)");
  cmd->add_option("--closure", args.closures,
                  "extra non-working date YYYY-MM-DD (repeatable), e.g. a local closure day");
  cmd->add_option("--bank-holidays-file", args.bank_holidays_file,
                  "gov.uk bank-holidays.json: its England and Wales dates replace the rules for "
                  "the years it covers (calendar.bank_holidays_file)");
  cmd->add_option("--assessment-limit", args.options.assessment_limit,
                  "assessment timescale in working days")
      ->capture_default_str();
  cmd->add_option("--icpc-limit", args.options.icpc_limit, "S47 to ICPC timescale in working days")
      ->capture_default_str();
  cmd->add_option("--limit", args.limits,
                  "NAME=N: a limit of KPIS-2.md section 6 (calendar.NAME in the config), e.g. "
                  "ehc_plan_days=140 (repeatable)");
  cmd->add_option("--state", args.options.state_dir,
                  "write the durable state into this RocksDB directory, as `run` does, so that "
                  "`run` (state.path) continues live from it; an existing state is added to");
  cmd->add_option("--partitions", args.options.partitions,
                  "with --state: the input topics' partition count (one task each)")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--partitioner", args.partitioner,
                  "with --state: how the producers partition by child_id: consistent_random "
                  "(librdkafka's default, kpi-gen) or murmur2_random (the Java client's)")
      ->capture_default_str();
  cmd->add_option(
         "--memory-mb", args.options.memory_mb,
         "with --state: bound on the children and KPI cells held in memory (state.memory_mb)")
      ->capture_default_str();
  cmd->add_option("--block-cache-mb", args.options.block_cache_mb,
                  "with --state: RocksDB block cache (state.block_cache_mb)")
      ->capture_default_str();
  cmd->add_option("--write-buffer-mb", args.options.write_buffer_mb,
                  "with --state: RocksDB memtable size (state.write_buffer_mb)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--max-record-bytes", args.options.max_record_bytes,
                  "a longer line is dead-lettered too_large without being read whole "
                  "(input.max_record_bytes)")
      ->capture_default_str()
      ->check(CLI::Range(1024, 1 << 30));
  cmd->add_flag("!--no-progress", args.options.progress, "no progress line on a terminal");

  return cmd;
}

// Checks the replay arguments, runs it and prints its summary; the exit code.
int Replay(ReplayArgs& args) {
  const auto d = ParseDateArg(args.as_of, "--as-of");
  if (!d) return 2;
  args.options.as_of = *d;
  const auto format = ParseTableFormat(args.output_format, "--output-format");
  if (!format) return 2;
  args.options.output_format = *format;
  if (args.view != "exact" && args.view != "published") {
    std::fprintf(stderr, "kpi-processor: --view must be exact or published, got '%s'\n",
                 args.view.c_str());
    return 2;
  }
  args.options.published = args.view == "published";
  if (args.options.published && *format != kpi::app::TableFormat::kNdjson) {
    std::fprintf(stderr, "kpi-processor: --view published is written as NDJSON only\n");
    return 2;
  }
  const auto p = kpi::app::PartitionerFromName(args.partitioner);
  if (!p) {
    std::fprintf(stderr,
                 "kpi-processor: --partitioner must be consistent_random or "
                 "murmur2_random, got '%s'\n",
                 args.partitioner.c_str());
    return 2;
  }
  args.options.partitioner = *p;
  for (const std::string& c : args.closures) {
    const auto closure = ParseDateArg(c, "--closure");
    if (!closure) return 2;
    args.options.closures.push_back(*closure);
  }
  for (const std::string& l : args.limits) {
    const size_t eq = l.find('=');
    const std::string name = l.substr(0, eq);
    const auto field = std::find_if(kpi::kKpiLimitFields.begin(), kpi::kKpiLimitFields.end(),
                                    [&](const kpi::KpiLimitField& f) { return f.name == name; });
    int value = 0;
    const char* digits = eq == std::string::npos ? nullptr : l.c_str() + eq + 1;
    const auto [end, ec] = digits == nullptr ? std::from_chars(l.data(), l.data(), value)
                                             : std::from_chars(digits, l.data() + l.size(), value);
    if (field == kpi::kKpiLimitFields.end() || digits == nullptr || ec != std::errc() ||
        end != l.data() + l.size() || value < field->min || value > field->max) {
      std::fprintf(stderr,
                   "kpi-processor: --limit %s: expected NAME=N with NAME a limit of KPIS-2.md "
                   "section 6 or KPIS-3.md section 4 (ehc_plan_days, assessment_warning_days, ...) "
                   "and N from its minimum (1; 0 for a warning) to its maximum\n",
                   l.c_str());
      return 2;
    }
    args.options.limits.*(field->field) = value;
  }
  if (auto past = kpi::WarningPastItsLimit(args.options.limits, args.options.assessment_limit,
                                           args.options.icpc_limit)) {
    std::fprintf(stderr, "kpi-processor: %s\n", past->c_str());
    return 2;
  }
  if (!args.bank_holidays_file.empty()) {
    auto dates = kpi::runtime::LoadBankHolidays(args.bank_holidays_file);
    if (!dates) {
      std::fprintf(stderr, "kpi-processor: --bank-holidays-file: %s\n", dates.error().c_str());
      return 2;
    }
    args.options.official_holidays = std::move(*dates);
  }
  const auto summary = kpi::app::RunReplay(args.options);
  if (!summary) {
    std::fprintf(stderr, "kpi-processor replay: %s\n", summary.error().c_str());
    return 1;
  }
  std::fputs(kpi::app::FormatSummary(*summary).c_str(), stderr);
  return 0;
}

// Hashes the first line of standard input; the exit code.
int HashPasswordCommand(int cost) {
  std::string password;
  if (!std::getline(std::cin, password) || password.empty()) {
    std::fprintf(stderr, "kpi-processor hash-password: no password on standard input\n");
    return 2;
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  const auto hashed = kpi::sinks::HashPassword(password, cost);
  if (!hashed) {
    std::fprintf(stderr, "kpi-processor hash-password: %s\n", hashed.error().c_str());
    return 2;
  }
  std::printf("%s\n", hashed->c_str());
  return 0;
}

int Main(int argc, char** argv) {
  CLI::App app{"kpi-processor: exact weekly KPIs for children's services from event streams"};
  app.require_subcommand(1);

  ReplayArgs replay;
  CLI::App* cmd = AddReplay(app, replay);

  std::string config_path;
  auto* run = app.add_subcommand(
      "run",
      "Run the streaming processor: consume the input topics as a consumer group, keep state in "
      "RocksDB, produce changed KPI rows and dead letters every commit interval. SIGTERM stops "
      "it after a final commit. Exit codes: 0 stopped, 2 configuration, 3 state store, 4 Kafka.");
  run->add_option("--config", config_path, "YAML configuration (KPI_* variables override it)")
      ->required();

  std::string state_path;
  auto* state = app.add_subcommand("state", "Inspect a state directory (read-only)");
  state->require_subcommand(1);
  for (const char* name : {"offsets", "rows", "size"}) {
    state->add_subcommand(name, std::string("show stored ") + name)
        ->add_option("--path", state_path, "state directory")
        ->required();
  }
  std::string export_format = "csv";
  std::string export_output = "-";
  auto* state_export = state->add_subcommand(
      "export",
      "write the KPI table of a state directory (every task, summed; zero rows left out) as "
      "replay writes it, for a warehouse's first load; safe while the processor runs");
  state_export->add_option("--path", state_path, "state directory")->required();
  state_export->add_option("--format", export_format, "csv (with a header row) or ndjson")
      ->capture_default_str();
  state_export->add_option("--output", export_output, "file to write; - for standard output")
      ->capture_default_str();

  int cost = 10;
  auto* hash = app.add_subcommand(
      "hash-password",
      "Read a password from the first line of standard input and print its bcrypt hash, for "
      "basic_auth_users in the web configuration (web.config_file)");
  hash->add_option("--cost", cost, "bcrypt cost: each step doubles the time to check")
      ->capture_default_str()
      ->check(CLI::Range(4, 31));

  CLI11_PARSE(app, argc, argv);

  if (hash->parsed()) return HashPasswordCommand(cost);
  if (run->parsed()) return RunProcessor(config_path);
  if (state->parsed()) {
    if (state->got_subcommand("offsets")) return kpi::app::StateOffsets(state_path);
    if (state->got_subcommand("rows")) return kpi::app::StateRows(state_path);
    if (state_export->parsed()) {
      const auto format = ParseTableFormat(export_format, "--format");
      if (!format) return 2;
      return kpi::app::StateExport(state_path, *format, export_output);
    }
    return kpi::app::StateSize(state_path);
  }

  if (cmd->parsed()) return Replay(replay);
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
