// AsOfPolicy: the reporting date in force for `run` (processing.as_of), over the injected clock,
// so that the policy is tested without Kafka or a real midnight (docs/DESIGN.md, "as_of and
// midnight").
// - fixed: a configured date (backfills, tests), whatever the clock says;
// - today: the clock's Europe/London date;
// - events: the latest `recorded_at` date seen, never moving back, capped by the clock's date so
//   that a bad timestamp cannot push it into the future; before the first event, the date the
//   stored engines were left at.
// Thread-safety: none; used from the runtime's loop.
#pragma once

#include <cstdint>
#include <optional>

#include "processor/date.h"
#include "processor/runtime/clock.h"

namespace kpi::runtime {

class AsOfPolicy {
 public:
  AsOfPolicy(std::optional<Date> fixed, bool from_events, const Clock& clock)
      : fixed_(fixed), from_events_(from_events), clock_(clock) {}

  // Reads the clock and returns the date in force. `stored`: the latest as_of of the task
  // engines (events mode, before any event: the date a restart continues from).
  Date Today(Date stored);
  // Events mode: an event recorded at `utc_seconds` moves the date in force forward to its UTC
  // date (capped by the clock's date read by the last Today); returns the date in force, which
  // is never before `current`. Other modes: `current`.
  Date OnEvent(int64_t utc_seconds, Date current);

 private:
  std::optional<Date> fixed_;
  bool from_events_;
  const Clock& clock_;
  Date wall_today_;
  std::optional<Date> event_day_;  // the latest recorded_at date
};

}  // namespace kpi::runtime
