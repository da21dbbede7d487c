// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog::restart_at (a Raft follower behind its leader's log start):
// the log restarts empty at the offset, past its end or inside it, durably;
// and a crash at any step, after any fault, leaves either the old log (cut
// back no further than the batch holding the offset) or the new empty one.

#include <limits>

#include <gtest/gtest.h>

#include "spate/storage/faulty_fs.h"
#include "spate/storage/partition_log.h"

#include "support/log_fixtures.h"

namespace spate::storage {
namespace {

using spate::testing::LogRig;
using spate::testing::make_varied_batch;
using spate::testing::PartitionLogTest;

void expect_empty_at(PartitionLog& log, Offset at) {
  EXPECT_EQ(log.start_offset(), at);
  EXPECT_EQ(log.end_offset(), at);
  EXPECT_EQ(log.flushed_end_offset(), at);
  EXPECT_EQ(log.segment_count(), 1U);
  EXPECT_TRUE(log.check_invariants()) << log.check_invariants().error();
}

TEST_F(PartitionLogTest, RestartAtPastTheEndLeavesAnEmptyLogThere) {
  config_.segment_bytes_max = 700;
  auto log = open_log();
  for (int i = 0; i < 8; ++i) append(*log, 2, 100);
  ASSERT_TRUE(log->flush());
  ASSERT_GE(log->segment_count(), 2U);
  ASSERT_TRUE(log->restart_at(Offset(40)));
  expect_empty_at(*log, Offset(40));
  EXPECT_FALSE(log->read(Offset(0), 100));
  auto batch = make_varied_batch(rng_, 2, 100, ts_);
  auto appended = log->append(batch, Term(3));
  ASSERT_TRUE(appended) << appended.error();
  EXPECT_EQ(appended->base_offset, Offset(40));
  ASSERT_TRUE(log->close());
  log = open_log();
  EXPECT_EQ(log->start_offset(), Offset(40));
  EXPECT_EQ(log->end_offset(), Offset(42));
  auto term = log->term_at(Offset(41));
  ASSERT_TRUE(term);
  EXPECT_EQ(*term, Term(3));
}

TEST_F(PartitionLogTest, RestartAtInsideTheLogDropsAllOfIt) {
  auto log = open_log();
  for (int i = 0; i < 8; ++i) append(*log, 2, 100);
  ASSERT_TRUE(log->flush());
  ASSERT_TRUE(log->restart_at(Offset(7)));  // inside the batch [6, 7]
  expect_empty_at(*log, Offset(7));
  log.reset();
  // Durable when it returns: a power loss keeping nothing unsynced.
  mem_.crash();
  log = open_log();
  EXPECT_EQ(log->start_offset(), Offset(7));
  EXPECT_EQ(log->end_offset(), Offset(7));
}

TEST_F(PartitionLogTest, RestartAtBelowTheStartIsInvalid) {
  auto log = open_log();
  for (int i = 0; i < 4; ++i) append(*log, 2, 100);
  ASSERT_TRUE(log->advance_start(Offset(5)));
  auto s = log->restart_at(Offset(4));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Errc::invalid_argument);
  EXPECT_FALSE(log->fenced());
  EXPECT_EQ(log->end_offset(), Offset(8));
}

// A fault at every file operation of restart_at in turn, then a power loss
// (keeping no unsynced byte, or all of them).
TEST(PartitionLogRestart, ACrashAtAnyStepLeavesTheOldLogOrTheNewOne) {
  for (const Offset target : {Offset(9), Offset(60)}) {
    bool finished = false;
    int swept = 0;
    int new_logs = 0;
    for (std::uint64_t k = 1; k < 200 && !finished; ++k) {
      SCOPED_TRACE(::testing::Message() << "restart at " << target << ", fault at call " << k);
      LogRig rig(k);
      rig.prepare();  // 12 batches of 2 records, several segments
      ASSERT_TRUE(rig.log_);
      const Offset old_end = rig.log_->end_offset();
      // The batch holding the target starts at 8; past the end, nothing is cut.
      const Offset kept_at_least = target < old_end ? Offset(8) : old_end;
      rig.faulty_.inject({.countdown = k, .ops = static_cast<std::uint32_t>(FaultOp::all)});
      const Status s = rig.log_->restart_at(target);
      const bool fired = rig.faulty_.faults_fired() > 0;
      finished = !fired;
      swept += fired ? 1 : 0;
      if (finished) {
        EXPECT_TRUE(s) << s.error();
      }
      rig.log_.reset();
      rig.faulty_.clear();
      const std::uint64_t keep = k % 2 == 0 ? std::numeric_limits<std::uint64_t>::max() : 0;
      rig.mem_.crash([&](const std::filesystem::path&, std::uint64_t) { return keep; });
      auto log = rig.try_open();
      ASSERT_TRUE(log) << log.error();
      auto& l = **log;
      EXPECT_TRUE(l.check_invariants()) << l.check_invariants().error();
      if (l.start_offset() >= target || finished) {
        EXPECT_EQ(l.start_offset(), target);
        EXPECT_EQ(l.end_offset(), target);
        ++new_logs;
      } else {
        EXPECT_EQ(l.start_offset(), Offset(0));
        EXPECT_GE(l.end_offset(), kept_at_least);
        rig.model_.truncate(l.end_offset());
        EXPECT_EQ(spate::testing::compare_with_model(l, rig.model_), "");
      }
    }
    EXPECT_TRUE(finished) << "restart_at never ran without a fault";
    // Faults hit every step: some before the commit point, some after.
    EXPECT_GT(swept, 10);
    EXPECT_GT(new_logs, 1);
    EXPECT_LT(new_logs, swept);
  }
}

}  // namespace
}  // namespace spate::storage
