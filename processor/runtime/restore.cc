#include "processor/runtime/restore.h"

#include "processor/coding.h"
#include "processor/keys.h"

namespace kpi::runtime {
namespace {

constexpr char kLogPosition = 'L';

std::string TaskPrefix(int32_t task) {
  return keys::TablePrefix(static_cast<uint16_t>(task), kLogPosition).substr(0, 2);
}

}  // namespace

std::string LogPositionKey(int32_t task) {
  return keys::TablePrefix(static_cast<uint16_t>(task), kLogPosition);
}

std::string EncodeLogPosition(uint64_t epoch, uint64_t seq) {
  std::string out;
  coding::ByteWriter w(out);
  w.Varint(epoch);
  w.Varint(seq);
  return out;
}

std::optional<std::pair<uint64_t, uint64_t>> DecodeLogPosition(std::string_view bytes) {
  std::optional<coding::ByteReader> in = coding::ByteReader::Open(bytes);
  uint64_t epoch = 0;
  uint64_t seq = 0;
  if (!in || !in->Varint(epoch) || !in->Varint(seq) || !in->done()) return std::nullopt;
  return std::pair(epoch, seq);
}

std::expected<std::vector<LogRecord>, std::string> TaskSnapshot(state::StateStore& store,
                                                                int32_t task, uint64_t epoch,
                                                                uint64_t seq,
                                                                size_t max_part_bytes) {
  const std::string prefix = TaskPrefix(task);
  const std::string position = LogPositionKey(task);
  state::WriteBatch ops;
  auto scanned = store.Scan(prefix, state::PrefixEnd(prefix),
                            [&](std::string_view key, std::string_view value) {
                              if (key != position)
                                ops.push_back({std::string(key), std::string(value)});
                              return true;
                            });
  if (!scanned) {
    return std::unexpected("snapshot of task " + std::to_string(task) + ": " +
                           scanned.error().message);
  }
  return CommitRecords(epoch, seq, true, ops, max_part_bytes);
}

namespace {

// A failure of the changelog's client (a broker away, a leader moving) ends the run as any Kafka
// failure does (exit 4, restart); one of the store as a state failure (exit 3).
Failure KafkaFailure(std::string message) { return {kExitKafka, std::move(message)}; }
Failure StateFailure(std::string message) { return {kExitState, std::move(message)}; }

}  // namespace

std::expected<void, std::string> TaskRestore::ClearTask(state::StateStore& store) {
  const std::string prefix = TaskPrefix(tp_.partition);
  state::WriteBatch batch;
  auto scanned =
      store.Scan(prefix, state::PrefixEnd(prefix), [&](std::string_view key, std::string_view) {
        batch.push_back({std::string(key), std::nullopt});
        return true;
      });
  if (!scanned)
    return std::unexpected("clearing task " + std::to_string(tp_.partition) + ": " +
                           scanned.error().message);
  if (auto w = store.Write(batch); !w) {
    return std::unexpected("clearing task " + std::to_string(tp_.partition) + ": " +
                           w.error().message);
  }
  return {};
}

std::expected<void, std::string> TaskRestore::Apply(state::StateStore& store,
                                                    const LogReplay::Commit& c) {
  if (c.snapshot) {
    if (auto cleared = ClearTask(store); !cleared) return cleared;
  }
  const std::string prefix = TaskPrefix(tp_.partition);
  state::WriteBatch batch;
  batch.reserve(c.ops.size() + 1);
  for (const state::WriteOp& op : c.ops) {
    // Only the task's own keys: a record cannot write outside its task.
    if (std::string_view(op.key).starts_with(prefix)) batch.push_back(op);
  }
  batch.push_back({LogPositionKey(tp_.partition), EncodeLogPosition(c.epoch, c.seq)});
  if (auto w = store.Write(batch); !w) {
    return std::unexpected("restoring task " + std::to_string(tp_.partition) + ": " +
                           w.error().message);
  }
  last_ = std::pair(c.epoch, c.seq);
  return {};
}

std::expected<void, Failure> TaskRestore::Start(PartitionReader& reader, state::StateStore& store) {
  started_ = true;
  auto marks = reader.Watermarks(tp_, 10000);
  if (!marks) return std::unexpected(KafkaFailure(marks.error()));
  low_ = marks->first;
  high_ = marks->second;
  if (high_ == 0) {  // never written: the local state is the task's first history
    source_ = Source::kLocal;
    phase_ = Phase::kClaim;
    return {};
  }
  if (low_ >= high_) {  // everything dropped by retention
    source_ = Source::kRebuild;
    phase_ = Phase::kClaim;
    if (auto c = ClearTask(store); !c) return std::unexpected(StateFailure(c.error()));
    return {};
  }
  total_ = high_ - low_;
  position_ = low_;
  if (auto a = reader.Assign({{tp_, low_}}); !a) return std::unexpected(KafkaFailure(a.error()));
  return {};
}

std::expected<TaskRestore::Phase, Failure> TaskRestore::Step(PartitionReader& reader,
                                                             state::StateStore& store,
                                                             int max_records) {
  if (!started_) {
    if (auto s = Start(reader, store); !s) return std::unexpected(s.error());
  }
  if (needs_assign_) {
    needs_assign_ = false;
    if (auto a = reader.Assign({{tp_, position_}}); !a) {
      return std::unexpected(KafkaFailure(a.error()));
    }
  }
  for (int n = 0; n < max_records; ++n) {
    const int64_t end = phase_ == Phase::kCatchUp ? claim_offset_ + 1 : high_;
    if (phase_ != Phase::kScan && phase_ != Phase::kApply && phase_ != Phase::kCatchUp) break;
    if (position_ >= end) {
      if (phase_ == Phase::kScan) {
        if (!scan_.synced() || !snapshot_offset_) {
          source_ = Source::kRebuild;
          phase_ = Phase::kClaim;
          if (auto c = ClearTask(store); !c) return std::unexpected(StateFailure(c.error()));
          break;
        }
        auto local = store.Get(LogPositionKey(tp_.partition));
        if (!local) return std::unexpected(StateFailure("task position: " + local.error().message));
        if (*local && DecodeLogPosition(**local) == scan_.last_commit()) {
          source_ = Source::kLocal;
          last_ = scan_.last_commit();
          phase_ = Phase::kClaim;
          break;
        }
        source_ = Source::kLog;
        phase_ = Phase::kApply;
        position_ = *snapshot_offset_;
        total_ += high_ - position_;
        if (auto a = reader.Assign({{tp_, position_}}); !a) {
          return std::unexpected(KafkaFailure(a.error()));
        }
        continue;
      }
      phase_ = phase_ == Phase::kApply ? Phase::kClaim : Phase::kDone;
      break;
    }
    auto polled = reader.Poll(n == 0 ? 100 : 0);
    if (!polled) return std::unexpected(KafkaFailure(polled.error()));
    if (!*polled) break;  // nothing fetched yet: the next step continues
    const InRecord& rec = **polled;
    if (rec.partition != tp_.partition || rec.offset < position_) continue;
    position_ = rec.offset + 1;
    ++read_;
    const std::optional<LogRecord> record = DecodeLogRecord(rec.value);
    if (phase_ == Phase::kScan) {
      if (rec.offset >= high_) continue;  // read again by the catch-up
      if (record && record->type == LogRecord::Type::kCommit && record->part == 0) {
        part0_offset_ = rec.offset;
      }
      const auto done = scan_.Add(record);
      if (done && done->snapshot) snapshot_offset_ = part0_offset_;
    } else if (phase_ == Phase::kApply) {
      if (rec.offset >= high_) continue;
      if (const auto done = apply_.Add(record)) {
        if (auto a = Apply(store, *done); !a) return std::unexpected(StateFailure(a.error()));
      }
    } else {  // catching up to our claim
      if (rec.offset < claim_offset_ && record && record->type == LogRecord::Type::kClaim &&
          record->epoch >= epoch_) {
        phase_ = Phase::kLost;
        break;
      }
      const auto done = scan_.Add(record);
      if (done && source_ != Source::kRebuild) {
        if (auto a = Apply(store, *done); !a) return std::unexpected(StateFailure(a.error()));
      }
    }
  }
  return phase_;
}

void TaskRestore::Claimed(uint64_t epoch, int64_t claim_offset) {
  epoch_ = epoch;
  claim_offset_ = claim_offset;
  phase_ = Phase::kCatchUp;
  position_ = high_;
  total_ += claim_offset + 1 - high_;
  needs_assign_ = true;
}

}  // namespace kpi::runtime
