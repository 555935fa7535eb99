#include "processor/runtime/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "processor/calendar.h"

namespace kpi::runtime {
namespace {

constexpr const char* kMinimal = "kafka:\n  bootstrap.servers: 127.0.0.1:9092\n";

// The official list (tests/data holds gov.uk's bank-holidays.json, 2012-2028): the rules give
// exactly its England and Wales dates.
TEST(BankHolidaysFileTest, TheRulesGiveTheOfficialListFor2012To2028) {
  auto official = LoadBankHolidays(KPI_TEST_DATA_DIR "/govuk-bank-holidays.json");
  ASSERT_TRUE(official.has_value()) << official.error();
  std::map<int, std::vector<std::string>> by_year;
  for (const Date d : *official) by_year[d.ToYmd().year].push_back(d.ToString());
  EXPECT_EQ(by_year.begin()->first, 2012);
  EXPECT_EQ(by_year.rbegin()->first, 2028);
  for (auto& [year, dates] : by_year) {
    std::sort(dates.begin(), dates.end());
    std::vector<std::string> rules;
    for (const Date d : Calendar::BankHolidays(year)) rules.push_back(d.ToString());
    EXPECT_EQ(rules, dates) << year;
  }
}

TEST(BankHolidaysFileTest, TheSettingLoadsTheFileAndABadFileIsAnError) {
  const std::string file = KPI_TEST_DATA_DIR "/govuk-bank-holidays.json";
  const auto c =
      ParseConfig(std::string(kMinimal) + "calendar:\n  bank_holidays_file: " + file + "\n", {});
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->official_holidays.size(), 140u);  // 2012-2028, England and Wales
  const auto missing = ParseConfig(
      std::string(kMinimal) + "calendar:\n  bank_holidays_file: /nonexistent/bh.json\n", {});
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().find("calendar.bank_holidays_file"), std::string::npos);
  const auto dir = std::filesystem::temp_directory_path();
  for (const auto& [name, text] : std::map<std::string, std::string>{
           {"kpi_bh_notjson.json", "{\"england-and-wales\": ["},
           {"kpi_bh_nodivision.json", "{\"scotland\": {\"events\": []}}"},
           {"kpi_bh_baddate.json",
            "{\"england-and-wales\": {\"events\": [{\"date\": \"2026-02-30\"}]}}"},
           {"kpi_bh_empty.json", "{\"england-and-wales\": {\"events\": []}}"}}) {
    const std::string path = (dir / name).string();
    std::ofstream(path) << text;
    const auto loaded = LoadBankHolidays(path);
    EXPECT_FALSE(loaded.has_value()) << name;
    std::filesystem::remove(path);
  }
}

TEST(ConfigTest, DefaultsFromTheSpec) {
  const auto c = ParseConfig(kMinimal, {});
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->input_topics.size(), 13u);  // EVENTS.md's defaults, ehc, reviews and visits too
  EXPECT_EQ(c->output_topic, "kpi.results");
  EXPECT_EQ(c->dlq_topic, "kpi.dlq");
  EXPECT_EQ(c->commit_interval_ms, 50);
  EXPECT_EQ(c->commit_max_events, 10000);
  EXPECT_EQ(c->input_format, Format::kProtobuf);
  EXPECT_EQ(c->kafka.at("group.id"), "kpi-processor");
  EXPECT_EQ(c->state_memory_mb, 256);
  EXPECT_FALSE(c->input_start_latest);
  // The output existing consumers read: protobuf values, string keys, zero rows.
  EXPECT_EQ(c->output_format, ValueFormat::kProtobuf);
  EXPECT_EQ(c->output_key_format, KeyFormat::kString);
  EXPECT_FALSE(c->output_tombstones);
}

// KPIS-3.md section 4: the warning windows are calendar settings; 0 turns one off, and a window
// longer than its limit is refused.
TEST(ConfigTest, WarningWindowsAreCalendarSettingsThatFitTheirLimits) {
  const auto c =
      ParseConfig(std::string(kMinimal) +
                      "calendar:\n  assessment_warning_days: 0\n  icpc_warning_days: 15\n"
                      "  ehc_plan_warning_days: 21\npublish:\n  small_count: 10\n",
                  {});
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->limits.assessment_warning_days, 0);
  EXPECT_EQ(c->limits.icpc_warning_days, 15);
  EXPECT_EQ(c->limits.ehc_plan_warning_days, 21);
  EXPECT_EQ(c->limits.ehc_decision_warning_days, 7);  // the default
  EXPECT_EQ(c->publish_small_count, 10);
  EXPECT_EQ(ParseConfig(std::string(kMinimal) + "calendar:\n  icpc_warning_days: 16\n", {}).error(),
            "calendar: icpc_warning_days (16) is greater than icpc_limit (15): a warning window "
            "must fit in its limit");
  EXPECT_NE(ParseConfig(std::string(kMinimal) + "calendar:\n  icpc_limit: 2\n", {})
                .error()
                .find("icpc_warning_days (3) is greater than icpc_limit (2)"),
            std::string::npos);
  EXPECT_FALSE(ParseConfig(std::string(kMinimal) + "calendar:\n  ehc_plan_warning_days: -1\n", {})
                   .has_value());
}

TEST(ConfigTest, TheWarehouseOutputIsChosenInTheConfigurationOrTheEnvironment) {
  const auto c = ParseConfig(std::string(kMinimal) +
                                 "output:\n  format: connect_json\n  key_format: connect_json\n"
                                 "  tombstones: true\n",
                             {});
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->output_format, ValueFormat::kConnectJson);
  EXPECT_EQ(c->output_key_format, KeyFormat::kConnectJson);
  EXPECT_TRUE(c->output_tombstones);
  const auto e = ParseConfig(kMinimal, {"KPI_OUTPUT_FORMAT=json", "KPI_OUTPUT_KEY_FORMAT=string",
                                        "KPI_OUTPUT_TOMBSTONES=false"});
  ASSERT_TRUE(e.has_value()) << e.error();
  EXPECT_EQ(e->output_format, ValueFormat::kJson);
  EXPECT_EQ(e->output_key_format, KeyFormat::kString);
  EXPECT_FALSE(e->output_tombstones);
  EXPECT_EQ(ParseConfig(std::string(kMinimal) + "output:\n  key_format: avro\n", {}).error(),
            "output.key_format: expected string or connect_json, got 'avro'");
  EXPECT_EQ(ParseConfig(std::string(kMinimal) + "output:\n  tombstones: sometimes\n", {}).error(),
            "output.tombstones: expected true or false, got 'sometimes'");
}

// KPIS-2.md section 6: every limit has the spec's default and its calendar.<name> setting.
TEST(ConfigTest, PartTwoLimits) {
  const auto defaults = ParseConfig(kMinimal, {});
  ASSERT_TRUE(defaults.has_value()) << defaults.error();
  EXPECT_EQ(defaults->limits.ehc_plan_days, 140);
  EXPECT_EQ(defaults->limits.cla_first_review_limit, 20);
  EXPECT_EQ(defaults->limits.cla_visit_days, 42);
  const auto c = ParseConfig(
      std::string(kMinimal) + "calendar:\n  ehc_plan_days: 133\n  cp_visit_limit: 7\n", {});
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->limits.ehc_plan_days, 133);
  EXPECT_EQ(c->limits.cp_visit_limit, 7);
  EXPECT_EQ(c->limits.ehc_decision_days, 42);
  EXPECT_NE(ParseConfig(std::string(kMinimal) + "calendar:\n  cla_visit_days: 0\n", {})
                .error()
                .find("calendar.cla_visit_days"),
            std::string::npos);
}

TEST(ConfigTest, MemoryBoundAndInputStart) {
  const auto c =
      ParseConfig(std::string(kMinimal) + "state:\n  memory_mb: 64\ninput:\n  start: latest\n", {});
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->state_memory_mb, 64);
  EXPECT_TRUE(c->input_start_latest);
  const auto bad = ParseConfig(std::string(kMinimal) + "input:\n  start: middle\n", {});
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().find("input.start"), std::string::npos);
  EXPECT_FALSE(ParseConfig(std::string(kMinimal) + "state:\n  memory_mb: -1\n", {}).has_value());
}

TEST(ConfigTest, TheRecordBoundLeavesRoomForADeadLettersHeaders) {
  const auto d = ParseConfig(kMinimal, {});
  ASSERT_TRUE(d.has_value()) << d.error();
  EXPECT_EQ(d->max_record_bytes, kDefaultMaxRecordBytes);
  const auto c = ParseConfig(std::string(kMinimal) + "input:\n  max_record_bytes: 998976\n", {});
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->max_record_bytes, 998976u);
  // Past librdkafka's default message.max.bytes less 1 KiB: refused, naming both settings.
  const auto over = ParseConfig(std::string(kMinimal) + "input:\n  max_record_bytes: 998977\n", {});
  ASSERT_FALSE(over.has_value());
  EXPECT_NE(over.error().find("input.max_record_bytes"), std::string::npos) << over.error();
  EXPECT_NE(over.error().find("message.max.bytes"), std::string::npos) << over.error();
  // Unless the producer may send more.
  const auto raised = ParseConfig(std::string(kMinimal) +
                                      "input:\n  max_record_bytes: 4000000\nkafka:\n  "
                                      "producer.message.max.bytes: 5000000\n",
                                  {});
  EXPECT_TRUE(raised.has_value()) << raised.error();
  EXPECT_FALSE(
      ParseConfig(std::string(kMinimal) + "input:\n  max_record_bytes: 100\n", {}).has_value());
}

TEST(ConfigTest, KafkaKeysPassThroughWhole) {
  const auto c = ParseConfig(
      "kafka:\n  bootstrap.servers: b:9093\n  security.protocol: SASL_SSL\n"
      "  sasl.mechanism: SCRAM-SHA-512\n  ssl.ca.location: /etc/ca.pem\n",
      {});
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->kafka.at("security.protocol"), "SASL_SSL");
  EXPECT_EQ(c->kafka.at("sasl.mechanism"), "SCRAM-SHA-512");
  EXPECT_EQ(c->kafka.at("ssl.ca.location"), "/etc/ca.pem");
}

TEST(ConfigTest, TheSaslPasswordComesFromAFileOrTheEnvironmentNeverTwice) {
  const std::filesystem::path file = std::filesystem::temp_directory_path() /
                                     ("kpi_config_password_" + std::to_string(::getpid()));
  { std::ofstream(file) << "s3cret-from-file\r\nsecond line ignored\n"; }
  const auto from_file =
      ParseConfig(std::string(kMinimal) + "  sasl.password.file: " + file.string() + "\n", {});
  ASSERT_TRUE(from_file.has_value()) << from_file.error();
  EXPECT_EQ(from_file->kafka.at("sasl.password"), "s3cret-from-file");
  EXPECT_FALSE(from_file->kafka.contains("sasl.password.file"));  // not a librdkafka property
  const auto from_env =
      ParseConfig(std::string(kMinimal), {"KPI_KAFKA_SASL_PASSWORD_FILE=" + file.string()});
  ASSERT_TRUE(from_env.has_value()) << from_env.error();
  EXPECT_EQ(from_env->kafka.at("sasl.password"), "s3cret-from-file");
  const auto twice = ParseConfig(std::string(kMinimal) + "  sasl.password: other\n",
                                 {"KPI_KAFKA_SASL_PASSWORD_FILE=" + file.string()});
  ASSERT_FALSE(twice.has_value());
  EXPECT_NE(twice.error().find("kafka.sasl.password.file"), std::string::npos) << twice.error();
  std::filesystem::remove(file);
  const auto missing =
      ParseConfig(std::string(kMinimal), {"KPI_KAFKA_SASL_PASSWORD_FILE=" + file.string()});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error(), "kafka.sasl.password.file: cannot read " + file.string());
}

TEST(ConfigTest, EnvironmentOverridesTheFile) {
  const auto c =
      ParseConfig(std::string(kMinimal) + "state:\n  path: /a\n",
                  {"KPI_STATE_PATH=/b", "KPI_KAFKA_BOOTSTRAP_SERVERS=env:1",
                   "KPI_COMMIT_INTERVAL_MS=75", "KPI_OUTPUT_DLQ_TOPIC=dead", "OTHER=ignored"});
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->state_path, "/b");
  EXPECT_EQ(c->kafka.at("bootstrap.servers"), "env:1");
  EXPECT_EQ(c->commit_interval_ms, 75);
  EXPECT_EQ(c->dlq_topic, "dead");
}

TEST(ConfigTest, StoreOptions) {
  const auto c = ParseConfig(std::string(kMinimal) +
                                 "state:\n  block_cache_mb: 32\n  write_buffer_mb: 16\n"
                                 "  bloom_bits_per_key: 12\n  sync: true\n",
                             {});
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->block_cache_mb, 32u);
  EXPECT_EQ(c->write_buffer_mb, 16u);
  EXPECT_EQ(c->bloom_bits_per_key, 12);
  EXPECT_TRUE(c->state_sync);
}

TEST(ConfigTest, PerTopicFormats) {
  const auto c = ParseConfig(std::string(kMinimal) +
                                 "input:\n  topics: [contacts, attendance]\n  format: protobuf\n"
                                 "  formats:\n    contacts: json\n",
                             {});
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->FormatOf("contacts"), Format::kJson);
  EXPECT_EQ(c->FormatOf("attendance"), Format::kProtobuf);
}

TEST(ConfigTest, MistakesAreClearErrors) {
  EXPECT_EQ(ParseConfig("state:\n  path: /a\n", {}).error(),
            "kafka.bootstrap.servers: required (or KPI_KAFKA_BOOTSTRAP_SERVERS)");
  EXPECT_EQ(ParseConfig(std::string(kMinimal) + "state:\n  pth: /a\n", {}).error(),
            "unknown setting 'state.pth'");
  EXPECT_NE(ParseConfig(std::string(kMinimal) + "commit:\n  interval_ms: soon\n", {})
                .error()
                .find("commit.interval_ms: expected a whole number"),
            std::string::npos);
  EXPECT_NE(ParseConfig(std::string(kMinimal) + "output:\n  format: xml\n", {})
                .error()
                .find("output.format: expected protobuf, json or connect_json, got 'xml'"),
            std::string::npos);
  EXPECT_NE(ParseConfig("kafka: [unclosed", {}).error().find("not valid YAML"), std::string::npos);
  EXPECT_NE(ParseConfig(std::string(kMinimal) + "calendar:\n  closures: [2026-13-01]\n", {})
                .error()
                .find("calendar.closures"),
            std::string::npos);
}

TEST(ConfigTest, AsOfIsTodayAFixedDateOrTheEvents) {
  EXPECT_FALSE(ParseConfig(kMinimal, {})->as_of_from_events);
  const auto events = ParseConfig(std::string(kMinimal) + "processing:\n  as_of: events\n", {});
  ASSERT_TRUE(events.has_value()) << events.error();
  EXPECT_TRUE(events->as_of_from_events);
  EXPECT_FALSE(events->fixed_as_of.has_value());
  EXPECT_EQ(
      ParseConfig(std::string(kMinimal) + "processing:\n  as_of: 2026-03-04\n", {})->fixed_as_of,
      Date::FromYmd(2026, 3, 4));
  EXPECT_NE(ParseConfig(std::string(kMinimal) + "processing:\n  as_of: later\n", {})
                .error()
                .find("YYYY-MM-DD or events"),
            std::string::npos);
}

TEST(ConfigTest, EndpointsBindToLoopbackUnlessConfigured) {
  const auto d = ParseConfig(kMinimal, {});
  ASSERT_TRUE(d.has_value()) << d.error();
  EXPECT_EQ(d->metrics_address, "127.0.0.1:9464");
  EXPECT_EQ(d->http_address, "127.0.0.1:9465");
  EXPECT_EQ(d->metrics_dimensions.size(), 4u);
  const auto c = ParseConfig(std::string(kMinimal) +
                                 "metrics:\n  address: 0.0.0.0:9100\n  dimensions: [all, year]\n"
                                 "  max_series: 50\nhttp:\n  address: ''\n",
                             {"KPI_HTTP_STALL_SECONDS=30"});
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->metrics_address, "0.0.0.0:9100");
  EXPECT_EQ(c->metrics_dimensions, (std::vector<std::string>{"all", "year"}));
  EXPECT_EQ(c->metrics_max_series, 50);
  EXPECT_EQ(c->http_address, "");
  EXPECT_EQ(c->http_stall_seconds, 30);
  EXPECT_NE(ParseConfig(std::string(kMinimal) + "metrics:\n  dimensions: [all, ward]\n", {})
                .error()
                .find("metrics.dimensions"),
            std::string::npos);
  EXPECT_NE(ParseConfig(std::string(kMinimal) + "metrics:\n  address: localhost\n", {})
                .error()
                .find("metrics.address: expected host:port"),
            std::string::npos);
}

TEST(ConfigTest, HttpLimitsAreSettingsWithBounds) {
  const auto d = ParseConfig(kMinimal, {});
  ASSERT_TRUE(d.has_value()) << d.error();
  EXPECT_EQ(d->http_limits.max_connections, 1024);
  EXPECT_EQ(d->http_limits.header_timeout_ms, 5000);
  const auto c = ParseConfig(std::string(kMinimal) +
                                 "http:\n  max_connections: 4096\n  max_connections_per_client: 8\n"
                                 "  header_timeout_ms: 2000\n  idle_timeout_ms: 30000\n"
                                 "  write_timeout_ms: 60000\n  max_url_bytes: 2048\n"
                                 "  max_header_bytes: 4096\n  max_headers: 20\n",
                             {"KPI_HTTP_MAX_CONNECTIONS=2048"});
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->http_limits.max_connections, 2048) << "the environment wins";
  EXPECT_EQ(c->http_limits.max_connections_per_client, 8);
  EXPECT_EQ(c->http_limits.header_timeout_ms, 2000);
  EXPECT_EQ(c->http_limits.idle_timeout_ms, 30000);
  EXPECT_EQ(c->http_limits.write_timeout_ms, 60000);
  EXPECT_EQ(c->http_limits.max_url_bytes, 2048U);
  EXPECT_EQ(c->http_limits.max_header_bytes, 4096U);
  EXPECT_EQ(c->http_limits.max_headers, 20);
  EXPECT_NE(ParseConfig(std::string(kMinimal) + "http:\n  header_timeout_ms: 0\n", {})
                .error()
                .find("http.header_timeout_ms"),
            std::string::npos);
  EXPECT_NE(ParseConfig(std::string(kMinimal) + "http:\n  max_url_bytes: 10\n", {})
                .error()
                .find("http.max_url_bytes"),
            std::string::npos);
}

TEST(ConfigTest, TheWebConfigurationFileIsReadWithTheConfiguration) {
  const auto d = ParseConfig(kMinimal, {});
  ASSERT_TRUE(d.has_value()) << d.error();
  EXPECT_FALSE(d->web.tls.has_value()) << "plain HTTP by default";
  EXPECT_TRUE(d->web.basic_auth_users.empty());

  const auto dir = std::filesystem::temp_directory_path() / "kpi_config_web_test";
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "web.yml") << "tls_server_config:\n  cert_file: tls/server.crt\n"
                                      "  key_file: tls/server.key\n";
    std::ofstream(dir / "bad.yml") << "basic_auth_users:\n  prometheus: not-a-hash\n";
  }
  const auto c = ParseConfig(
      std::string(kMinimal) + "web:\n  config_file: " + (dir / "web.yml").string() + "\n", {});
  ASSERT_TRUE(c.has_value()) << c.error();
  ASSERT_TRUE(c->web.tls.has_value());
  EXPECT_EQ(c->web.tls->cert_file, (dir / "tls/server.crt").string());
  const auto e = ParseConfig(kMinimal, {"KPI_WEB_CONFIG_FILE=" + (dir / "bad.yml").string()});
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error(), "web.config_file: " + (dir / "bad.yml").string() +
                           ": basic_auth_users.prometheus: expected a bcrypt hash ($2y$..., as "
                           "htpasswd -nB writes)");
  EXPECT_EQ(e.error().find("not-a-hash"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kpi::runtime
