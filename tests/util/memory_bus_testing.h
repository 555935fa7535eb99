// What the runtime's tests over the in-memory bus share: a generated stream and its replay
// table, the stream routed into a cluster, and the cluster's output read as a compacted topic's
// consumer would (the last value per key) and its dead letters by source.
// Test-only (header-only, linked into the test binaries); thread-safety: none needed.
#pragma once

#include <expected>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kpi.pb.h"
#include "processor/engine.h"
#include "processor/runtime/config.h"
#include "processor/runtime/memory_bus.h"
#include "processor/runtime/runtime.h"
#include "processor/validate.h"
#include "state/memory_store.h"
#include "tools/cluster/checked.h"
#include "tools/gen/generator.h"
#include "tools/gen/route.h"

namespace kpi::runtime::testing {

using Table = std::map<std::string, std::pair<int64_t, int64_t>>;  // kpi|week|dim -> count, base

struct Stream {
  std::vector<std::string> lines;
  Date as_of;
  Table table;  // what a replay of `lines` at `as_of` gives
};

inline Stream MakeStream(const gen::Params& params) {
  Stream s;
  gen::Generate(params, [&](std::string_view line) { s.lines.emplace_back(line); });
  s.as_of = gen::PeriodEnd(params);
  const Calendar calendar;
  state::MemoryStore store;
  EngineOptions options;
  options.as_of = s.as_of;
  auto engine = kpi::testing::Checked(Engine::Open(store, calendar, options), "Engine::Open");
  for (const std::string& line : s.lines) {
    auto event = DecodeJson(line);
    if (!event) continue;
    if (auto valid = Validate(*event, s.as_of)) {
      kpi::testing::Checked(engine->Apply(*valid), "Engine::Apply");
    }
  }
  kpi::testing::Checked(engine->PrepareCommit(), "Engine::PrepareCommit");
  const std::vector<Row> rows = engine->Table().value();
  for (const Row& row : rows) {
    s.table[std::string(KpiName(row.kpi)) + "|" + row.week.ToString() + "|" + row.dimension] = {
        row.count, row.base};
  }
  return s;
}

// A cluster with every input topic of `config` and kpi.results in `partitions` partitions, and
// kpi.dlq in `dlq_partitions`.
inline std::shared_ptr<MemoryCluster> NewCluster(const Config& config, int partitions,
                                                 int dlq_partitions) {
  auto cluster = MemoryCluster::Create();
  for (const std::string& topic : config.input_topics) cluster->CreateTopic(topic, partitions);
  cluster->CreateTopic("kpi.results", partitions);
  cluster->CreateTopic("kpi.dlq", dlq_partitions);
  return cluster;
}

// Runs `runtime` until its partitions are drained: the cluster's idle hook stops it.
inline std::expected<void, Failure> RunUntilIdle(MemoryCluster& cluster, Runtime& runtime) {
  cluster.SetOnIdle([&runtime] { runtime.RequestStop(); });
  auto result = runtime.Run();
  cluster.SetOnIdle({});
  return result;
}

// Lines [from, to) of `s` to their topics, keyed by child (protobuf).
inline void Produce(MemoryCluster& cluster, const Stream& s, size_t from, size_t to) {
  const std::set<std::string> json;
  for (size_t i = from; i < std::min(to, s.lines.size()); ++i) {
    const gen::Routed r = gen::Route(s.lines[i], json, "contacts");
    cluster.Append(r.topic, -1, {r.topic, r.key, r.value, {}});
  }
}

// The last value per key of kpi.results; zero rows dropped.
inline Table OutputTable(MemoryCluster& cluster) {
  Table table;
  for (const auto& [partition, record] : cluster.ReadAll("kpi.results")) {
    output::KpiRow row;
    if (!row.ParseFromString(record.value)) continue;
    if (row.count() == 0 && row.base() == 0) {
      table.erase(record.key);
    } else {
      table[record.key] = {row.count(), row.base()};
    }
  }
  return table;
}

// Dead letters by source and reason ("topic[partition]@offset REASON") -> how many times they
// were delivered.
inline std::map<std::string, int> DeadLetters(MemoryCluster& cluster) {
  std::map<std::string, int> seen;
  for (const auto& [partition, record] : cluster.ReadAll("kpi.dlq")) {
    std::map<std::string, std::string> h(record.headers.begin(), record.headers.end());
    ++seen[h["source_topic"] + "[" + h["source_partition"] + "]@" + h["source_offset"] + " " +
           h["reason"]];
  }
  return seen;
}

// What DeadLetters must give once the records of `topics` (protobuf, as Produce writes them) are
// processed at `as_of`: each record that fails to decode, to validate, or whose key is not its
// child, once, with its reason. Compared whole, so a lost, extra or repeated one fails.
inline std::map<std::string, int> WantedDeadLetters(MemoryCluster& cluster,
                                                    const std::vector<std::string>& topics,
                                                    Date as_of) {
  std::map<std::string, int> want;
  EventReader reader;
  for (const std::string& topic : topics) {
    for (const auto& [partition, record] : cluster.ReadAll(topic)) {
      const std::optional<DeadLetterReason> reason = reader.DeadLetterReasonOf(
          {.bytes = record.value, .json = false, .key = record.key}, as_of);
      if (!reason) continue;
      ++want[topic + "[" + std::to_string(partition) + "]@" + std::to_string(record.offset) + " " +
             std::string(ReasonCode(*reason))];
    }
  }
  return want;
}

}  // namespace kpi::runtime::testing
