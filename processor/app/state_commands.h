// `kpi-processor state ...`: what an operator needs to see in a state directory, read-only
// (safe while the processor runs): stored offsets, KPI rows per task, size.
// Output is aggregate: topics, partitions, counts, bytes; never keys of children.
#pragma once

#include <string>

namespace kpi::app {

// Each returns the process exit code and prints to stdout (errors to stderr).
int StateOffsets(const std::string& path);
int StateRows(const std::string& path);
int StateSize(const std::string& path);

}  // namespace kpi::app
