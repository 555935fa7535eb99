// The `replay` command: NDJSON event files in, the final KPI table out (KPIS.md), with bad
// records to a dead-letter file. Streams its inputs; memory is the state, not the files.
// Thread-safety: one call at a time.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <ostream>
#include <string>
#include <vector>

#include "processor/app/partitioner.h"
#include "processor/date.h"
#include "processor/engine.h"
#include "processor/published.h"
#include "processor/task_set.h"
#include "processor/validate.h"

namespace kpi::app {

// The table's file format: NDJSON (the default) or CSV with a header row (row_formats.h).
enum class TableFormat { kNdjson, kCsv };

struct ReplayOptions {
  std::vector<std::string> inputs;
  Date as_of;
  std::string output;
  TableFormat output_format = TableFormat::kNdjson;
  // --view published: the published table of KPIS-3.md section 3 (NDJSON only), suppressing
  // values from 1 to small_count.
  bool published = false;
  int small_count = kDefaultSmallCount;
  std::string dlq;  // empty: dead letters are counted, not written
  std::vector<Date> closures;
  std::vector<Date> official_holidays;  // from --bank-holidays-file: replace the rules' years
  int assessment_limit = 45;
  int icpc_limit = 15;
  KpiLimits limits;                // KPIS-2.md section 6
  uint64_t commit_every = 100000;  // events per state commit
  // Empty: the table only, everything in memory. Otherwise a RocksDB state directory written as
  // `run` writes it (one task per partition, each child in the partition its key hashes to), so
  // that `run` continues live from the history replayed here.
  std::string state_dir;
  uint32_t partitions = 1;
  Partitioner partitioner = Partitioner::kConsistent;
  uint64_t memory_mb = 256;       // with state_dir: the hot-state bound, shared by the tasks
  uint64_t block_cache_mb = 64;   // with state_dir: RocksDB's block cache (replay mostly writes)
  uint64_t write_buffer_mb = 16;  // with state_dir: each of RocksDB's (two) memtables
  // A longer line is dead-lettered `too_large` (its length and place only) and never held whole.
  size_t max_record_bytes = kDefaultMaxRecordBytes;
  bool progress = true;  // a progress line on stderr when it is a terminal
};

struct ReplaySummary {
  uint64_t read = 0;
  std::array<uint64_t, kDeadLetterReasonCount> dead_lettered{};
  uint64_t rows = 0;
  // The engines' figures at the end, summed over the tasks: applied, stale, live missing marks;
  // with --state, the hot state and its traffic with the store.
  EngineStats engine;
  double seconds = 0;
};

// Errors are messages for the operator (file names, never record content). The run ends with
// the state committed: with state_dir, a later `replay --state` or `run` continues from it.
std::expected<ReplaySummary, std::string> RunReplay(const ReplayOptions& options);
std::string FormatSummary(const ReplaySummary& summary);

// The table of `tasks` in the replay table's order (KPI name, then week and dimension; rows
// whose count and base are both 0 left out) to `out`, a KPI at a time, so that a long history's
// table is never in memory whole. Returns the rows written; errors name the state.
std::expected<uint64_t, std::string> WriteTable(TaskSet& tasks, TableFormat format, Date as_of,
                                                std::ostream& out);
// The published table of `tasks` (KPIS-3.md section 3) as NDJSON, in the same order.
std::expected<uint64_t, std::string> WritePublishedTable(TaskSet& tasks, int small_count,
                                                         std::ostream& out);

}  // namespace kpi::app
