// Reading topics back: the partitions given, each from its offset until its end, through a
// PartitionReader outside any group. The commit protocol reads the dead-letter topic back at start
// (what a crash delivered) and, scaled out, a task's changelog partition after a delivery (a newer
// claim between this instance's records).
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "processor/runtime/bus.h"

namespace kpi::runtime {

// Reads each partition of `from` (topic, partition, first offset) up to its end offset in `ends`
// (by partition, exclusive), calling visit(record) for each record in range; records outside it
// are skipped. Fails with the reader's error, or when it is not done within timeout_ms.
std::expected<void, std::string> ReadBack(
    PartitionReader& reader, const std::vector<std::pair<TopicPartition, int64_t>>& from,
    std::map<int32_t, int64_t> ends, int64_t timeout_ms,
    const std::function<void(const InRecord&)>& visit);

}  // namespace kpi::runtime
