// CellSink's distinct-child references (rules.h).
#include "processor/rules/rules.h"

namespace kpi::rules {

void CellSink::AddDistinct(ChildState& child, Kpi kpi, Date date, const Dims& dims, int sign) {
  const Date week = date.WeekStart();
  for (const uint32_t dim : dims) {
    const uint64_t key = PackCell(kpi, week, dim);
    bool inserted = false;
    DistinctRef& ref = child.RefAt(PackRef(kpi, dim, week), inserted);
    if (inserted) child.bytes += kRefBytes;
    if (sign < 0 && ref.refs == 0) {
      if (corruption_ == nullptr) corruption_ = "a distinct-child reference count went below zero";
      return;
    }
    ref.refs = sign > 0 ? ref.refs + 1 : ref.refs - 1;
    if (durable_) ref.dirty = true;
    if (sign > 0 && ref.refs == 1) cells_.Add(key, 1, 0);
    if (sign < 0 && ref.refs == 0) {
      cells_.Add(key, -1, 0);
      if (!durable_) {  // nothing to write back: forget it now
        child.refs.erase(child.refs.begin() + (&ref - child.refs.data()));
        child.bytes -= kRefBytes;
      }
    }
  }
  refs_changed_ = true;
}

}  // namespace kpi::rules
