#include "processor/runtime/publisher.h"

#include <chrono>
#include <map>

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

std::optional<std::string> IdentityOf(const OutMessage& m) {
  std::optional<std::string_view> topic, partition, offset;
  for (const auto& [name, value] : m.headers) {
    if (name == kSourceTopic) topic = value;
    if (name == kSourcePartition) partition = value;
    if (name == kSourceOffset) offset = value;
  }
  if (!topic || !partition || !offset) return std::nullopt;
  return Identity(*topic, *partition, *offset);
}

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const char* CommitStepName(CommitStep step) {
  switch (step) {
    case CommitStep::kBatchWritten:
      return "batch written";
    case CommitStep::kProduced:
      return "outbox produced";
    case CommitStep::kDelivered:
      return "delivery confirmed";
    case CommitStep::kOutboxDeleted:
      return "outbox deleted";
  }
  return "?";
}

std::expected<void, Failure> Publisher::Deliver(std::vector<std::string> keys,
                                                const std::vector<OutMessage>& messages) {
  for (const OutMessage& m : messages) {
    if (auto p = sink_.Produce(m); !p) return std::unexpected(Failure{kExitKafka, p.error()});
  }
  if (Crash(CommitStep::kProduced, messages)) {
    return std::unexpected(Failure{kExitState, "fault injected: outbox produced"});
  }
  // A delivery that fails for good leaves the outbox in place for the next start.
  auto delivered = sink_.Flush(delivery_timeout_ms_);
  if (!delivered) {
    return std::unexpected(
        Failure{kExitKafka, delivered.error() + "; it is delivered again at the next start"});
  }
  if (Crash(CommitStep::kDelivered, messages)) {
    return std::unexpected(Failure{kExitState, "fault injected: delivery confirmed"});
  }
  state::WriteBatch clear = Outbox::Clear(std::move(keys));
  std::map<TopicPartition, int64_t> marks;
  for (const Delivered& d : *delivered) {
    if (d.tp.topic == dlq_topic_) marks[d.tp] = std::max(marks[d.tp], d.offset + 1);
  }
  for (const auto& [tp, next] : marks) clear.push_back({MarkKey(tp), EncodeOffset(next)});
  if (auto w = store_.Write(clear); !w) {
    return std::unexpected(Failure{kExitState, "outbox: " + w.error().message});
  }
  if (Crash(CommitStep::kOutboxDeleted, messages)) {
    return std::unexpected(Failure{kExitState, "fault injected: outbox deleted"});
  }
  return {};
}

std::expected<std::set<std::string>, Failure> Publisher::DeliveredDeadLetters() {
  const auto kafka = [](std::string message) {
    return std::unexpected(Failure{kExitKafka, std::move(message)});
  };
  const int timeout = static_cast<int>(std::min<int64_t>(delivery_timeout_ms_, 60000));
  auto partitions = reader_.PartitionCount(dlq_topic_, timeout);
  if (!partitions) return kafka(partitions.error());
  std::vector<std::pair<TopicPartition, int64_t>> from;
  std::map<int32_t, int64_t> ends;
  for (int32_t p = 0; p < *partitions; ++p) {
    const TopicPartition tp{dlq_topic_, p};
    auto stored = store_.Get(MarkKey(tp));
    if (!stored) return std::unexpected(Failure{kExitState, "outbox: " + stored.error().message});
    auto marks = reader_.Watermarks(tp, timeout);
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
  if (from.empty()) return seen;
  if (auto a = reader_.Assign(from); !a) return kafka(a.error());
  const int64_t deadline = SteadyMs() + delivery_timeout_ms_;
  while (!ends.empty()) {
    if (SteadyMs() > deadline) {
      return kafka("reading " + dlq_topic_ + " back: not done within commit.delivery_timeout_ms");
    }
    auto r = reader_.Poll(100);
    if (!r) return kafka(r.error());
    if (!*r) continue;
    const InRecord& rec = **r;
    const auto t = rec.Header(kSourceTopic);
    const auto p = rec.Header(kSourcePartition);
    const auto o = rec.Header(kSourceOffset);
    if (t && p && o) seen.insert(Identity(*t, *p, *o));
    const auto end = ends.find(rec.partition);
    if (end != ends.end() && rec.offset + 1 >= end->second) ends.erase(end);
  }
  (void)reader_.Assign({});
  return seen;
}

std::expected<void, Failure> Publisher::DeliverStored() {
  auto stored = outbox_.Load(store_);
  if (!stored) return std::unexpected(Failure{kExitState, "outbox: " + stored.error().message});
  if (stored->keys.empty()) return {};
  bool dead_letters = false;
  for (const OutMessage& m : stored->messages) dead_letters = dead_letters || m.topic == dlq_topic_;
  std::vector<OutMessage> messages;
  if (dead_letters) {
    auto seen = DeliveredDeadLetters();
    if (!seen) return std::unexpected(seen.error());
    for (OutMessage& m : stored->messages) {
      const std::optional<std::string> id = m.topic == dlq_topic_ ? IdentityOf(m) : std::nullopt;
      if (!id || !seen->contains(*id)) messages.push_back(std::move(m));
    }
  } else {
    messages = std::move(stored->messages);
  }
  return Deliver(std::move(stored->keys), messages);
}

}  // namespace kpi::runtime
