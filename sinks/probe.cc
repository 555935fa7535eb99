#include "sinks/probe.h"

#include <algorithm>

namespace kpi::sinks {

const std::vector<double>& RuntimeProbe::CommitDurationBounds() {
  static const std::vector<double> b = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10};
  return b;
}

const std::vector<double>& RuntimeProbe::EventToCommitBounds() {
  static const std::vector<double> b = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                        2.5,   5,    10,    30,   60,  300,  900, 3600};
  return b;
}

RuntimeProbe::Histogram::Histogram(const std::vector<double>& b)
    : bounds(b), counts(b.size() + 1) {}

void RuntimeProbe::Histogram::Observe(double v) {
  const auto i = static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), v) -
                                     bounds.begin());  // first bound >= v: le semantics
  Bump(counts[i]);
  sum.store(sum.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
}

HistogramSnapshot RuntimeProbe::Histogram::Read() const {
  HistogramSnapshot s;
  s.bounds = bounds;
  uint64_t running = 0;
  for (const auto& c : counts) {
    running += c.load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.sum = sum.load(std::memory_order_relaxed);
  return s;
}

RuntimeProbe::RuntimeProbe(std::vector<std::string> topics)
    : topics_(std::move(topics)),
      consumed_(topics_.size() + 1),
      commit_duration_(CommitDurationBounds()),
      event_to_commit_(EventToCommitBounds()) {
  topics_.emplace_back("other");
}

void RuntimeProbe::EventConsumed(std::string_view topic, std::optional<Kind> kind) {
  size_t t = 0;
  while (t + 1 < topics_.size() && topics_[t] != topic) ++t;
  const size_t k = kind ? static_cast<size_t>(*kind) - 1 : kKindSlots - 1;
  Bump(consumed_[t][std::min<size_t>(k, kKindSlots - 1)]);
}

void RuntimeProbe::Committed(double duration_seconds, std::span<const int64_t> event_unix_ms,
                             int64_t now_unix_ms, const std::vector<Row>& rows, Date as_of) {
  commit_duration_.Observe(duration_seconds);
  for (const int64_t ts : event_unix_ms) {
    event_to_commit_.Observe(static_cast<double>(std::max<int64_t>(0, now_unix_ms - ts)) / 1000.0);
  }
  last_commit_unix_ms_.store(now_unix_ms, std::memory_order_relaxed);
  view_.Upsert(rows, as_of);
  Bump(commits_);
}

void RuntimeProbe::Assigned(std::vector<Row> table, Date as_of) {
  view_.Reset(table, as_of);
  ready_.store(true, std::memory_order_release);
}

void RuntimeProbe::Started(int64_t now_unix_ms) {
  int64_t none = 0;
  last_commit_unix_ms_.compare_exchange_strong(none, now_unix_ms);
}

void RuntimeProbe::Revoked() { ready_.store(false, std::memory_order_release); }

void RuntimeProbe::Status(StatusReport report, int64_t steady_ms) {
  {
    const std::lock_guard lock(status_mu_);
    status_ = std::move(report);
  }
  heartbeat_ms_.store(steady_ms, std::memory_order_release);
}

ProbeSnapshot RuntimeProbe::Snapshot() const {
  ProbeSnapshot s;
  s.topics = topics_;
  for (const auto& row : consumed_) {
    std::array<uint64_t, kKindSlots> counts{};
    for (size_t k = 0; k < row.size(); ++k) counts[k] = row[k].load(std::memory_order_relaxed);
    s.consumed.push_back(counts);
  }
  s.applied = applied_.load(std::memory_order_relaxed);
  s.stale = stale_.load(std::memory_order_relaxed);
  s.delivery_pending = delivery_pending_.load(std::memory_order_relaxed);
  s.delivery_wait_seconds =
      static_cast<double>(delivery_wait_ms_.load(std::memory_order_relaxed)) / 1000.0;
  for (size_t i = 0; i < dead_letters_.size(); ++i) {
    s.dead_letters[i] = dead_letters_[i].load(std::memory_order_relaxed);
  }
  s.commits = commits_.load(std::memory_order_relaxed);
  s.commit_duration = commit_duration_.Read();
  s.event_to_commit = event_to_commit_.Read();
  if (const int64_t ms = last_commit_unix_ms_.load(std::memory_order_relaxed); ms > 0) {
    s.last_commit_unix_seconds = static_cast<double>(ms) / 1000.0;
  }
  {
    const std::lock_guard lock(status_mu_);
    s.status = status_;
  }
  s.ready = ready();
  return s;
}

}  // namespace kpi::sinks
