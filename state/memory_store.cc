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
  const auto it = data_.find(key);
  if (it == data_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

std::expected<void, Error> MemoryStore::Write(const WriteBatch& batch) {
  for (const WriteOp& op : batch) {
    if (op.value) {
      data_.insert_or_assign(op.key, *op.value);
    } else if (const auto it = data_.find(op.key); it != data_.end()) {
      data_.erase(it);
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
