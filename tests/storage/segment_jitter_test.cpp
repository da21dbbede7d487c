// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog: segment.jitter.ms takes up to that much off segment.ms per
// segment, so that partitions created together do not all roll at once.

#include <gtest/gtest.h>

#include "spate/storage/partition_log.h"

#include "support/log_fixtures.h"

namespace spate::storage {
namespace {

using spate::testing::PartitionLogTest;

class SegmentJitter : public PartitionLogTest {
 protected:
  // The minute of its life at which each of `segments` segments rolled.
  std::vector<int> roll_minutes(PartitionLog& log, int segments) {
    std::vector<int> out;
    for (int s = 0; s < segments; ++s) {
      append(log);
      const auto count = log.segment_count();
      for (int minute = 1; minute <= 120; ++minute) {
        clock_.advance(std::chrono::minutes(1));
        EXPECT_TRUE(log.maybe_roll());
        if (log.segment_count() != count) {
          out.push_back(minute);
          break;
        }
      }
    }
    return out;
  }
};

TEST_F(SegmentJitter, RollsEachSegmentSomewhatEarlier) {
  config_.segment_age_max = std::chrono::hours(1);
  config_.segment_jitter_ms = 30 * 60 * 1000;
  auto log = open_log();
  const auto minutes = roll_minutes(*log, 8);
  ASSERT_EQ(minutes.size(), 8U);
  bool earlier = false;
  for (int m : minutes) {
    EXPECT_GT(m, 30) << "at most the jitter is taken off";
    EXPECT_LE(m, 60);
    earlier = earlier || m < 60;
  }
  EXPECT_TRUE(earlier) << "no segment rolled before segment.ms";
  expect_matches_model(*log);
}

TEST_F(SegmentJitter, NoneRollsAtSegmentMs) {
  config_.segment_age_max = std::chrono::hours(1);
  auto log = open_log();
  for (int m : roll_minutes(*log, 3)) EXPECT_EQ(m, 60);
}

}  // namespace
}  // namespace spate::storage
