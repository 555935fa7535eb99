#include "processor/runtime/read_back.h"

#include "processor/runtime/clock.h"

namespace kpi::runtime {

std::expected<void, std::string> ReadBack(
    PartitionReader& reader, const std::vector<std::pair<TopicPartition, int64_t>>& from,
    std::map<int32_t, int64_t> ends, int64_t timeout_ms,
    const std::function<void(const InRecord&)>& visit) {
  if (from.empty() || ends.empty()) return {};
  std::map<int32_t, int64_t> positions;
  for (const auto& [tp, offset] : from) positions[tp.partition] = offset;
  if (auto a = reader.Assign(from); !a) return a;
  const int64_t deadline = SteadyMs() + timeout_ms;
  while (!ends.empty()) {
    if (SteadyMs() > deadline) {
      (void)reader.Assign({});
      return std::unexpected("reading " + from.front().first.topic +
                             " back: not done within commit.delivery_timeout_ms");
    }
    auto r = reader.Poll(100);
    if (!r) return std::unexpected(r.error());
    if (!*r) continue;
    const InRecord& record = **r;
    const auto end = ends.find(record.partition);
    if (end == ends.end() || record.offset < positions[record.partition]) continue;
    positions[record.partition] = record.offset + 1;
    visit(record);
    if (record.offset + 1 >= end->second) ends.erase(end);
  }
  (void)reader.Assign({});
  return {};
}

}  // namespace kpi::runtime
