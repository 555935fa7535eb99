// kpi-gen: writes a generated local authority's events as NDJSON (see generator.h), or produces
// them to Kafka topics (kafka_sink.h), paced or as fast as possible.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "tools/gen/generator.h"
#include "tools/gen/kafka_sink.h"
#include "tools/guarded_main.h"

int Main(int argc, char** argv) {
  CLI::App app{"kpi-gen: deterministic NDJSON event stream of a generated local authority"};
  kpi::gen::Params p;
  std::string output = "-";
  std::string start;
  app.add_option("--children", p.children, "number of children")->capture_default_str();
  app.add_option("--seed", p.seed, "random seed")->capture_default_str();
  app.add_option("--start", start, "first day of the period, YYYY-MM-DD (default 2025-09-01)");
  app.add_option("--weeks", p.weeks, "length of the period in weeks")->capture_default_str();
  app.add_option("--malformed-rate", p.malformed_rate, "share of malformed lines")
      ->capture_default_str();
  app.add_flag("!--no-attendance", p.attendance, "leave out attendance marks");
  app.add_flag("!--no-part2", p.part2,
               "leave out the records of KPIS-2.md (the stream of earlier releases)");
  app.add_flag("!--no-part3", p.part3,
               "leave out the records of KPIS-3.md (no further action, repeated referrals): the "
               "stream of the releases before them");
  app.add_flag("!--legacy-marks", p.register_codes,
               "marks as releases before 2026-12 wrote them ('/' in both sessions, fewer codes): "
               "with --no-part2, the streams of earlier releases byte for byte");
  app.add_option("--output", output, "NDJSON file, or - for stdout")->capture_default_str();
  kpi::gen::KafkaSinkOptions kafka;
  std::vector<std::string> json_topics;
  app.add_option("--kafka", kafka.bootstrap_servers,
                 "produce to Kafka instead (bootstrap servers): each event to its input topic, "
                 "keyed by child_id, protobuf");
  app.add_option("--json-topics", json_topics, "topics that get the JSON line instead")
      ->delimiter(',');
  app.add_option("--rate", kafka.rate, "events per second to Kafka (0: as fast as possible)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  kafka.json_topics.insert(json_topics.begin(), json_topics.end());
  if (!start.empty()) {
    const auto d = kpi::Date::Parse(start);
    if (!d) {
      std::fprintf(stderr, "kpi-gen: --start must be YYYY-MM-DD\n");
      return 2;
    }
    p.start = *d;
  }
  if (!kafka.bootstrap_servers.empty()) {
    auto sink = kpi::gen::KafkaSink::Create(kafka);
    if (!sink) {
      std::fprintf(stderr, "kpi-gen: kafka: %s\n", sink.error().c_str());
      return 2;
    }
    const kpi::gen::Counts counts =
        kpi::gen::Generate(p, [&](std::string_view line) { (*sink)->Send(line); });
    const uint64_t failed = (*sink)->Finish(60000);
    std::fprintf(stderr, "kpi-gen: %llu events produced, %llu not delivered; period ends %s\n",
                 static_cast<unsigned long long>(counts.events),
                 static_cast<unsigned long long>(failed),
                 kpi::gen::PeriodEnd(p).ToString().c_str());
    return failed == 0 ? 0 : 1;
  }
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (output != "-") {
    file.open(output, std::ios::binary | std::ios::trunc);
    if (!file) {
      std::fprintf(stderr, "kpi-gen: cannot write %s\n", output.c_str());
      return 1;
    }
    out = &file;
  }
  const kpi::gen::Counts counts = kpi::gen::Generate(p, [&](std::string_view line) {
    out->write(line.data(), static_cast<std::streamsize>(line.size()));
    out->put('\n');
  });
  out->flush();
  std::fprintf(
      stderr,
      "kpi-gen: %llu events (%llu marks, %llu stale re-sends, %llu deletes, %llu "
      "malformed); period ends %s\n",
      static_cast<unsigned long long>(counts.events), static_cast<unsigned long long>(counts.marks),
      static_cast<unsigned long long>(counts.stale),
      static_cast<unsigned long long>(counts.deletes),
      static_cast<unsigned long long>(counts.malformed), kpi::gen::PeriodEnd(p).ToString().c_str());
  return *out ? 0 : 1;
}

int main(int argc, char** argv) {
  return kpi::tools::GuardedMain("kpi-gen", [&] { return Main(argc, argv); });
}
