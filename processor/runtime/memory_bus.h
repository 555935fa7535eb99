// An in-process Kafka for tests (bus.h): topics of partitions in memory, one consumer group per
// name with the eager range assignment (partition p of every topic to the same member), producers
// that deliver on Flush, and readers. Rebalances happen at each member's next Poll after a member
// joins or leaves, so a test decides exactly when a handover happens. As in Kafka's eager
// protocol, no member takes its new assignment until every member has given up its old one (at
// its own next Poll), so two members never hold a partition at once; a member whose session is
// ended (ExpireMember) is out of the group at once, as a broker's session timeout makes it.
// Retention can drop a partition's head; queued messages of a producer that is destroyed before its
// Flush are lost or delivered as the cluster is told (a crash either way). Thread-safety: the
// cluster and everything made from it may be used from several threads.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "processor/runtime/bus.h"

namespace kpi::runtime {

struct StoredRecord {
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  int64_t timestamp_ms = 0;
};

class MemoryCluster : public std::enable_shared_from_this<MemoryCluster> {
 public:
  static std::shared_ptr<MemoryCluster> Create() {
    return std::shared_ptr<MemoryCluster>(new MemoryCluster());
  }
  void CreateTopic(const std::string& topic, int32_t partitions);
  int32_t Partitions(const std::string& topic);
  // Appends a record; partition -1 picks one from the key (the same key, the same partition
  // number in every topic with as many partitions). Returns where it went.
  Delivered Append(const std::string& topic, int32_t partition, const OutMessage& m,
                   int64_t timestamp_ms = 0);
  // Records of one partition from `from` on (retention may have dropped the head).
  std::vector<StoredRecord> Read(const TopicPartition& tp, int64_t from = 0);
  // Every record of a topic, partition by partition.
  std::vector<std::pair<int32_t, StoredRecord>> ReadAll(const std::string& topic);
  // Retention: drops the partition's records before `offset`.
  void DropBefore(const TopicPartition& tp, int64_t offset);
  // Queued, undelivered messages of a producer destroyed without Flush: delivered (true) or lost.
  void SetDeliverQueuedOnDestroy(bool deliver);
  // Ends the session of `group`'s member `member` (1-based, in join order): its next Poll
  // revokes everything as lost, and the others are rebalanced.
  void ExpireMember(const std::string& group, int member);
  // Called (outside the cluster's lock) when a source's poll finds nothing to read in its
  // partitions: a test stops its runtimes there.
  void SetOnIdle(std::function<void()> on_idle);

  // Clients. The source joins `group` and subscribes to `topics`.
  std::unique_ptr<Source> NewSource(const std::string& group, std::vector<std::string> topics);
  std::unique_ptr<Producer> NewSink();
  std::unique_ptr<PartitionReader> NewReader();
  Bus NewBus(const std::string& group, std::vector<std::string> topics);

 private:
  friend class MemorySource;
  friend class MemoryProducer;
  friend class MemoryReader;
  MemoryCluster() = default;
  struct Partition {
    int64_t start = 0;  // the offset of records.front()
    std::vector<StoredRecord> records;
    int64_t end() const { return start + static_cast<int64_t>(records.size()); }
    // An offset, or kOffsetBeginning / kOffsetEnd, as the position to read from.
    int64_t Resolve(int64_t offset) const {
      return offset == kOffsetBeginning ? start : offset == kOffsetEnd ? end() : offset;
    }
  };
  struct Group {
    std::vector<int> members;  // member ids in join order
    std::vector<std::string> topics;
    int generation = 0;
    std::map<int, int> synced;  // member id -> the generation it has revoked for
    bool AllSynced() const {
      for (const int m : members) {
        const auto it = synced.find(m);
        if (it == synced.end() || it->second != generation) return false;
      }
      return true;
    }
  };
  // With the lock held.
  Delivered AppendLocked(const std::string& topic, int32_t partition, const OutMessage& m,
                         int64_t timestamp_ms);
  std::vector<TopicPartition> AssignmentLocked(const std::string& group, int member);
  void LeaveLocked(const std::string& group, int member);

  std::mutex mu_;
  std::map<std::string, std::vector<Partition>> topics_;
  std::map<std::string, Group> groups_;
  std::map<int, bool> expired_;  // member id -> its session ended
  int next_member_ = 1;
  bool deliver_queued_on_destroy_ = false;
  std::function<void()> on_idle_;
};

}  // namespace kpi::runtime
