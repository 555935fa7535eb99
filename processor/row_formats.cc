#include "processor/row_formats.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <ctime>
#include <initializer_list>

#include "kpi.pb.h"
#include "processor/output.h"

namespace kpi {
namespace {

// Kafka Connect's logical types (org.apache.kafka.connect.data): a Date is int32 days since the
// epoch, a Timestamp int64 Unix ms.
constexpr std::string_view kDateType =
    R"("type":"int32","name":"org.apache.kafka.connect.data.Date","version":1)";
constexpr std::string_view kTimestampType =
    R"("type":"int64","name":"org.apache.kafka.connect.data.Timestamp","version":1)";

struct SchemaField {
  std::string_view name;
  std::string_view type;  // the field's "type" (and logical name) members
  bool optional = false;
};

// A connect_json struct schema of `fields`.
std::string StructSchema(std::string_view name, std::initializer_list<SchemaField> fields) {
  std::string s = R"({"type":"struct","name":")";
  s.append(name).append(R"(","optional":false,"fields":[)");
  bool first = true;
  for (const SchemaField& f : fields) {
    if (!first) s.push_back(',');
    first = false;
    s.append(R"({"field":")").append(f.name).append(R"(",)").append(f.type);
    s.append(f.optional ? R"(,"optional":true})" : R"(,"optional":false})");
  }
  return s + "]}";
}

constexpr std::string_view kString = R"("type":"string")";
constexpr std::string_view kInt64 = R"("type":"int64")";

// The connect_json schemas, built once: the output row, the published row (count and base
// optional, and suppressed) and the key.
const std::string& ValueSchema() {
  static const std::string schema = StructSchema("kpi.KpiRow", {{"kpi", kString},
                                                                {"week_start", kDateType},
                                                                {"dimension", kString},
                                                                {"count", kInt64},
                                                                {"base", kInt64},
                                                                {"as_of", kDateType},
                                                                {"revision", kInt64},
                                                                {"emitted_at", kTimestampType}});
  return schema;
}

const std::string& PublishedSchema() {
  static const std::string schema =
      StructSchema("kpi.PublishedKpiRow", {{"kpi", kString},
                                           {"week_start", kDateType},
                                           {"dimension", kString},
                                           {"count", kInt64, true},
                                           {"base", kInt64, true},
                                           {"suppressed", R"("type":"boolean")"},
                                           {"as_of", kDateType},
                                           {"revision", kInt64},
                                           {"emitted_at", kTimestampType}});
  return schema;
}

const std::string& KeySchema() {
  static const std::string schema = StructSchema("kpi.KpiRowKey", {{"kpi", kString},
                                                                   {"week_start", kDateType},
                                                                   {"dimension_kind", kString},
                                                                   {"dimension_value", kString}});
  return schema;
}

// A row's value in `format`: the output topic's (`suppressed` nullopt) or the published topic's,
// which adds suppressed and, for a suppressed row, leaves out count and base.
std::string EncodeValue(const Row& row, ValueFormat format, std::string_view as_of,
                        int64_t emitted_unix_ms, std::optional<bool> suppressed) {
  const bool hidden = suppressed.value_or(false);
  switch (format) {
    case ValueFormat::kProtobuf: {
      output::KpiRow out;
      out.set_kpi(std::string(KpiName(row.kpi)));
      out.set_week_start(row.week.ToString());
      out.set_dimension(row.dimension);
      if (!hidden) {
        out.set_count(row.count);
        out.set_base(row.base);
      }
      out.set_as_of(std::string(as_of));
      out.set_revision(row.revision);
      out.set_emitted_at(UtcTimestamp(emitted_unix_ms));
      out.set_suppressed(hidden);
      return out.SerializeAsString();
    }
    case ValueFormat::kJson: {
      std::string line;
      AppendRowKeyJson(line, row);
      if (!hidden) {
        line.append(",\"count\":").append(std::to_string(row.count));
        line.append(",\"base\":").append(std::to_string(row.base));
      }
      if (suppressed) line.append(",\"suppressed\":").append(hidden ? "true" : "false");
      line.append(",\"as_of\":\"").append(as_of).append("\",\"revision\":");
      line.append(std::to_string(row.revision));
      line.append(",\"emitted_at\":\"").append(UtcTimestamp(emitted_unix_ms)).append("\"}");
      return line;
    }
    case ValueFormat::kConnectJson: {
      std::string out = R"({"schema":)";
      out.append(suppressed ? PublishedSchema() : ValueSchema());
      out.append(R"(,"payload":{"kpi":")").append(KpiName(row.kpi));
      out.append(R"(","week_start":)").append(std::to_string(row.week.days()));
      out.append(R"(,"dimension":)");
      AppendJsonString(out, row.dimension);
      out.append(R"(,"count":)").append(hidden ? "null" : std::to_string(row.count));
      out.append(R"(,"base":)").append(hidden ? "null" : std::to_string(row.base));
      if (suppressed) out.append(R"(,"suppressed":)").append(hidden ? "true" : "false");
      const std::optional<Date> as_of_date = Date::Parse(as_of);
      out.append(R"(,"as_of":)").append(std::to_string(as_of_date ? as_of_date->days() : 0));
      out.append(R"(,"revision":)").append(std::to_string(row.revision));
      out.append(R"(,"emitted_at":)").append(std::to_string(emitted_unix_ms));
      out.append("}}");
      return out;
    }
  }
  return {};
}

// Quoted when it holds a separator, a quote or a line break, and when empty: PostgreSQL's COPY
// reads an unquoted empty field as NULL.
void AppendCsvField(std::string& out, std::string_view s) {
  if (!s.empty() && s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(s);
    return;
  }
  out.push_back('"');
  for (const char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace

std::string UtcTimestamp(int64_t unix_ms) {
  const int64_t seconds = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  const auto millis = static_cast<int>(unix_ms - seconds * 1000);
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

std::string RowValue(const Row& row, ValueFormat format, std::string_view as_of,
                     int64_t emitted_unix_ms) {
  return EncodeValue(row, format, as_of, emitted_unix_ms, std::nullopt);
}

std::string PublishedValue(const Row& row, bool suppressed, ValueFormat format,
                           std::string_view as_of, int64_t emitted_unix_ms) {
  return EncodeValue(row, format, as_of, emitted_unix_ms, suppressed);
}

std::pair<std::string_view, std::string_view> SplitDimension(std::string_view dimension) {
  const size_t eq = dimension.find('=');
  if (eq == std::string_view::npos) return {dimension, {}};
  return {dimension.substr(0, eq), dimension.substr(eq + 1)};
}

std::string RowKeyIn(const Row& row, KeyFormat format) {
  if (format == KeyFormat::kString) return RowKey(row);
  const auto [kind, value] = SplitDimension(row.dimension);
  std::string out = R"({"schema":)";
  out.append(KeySchema());
  out.append(R"(,"payload":{"kpi":")").append(KpiName(row.kpi));
  out.append(R"(","week_start":)").append(std::to_string(row.week.days()));
  out.append(R"(,"dimension_kind":)");
  AppendJsonString(out, kind);
  out.append(R"(,"dimension_value":)");
  AppendJsonString(out, value);
  out.append("}}");
  return out;
}

std::optional<std::string> StringKeyOf(std::string_view key, KeyFormat format) {
  if (format == KeyFormat::kString) return std::string(key);
  google::protobuf::Struct doc;
  if (!google::protobuf::util::JsonStringToMessage(std::string(key), &doc).ok()) {
    return std::nullopt;
  }
  const auto payload = doc.fields().find("payload");
  if (payload == doc.fields().end() || !payload->second.has_struct_value()) return std::nullopt;
  const auto& f = payload->second.struct_value().fields();
  const auto kpi = f.find("kpi");
  const auto week = f.find("week_start");
  const auto kind = f.find("dimension_kind");
  const auto value = f.find("dimension_value");
  if (kpi == f.end() || week == f.end() || kind == f.end() || value == f.end() ||
      !week->second.has_number_value()) {
    return std::nullopt;
  }
  std::string dimension = kind->second.string_value();
  if (!value->second.string_value().empty() || dimension != "all") {
    dimension += "=" + value->second.string_value();
  }
  return kpi->second.string_value() + "|" +
         Date(static_cast<int32_t>(week->second.number_value())).ToString() + "|" + dimension;
}

std::string CsvHeader() {
  return "kpi,week_start,dimension,count,base,dimension_kind,dimension_value,as_of\n";
}

std::string RowToCsv(const Row& row, std::string_view as_of) {
  std::string line(KpiName(row.kpi));
  line.push_back(',');
  line.append(row.week.ToString());
  line.push_back(',');
  AppendCsvField(line, row.dimension);
  line.append(",").append(std::to_string(row.count));
  line.append(",").append(std::to_string(row.base));
  const auto [kind, value] = SplitDimension(row.dimension);
  line.push_back(',');
  AppendCsvField(line, kind);
  line.push_back(',');
  AppendCsvField(line, value);
  line.push_back(',');
  line.append(as_of);
  line.push_back('\n');
  return line;
}

}  // namespace kpi
