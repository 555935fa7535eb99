// The wall clock behind an interface, so the runtime's midnight roll-over is testable.
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <chrono>
#include <cstdint>

#include "processor/date.h"

namespace kpi::runtime {

class Clock {
 public:
  virtual ~Clock() = default;
  // Today's date in Europe/London.
  virtual Date Today() const = 0;
  // Monotonic milliseconds, for intervals.
  virtual int64_t NowMs() const = 0;
  // Wall time, Unix ms: when an output row was produced (emitted_at).
  virtual int64_t UnixMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// The system clock. Europe/London by rule: UTC+1 from 01:00 UTC on the last Sunday of March to
// 01:00 UTC on the last Sunday of October (British Summer Time), UTC otherwise.
class SystemClock final : public Clock {
 public:
  Date Today() const override;
  int64_t NowMs() const override;
};

// The London date of a UTC instant (seconds since the epoch).
Date LondonDate(int64_t utc_seconds);

// Steady (monotonic) milliseconds, for deadlines and intervals within the process.
inline int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace kpi::runtime
