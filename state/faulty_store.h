// FaultyStore: a StateStore over another one that fails on purpose, for the tests of what the
// engine and `run` do when storage fails (an I/O error, a torn or corrupt value). With nothing
// armed it is the store underneath (it passes state_store_contract_test). Test-only; the
// production binaries never build one. Thread-safety: none, like the stores it wraps.
#pragma once

#include <cstdint>
#include <string>

#include "state/state_store.h"

namespace kpi::state {

class FaultyStore final : public StateStore {
 public:
  enum class Op : uint8_t { kGet, kWrite, kScan };
  enum class Fault : uint8_t {
    kIoError,  // the call fails with ErrorCode::kIoError (nothing written, for a Write)
    kTorn,     // a Get returns only the first half of the stored value (a torn write)
    kMidScan,  // a Scan visits one entry, then fails with an I/O error
  };

  explicit FaultyStore(StateStore& inner) : inner_(inner) {}

  // The `nth` call of `op` from now (1: the next) gets `fault`; later calls pass through.
  // kTorn applies to Gets that find a value (absent keys are not counted).
  void Arm(Op op, uint64_t nth, Fault fault);
  bool fired() const { return fired_; }
  uint64_t calls(Op op) const { return calls_[static_cast<size_t>(op)]; }
  uint64_t values_read() const { return values_read_; }  // Gets that found a value
  // Calls of `op` made after the fault fired (a Write there would be a commit after a failure).
  uint64_t calls_after_fault(Op op) const {
    return fired_ ? calls_[static_cast<size_t>(op)] - at_fault_[static_cast<size_t>(op)] : 0;
  }

  std::expected<std::optional<std::string>, Error> Get(std::string_view key) override;
  std::expected<void, Error> Write(const WriteBatch& batch) override;
  std::expected<void, Error> Scan(std::string_view begin, std::string_view end,
                                  const ScanVisitor& visit) override;

 private:
  bool Due(Op op);

  StateStore& inner_;
  bool armed_ = false;
  bool fired_ = false;
  Op op_ = Op::kGet;
  uint64_t remaining_ = 0;
  Fault fault_ = Fault::kIoError;
  uint64_t calls_[3] = {};
  uint64_t at_fault_[3] = {};
  uint64_t values_read_ = 0;
};

}  // namespace kpi::state
