// The output row's encodings, shared by replay (NDJSON files), run (the output topic, JSON or
// protobuf; row_formats.h) and the /kpi endpoint: RowToJson, the topic key RowKey, and the JSON
// string writer they and the dead-letter files use. Part of the core, so that the runtime and the
// sinks need nothing of the application layer.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "processor/engine.h"

namespace kpi {

// Appends `s` as a JSON string literal (quoted, escaped). Bytes that are not valid UTF-8 are
// written as \u00XX escapes of the byte value, so the output is always valid JSON.
void AppendJsonString(std::string& out, std::string_view s);
bool IsValidUtf8(std::string_view s);

// A row's key fields as the start of a JSON object, left open: {"kpi":..,"week_start":..,
// "dimension":.. (every JSON form of a row begins so).
void AppendRowKeyJson(std::string& out, const Row& row);
// A table row as one NDJSON line (with its newline):
// {"kpi":..,"week_start":..,"dimension":..,"count":..,"base":..}
std::string RowToJson(const Row& row);
// An output-topic row in JSON (no newline): the same fields plus as_of and revision.
std::string RowToJson(const Row& row, std::string_view as_of);
// The output topic's key: "kpi|week_start|dimension", so a compacted topic keeps each row's last
// value.
std::string RowKey(const Row& row);

}  // namespace kpi
