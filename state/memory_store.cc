#include "state/memory_store.h"

namespace kpi::state {

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last != 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return end;
}

std::expected<std::optional<std::string>, Error> MemoryStore::Get(std::string_view key) {
  const auto it = index_.find(key);
  if (it == index_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second->second);
}

std::expected<void, Error> MemoryStore::Write(const WriteBatch& batch) {
  for (const WriteOp& op : batch) {
    if (op.value) {
      const auto [it, inserted] = data_.insert_or_assign(op.key, *op.value);
      if (inserted) index_.emplace(it->first, it);
    } else if (const auto it = index_.find(op.key); it != index_.end()) {
      const Map::iterator node = it->second;
      index_.erase(it);
      data_.erase(node);
    }
  }
  return {};
}

std::expected<void, Error> MemoryStore::Scan(std::string_view begin, std::string_view end,
                                             const ScanVisitor& visit) {
  for (auto it = data_.lower_bound(begin);
       it != data_.end() && (end.empty() || std::string_view(it->first) < end); ++it) {
    if (!visit(it->first, it->second)) break;
  }
  return {};
}

}  // namespace kpi::state
