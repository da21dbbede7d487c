// SPDX-License-Identifier: Apache-2.0
//
// SystemClock: the one place that reads the real clocks.

#include "spate/common/clock.h"

namespace spate {

Clock::SteadyTime SystemClock::steady_now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
}

std::int64_t SystemClock::wall_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace spate
