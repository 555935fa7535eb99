// Configuration of `kpi-processor run`: a YAML file, then environment overrides.
//
// Every setting has a dotted name (`state.path`, `commit.interval_ms`); the environment variable
// KPI_<SECTION>_<KEY> overrides it (KPI_STATE_PATH, KPI_COMMIT_INTERVAL_MS). Under `kafka:` any
// key is passed to librdkafka as it is (`bootstrap.servers`, `security.protocol`,
// `sasl.mechanism` ...); its variables use underscores for dots
// (KPI_KAFKA_BOOTSTRAP_SERVERS). Unknown keys outside `kafka:` are errors, so a typo cannot pass
// silently. Thread-safety: value types and pure functions.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "processor/date.h"
#include "processor/kpis.h"
#include "processor/row_formats.h"
#include "processor/validate.h"
#include "sinks/http/request_head.h"
#include "sinks/web/web_config.h"

namespace kpi::runtime {

enum class Format { kProtobuf, kJson };

// `scale.*`: several instances in one consumer group (docs/DESIGN.md, "Scale-out").
struct ScaleConfig {
  bool enabled = false;
  std::string changelog_topic = "kpi.changelog";  // one partition per task
  std::string cells_topic = "kpi.cells";          // one partition per task
  std::string instance_id;  // names claims for operators; default: the host name
  // A task's owner writes a snapshot once the changelog bytes since the last pass this (keep it
  // well under the changelog's retention per partition).
  int snapshot_mb = 64;
  int restore_batch = 32;  // changelog records (up to 256 KiB each) per poll-loop turn, restoring
};

struct Config {
  std::map<std::string, std::string> kafka;  // librdkafka properties, passed through
  std::vector<std::string> input_topics = {
      "contacts",   "referrals",  "assessments", "s47", "icpc",    "plans", "attendance",
      "exclusions", "enrolments", "children",    "ehc", "reviews", "visits"};
  Format input_format = Format::kProtobuf;
  // `input.start`: where a partition with no stored offset starts (earliest, the default; or
  // latest, for a state built by `replay --state` from files that hold the topics' history).
  bool input_start_latest = false;
  std::map<std::string, Format> topic_formats;  // per-topic override
  // `input.max_record_bytes`: a larger record (key and value) is dead-lettered `too_large`
  // without being decoded. At most the producer's message.max.bytes less 1 KiB (headers).
  size_t max_record_bytes = kDefaultMaxRecordBytes;
  std::string output_topic = "kpi.results";
  // output.format, output.key_format (processor/row_formats.h) and output.tombstones: a row whose
  // count and base fall to 0 is published as a tombstone (its key, no value) instead of a zero row.
  ValueFormat output_format = ValueFormat::kProtobuf;
  KeyFormat output_key_format = KeyFormat::kString;
  bool output_tombstones = false;
  // publish.small_count (KPIS-3.md section 3): the published view suppresses values 1 to this.
  int publish_small_count = 5;
  // output.published_topic: the published table as a topic (published_topic.h); "": off.
  std::string published_topic;
  std::string dlq_topic = "kpi.dlq";
  ScaleConfig scale;
  std::string state_path = "/var/lib/kpi-processor";
  uint64_t block_cache_mb = 256;
  uint64_t write_buffer_mb = 64;
  int bloom_bits_per_key = 10;
  bool state_sync = false;
  // Bound on the hot state (children in memory), shared by the tasks an instance owns; 0:
  // unbounded. Cold children are written behind and read again when an event names them.
  int state_memory_mb = 256;
  int commit_interval_ms = 50;
  int commit_max_events = 10000;
  int delivery_timeout_ms = 30000;
  std::vector<Date> closures;
  // `calendar.bank_holidays_file`: a gov.uk bank-holidays.json; its England and Wales dates
  // replace the rules for the years it covers (read when the configuration is parsed).
  std::string bank_holidays_file;
  std::vector<Date> official_holidays;
  int assessment_limit = 45;
  int icpc_limit = 15;
  KpiLimits limits;                 // calendar.<name> of KPIS-2.md section 6
  std::optional<Date> fixed_as_of;  // backfill: a fixed reporting date instead of today
  // `processing.as_of: events`: as_of follows the latest recorded_at consumed (UTC date), never
  // moving back and never past today. For replays of history through Kafka and the demo, where
  // weeks of events pass in seconds.
  bool as_of_from_events = false;
  // Endpoints (sinks/prometheus/server.h). Loopback by default: any other address is a choice.
  std::string metrics_address = "127.0.0.1:9464";  // "" turns /metrics off
  std::vector<std::string> metrics_dimensions = {"all", "school", "year", "sen"};
  int metrics_max_series = 10000;
  std::string http_address = "127.0.0.1:9465";  // "" turns /kpi, /healthz, /readyz off
  int http_stall_seconds = 120;                 // /healthz fails after this long without a loop
  sinks::HttpLimits http_limits;                // http.max_connections, ... (README "HTTP limits")
  // `web.config_file`: TLS and basic authentication for both endpoints, in the Prometheus
  // exporters' web configuration format (sinks/web/web_config.h); read when the configuration
  // is parsed. Empty: plain HTTP, no authentication.
  std::string web_config_file;
  sinks::WebConfig web;

  Format FormatOf(const std::string& topic) const {
    const auto it = topic_formats.find(topic);
    return it == topic_formats.end() ? input_format : it->second;
  }
};

// Parses YAML text, then applies `env` (KEY=VALUE strings, as in environ). Errors name the
// setting and say what is wrong.
std::expected<Config, std::string> ParseConfig(const std::string& yaml,
                                               const std::vector<std::string>& env);
std::expected<Config, std::string> LoadConfig(const std::string& path,
                                              const std::vector<std::string>& env);

// The England and Wales dates of a gov.uk `bank-holidays.json` file (its `england-and-wales`
// division's `events[].date`). Errors name the file and what is wrong; a document with no
// England and Wales date is an error.
std::expected<std::vector<Date>, std::string> LoadBankHolidays(const std::string& path);

}  // namespace kpi::runtime
