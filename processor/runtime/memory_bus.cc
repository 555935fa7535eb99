#include "processor/runtime/memory_bus.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

namespace kpi::runtime {
namespace {

// FNV-1a: the memory cluster's partitioner (any function of the key alone keeps co-partitioning).
uint64_t Hash(std::string_view key) {
  uint64_t h = 1469598103934665603ULL;
  for (const char c : key) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

void Nap(int timeout_ms) {
  if (timeout_ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(timeout_ms, 2)));
}

// Holds the record handed out until the next poll.
struct Held {
  std::string topic;
  StoredRecord record;
  InRecord view;
  const InRecord& Set(const std::string& t, int32_t partition, StoredRecord r, bool headers) {
    topic = t;
    record = std::move(r);
    view.topic = topic;
    view.partition = partition;
    view.offset = record.offset;
    view.key = record.key;
    view.value = record.value;
    view.timestamp_ms = record.timestamp_ms;
    view.headers.clear();
    if (headers) {
      for (const auto& [n, v] : record.headers) view.headers.emplace_back(n, v);
    }
    return view;
  }
};

}  // namespace

// ---- cluster ----

void MemoryCluster::CreateTopic(const std::string& topic, int32_t partitions) {
  std::lock_guard lock(mu_);
  topics_[topic].resize(static_cast<size_t>(partitions));
}

int32_t MemoryCluster::Partitions(const std::string& topic) {
  std::lock_guard lock(mu_);
  const auto it = topics_.find(topic);
  return it == topics_.end() ? 0 : static_cast<int32_t>(it->second.size());
}

Delivered MemoryCluster::AppendLocked(const std::string& topic, int32_t partition,
                                      const OutMessage& m, int64_t timestamp_ms) {
  std::vector<Partition>& parts = topics_[topic];
  if (parts.empty()) parts.resize(4);  // auto-created, as a broker would
  if (partition < 0) partition = static_cast<int32_t>(Hash(m.key) % parts.size());
  Partition& p = parts.at(static_cast<size_t>(partition));
  p.records.push_back({p.end(), m.key, m.value, m.headers, timestamp_ms});
  return {{topic, partition}, p.end() - 1};
}

Delivered MemoryCluster::Append(const std::string& topic, int32_t partition, const OutMessage& m,
                                int64_t timestamp_ms) {
  std::lock_guard lock(mu_);
  return AppendLocked(topic, partition, m, timestamp_ms);
}

std::vector<StoredRecord> MemoryCluster::Read(const TopicPartition& tp, int64_t from) {
  std::lock_guard lock(mu_);
  std::vector<StoredRecord> out;
  const auto it = topics_.find(tp.topic);
  if (it == topics_.end() || tp.partition >= static_cast<int32_t>(it->second.size())) return out;
  const Partition& p = it->second[static_cast<size_t>(tp.partition)];
  for (int64_t o = std::max(from, p.start); o < p.end(); ++o) {
    out.push_back(p.records[static_cast<size_t>(o - p.start)]);
  }
  return out;
}

std::vector<std::pair<int32_t, StoredRecord>> MemoryCluster::ReadAll(const std::string& topic) {
  std::vector<std::pair<int32_t, StoredRecord>> out;
  for (int32_t p = 0; p < Partitions(topic); ++p) {
    for (StoredRecord& r : Read({topic, p})) out.emplace_back(p, std::move(r));
  }
  return out;
}

void MemoryCluster::DropBefore(const TopicPartition& tp, int64_t offset) {
  std::lock_guard lock(mu_);
  Partition& p = topics_.at(tp.topic).at(static_cast<size_t>(tp.partition));
  const int64_t n =
      std::clamp<int64_t>(offset - p.start, 0, static_cast<int64_t>(p.records.size()));
  p.records.erase(p.records.begin(), p.records.begin() + n);
  p.start += n;
}

void MemoryCluster::SetDeliverQueuedOnDestroy(bool deliver) {
  std::lock_guard lock(mu_);
  deliver_queued_on_destroy_ = deliver;
}

void MemoryCluster::SetOnIdle(std::function<void()> on_idle) {
  std::lock_guard lock(mu_);
  on_idle_ = std::move(on_idle);
}

void MemoryCluster::ExpireMember(const std::string& group, int member) {
  std::lock_guard lock(mu_);
  Group& g = groups_.at(group);
  if (member < 1 || member > static_cast<int>(g.members.size())) return;
  const int id = g.members[static_cast<size_t>(member - 1)];
  expired_[id] = true;
  LeaveLocked(group, id);
}

void MemoryCluster::LeaveLocked(const std::string& group, int member) {
  Group& g = groups_[group];
  const auto it = std::find(g.members.begin(), g.members.end(), member);
  if (it == g.members.end()) return;
  g.members.erase(it);
  g.synced.erase(member);
  ++g.generation;
}

std::vector<TopicPartition> MemoryCluster::AssignmentLocked(const std::string& group, int member) {
  // The range assignor: per topic, member i of M (by join order) gets a contiguous range of
  // partitions, the first P % M members one more; equal partition counts give every topic's
  // partition p to the same member.
  const Group& g = groups_[group];
  std::vector<TopicPartition> out;
  const auto it = std::find(g.members.begin(), g.members.end(), member);
  if (it == g.members.end()) return out;
  const auto m = static_cast<int32_t>(g.members.size());
  const auto i = static_cast<int32_t>(it - g.members.begin());
  for (const std::string& topic : g.topics) {
    auto& parts = topics_[topic];
    if (parts.empty()) parts.resize(4);
    const auto n = static_cast<int32_t>(parts.size());
    const int32_t per = n / m;
    const int32_t extra = n % m;
    const int32_t first = i * per + std::min(i, extra);
    const int32_t count = per + (i < extra ? 1 : 0);
    for (int32_t p = first; p < first + count; ++p) out.push_back({topic, p});
  }
  return out;
}

// ---- source ----

class MemorySource final : public Source {
 public:
  MemorySource(std::shared_ptr<MemoryCluster> cluster, std::string group,
               std::vector<std::string> topics)
      : cluster_(std::move(cluster)), group_(std::move(group)) {
    std::lock_guard lock(cluster_->mu_);
    id_ = cluster_->next_member_++;
    MemoryCluster::Group& g = cluster_->groups_[group_];
    g.topics = std::move(topics);
    g.members.push_back(id_);
    ++g.generation;
  }
  ~MemorySource() override { Close(); }

  std::expected<std::optional<InRecord>, std::string> Poll(int timeout_ms,
                                                           Listener& listener) override {
    Rebalance(listener);
    std::function<void()> on_idle;
    {
      std::lock_guard lock(cluster_->mu_);
      // Round robin over the assigned partitions, one record per poll.
      for (size_t k = 0; k < positions_.size(); ++k) {
        auto it = positions_.begin();
        std::advance(it, static_cast<long>((next_ + k) % positions_.size()));
        if (paused_.contains(it->first)) continue;
        const auto& parts = cluster_->topics_[it->first.topic];
        const auto& p = parts.at(static_cast<size_t>(it->first.partition));
        if (it->second < p.start) it->second = p.start;  // dropped by retention
        if (it->second >= p.end()) continue;
        StoredRecord r = p.records[static_cast<size_t>(it->second - p.start)];
        ++it->second;
        next_ = (next_ + k + 1) % positions_.size();
        return held_.Set(it->first.topic, it->first.partition, std::move(r), false);
      }
      on_idle = positions_.empty() ? nullptr : cluster_->on_idle_;
    }
    if (on_idle) on_idle();
    Nap(timeout_ms);
    return std::nullopt;
  }
  std::optional<std::pair<int64_t, int64_t>> CachedWatermarks(const TopicPartition& tp) override {
    std::lock_guard lock(cluster_->mu_);
    const auto& p = cluster_->topics_[tp.topic].at(static_cast<size_t>(tp.partition));
    return std::pair(p.start, p.end());
  }
  void Pause(const std::vector<TopicPartition>& parts) override {
    for (const TopicPartition& tp : parts) paused_.insert(tp);
  }
  std::expected<void, std::string> Resume(
      const std::vector<std::pair<TopicPartition, int64_t>>& parts) override {
    std::lock_guard lock(cluster_->mu_);
    for (const auto& [tp, offset] : parts) {
      if (!positions_.contains(tp)) return std::unexpected("seek " + tp.topic + ": not assigned");
      positions_[tp] =
          cluster_->topics_[tp.topic].at(static_cast<size_t>(tp.partition)).Resolve(offset);
      paused_.erase(tp);
    }
    return {};
  }
  void Close() override {
    std::lock_guard lock(cluster_->mu_);
    if (closed_) return;
    closed_ = true;
    cluster_->LeaveLocked(group_, id_);
  }

 private:
  void Rebalance(Listener& listener) {
    std::vector<TopicPartition> revoke;
    bool lost = false;
    {
      std::lock_guard lock(cluster_->mu_);
      const int generation = cluster_->groups_[group_].generation;
      lost = cluster_->expired_[id_];
      if (generation == generation_ && !lost && !awaiting_) return;
      generation_ = generation;
      for (const auto& [tp, position] : positions_) revoke.push_back(tp);
    }
    if (!revoke.empty() || lost) listener.OnRevoke(revoke, lost);
    positions_.clear();
    paused_.clear();
    std::vector<std::pair<TopicPartition, int64_t>> assigned;
    {
      std::lock_guard lock(cluster_->mu_);
      MemoryCluster::Group& g = cluster_->groups_[group_];
      if (lost) {
        // The session ended: rejoin as a new member (as librdkafka does after "assignment
        // lost").
        cluster_->expired_.erase(id_);
        id_ = cluster_->next_member_++;
        g.members.push_back(id_);
        ++g.generation;
        generation_ = g.generation;
      }
      // This member holds nothing now; it takes its share once every member has said the same
      // for this generation (a later Poll, when another is still to give its share up).
      g.synced[id_] = generation_;
      awaiting_ = generation_ != g.generation || !g.AllSynced();
      if (awaiting_) return;
      for (TopicPartition& tp : cluster_->AssignmentLocked(group_, id_)) {
        assigned.emplace_back(std::move(tp), kOffsetBeginning);
      }
    }
    if (assigned.empty()) return;
    listener.OnAssign(assigned);
    std::lock_guard lock(cluster_->mu_);
    for (const auto& [tp, offset] : assigned) {
      const auto& p = cluster_->topics_[tp.topic].at(static_cast<size_t>(tp.partition));
      positions_[tp] = p.Resolve(offset);
    }
  }

  std::shared_ptr<MemoryCluster> cluster_;
  std::string group_;
  int id_ = 0;
  int generation_ = 0;
  bool awaiting_ = false;  // revoked for generation_, the assignment not taken yet
  bool closed_ = false;
  std::map<TopicPartition, int64_t> positions_;
  std::set<TopicPartition> paused_;
  size_t next_ = 0;
  Held held_;
};

// ---- sink ----

class MemoryProducer final : public Producer {
 public:
  explicit MemoryProducer(std::shared_ptr<MemoryCluster> cluster) : cluster_(std::move(cluster)) {}
  ~MemoryProducer() override {
    std::lock_guard lock(cluster_->mu_);
    if (!cluster_->deliver_queued_on_destroy_) return;
    for (const auto& [m, partition] : queued_) cluster_->AppendLocked(m.topic, partition, m, 0);
  }
  std::expected<void, std::string> Produce(const OutMessage& message, int32_t partition) override {
    queued_.emplace_back(message, partition);
    return {};
  }
  std::expected<std::vector<Delivered>, std::string> Flush(int64_t) override {
    std::vector<Delivered> out;
    std::lock_guard lock(cluster_->mu_);
    for (const auto& [m, partition] : queued_) {
      out.push_back(cluster_->AppendLocked(m.topic, partition, m, 0));
    }
    queued_.clear();
    return out;
  }
  void Poll() override {}

 private:
  std::shared_ptr<MemoryCluster> cluster_;
  std::vector<std::pair<OutMessage, int32_t>> queued_;
};

// ---- reader ----

class MemoryReader final : public PartitionReader {
 public:
  explicit MemoryReader(std::shared_ptr<MemoryCluster> cluster) : cluster_(std::move(cluster)) {}
  std::expected<int32_t, std::string> PartitionCount(const std::string& topic, int) override {
    return cluster_->Partitions(topic);
  }
  std::expected<std::pair<int64_t, int64_t>, std::string> Watermarks(const TopicPartition& tp,
                                                                     int) override {
    std::lock_guard lock(cluster_->mu_);
    const auto& p = cluster_->topics_[tp.topic].at(static_cast<size_t>(tp.partition));
    return std::pair(p.start, p.end());
  }
  std::expected<void, std::string> Assign(
      const std::vector<std::pair<TopicPartition, int64_t>>& parts) override {
    std::lock_guard lock(cluster_->mu_);
    positions_.clear();
    for (const auto& [tp, offset] : parts) {
      const auto& p = cluster_->topics_[tp.topic].at(static_cast<size_t>(tp.partition));
      positions_[tp] = p.Resolve(offset);
    }
    return {};
  }
  std::expected<std::optional<InRecord>, std::string> Poll(int timeout_ms) override {
    {
      std::lock_guard lock(cluster_->mu_);
      for (auto& [tp, position] : positions_) {
        const auto& p = cluster_->topics_[tp.topic].at(static_cast<size_t>(tp.partition));
        if (position < p.start) position = p.start;
        if (position >= p.end()) continue;
        StoredRecord r = p.records[static_cast<size_t>(position - p.start)];
        ++position;
        return held_.Set(tp.topic, tp.partition, std::move(r), true);
      }
    }
    Nap(timeout_ms);
    return std::nullopt;
  }

 private:
  std::shared_ptr<MemoryCluster> cluster_;
  std::map<TopicPartition, int64_t> positions_;
  Held held_;
};

std::unique_ptr<Source> MemoryCluster::NewSource(const std::string& group,
                                                 std::vector<std::string> topics) {
  return std::make_unique<MemorySource>(shared_from_this(), group, std::move(topics));
}
std::unique_ptr<Producer> MemoryCluster::NewSink() {
  return std::make_unique<MemoryProducer>(shared_from_this());
}
std::unique_ptr<PartitionReader> MemoryCluster::NewReader() {
  return std::make_unique<MemoryReader>(shared_from_this());
}
Bus MemoryCluster::NewBus(const std::string& group, std::vector<std::string> topics) {
  return Bus{NewSource(group, std::move(topics)), NewSink(), NewReader(), NewReader(), NewReader()};
}

}  // namespace kpi::runtime
