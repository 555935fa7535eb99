#include "state/write_buffer.h"

#include <vector>

namespace kpi::state {

std::expected<std::optional<std::string>, Error> WriteBuffer::Get(std::string_view key) {
  const auto it = index_.find(key);
  if (it != index_.end()) return it->second->second;
  return base_.Get(key);
}

void WriteBuffer::Set(std::string_view key, std::optional<std::string> value) {
  const size_t size = value ? value->size() : 0;
  if (const auto it = index_.find(key); it != index_.end()) {
    std::optional<std::string>& old = it->second->second;
    bytes_ = bytes_ - (old ? old->size() : 0) + size;
    old = std::move(value);
    return;
  }
  const auto node = pending_.emplace(std::string(key), std::move(value)).first;
  index_.emplace(node->first, node);
  bytes_ += key.size() + size + kEntryOverhead;
}

void WriteBuffer::Put(std::string_view key, std::string_view value) {
  Set(key, std::string(value));
}

void WriteBuffer::Delete(std::string_view key) { Set(key, std::nullopt); }

void WriteBuffer::Apply(WriteBatch batch) {
  for (WriteOp& op : batch) Set(op.key, std::move(op.value));
}

std::expected<void, Error> WriteBuffer::Scan(std::string_view begin, std::string_view end,
                                             const ScanVisitor& visit) {
  // Merge on the fly: before each base key, the buffered keys below it; a buffered key equal to
  // a base key shadows it (a buffered delete hides it).
  auto it = pending_.lower_bound(begin);
  const auto buffered_below = [&](std::string_view limit, bool inclusive) {
    return it != pending_.end() && (end.empty() || std::string_view(it->first) < end) &&
           (inclusive ? std::string_view(it->first) <= limit : std::string_view(it->first) < limit);
  };
  bool stopped = false;
  auto scanned = base_.Scan(begin, end, [&](std::string_view key, std::string_view value) {
    for (; buffered_below(key, false); ++it) {
      if (it->second && !visit(it->first, *it->second)) return !(stopped = true);
    }
    if (it != pending_.end() && it->first == key) {
      const std::optional<std::string>& shadow = (it++)->second;
      if (shadow && !visit(key, *shadow)) return !(stopped = true);
      return true;
    }
    if (!visit(key, value)) return !(stopped = true);
    return true;
  });
  if (!scanned) return scanned;
  for (; !stopped && it != pending_.end() && (end.empty() || std::string_view(it->first) < end);
       ++it) {
    if (it->second && !visit(it->first, *it->second)) break;
  }
  return {};
}

WriteBatch WriteBuffer::TakeBatch() {
  WriteBatch batch;
  batch.reserve(pending_.size());
  for (auto& [key, value] : pending_) batch.push_back({key, std::move(value)});
  index_.clear();
  pending_.clear();
  bytes_ = 0;
  return batch;
}

}  // namespace kpi::state
