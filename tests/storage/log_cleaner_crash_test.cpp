// SPDX-License-Identifier: Apache-2.0
//
// A crash at every step of a compaction pass: the n-th file system call of
// the pass fails (EIO), then the process dies, with or without losing what
// the page cache held. The reopened log must hold the last value of every
// key, only records that were written, at their offsets and in order, every
// record above the compacted part, no key resurrected, and a consistent
// segment list; a later pass must then work.

#include <string>

#include <gtest/gtest.h>

#include "spate/storage/log_cleaner.h"
#include "spate/storage/partition_log.h"

#include "support/compaction_rig.h"

namespace spate::storage {
namespace {

using spate::testing::KeyedRecord;

struct CrashRig : spate::testing::CompactionRig {
  CrashRig() {
    config_.segment_bytes_max = 2048;
    config_.delete_retention_ms = 0;  // tombstones go on the second pass
  }

  // Keyless records come from before the topic was compacted (a compacted
  // topic refuses them): written under cleanup.policy=delete.
  void write(PartitionLog& log, int batches) {
    for (int b = 0; b < batches; ++b) {
      std::vector<KeyedRecord> records;
      for (int i = 0; i < 6; ++i, ++counter) {
        std::optional<std::string> value = "v" + std::to_string(counter);
        if (counter % 17 == 0) value.reset();  // tombstones
        std::optional<std::string> key = "k" + std::to_string(counter % 13);
        if (counter % 29 == 0) key.reset();  // keyless
        records.push_back({-1, key, value});
      }
      put_before_compact(log, records);
    }
    seal(log);
  }

  int counter = 0;
};

// Runs a pass (the second one if `second`) with the n-th call failing; false
// once a pass ran through with no fault left to fire.
bool crash_at(std::uint64_t n, bool power_loss, bool second) {
  CrashRig rig;
  auto log = rig.open_log();
  rig.write(*log, 30);
  if (second) {
    auto first = log->clean(log->end_offset(), true);
    EXPECT_TRUE(first && first->has_value());
    rig.clock_.advance(std::chrono::milliseconds(1));
    rig.write(*log, 10);
  }
  const auto fired_before = rig.faulty_.faults_fired();
  rig.faulty_.inject({.countdown = n, .ops = static_cast<std::uint32_t>(FaultOp::all), .err = 5});
  auto result = log->clean(log->end_offset(), true);
  const bool fired = rig.faulty_.faults_fired() > fired_before;
  rig.faulty_.clear();
  if (!fired) {
    EXPECT_TRUE(result) << result.error();
    EXPECT_EQ(rig.check(*log), "");
    return false;
  }
  const std::string where =
      fmt::format("fault at call {} ({}, {})", n, power_loss ? "power loss" : "process crash",
                  second ? "second pass" : "first pass");
  log.reset();
  if (power_loss) rig.mem_.crash();
  auto reopened = rig.try_open();
  EXPECT_TRUE(reopened) << where << ": " << reopened.error();
  if (!reopened) return false;
  log = std::move(*reopened);
  EXPECT_EQ(rig.check(*log), "") << where;
  EXPECT_EQ(
      spate::testing::unexpected_files(rig.mem_, spate::testing::kLogDir, log->segment_count()), "")
      << where;
  // The next pass works and the log still holds what it must.
  rig.clock_.advance(std::chrono::milliseconds(1));
  auto again = log->clean(log->end_offset(), true);
  EXPECT_TRUE(again) << where << ": " << again.error();
  EXPECT_EQ(rig.check(*log), "") << where << " (after the next pass)";
  return true;
}

TEST(LogCleanerCrash, EveryStepOfAPassLeavesOldOrNewSegments) {
  for (bool second : {false, true}) {
    for (bool power_loss : {false, true}) {
      std::uint64_t n = 1;
      // Bounded: a pass makes a finite number of calls.
      for (; n < 5000 && crash_at(n, power_loss, second); ++n) {
      }
      EXPECT_GT(n, 20U) << "the pass made too few calls to be covered";
      EXPECT_LT(n, 5000U);
    }
  }
}

}  // namespace
}  // namespace spate::storage
