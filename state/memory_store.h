// MemoryStore: the in-memory StateStore. Production code (replay uses it; so do the tests), not a
// test double. Nothing survives the process. Thread-safety: none; one owner thread.
#pragma once

#include <map>
#include <string>

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
  std::map<std::string, std::string, std::less<>> data_;
};

}  // namespace kpi::state
