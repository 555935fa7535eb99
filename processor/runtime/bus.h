// Kafka as the runtime sees it: a source of input records (a consumer group member), a producer for
// produced records, and a reader of single partitions (no group) for reading topics back. Two
// implementations: rdkafka_bus.h (librdkafka, for `run`) and memory_bus.h (in process, for fast
// deterministic tests of the commit protocol).
//
// Records handed out by Poll() are views valid until the next Poll() on the same object.
// Thread-safety: one object per thread; the memory cluster behind memory_bus.h is shared.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "processor/runtime/outbox.h"

namespace kpi::runtime {

inline constexpr int64_t kOffsetBeginning = -2;  // as librdkafka's RD_KAFKA_OFFSET_BEGINNING
inline constexpr int64_t kOffsetEnd = -1;        // as RD_KAFKA_OFFSET_END

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

struct InRecord {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string_view key;
  std::string_view value;
  std::optional<int64_t> timestamp_ms;  // the record's Kafka timestamp (Unix ms)
  // Filled by PartitionReader only (the group source leaves them out: input records need none).
  std::vector<std::pair<std::string_view, std::string_view>> headers;

  std::optional<std::string_view> Header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n == name) return v;
    }
    return std::nullopt;
  }
};

// A member of the consumer group over the input topics.
class Source {
 public:
  struct Listener {
    virtual ~Listener() = default;
    // Partitions newly assigned: the listener sets each one's start offset (an offset, or
    // kOffsetBeginning / kOffsetEnd).
    virtual void OnAssign(std::vector<std::pair<TopicPartition, int64_t>>& parts) = 0;
    // Partitions taken away; `lost`: the group session expired (no orderly hand-over).
    virtual void OnRevoke(const std::vector<TopicPartition>& parts, bool lost) = 0;
  };
  virtual ~Source() = default;
  // Waits up to `timeout_ms` for a record, calling the listener on rebalances meanwhile.
  // nullopt: none arrived. Errors are fatal (the message names the client, never content).
  virtual std::expected<std::optional<InRecord>, std::string> Poll(int timeout_ms,
                                                                   Listener& listener) = 0;
  // The partition's low and high watermarks as last seen by the fetcher (no broker round trip);
  // nullopt when unknown.
  virtual std::optional<std::pair<int64_t, int64_t>> CachedWatermarks(const TopicPartition& tp) = 0;
  // Stops fetching assigned partitions (a task being restored); records already fetched may
  // still arrive, and the caller ignores them. A new assignment starts unpaused.
  virtual void Pause(const std::vector<TopicPartition>& parts) = 0;
  // Continues paused partitions from the offsets given.
  virtual std::expected<void, std::string> Resume(
      const std::vector<std::pair<TopicPartition, int64_t>>& parts) = 0;
  // Leaves the group (an orderly hand-over of the partitions).
  virtual void Close() = 0;
  // Set once a broker has refused this process's credentials or TLS handshake (a configuration
  // error that retrying does not mend): what was refused and which settings to check, never a
  // secret. nullopt while nothing was refused.
  virtual std::optional<std::string> Refused() const { return std::nullopt; }
};

struct Delivered {
  TopicPartition tp;
  int64_t offset = 0;
};

// The producer.
class Producer {
 public:
  virtual ~Producer() = default;
  // Queues a message; `partition` -1 lets the client's partitioner choose by key.
  virtual std::expected<void, std::string> Produce(const OutMessage& message,
                                                   int32_t partition = -1) = 0;
  // Waits until every queued message is delivered, up to `timeout_ms`. Returns where each went,
  // in the order produced. An error leaves the outcome of the undelivered ones unknown.
  virtual std::expected<std::vector<Delivered>, std::string> Flush(int64_t timeout_ms) = 0;
  // Serves the client's callbacks without waiting.
  virtual void Poll() = 0;
  // Called while Flush() waits (about every second, from Flush's thread) with the messages not
  // yet acknowledged and the time waited; once more with 0, 0 when it stops waiting.
  using WaitObserver = std::function<void(size_t pending, int64_t waited_ms)>;
  virtual void ObserveWaits(WaitObserver observer) { (void)observer; }
};

// Reads partitions it is assigned, outside any group.
class PartitionReader {
 public:
  virtual ~PartitionReader() = default;
  // 0 when the topic does not exist (an existing topic has at least one partition).
  virtual std::expected<int32_t, std::string> PartitionCount(const std::string& topic,
                                                             int timeout_ms) = 0;
  // The partition's low and high watermarks, from the broker.
  virtual std::expected<std::pair<int64_t, int64_t>, std::string> Watermarks(
      const TopicPartition& tp, int timeout_ms) = 0;
  // Replaces the assignment.
  virtual std::expected<void, std::string> Assign(
      const std::vector<std::pair<TopicPartition, int64_t>>& parts) = 0;
  virtual std::expected<std::optional<InRecord>, std::string> Poll(int timeout_ms) = 0;
};

// One instance's clients.
struct Bus {
  std::unique_ptr<Source> source;
  std::unique_ptr<Producer> producer;
  std::unique_ptr<PartitionReader>
      reader;  // reading back what the producer wrote: dead letters, fencing
  // Scaled out only: restoring tasks from the changelog, and reading the cells and output topics.
  std::unique_ptr<PartitionReader> restore_reader;
  std::unique_ptr<PartitionReader> global_reader;
};

}  // namespace kpi::runtime
