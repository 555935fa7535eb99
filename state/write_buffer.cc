#include "state/write_buffer.h"

#include <vector>

namespace kpi::state {

std::expected<std::optional<std::string>, Error> WriteBuffer::Get(std::string_view key) {
  const auto it = pending_.find(key);
  if (it != pending_.end()) return it->second;
  return base_.Get(key);
}

void WriteBuffer::Put(std::string_view key, std::string_view value) {
  pending_.insert_or_assign(std::string(key), std::optional<std::string>(std::string(value)));
}

void WriteBuffer::Delete(std::string_view key) {
  pending_.insert_or_assign(std::string(key), std::optional<std::string>());
}

std::expected<void, Error> WriteBuffer::Scan(std::string_view begin, std::string_view end,
                                             const ScanVisitor& visit) {
  // Collect the base range first (the visitor may not run inside a base scan), then merge with
  // the buffered entries of the same range; the buffer shadows the base.
  std::vector<std::pair<std::string, std::string>> base_rows;
  auto scanned = base_.Scan(begin, end, [&](std::string_view k, std::string_view v) {
    base_rows.emplace_back(std::string(k), std::string(v));
    return true;
  });
  if (!scanned) return scanned;
  auto it = pending_.lower_bound(begin);
  const auto buffered_in_range = [&] {
    return it != pending_.end() && (end.empty() || std::string_view(it->first) < end);
  };
  size_t b = 0;
  while (b < base_rows.size() || buffered_in_range()) {
    if (buffered_in_range() && (b == base_rows.size() || it->first <= base_rows[b].first)) {
      if (b < base_rows.size() && it->first == base_rows[b].first) ++b;
      if (it->second && !visit(it->first, *it->second)) return {};
      ++it;
    } else {
      if (!visit(base_rows[b].first, base_rows[b].second)) return {};
      ++b;
    }
  }
  return {};
}

WriteBatch WriteBuffer::TakeBatch() {
  WriteBatch batch;
  batch.reserve(pending_.size());
  for (auto& [key, value] : pending_) batch.push_back({key, std::move(value)});
  pending_.clear();
  return batch;
}

}  // namespace kpi::state
