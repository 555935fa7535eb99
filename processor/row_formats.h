// The output topic's encodings of a KPI row, chosen in the configuration (README "For data
// warehouse teams"):
//   values (output.format): protobuf (kpi.proto KpiRow, the default), json (one object), or
//     connect_json (Kafka Connect's JSON with its schema envelope, which JsonConverter with
//     schemas.enable=true reads); every format carries emitted_at, when the revision was produced;
//   keys (output.key_format): string ("kpi|week_start|dimension", the default) or connect_json (a
//     struct of kpi, week_start, dimension_kind and dimension_value, a warehouse's primary key);
// and the CSV of the bulk export (replay --output-format csv, state export --format csv).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "processor/engine.h"

namespace kpi {

enum class ValueFormat { kProtobuf, kJson, kConnectJson };
enum class KeyFormat { kString, kConnectJson };

// A Unix time in ms as RFC 3339 UTC with milliseconds: 2026-12-06T15:21:05.123Z.
std::string UtcTimestamp(int64_t unix_ms);

// The row's value on the output topic, produced at `emitted_unix_ms`, reported as of `as_of`.
std::string RowValue(const Row& row, ValueFormat format, std::string_view as_of,
                     int64_t emitted_unix_ms);
// The row's value on the published topic (KPIS-3.md section 3): as RowValue, with suppressed
// (protobuf field 9, JSON "suppressed"); a suppressed row carries neither count nor base.
std::string PublishedValue(const Row& row, bool suppressed, ValueFormat format,
                           std::string_view as_of, int64_t emitted_unix_ms);
// The row's key on the output topic.
std::string RowKeyIn(const Row& row, KeyFormat format);
// The string key (RowKey) of the row that an output key in `format` names; nullopt when it is
// not a key this format writes.
std::optional<std::string> StringKeyOf(std::string_view key, KeyFormat format);

// A dimension split at its first '=': ("school", "100001"); "all" is ("all", "").
std::pair<std::string_view, std::string_view> SplitDimension(std::string_view dimension);

// The bulk export's CSV (RFC 4180; PostgreSQL's COPY ... WITH (FORMAT csv, HEADER) loads it):
// the header line, then one line per row with the NDJSON table's values.
std::string CsvHeader();
std::string RowToCsv(const Row& row, std::string_view as_of);

}  // namespace kpi
