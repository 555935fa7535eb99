// `kpi-processor state ...`: what an operator needs to see in a state directory, read-only
// (safe while the processor runs): stored offsets, KPI rows per task, size, and the KPI table
// itself (export, a warehouse's first load). Output is aggregate: topics, partitions, counts,
// bytes, KPI rows; never keys of children.
#pragma once

#include <string>

#include "processor/app/replay.h"

namespace kpi::app {

// Each returns the process exit code and prints to stdout (errors to stderr).
int StateOffsets(const std::string& path);
int StateRows(const std::string& path);
int StateSize(const std::string& path);
// The table of every task, summed, as `replay` writes it (`format`; CSV's as_of is the latest
// of the tasks'), to `output` ("-": stdout). The store is read as of its opening; a file that a
// running processor's compaction removes meanwhile makes it start again (up to 5 times).
int StateExport(const std::string& path, TableFormat format, const std::string& output);

}  // namespace kpi::app
