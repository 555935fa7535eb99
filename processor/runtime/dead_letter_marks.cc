#include "processor/runtime/dead_letter_marks.h"

#include <algorithm>
#include <map>

#include "processor/runtime/read_back.h"
#include "processor/values.h"

namespace kpi::runtime {
namespace {

constexpr std::string_view kMarkPrefix(
    "\xff\xff"
    "D",
    3);

// \xff\xff D, the topic, a NUL, the partition (4 bytes, big-endian).
std::string MarkKey(const TopicPartition& tp) {
  std::string key(kMarkPrefix);
  key += tp.topic;
  key.push_back('\0');
  for (int shift = 24; shift >= 0; shift -= 8) {
    key.push_back(static_cast<char>((static_cast<uint32_t>(tp.partition) >> shift) & 0xff));
  }
  return key;
}

std::string Identity(std::string_view topic, std::string_view partition, std::string_view offset) {
  std::string id(topic);
  id.push_back('\0');
  id += partition;
  id.push_back('\0');
  id += offset;
  return id;
}

}  // namespace

std::optional<std::string> DeadLetterIdentity(const OutMessage& message) {
  std::optional<std::string_view> topic, partition, offset;
  for (const auto& [name, value] : message.headers) {
    if (name == kSourceTopic) topic = value;
    if (name == kSourcePartition) partition = value;
    if (name == kSourceOffset) offset = value;
  }
  if (!topic || !partition || !offset) return std::nullopt;
  return Identity(*topic, *partition, *offset);
}

void AppendDeadLetterMarks(const std::vector<Delivered>& delivered, const std::string& dlq_topic,
                           state::WriteBatch& batch) {
  std::map<TopicPartition, int64_t> marks;
  for (const Delivered& d : delivered) {
    if (d.tp.topic == dlq_topic) marks[d.tp] = std::max(marks[d.tp], d.offset + 1);
  }
  for (const auto& [tp, next] : marks) batch.push_back({MarkKey(tp), EncodeOffset(next)});
}

std::expected<std::set<std::string>, Failure> DeliveredDeadLetters(state::StateStore& store,
                                                                   PartitionReader& reader,
                                                                   const std::string& dlq_topic,
                                                                   int64_t timeout_ms) {
  const auto kafka = [](std::string message) {
    return std::unexpected(Failure{kExitKafka, std::move(message)});
  };
  const int timeout = static_cast<int>(std::min<int64_t>(timeout_ms, 60000));
  auto partitions = reader.PartitionCount(dlq_topic, timeout);
  if (!partitions) return kafka(partitions.error());
  std::vector<std::pair<TopicPartition, int64_t>> from;
  std::map<int32_t, int64_t> ends;
  for (int32_t p = 0; p < *partitions; ++p) {
    const TopicPartition tp{dlq_topic, p};
    auto stored = store.Get(MarkKey(tp));
    if (!stored) return std::unexpected(Failure{kExitState, "outbox: " + stored.error().message});
    auto marks = reader.Watermarks(tp, timeout);
    if (!marks) return kafka(marks.error());
    int64_t start = marks->first;
    if (*stored) {
      const std::optional<int64_t> mark = DecodeOffset(**stored);
      if (!mark) return std::unexpected(Failure{kExitState, "outbox: undecodable mark"});
      start = std::max(start, *mark);
    }
    if (start < marks->second) {
      from.emplace_back(tp, start);
      ends[p] = marks->second;
    }
  }
  std::set<std::string> seen;
  auto read = ReadBack(reader, from, ends, timeout_ms, [&](const InRecord& record) {
    const auto t = record.Header(kSourceTopic);
    const auto p = record.Header(kSourcePartition);
    const auto o = record.Header(kSourceOffset);
    if (t && p && o) seen.insert(Identity(*t, *p, *o));
  });
  if (!read) return kafka(read.error());
  return seen;
}

}  // namespace kpi::runtime
