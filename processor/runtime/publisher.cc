#include "processor/runtime/publisher.h"

#include <chrono>
#include <map>

#include "processor/runtime/changelog.h"
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

constexpr std::string_view kLastOffsetPrefix(
    "\xff\xff"
    "W",
    3);

std::string LastOffsetKey(int32_t task) {
  std::string key(kLastOffsetPrefix);
  key.push_back(static_cast<char>((task >> 8) & 0xff));
  key.push_back(static_cast<char>(task & 0xff));
  return key;
}

Failure Injected(CommitStep step) {
  return Failure{kExitState, std::string("fault injected: ") + CommitStepName(step)};
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

std::expected<int64_t, Failure> Publisher::LastOffset(int32_t task) {
  if (const auto it = last_offsets_.find(task); it != last_offsets_.end()) return it->second;
  auto stored = store_.Get(LastOffsetKey(task));
  if (!stored)
    return std::unexpected(Failure{kExitState, "changelog position: " + stored.error().message});
  int64_t offset = -2;  // none: this instance never wrote to the task's changelog
  if (*stored) {
    const std::optional<int64_t> decoded = DecodeOffset(**stored);
    if (!decoded) return std::unexpected(Failure{kExitState, "changelog position: undecodable"});
    offset = *decoded;
  }
  last_offsets_[task] = offset;
  return offset;
}

std::expected<void, Failure> Publisher::SetLastOffset(int32_t task, int64_t offset) {
  last_offsets_[task] = offset;
  if (auto w = store_.Write({{LastOffsetKey(task), EncodeOffset(offset)}}); !w) {
    return std::unexpected(Failure{kExitState, "changelog position: " + w.error().message});
  }
  return {};
}

std::expected<bool, Failure> Publisher::FenceCheck(int32_t task, uint64_t epoch,
                                                   const std::vector<Delivered>& delivered) {
  auto last = LastOffset(task);
  if (!last) return std::unexpected(last.error());
  if (delivered.empty()) return false;
  if (*last < -1) return true;  // never claimed here: not ours to write
  const std::vector<int64_t> foreign = ForeignOffsets(delivered, *last);
  bool fenced = false;
  if (!foreign.empty()) {
    const TopicPartition tp{changelog_topic_, task};
    if (auto a = reader_.Assign({{tp, foreign.front()}}); !a) {
      return std::unexpected(Failure{kExitKafka, a.error()});
    }
    const int64_t deadline = SteadyMs() + delivery_timeout_ms_;
    int64_t position = foreign.front();
    while (position <= foreign.back()) {
      if (SteadyMs() > deadline) {
        return std::unexpected(
            Failure{kExitKafka, "reading " + changelog_topic_ + " back: not done in time"});
      }
      auto r = reader_.Poll(100);
      if (!r) return std::unexpected(Failure{kExitKafka, r.error()});
      if (!*r || (*r)->partition != task || (*r)->offset < position) continue;
      position = (*r)->offset + 1;
      const std::optional<LogRecord> record = DecodeLogRecord((*r)->value);
      if (record && record->type == LogRecord::Type::kClaim && record->epoch > epoch) {
        fenced = true;
      }
    }
    (void)reader_.Assign({});
  }
  if (!fenced) {
    for (const Delivered& d : delivered)
      last_offsets_[task] = std::max(last_offsets_[task], d.offset);
  }
  return fenced;
}

std::expected<std::vector<Delivered>, Failure> Publisher::Send(
    const std::vector<const OutMessage*>& batch, std::optional<CommitStep> crash_at,
    const std::vector<OutMessage>& messages) {
  for (const OutMessage* m : batch) {
    if (auto p = producer_.Produce(*m, m->partition); !p) {
      return std::unexpected(Failure{kExitKafka, p.error()});
    }
  }
  if (crash_at && Crash(*crash_at, messages)) return std::unexpected(Injected(*crash_at));
  // A delivery that fails for good leaves the outbox in place for the next start.
  auto delivered = producer_.Flush(delivery_timeout_ms_);
  if (!delivered) {
    return std::unexpected(
        Failure{kExitKafka, delivered.error() + "; it is delivered again at the next start"});
  }
  return std::move(*delivered);
}

std::expected<std::set<int32_t>, Failure> Publisher::Deliver(
    std::vector<std::string> keys, const std::vector<OutMessage>& messages) {
  // 1. Scaled out: the changelog records first, each task's checked for fencing.
  std::vector<const OutMessage*> log;
  std::vector<const OutMessage*> rest;
  for (const OutMessage& m : messages) {
    (!changelog_topic_.empty() && m.topic == changelog_topic_ ? log : rest).push_back(&m);
  }
  std::set<int32_t> fenced;
  std::set<int32_t> logged;
  if (!log.empty()) {
    auto delivered = Send(log, std::nullopt, messages);
    if (!delivered) return std::unexpected(delivered.error());
    std::map<int32_t, std::vector<Delivered>> by_task;
    std::map<int32_t, uint64_t> epochs;
    for (size_t i = 0; i < log.size(); ++i) {
      const int32_t task = log[i]->partition;
      by_task[task].push_back((*delivered)[i]);
      if (const auto record = DecodeLogRecord(log[i]->value)) epochs[task] = record->epoch;
    }
    for (const auto& [task, offsets] : by_task) {
      auto f = FenceCheck(task, epochs[task], offsets);
      if (!f) return std::unexpected(f.error());
      (*f ? fenced : logged).insert(task);
    }
    std::erase_if(rest,
                  [&](const OutMessage* m) { return m->task >= 0 && fenced.contains(m->task); });
  }
  // 2. Everything else.
  auto delivered = Send(rest, CommitStep::kProduced, messages);
  if (!delivered) return std::unexpected(delivered.error());
  if (Crash(CommitStep::kDelivered, messages))
    return std::unexpected(Injected(CommitStep::kDelivered));
  state::WriteBatch clear = Outbox::Clear(std::move(keys));
  std::map<TopicPartition, int64_t> marks;
  for (const Delivered& d : *delivered) {
    if (d.tp.topic == dlq_topic_) marks[d.tp] = std::max(marks[d.tp], d.offset + 1);
  }
  for (const auto& [tp, next] : marks) clear.push_back({MarkKey(tp), EncodeOffset(next)});
  for (const int32_t task : logged) {
    clear.push_back({LastOffsetKey(task), EncodeOffset(last_offsets_[task])});
  }
  if (auto w = store_.Write(clear); !w) {
    return std::unexpected(Failure{kExitState, "outbox: " + w.error().message});
  }
  if (Crash(CommitStep::kOutboxDeleted, messages)) {
    return std::unexpected(Injected(CommitStep::kOutboxDeleted));
  }
  return fenced;
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

std::expected<std::set<int32_t>, Failure> Publisher::DeliverStored() {
  auto stored = outbox_.Load(store_);
  if (!stored) return std::unexpected(Failure{kExitState, "outbox: " + stored.error().message});
  if (stored->keys.empty()) return std::set<int32_t>();
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
