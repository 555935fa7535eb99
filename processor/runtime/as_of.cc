#include "processor/runtime/as_of.h"

#include <algorithm>

namespace kpi::runtime {

Date AsOfPolicy::Today(Date stored) {
  wall_today_ = clock_.Today();
  if (fixed_) return *fixed_;
  if (from_events_) return std::min(std::max(event_day_.value_or(Date(0)), stored), wall_today_);
  return wall_today_;
}

Date AsOfPolicy::OnEvent(int64_t utc_seconds, Date current) {
  if (fixed_ || !from_events_) return current;
  const Date day(
      static_cast<int32_t>(utc_seconds >= 0 ? utc_seconds / 86400 : (utc_seconds - 86399) / 86400));
  event_day_ = std::max(event_day_.value_or(day), day);
  return std::max(current, std::min(*event_day_, wall_today_));
}

}  // namespace kpi::runtime
