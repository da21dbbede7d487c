// SPDX-License-Identifier: Apache-2.0
//
// Clock: the injected source of time (style.md §2.4). Pure modules never read
// the system clock; they are handed a Clock. ManualClock drives tests.

#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace spate {

class Clock {
 public:
  using Duration = std::chrono::nanoseconds;
  using SteadyTime = std::chrono::time_point<std::chrono::steady_clock, Duration>;

  virtual ~Clock() = default;
  // Monotonic time, for timeouts and ages.
  [[nodiscard]] virtual SteadyTime steady_now() const = 0;
  // Wall-clock milliseconds since the Unix epoch, as Kafka timestamps are.
  [[nodiscard]] virtual std::int64_t wall_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  [[nodiscard]] SteadyTime steady_now() const override;
  [[nodiscard]] std::int64_t wall_ms() const override;
};

// A clock that moves only when told. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t wall_ms_start = 1'700'000'000'000) : wall_ms_(wall_ms_start) {}

  [[nodiscard]] SteadyTime steady_now() const override {
    return SteadyTime(Duration(steady_ns_.load()));
  }
  [[nodiscard]] std::int64_t wall_ms() const override { return wall_ms_.load(); }

  void advance(std::chrono::milliseconds by) {
    steady_ns_ += std::chrono::duration_cast<Duration>(by).count();
    wall_ms_ += by.count();
  }

 private:
  std::atomic<std::int64_t> steady_ns_{0};
  std::atomic<std::int64_t> wall_ms_;
};

}  // namespace spate
