// RuntimeProbe: what the streaming runtime reports about itself, as verbs called on its hot path
// (EventConsumed, DeadLettered, Committed ...), kept as plain counters that readers (the metrics
// exporter, the HTTP queries, tests) take a consistent look at whenever they like. No
// prometheus-cpp here: sinks/prometheus turns a snapshot into metric families at scrape time.
// The probe also keeps the KpiView, the committed KPI table that the queries and gauges read.
//
// No label or value here ever holds a child's identifier: topics, partitions, event kinds,
// reason codes and aggregate rows only.
//
// Thread-safety: the verbs are called from the runtime's thread (one writer); Snapshot(),
// view() and the health accessors from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "processor/date.h"
#include "processor/engine.h"
#include "processor/record.h"
#include "processor/validate.h"
#include "sinks/kpi_view.h"

namespace kpi::sinks {

// Cumulative histogram with fixed upper bounds (seconds), in Prometheus's sense: counts[i] is the
// number of observations <= bounds[i]; the last entry (+Inf) is the total.
struct HistogramSnapshot {
  std::vector<double> bounds;
  std::vector<uint64_t> cumulative;  // bounds.size() + 1 entries
  double sum = 0;
};

struct PartitionStatus {
  std::string topic;
  int32_t partition = 0;
  int64_t lag = 0;  // high watermark minus the next offset to consume; -1 when unknown
};

// Scaled out (scale.enabled): this instance's part in the deployment.
struct ScaleStatus {
  int tasks_owned = 0;      // restored and serving
  int tasks_restoring = 0;  // assigned, being restored from the changelog
  int64_t restore_records_remaining = 0;
  // Restores completed since start, by where the state came from: the local state directory
  // (kept, the changelog held nothing newer), the changelog, or the input (a rebuild).
  uint64_t restored_local = 0;
  uint64_t restored_changelog = 0;
  uint64_t rebuilt = 0;
  uint64_t fencings = 0;     // tasks found claimed by another instance
  bool emitter = false;      // publishes the global rows and the KPI gauges
  uint64_t global_rows = 0;  // rows in the global table
  int64_t cells_lag = 0;     // cells-topic records not yet read
};

// What the runtime reports about its store and assignment, about once a second.
struct StatusReport {
  std::optional<ScaleStatus> scale;
  std::vector<PartitionStatus> partitions;  // the assigned ones
  uint64_t state_sst_bytes = 0;
  uint64_t state_live_bytes = 0;
  uint64_t block_cache_usage_bytes = 0;
  uint64_t block_cache_capacity_bytes = 0;
};

// The kinds (index Kind-1) and "unknown" (the last slot).
inline constexpr int kKindSlots = kKindCount + 1;

struct ProbeSnapshot {
  std::vector<std::string> topics;                         // input topics, in config order
  std::vector<std::array<uint64_t, kKindSlots>> consumed;  // [topic][kind slot]
  uint64_t applied = 0;
  uint64_t stale = 0;
  std::array<uint64_t, kDeadLetterReasonCount> dead_letters{};
  uint64_t commits = 0;
  HistogramSnapshot commit_duration;
  HistogramSnapshot event_to_commit;
  std::optional<double> last_commit_unix_seconds;
  StatusReport status;
  bool ready = false;
  uint64_t delivery_pending = 0;     // output messages the current commit waits for
  double delivery_wait_seconds = 0;  // how long it has waited; 0 when not waiting
};

class RuntimeProbe {
 public:
  // `topics`: the input topics; events of any other topic are counted under "other".
  explicit RuntimeProbe(std::vector<std::string> topics);

  // --- verbs, on the runtime's thread ---
  // An input record was read; `kind` is nullopt when it did not decode.
  void EventConsumed(std::string_view topic, std::optional<Kind> kind);
  void EventApplied() { Bump(applied_); }
  void EventStale() { Bump(stale_); }
  void DeadLettered(DeadLetterReason reason) { Bump(dead_letters_[static_cast<size_t>(reason)]); }
  // A commit is durable and delivered: it took `duration_seconds`; `event_unix_ms` are the Kafka
  // timestamps of the events it covers; `rows` are the global rows it changed.
  void Committed(double duration_seconds, std::span<const int64_t> event_unix_ms,
                 int64_t now_unix_ms, const std::vector<Row>& rows, Date as_of);
  // Partitions were assigned and restored: `table` is the committed table of the tasks owned.
  void Assigned(std::vector<Row> table, Date as_of);
  void Revoked();
  // Scaled out: rows of the global table changed (the view follows them without a commit).
  void TableChanged(const std::vector<Row>& rows, Date as_of) { view_.Upsert(rows, as_of); }
  // Whether this instance exports the KPI gauges (one instance per deployment does).
  void SetKpiGauges(bool on) { kpi_gauges_.store(on, std::memory_order_release); }
  bool kpi_gauges() const { return kpi_gauges_.load(std::memory_order_acquire); }
  // publish.small_count: what /kpi?view=published suppresses (KPIS-3.md section 3).
  void SetSmallCount(int k) { small_count_.store(k, std::memory_order_relaxed); }
  int small_count() const { return small_count_.load(std::memory_order_relaxed); }
  // The process started at `now_unix_ms`: the baseline of "time since the last commit" until the
  // first commit, so that a processor that never commits is noticed.
  void Started(int64_t now_unix_ms);
  // Periodic status; also the main loop's heartbeat (`steady_ms`).
  void Status(StatusReport report, int64_t steady_ms);
  // A commit waits for the cluster to acknowledge `pending` output messages, for `waited_ms` so
  // far (0, 0 when it no longer waits). Any thread.
  void DeliveryWaiting(uint64_t pending, int64_t waited_ms) {
    delivery_pending_.store(pending, std::memory_order_relaxed);
    delivery_wait_ms_.store(waited_ms, std::memory_order_relaxed);
  }

  // --- readers, any thread ---
  ProbeSnapshot Snapshot() const;
  const KpiView& view() const { return view_; }
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // Steady-clock time of the last Status(); 0 before the first.
  int64_t last_heartbeat_ms() const { return heartbeat_ms_.load(std::memory_order_acquire); }

  static const std::vector<double>& CommitDurationBounds();
  static const std::vector<double>& EventToCommitBounds();

 private:
  struct Histogram {
    explicit Histogram(const std::vector<double>& b);
    void Observe(double v);
    HistogramSnapshot Read() const;
    const std::vector<double>& bounds;
    std::vector<std::atomic<uint64_t>> counts;  // per bucket, not cumulative; last: +Inf
    std::atomic<double> sum{0};
  };
  // One writer: a relaxed load and store is enough and cheaper than fetch_add.
  static void Bump(std::atomic<uint64_t>& c, uint64_t by = 1) {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

  std::vector<std::string> topics_;  // then "other"
  std::vector<std::array<std::atomic<uint64_t>, kKindSlots>> consumed_;
  std::atomic<uint64_t> applied_{0};
  std::atomic<uint64_t> stale_{0};
  std::array<std::atomic<uint64_t>, kDeadLetterReasonCount> dead_letters_{};
  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> delivery_pending_{0};
  std::atomic<int64_t> delivery_wait_ms_{0};
  Histogram commit_duration_;
  Histogram event_to_commit_;
  std::atomic<int64_t> last_commit_unix_ms_{0};
  std::atomic<bool> ready_{false};
  std::atomic<bool> kpi_gauges_{true};
  std::atomic<int> small_count_{5};
  std::atomic<int64_t> heartbeat_ms_{0};
  mutable std::mutex status_mu_;
  StatusReport status_;
  KpiView view_;
};

}  // namespace kpi::sinks
