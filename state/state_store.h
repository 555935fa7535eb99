// StateStore: the durable key-value state behind the KPI core (per-child records, per-child
// distinct-count references, stored derived contributions, the KPI cells, consumed offsets).
//
// Contract (every implementation, in-memory or RocksDB, passes state_store_contract_test):
// - keys and values are arbitrary byte strings; keys are ordered bytewise (memcmp, then length);
// - Get distinguishes an absent key (empty optional) from a failed read (Error);
// - Write applies a batch atomically: after a crash either every operation of the batch is
//   visible or none is; batches are applied in call order, and the operations of a batch in
//   their order (a key written twice in one batch takes the later value);
// - Scan visits the keys in [begin, end) in ascending order; the visitor returns false to stop.
//   The store must not be written from inside the visitor.
// Thread-safety: implementations are not required to be thread-safe; one task owns one store
// handle and calls it from one thread.
#pragma once

#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state/status.h"

namespace kpi::state {

struct WriteOp {
  std::string key;
  std::optional<std::string> value;  // nullopt: delete the key
  bool operator==(const WriteOp&) const = default;
};

using WriteBatch = std::vector<WriteOp>;

using ScanVisitor = std::function<bool(std::string_view key, std::string_view value)>;

class StateStore {
 public:
  virtual ~StateStore() = default;

  virtual std::expected<std::optional<std::string>, Error> Get(std::string_view key) = 0;
  virtual std::expected<void, Error> Write(const WriteBatch& batch) = 0;
  virtual std::expected<void, Error> Scan(std::string_view begin, std::string_view end,
                                          const ScanVisitor& visit) = 0;
};

// The smallest key greater than every key that starts with `prefix` ("" when there is none),
// for use as the `end` of a prefix scan.
std::string PrefixEnd(std::string_view prefix);

}  // namespace kpi::state
