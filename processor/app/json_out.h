// Small JSON writing helpers for NDJSON outputs (KPI rows, dead letters).
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace kpi::app {

// Appends `s` as a JSON string literal (quoted, escaped). Bytes that are not valid UTF-8 are
// written as \u00XX escapes of the byte value, so the output is always valid JSON.
void AppendJsonString(std::string& out, std::string_view s);
bool IsValidUtf8(std::string_view s);

}  // namespace kpi::app
