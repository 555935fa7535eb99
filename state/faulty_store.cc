#include "state/faulty_store.h"

#include <algorithm>
#include <iterator>

namespace kpi::state {

void FaultyStore::Arm(Op op, uint64_t nth, Fault fault) {
  armed_ = nth > 0;
  fired_ = false;
  op_ = op;
  remaining_ = nth;
  fault_ = fault;
}

bool FaultyStore::Due(Op op) {
  if (!armed_ || op != op_ || --remaining_ > 0) return false;
  armed_ = false;
  fired_ = true;
  std::copy(std::begin(calls_), std::end(calls_), std::begin(at_fault_));
  return true;
}

std::expected<std::optional<std::string>, Error> FaultyStore::Get(std::string_view key) {
  ++calls_[static_cast<size_t>(Op::kGet)];
  if (armed_ && op_ == Op::kGet && fault_ == Fault::kIoError && Due(Op::kGet)) {
    return std::unexpected(IoError("injected read error"));
  }
  auto value = inner_.Get(key);
  if (value && *value) ++values_read_;
  if (!value || !*value || !armed_ || op_ != Op::kGet || fault_ == Fault::kIoError) return value;
  if (!Due(Op::kGet)) return value;
  (*value)->resize((*value)->size() / 2);  // kTorn
  return value;
}

std::expected<void, Error> FaultyStore::Write(const WriteBatch& batch) {
  ++calls_[static_cast<size_t>(Op::kWrite)];
  if (Due(Op::kWrite)) return std::unexpected(IoError("injected write error"));
  return inner_.Write(batch);
}

std::expected<void, Error> FaultyStore::Scan(std::string_view begin, std::string_view end,
                                             const ScanVisitor& visit) {
  ++calls_[static_cast<size_t>(Op::kScan)];
  if (!Due(Op::kScan)) return inner_.Scan(begin, end, visit);
  if (fault_ == Fault::kMidScan) {
    int visited = 0;
    auto r = inner_.Scan(begin, end, [&](std::string_view k, std::string_view v) {
      return ++visited <= 1 && visit(k, v);
    });
    if (!r) return r;
  }
  return std::unexpected(IoError("injected scan error"));
}

}  // namespace kpi::state
