// Partitioners: which partition of a topic a record key lands in, as Kafka producers compute it,
// so that `replay --state` puts each child in the task (partition number) that `run` will
// consume it from. Thread-safety: pure functions.
//   murmur2:    the Java client's default: (murmur2(key) & 0x7fffffff) % partitions
//   consistent: librdkafka's default (`consistent_random` for a non-empty key): crc32(key) %
//               partitions; kpi-gen and kcat produce this way
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kpi::app {

enum class Partitioner { kMurmur2, kConsistent };

std::optional<Partitioner> PartitionerFromName(std::string_view name);
uint32_t Murmur2(std::string_view key);
uint32_t Crc32(std::string_view key);
uint32_t PartitionOf(Partitioner p, std::string_view key, uint32_t partitions);

}  // namespace kpi::app
