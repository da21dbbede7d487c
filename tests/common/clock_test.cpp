// SPDX-License-Identifier: Apache-2.0
//
// ManualClock moves only when advanced, steady and wall time together; the
// SystemClock smoke check is the one place a unit test reads the real clock.

#include "spate/common/clock.h"

#include <chrono>
#include <cstdint>

#include <gtest/gtest.h>

namespace spate {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

TEST(ManualClock, StartsAtTheGivenWallTimeAndSteadyZero) {
  ManualClock clock;
  EXPECT_EQ(clock.wall_ms(), 1'700'000'000'000);
  EXPECT_EQ(clock.steady_now().time_since_epoch(), nanoseconds(0));
  ManualClock at(42);
  EXPECT_EQ(at.wall_ms(), 42);
}

TEST(ManualClock, StandsStillUntilAdvanced) {
  ManualClock clock(1000);
  const auto t0 = clock.steady_now();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(clock.steady_now(), t0);
    EXPECT_EQ(clock.wall_ms(), 1000);
  }
  clock.advance(milliseconds(0));
  EXPECT_EQ(clock.steady_now(), t0);
  EXPECT_EQ(clock.wall_ms(), 1000);
}

TEST(ManualClock, AdvanceMovesSteadyAndWallByTheSameAmount) {
  ManualClock clock(1000);
  const auto t0 = clock.steady_now();
  clock.advance(milliseconds(1));
  EXPECT_EQ(clock.steady_now() - t0, nanoseconds(1'000'000));
  EXPECT_EQ(clock.wall_ms(), 1001);
  clock.advance(milliseconds(250));
  clock.advance(std::chrono::seconds(2));
  EXPECT_EQ(clock.steady_now() - t0, milliseconds(2251));
  EXPECT_EQ(clock.wall_ms(), 3251);
}

TEST(ManualClock, LargeAdvancesDoNotOverflow) {
  ManualClock clock(0);
  // A year in nanoseconds is about 3.2e16, well inside int64.
  clock.advance(std::chrono::hours(24 * 365));
  EXPECT_EQ(clock.wall_ms(), std::int64_t{365} * 24 * 3600 * 1000);
  EXPECT_EQ(clock.steady_now().time_since_epoch(), std::chrono::hours(24 * 365));
}

TEST(ManualClock, WorksThroughTheClockInterface) {
  ManualClock manual(5000);
  const Clock& clock = manual;
  const auto t0 = clock.steady_now();
  manual.advance(milliseconds(10));
  EXPECT_EQ(clock.steady_now() - t0, milliseconds(10));
  EXPECT_EQ(clock.wall_ms(), 5010);
}

TEST(SystemClock, SteadyNeverGoesBackAndWallIsAfter2020) {
  SystemClock clock;
  const auto a = clock.steady_now();
  const auto b = clock.steady_now();
  EXPECT_LE(a, b);
  EXPECT_GT(clock.wall_ms(), 1'577'836'800'000);  // 2020-01-01T00:00:00Z
}

}  // namespace
}  // namespace spate
