// WriteBuffer: an in-memory write-back layer over a StateStore. Reads see the buffered writes
// first; TakeBatch() hands every buffered change over as one batch (each key once, however often
// it was written), so a commit is a single atomic StateStore::Write.
// Ownership: borrows `base`, which must outlive the buffer. Thread-safety: none; one owner thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "state/state_store.h"

namespace kpi::state {

class WriteBuffer {
 public:
  explicit WriteBuffer(StateStore& base) : base_(base) {}

  std::expected<std::optional<std::string>, Error> Get(std::string_view key);
  void Put(std::string_view key, std::string_view value);
  void Delete(std::string_view key);
  // Puts and deletes of `batch`, in order, moving its values in.
  void Apply(WriteBatch batch);
  // Merged view of the buffer over the base store, ascending, [begin, end), streamed (no copy).
  // The visitor must not write to the buffer.
  std::expected<void, Error> Scan(std::string_view begin, std::string_view end,
                                  const ScanVisitor& visit);
  std::expected<void, Error> ScanPrefix(std::string_view prefix, const ScanVisitor& visit) {
    return Scan(prefix, PrefixEnd(prefix), visit);
  }

  size_t pending() const { return pending_.size(); }
  // Approximate memory held by the buffered changes (keys, values, map and index nodes).
  size_t bytes() const { return bytes_; }
  // Moves every buffered change into a batch and empties the buffer. The caller writes it (with
  // whatever else belongs to the same commit) to the base store.
  WriteBatch TakeBatch();
  StateStore& base() { return base_; }

 private:
  StateStore& base_;
  using Map = std::map<std::string, std::optional<std::string>, std::less<>>;
  Map pending_;  // ordered, for Scan and for a sorted batch
  // Point reads by hash: the map's nodes never move, so the views of its keys stay valid.
  std::unordered_map<std::string_view, Map::iterator> index_;
  void Set(std::string_view key, std::optional<std::string> value);
  static constexpr size_t kEntryOverhead = 160;  // two nodes, two std::string, the optional
  size_t bytes_ = 0;
};

}  // namespace kpi::state
