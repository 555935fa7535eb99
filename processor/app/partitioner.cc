#include "processor/app/partitioner.h"

#include <array>

namespace kpi::app {

std::optional<Partitioner> PartitionerFromName(std::string_view name) {
  if (name == "murmur2" || name == "murmur2_random") return Partitioner::kMurmur2;
  if (name == "consistent" || name == "consistent_random") return Partitioner::kConsistent;
  return std::nullopt;
}

uint32_t Murmur2(std::string_view key) {
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t kM = 0x5bd1e995;
  const auto* data = reinterpret_cast<const uint8_t*>(key.data());
  const auto length = static_cast<uint32_t>(key.size());
  uint32_t h = kSeed ^ length;
  const uint32_t whole = length / 4;
  for (uint32_t i = 0; i < whole; ++i) {
    const uint8_t* p = data + static_cast<size_t>(i) * 4;
    uint32_t k = p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
    k *= kM;
    k ^= k >> 24;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  const uint8_t* tail = data + (length & ~3u);
  switch (length % 4) {
    case 3:
      h ^= static_cast<uint32_t>(tail[2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(tail[1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= tail[0];
      h *= kM;
      break;
    default:
      break;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  return h;
}

uint32_t Crc32(std::string_view key) {
  static const std::array<uint32_t, 256> kTable = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int j = 0; j < 8; ++j) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xffffffffu;
  for (const char ch : key) c = kTable[(c ^ static_cast<uint8_t>(ch)) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

uint32_t PartitionOf(Partitioner p, std::string_view key, uint32_t partitions) {
  if (partitions <= 1) return 0;
  const uint32_t hash = p == Partitioner::kMurmur2 ? Murmur2(key) & 0x7fffffffu : Crc32(key);
  return hash % partitions;
}

}  // namespace kpi::app
