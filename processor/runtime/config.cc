#include "processor/runtime/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <tuple>

#include "sinks/kpi_view.h"

namespace kpi::runtime {
namespace {

using Settings = std::map<std::string, std::string>;  // dotted name -> text

// Flattens `node` into dotted names. Sequences become comma-separated text.
std::expected<void, std::string> Flatten(const YAML::Node& node, const std::string& prefix,
                                         Settings& out) {
  if (node.IsMap()) {
    for (const auto& item : node) {
      const auto key = item.first.as<std::string>();
      // Under kafka:, keys are librdkafka's own dotted names: keep them whole.
      const std::string name = prefix.empty() ? key : prefix + "." + key;
      if (prefix == "kafka" && !item.second.IsMap()) {
        out[name] = item.second.IsNull() ? "" : item.second.as<std::string>();
        continue;
      }
      if (auto r = Flatten(item.second, name, out); !r) return r;
    }
    return {};
  }
  if (node.IsSequence()) {
    std::string joined;
    for (const auto& item : node) {
      if (!item.IsScalar()) return std::unexpected(prefix + ": expected a list of values");
      if (!joined.empty()) joined += ",";
      joined += item.as<std::string>();
    }
    out[prefix] = joined;
    return {};
  }
  out[prefix] = node.IsNull() ? "" : node.as<std::string>();
  return {};
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

void ApplyEnvironment(const std::vector<std::string>& env, Settings& out) {
  for (const std::string& entry : env) {
    const size_t eq = entry.find('=');
    if (eq == std::string::npos || !entry.starts_with("KPI_")) continue;
    const std::string name = Lower(entry.substr(4, eq - 4));
    const size_t first = name.find('_');
    if (first == std::string::npos) continue;
    const std::string section = name.substr(0, first);
    std::string key = name.substr(first + 1);
    if (section == "kafka") std::replace(key.begin(), key.end(), '_', '.');
    out[section + "." + key] = entry.substr(eq + 1);
  }
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

class SettingsReader {
 public:
  explicit SettingsReader(Settings settings) : settings_(std::move(settings)) {}

  std::optional<std::string> Take(const std::string& name) {
    const auto it = settings_.find(name);
    if (it == settings_.end()) return std::nullopt;
    std::string value = it->second;
    settings_.erase(it);
    return value;
  }
  std::expected<void, std::string> Int(const std::string& name, int lo, int hi, int& out) {
    const auto v = Take(name);
    if (!v) return {};
    try {
      size_t used = 0;
      const long n = std::stol(*v, &used);
      if (used != v->size() || n < lo || n > hi) throw std::out_of_range(name);
      out = static_cast<int>(n);
      return {};
    } catch (const std::exception&) {
      return std::unexpected(name + ": expected a whole number from " + std::to_string(lo) +
                             " to " + std::to_string(hi) + ", got '" + *v + "'");
    }
  }
  std::expected<void, std::string> Bool(const std::string& name, bool& out) {
    const auto v = Take(name);
    if (!v) return {};
    const std::string l = Lower(*v);
    if (l == "true" || l == "yes" || l == "1") {
      out = true;
    } else if (l == "false" || l == "no" || l == "0") {
      out = false;
    } else {
      return std::unexpected(name + ": expected true or false, got '" + *v + "'");
    }
    return {};
  }
  static std::expected<Format, std::string> ParseFormat(const std::string& name,
                                                        const std::string& v) {
    if (v == "protobuf") return Format::kProtobuf;
    if (v == "json") return Format::kJson;
    return std::unexpected(name + ": expected protobuf or json, got '" + v + "'");
  }
  std::expected<void, std::string> FormatSetting(const std::string& name, Format& out) {
    const auto v = Take(name);
    if (!v) return {};
    auto f = ParseFormat(name, *v);
    if (!f) return std::unexpected(f.error());
    out = *f;
    return {};
  }
  Settings& rest() { return settings_; }

 private:
  Settings settings_;
};

}  // namespace

namespace {

// http.*: the limits of both endpoints (sinks/http/request_head.h).
std::expected<void, std::string> ParseHttpLimits(SettingsReader& r, sinks::HttpLimits& limits) {
  for (const auto& [name, lo, hi, target] :
       {std::tuple{"http.max_connections", 1, 1000000, &limits.max_connections},
        std::tuple{"http.max_connections_per_client", 1, 1000000,
                   &limits.max_connections_per_client},
        std::tuple{"http.header_timeout_ms", 100, 600000, &limits.header_timeout_ms},
        std::tuple{"http.idle_timeout_ms", 100, 3600000, &limits.idle_timeout_ms},
        std::tuple{"http.write_timeout_ms", 100, 3600000, &limits.write_timeout_ms},
        std::tuple{"http.max_headers", 1, 10000, &limits.max_headers}}) {
    if (auto x = r.Int(name, lo, hi, *target); !x) return x;
  }
  for (const auto& [name, target] :
       {std::pair{"http.max_url_bytes", &limits.max_url_bytes},
        std::pair{"http.max_header_bytes", &limits.max_header_bytes}}) {
    int value = static_cast<int>(*target);
    if (auto x = r.Int(name, 256, 1 << 20, value); !x) return x;
    *target = static_cast<size_t>(value);
  }
  return {};
}

}  // namespace

namespace {

// input.*: topics, formats, start and the record bound.
std::expected<void, std::string> ParseInput(SettingsReader& r, Config& c) {
  if (auto v = r.Take("input.topics")) c.input_topics = SplitList(*v);
  if (c.input_topics.empty())
    return std::unexpected<std::string>("input.topics: name at least one topic");
  if (auto x = r.FormatSetting("input.format", c.input_format); !x)
    return std::unexpected<std::string>(x.error());
  for (auto it = r.rest().begin(); it != r.rest().end();) {
    if (it->first.starts_with("input.formats.")) {
      auto f = SettingsReader::ParseFormat(it->first, it->second);
      if (!f) return std::unexpected<std::string>(f.error());
      c.topic_formats[it->first.substr(14)] = *f;
      it = r.rest().erase(it);
    } else {
      ++it;
    }
  }
  if (auto v = r.Take("input.start")) {
    if (*v != "earliest" && *v != "latest") {
      return std::unexpected<std::string>("input.start: must be earliest or latest, got '" + *v +
                                          "'");
    }
    c.input_start_latest = *v == "latest";
  }
  int max_record_bytes = static_cast<int>(c.max_record_bytes);
  if (auto x = r.Int("input.max_record_bytes", 1024, 1 << 30, max_record_bytes); !x) {
    return std::unexpected<std::string>(x.error());
  }
  c.max_record_bytes = static_cast<size_t>(max_record_bytes);
  return {};
}

// output.* and scale.*.
std::expected<void, std::string> ParseOutputAndScale(SettingsReader& r, Config& c) {
  if (auto v = r.Take("output.topic")) c.output_topic = *v;
  if (auto v = r.Take("output.format")) {
    if (*v == "protobuf") {
      c.output_format = ValueFormat::kProtobuf;
    } else if (*v == "json") {
      c.output_format = ValueFormat::kJson;
    } else if (*v == "connect_json") {
      c.output_format = ValueFormat::kConnectJson;
    } else {
      return std::unexpected<std::string>(
          "output.format: expected protobuf, json or connect_json, got '" + *v + "'");
    }
  }
  if (auto v = r.Take("output.key_format")) {
    if (*v != "string" && *v != "connect_json") {
      return std::unexpected<std::string>(
          "output.key_format: expected string or connect_json, got '" + *v + "'");
    }
    c.output_key_format = *v == "string" ? KeyFormat::kString : KeyFormat::kConnectJson;
  }
  if (auto x = r.Bool("output.tombstones", c.output_tombstones); !x) {
    return std::unexpected<std::string>(x.error());
  }
  if (auto v = r.Take("output.dlq_topic")) c.dlq_topic = *v;
  if (auto v = r.Take("output.published_topic")) c.published_topic = *v;
  if (auto x = r.Int("publish.small_count", 0, 1000000, c.publish_small_count); !x) {
    return std::unexpected<std::string>(x.error());
  }
  if (auto x = r.Bool("scale.enabled", c.scale.enabled); !x)
    return std::unexpected<std::string>(x.error());
  if (auto v = r.Take("scale.changelog_topic")) c.scale.changelog_topic = *v;
  if (auto v = r.Take("scale.cells_topic")) c.scale.cells_topic = *v;
  if (auto v = r.Take("scale.instance_id")) c.scale.instance_id = *v;
  if (auto x = r.Int("scale.snapshot_mb", 1, 1 << 16, c.scale.snapshot_mb); !x) {
    return std::unexpected<std::string>(x.error());
  }
  if (auto x = r.Int("scale.restore_batch", 1, 1000000, c.scale.restore_batch); !x) {
    return std::unexpected<std::string>(x.error());
  }
  if (c.scale.enabled) {
    for (const std::string* topic : {&c.scale.changelog_topic, &c.scale.cells_topic}) {
      if (topic->empty())
        return std::unexpected<std::string>("scale: the changelog and cells topics need names");
    }
  }
  return {};
}

// state.* and commit.*.
std::expected<void, std::string> ParseState(SettingsReader& r, Config& c) {
  if (auto v = r.Take("state.path")) c.state_path = *v;
  int cache_mb = static_cast<int>(c.block_cache_mb);
  if (auto x = r.Int("state.block_cache_mb", 1, 1 << 20, cache_mb); !x) {
    return std::unexpected<std::string>(x.error());
  }
  c.block_cache_mb = static_cast<uint64_t>(cache_mb);
  int write_buffer_mb = static_cast<int>(c.write_buffer_mb);
  if (auto x = r.Int("state.write_buffer_mb", 1, 1 << 16, write_buffer_mb); !x) {
    return std::unexpected<std::string>(x.error());
  }
  c.write_buffer_mb = static_cast<uint64_t>(write_buffer_mb);
  if (auto x = r.Int("state.bloom_bits_per_key", 0, 64, c.bloom_bits_per_key); !x) {
    return std::unexpected<std::string>(x.error());
  }
  if (auto x = r.Bool("state.sync", c.state_sync); !x)
    return std::unexpected<std::string>(x.error());
  if (auto x = r.Int("state.memory_mb", 0, 1 << 20, c.state_memory_mb); !x) {
    return std::unexpected<std::string>(x.error());
  }
  if (auto x = r.Int("commit.interval_ms", 1, 3600000, c.commit_interval_ms); !x) {
    return std::unexpected<std::string>(x.error());
  }
  if (auto x = r.Int("commit.max_events", 1, 10000000, c.commit_max_events); !x) {
    return std::unexpected<std::string>(x.error());
  }
  if (auto x = r.Int("commit.delivery_timeout_ms", 100, 3600000, c.delivery_timeout_ms); !x) {
    return std::unexpected<std::string>(x.error());
  }
  return {};
}

// calendar.* (closures, bank holidays, limits) and processing.as_of.
std::expected<void, std::string> ParseCalendar(SettingsReader& r, Config& c) {
  if (auto v = r.Take("calendar.closures")) {
    for (const std::string& d : SplitList(*v)) {
      const auto date = Date::Parse(d);
      if (!date)
        return std::unexpected<std::string>("calendar.closures: '" + d + "' is not YYYY-MM-DD");
      c.closures.push_back(*date);
    }
  }
  if (auto v = r.Take("calendar.bank_holidays_file"); v && !v->empty()) {
    c.bank_holidays_file = *v;
    auto dates = LoadBankHolidays(*v);
    if (!dates)
      return std::unexpected<std::string>("calendar.bank_holidays_file: " + dates.error());
    c.official_holidays = std::move(*dates);
  }
  if (auto x = r.Int("calendar.assessment_limit", 1, 1000, c.assessment_limit); !x) {
    return std::unexpected<std::string>(x.error());
  }
  for (const KpiLimitField& limit : kKpiLimitFields) {
    const std::string key = "calendar." + std::string(limit.name);
    if (auto x = r.Int(key, limit.min, limit.max, c.limits.*limit.field); !x) {
      return std::unexpected<std::string>(x.error());
    }
  }
  if (auto x = r.Int("calendar.icpc_limit", 1, 1000, c.icpc_limit); !x) {
    return std::unexpected<std::string>(x.error());
  }
  if (auto past = WarningPastItsLimit(c.limits, c.assessment_limit, c.icpc_limit)) {
    return std::unexpected<std::string>("calendar: " + *past);
  }
  if (auto v = r.Take("processing.as_of"); v && *v == "events") {
    c.as_of_from_events = true;
  } else if (v && !v->empty()) {
    c.fixed_as_of = Date::Parse(*v);
    if (!c.fixed_as_of) {
      return std::unexpected<std::string>("processing.as_of: '" + *v +
                                          "' is not YYYY-MM-DD or events");
    }
  }
  return {};
}

// metrics.*, http.* and web.*.
std::expected<void, std::string> ParseEndpoints(SettingsReader& r, Config& c) {
  for (const auto& [name, target] : {std::pair{"metrics.address", &c.metrics_address},
                                     std::pair{"http.address", &c.http_address}}) {
    const auto v = r.Take(name);
    if (!v) continue;
    const size_t colon = v->rfind(':');
    if (!v->empty() && (colon == std::string::npos || colon + 1 == v->size())) {
      return std::unexpected<std::string>(std::string(name) +
                                          ": expected host:port (e.g. 127.0.0.1:9464) or " +
                                          "empty to turn it off, got '" + *v + "'");
    }
    *target = *v;
  }
  if (auto v = r.Take("metrics.dimensions")) {
    c.metrics_dimensions = SplitList(*v);
    for (const std::string& kind : c.metrics_dimensions) {
      if (std::find(sinks::kDimensionKinds.begin(), sinks::kDimensionKinds.end(), kind) ==
          sinks::kDimensionKinds.end()) {
        return std::unexpected<std::string>(
            "metrics.dimensions: expected any of all, school, year, sen, category, age, gender, "
            "ethnicity, outcome; got '" +
            kind + "'");
      }
    }
  }
  if (auto x = r.Int("metrics.max_series", 0, 10000000, c.metrics_max_series); !x) {
    return std::unexpected<std::string>(x.error());
  }
  if (auto x = r.Int("http.stall_seconds", 1, 86400, c.http_stall_seconds); !x) {
    return std::unexpected<std::string>(x.error());
  }
  if (auto x = ParseHttpLimits(r, c.http_limits); !x)
    return std::unexpected<std::string>(x.error());
  if (auto v = r.Take("web.config_file"); v && !v->empty()) {
    auto web = sinks::LoadWebConfig(*v);
    if (!web) return std::unexpected<std::string>("web.config_file: " + web.error());
    c.web_config_file = *v;
    c.web = std::move(*web);
  }
  return {};
}

// The kafka.* settings, already taken: required ones, the SASL password file, and room for a
// dead letter under the producer's message bound.
std::expected<void, std::string> CheckKafka(Config& c) {
  if (!c.kafka.contains("bootstrap.servers")) {
    return std::unexpected<std::string>(
        "kafka.bootstrap.servers: required (or KPI_KAFKA_BOOTSTRAP_SERVERS)");
  }
  if (!c.kafka.contains("group.id")) c.kafka["group.id"] = "kpi-processor";
  // The SASL password from a file (a mounted secret): its first line. Not a librdkafka property.
  if (const auto it = c.kafka.find("sasl.password.file"); it != c.kafka.end()) {
    const std::string path = it->second;
    c.kafka.erase(it);
    if (c.kafka.contains("sasl.password")) {
      return std::unexpected<std::string>(
          "kafka.sasl.password.file: kafka.sasl.password is set too; give the password once");
    }
    std::ifstream in(path);
    std::string password;
    if (!in || !std::getline(in, password)) {
      return std::unexpected<std::string>("kafka.sasl.password.file: cannot read " + path);
    }
    if (!password.empty() && password.back() == '\r') password.pop_back();
    if (password.empty()) {
      return std::unexpected<std::string>("kafka.sasl.password.file: the first line of " + path +
                                          " is empty");
    }
    c.kafka["sasl.password"] = std::move(password);
  }
  // Any record short of the bound must fit in the dead-letter topic with its headers.
  std::string message_max = "1000000";  // librdkafka's default
  for (const char* key : {"message.max.bytes", "producer.message.max.bytes"}) {
    if (const auto it = c.kafka.find(key); it != c.kafka.end()) message_max = it->second;
  }
  const long long producer_max = std::atoll(message_max.c_str());
  if (static_cast<long long>(c.max_record_bytes) > producer_max - 1024) {
    return std::unexpected<std::string>(
        "input.max_record_bytes: " + std::to_string(c.max_record_bytes) +
        " leaves no room under the producer's message.max.bytes (" + message_max +
        ") for a dead letter's headers (1024 bytes)");
  }
  return {};
}

}  // namespace

std::expected<Config, std::string> ParseConfig(const std::string& yaml,
                                               const std::vector<std::string>& env) {
  Settings settings;
  try {
    const YAML::Node root = YAML::Load(yaml);
    if (root && !root.IsNull()) {
      if (!root.IsMap()) return std::unexpected("configuration: expected a mapping at the top");
      if (auto r = Flatten(root, "", settings); !r) return std::unexpected(r.error());
    }
  } catch (const YAML::Exception& e) {
    return std::unexpected(std::string("configuration is not valid YAML: ") + e.what());
  }
  ApplyEnvironment(env, settings);

  Config c;
  SettingsReader r(std::move(settings));
  for (auto it = r.rest().begin(); it != r.rest().end();) {
    if (it->first.starts_with("kafka.")) {
      c.kafka[it->first.substr(6)] = it->second;
      it = r.rest().erase(it);
    } else {
      ++it;
    }
  }
  for (const auto parse :
       {ParseInput, ParseOutputAndScale, ParseState, ParseCalendar, ParseEndpoints}) {
    if (auto parsed = parse(r, c); !parsed) return std::unexpected(parsed.error());
  }
  if (!r.rest().empty()) {
    return std::unexpected("unknown setting '" + r.rest().begin()->first + "'");
  }
  if (auto checked = CheckKafka(c); !checked) return std::unexpected(checked.error());
  return c;
}

std::expected<Config, std::string> LoadConfig(const std::string& path,
                                              const std::vector<std::string>& env) {
  std::ifstream in(path);
  if (!in) return std::unexpected("cannot read configuration file " + path);
  std::stringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), env);
}

std::expected<std::vector<Date>, std::string> LoadBankHolidays(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  YAML::Node doc;
  try {
    doc = YAML::Load(text.str());  // JSON is YAML
  } catch (const YAML::Exception& e) {
    return std::unexpected(path + " is not JSON (line " + std::to_string(e.mark.line + 1) + ")");
  }
  const YAML::Node events = doc.IsMap() && doc["england-and-wales"].IsMap()
                                ? doc["england-and-wales"]["events"]
                                : YAML::Node();
  if (!events.IsSequence()) {
    return std::unexpected(path + " has no england-and-wales.events list (gov.uk format)");
  }
  std::vector<Date> dates;
  for (const YAML::Node& event : events) {
    const YAML::Node date = event.IsMap() ? event["date"] : YAML::Node();
    const std::optional<Date> parsed =
        date.IsScalar() ? Date::Parse(date.as<std::string>()) : std::nullopt;
    if (!parsed) {
      return std::unexpected(path + ": england-and-wales event " +
                             std::to_string(dates.size() + 1) + " has no YYYY-MM-DD date");
    }
    dates.push_back(*parsed);
  }
  if (dates.empty()) return std::unexpected(path + " lists no England and Wales bank holiday");
  return dates;
}

}  // namespace kpi::runtime
