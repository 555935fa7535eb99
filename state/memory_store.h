// MemoryStore: the in-memory StateStore. Production code (replay uses it; so do the tests), not a
// test double. Nothing survives the process. Thread-safety: none; one owner thread.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "state/state_store.h"

namespace kpi::state {

class MemoryStore final : public StateStore {
 public:
  std::expected<std::optional<std::string>, Error> Get(std::string_view key) override;
  std::expected<void, Error> Write(const WriteBatch& batch) override;
  std::expected<void, Error> Scan(std::string_view begin, std::string_view end,
                                  const ScanVisitor& visit) override;

  size_t size() const { return data_.size(); }

 private:
  using Map = std::map<std::string, std::string, std::less<>>;
  Map data_;  // ordered, for Scan
  // Point reads by hash: the map's nodes never move, so the views of its keys stay valid.
  std::unordered_map<std::string_view, Map::iterator> index_;
};

}  // namespace kpi::state
