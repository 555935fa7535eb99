#include "processor/runtime/changelog.h"

#include <algorithm>
#include <set>

#include "processor/coding.h"

namespace kpi::runtime {

std::string EncodeLogRecord(const LogRecord& r) {
  std::string out;
  coding::ByteWriter w(out);
  w.U8(static_cast<uint8_t>(r.type));
  w.Varint(r.epoch);
  if (r.type == LogRecord::Type::kClaim) {
    w.Bytes(r.owner);
    return out;
  }
  w.Varint(r.seq);
  w.Varint(r.part);
  w.Varint(r.parts);
  w.U8(r.snapshot ? 1 : 0);
  w.Varint(r.ops.size());
  for (const state::WriteOp& op : r.ops) {
    w.Bytes(op.key);
    w.U8(op.value ? 1 : 0);
    if (op.value) w.Bytes(*op.value);
  }
  return out;
}

std::optional<LogRecord> DecodeLogRecord(std::string_view bytes) {
  std::optional<coding::ByteReader> in = coding::ByteReader::Open(bytes);
  LogRecord r;
  uint8_t type = 0;
  if (!in || !in->U8(type) || !in->Varint(r.epoch)) return std::nullopt;
  if (type == static_cast<uint8_t>(LogRecord::Type::kClaim)) {
    r.type = LogRecord::Type::kClaim;
    if (!in->Bytes(r.owner) || !in->done()) return std::nullopt;
    return r;
  }
  if (type != static_cast<uint8_t>(LogRecord::Type::kCommit)) return std::nullopt;
  uint64_t part = 0;
  uint64_t parts = 0;
  uint8_t snapshot = 0;
  uint64_t ops = 0;
  if (!in->Varint(r.seq) || !in->Varint(part) || !in->Varint(parts) || !in->U8(snapshot) ||
      !in->Varint(ops) || parts == 0 || part >= parts || parts > UINT32_MAX || snapshot > 1 ||
      ops > bytes.size()) {
    return std::nullopt;
  }
  r.part = static_cast<uint32_t>(part);
  r.parts = static_cast<uint32_t>(parts);
  r.snapshot = snapshot == 1;
  r.ops.resize(ops);
  for (state::WriteOp& op : r.ops) {
    uint8_t has_value = 0;
    if (!in->Bytes(op.key) || !in->U8(has_value) || has_value > 1) return std::nullopt;
    if (has_value == 1) {
      op.value.emplace();
      if (!in->Bytes(*op.value)) return std::nullopt;
    }
  }
  if (!in->done()) return std::nullopt;
  return r;
}

std::vector<LogRecord> CommitRecords(uint64_t epoch, uint64_t seq, bool snapshot,
                                     const state::WriteBatch& ops, size_t max_part_bytes) {
  std::vector<LogRecord> parts(1);
  size_t bytes = 0;
  for (const state::WriteOp& op : ops) {
    const size_t size = op.key.size() + (op.value ? op.value->size() : 0) + 8;
    if (bytes > 0 && bytes + size > max_part_bytes) {
      parts.emplace_back();
      bytes = 0;
    }
    parts.back().ops.push_back(op);
    bytes += size;
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    parts[i].type = LogRecord::Type::kCommit;
    parts[i].epoch = epoch;
    parts[i].seq = seq;
    parts[i].part = static_cast<uint32_t>(i);
    parts[i].parts = static_cast<uint32_t>(parts.size());
    parts[i].snapshot = snapshot;
  }
  return parts;
}

std::optional<LogReplay::Commit> LogReplay::Add(const std::optional<LogRecord>& record) {
  if (!record || record->epoch < max_epoch_) return std::nullopt;  // not ours, or a zombie's
  const LogRecord& r = *record;
  if (r.type == LogRecord::Type::kClaim) {
    // A claim with the latest epoch again lost a race to the first: ignored. A newer claim ends
    // the epoch: a commit in progress is incomplete for good.
    if (r.epoch > max_epoch_) {
      max_epoch_ = r.epoch;
      partial_.reset();
    }
    return std::nullopt;
  }
  if (r.epoch > max_epoch_) {
    // Its claim is gone (retention): the history is known again from this epoch's snapshot.
    max_epoch_ = r.epoch;
    partial_.reset();
    if (!r.snapshot) synced_ = false;
  }
  if (r.part == 0) {
    partial_.reset();
    if (!r.snapshot && (!synced_ || base_epoch_ != r.epoch)) return std::nullopt;
    partial_ = Commit{r.epoch, r.seq, r.snapshot, {}};
    next_part_ = 0;
    parts_ = r.parts;
  }
  if (!partial_ || partial_->seq != r.seq || partial_->epoch != r.epoch ||
      partial_->snapshot != r.snapshot || r.part != next_part_ || r.parts != parts_) {
    partial_.reset();
    return std::nullopt;
  }
  partial_->ops.insert(partial_->ops.end(), r.ops.begin(), r.ops.end());
  if (++next_part_ < parts_) return std::nullopt;
  Commit done = std::move(*partial_);
  partial_.reset();
  if (done.snapshot) {
    synced_ = true;
    base_epoch_ = done.epoch;
  }
  last_ = std::pair(done.epoch, done.seq);
  return done;
}

std::vector<int64_t> ForeignOffsets(const std::vector<Delivered>& delivered, int64_t last_offset) {
  std::vector<int64_t> foreign;
  if (delivered.empty()) return foreign;
  std::set<int64_t> ours;
  int64_t last = last_offset;
  for (const Delivered& d : delivered) {
    ours.insert(d.offset);
    last = std::max(last, d.offset);
  }
  for (int64_t o = last_offset + 1; o < last; ++o) {
    if (!ours.contains(o)) foreign.push_back(o);
  }
  return foreign;
}

}  // namespace kpi::runtime
