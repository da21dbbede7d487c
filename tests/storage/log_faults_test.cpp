// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog under disk faults (reliability.md S2-S4): ENOSPC and EIO on
// append, sync, roll and read; a failed write fences the log or refuses writes
// for a while, reads of what was durable go on, and a reopen recovers every
// flushed batch. Failing every call of an operation in turn:
// log_fault_sweep_test.cpp.

#include <gtest/gtest.h>

#include "spate/common/rng.h"
#include "spate/storage/faulty_fs.h"
#include "spate/storage/mem_fs.h"
#include "spate/storage/partition_log.h"

#include "support/faults.h"
#include "support/log_rig.h"

namespace spate::storage {
namespace {

using spate::testing::compare_with_model;
using spate::testing::expect_fenced;
using spate::testing::kAllOps;
using spate::testing::kEio;
using spate::testing::kEnospc;
using spate::testing::LogRig;
using spate::testing::make_varied_batch;
using spate::testing::ops;
using spate::testing::plan;

class LogFaults : public ::testing::Test, public LogRig {};

// Refusing writes after a full disk is not fenced: a flush and reads of
// everything still work.
void expect_flushes_and_reads_to_the_end(PartitionLog& log) {
  EXPECT_TRUE(log.flush());
  auto all = log.read(log.start_offset(), 1U << 20U);
  ASSERT_TRUE(all) << all.error();
  EXPECT_EQ(all->next_offset, log.end_offset());
}

// ---------------------------------------------------------------- append

TEST_F(LogFaults, EnospcOnAppendIsReturnedAndRefusesWritesUntilTheBackoff) {
  auto log = open_log();
  append_flushed(*log, 3);
  faulty_.inject(plan(ops({FaultOp::append}), kEnospc));
  auto r = try_append(*log);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::no_space) << r.error();
  EXPECT_EQ(log->end_offset(), acked_);
  expect_fenced(*log);
  expect_flushes_and_reads_to_the_end(*log);
  faulty_.clear();
  expect_fenced(*log);  // the clock has not moved: still backing off
  expect_healthy(recover(std::move(log), /*power_loss=*/false));
}

TEST_F(LogFaults, EioOnAppendIsReturnedAndFencesTheLog) {
  auto log = open_log();
  append_flushed(*log, 3);
  ASSERT_TRUE(try_append(*log));  // unflushed: may be lost, never half-visible
  faulty_.inject(plan(ops({FaultOp::append}), kEio));
  auto r = try_append(*log);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::io_error) << r.error();
  expect_fenced(*log);
  expect_healthy(recover(std::move(log), /*power_loss=*/true));
}

// With either errno: the error is returned, and the bytes that reached the
// file are cut by the next open.
TEST_F(LogFaults, TornPartialAppendIsCutOnReopen) {
  for (const auto& [err, code] :
       {std::pair{kEnospc, Errc::no_space}, std::pair{kEio, Errc::io_error}}) {
    SCOPED_TRACE(::testing::Message() << "errno " << err);
    LogRig rig;
    auto log = rig.open_log();
    rig.append_flushed(*log, 3);
    FaultPlan p = plan(ops({FaultOp::append}), err);
    p.torn_append_bytes = 100;
    rig.faulty_.inject(p);
    auto r = rig.try_append(*log, 5, 300);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), code) << r.error();
    expect_fenced(*log);
    log.reset();
    rig.faulty_.clear();
    log = rig.open_log();  // the process restarts; the 100 bytes are in the page cache
    ASSERT_NE(log, nullptr);
    EXPECT_TRUE(log->recovery().cut_reason.has_value());
    EXPECT_EQ(log->recovery().bytes_cut, 100U);
    EXPECT_EQ(log->end_offset(), rig.acked_);
    EXPECT_EQ(compare_with_model(*log, rig.model_), "");
    rig.expect_healthy(std::move(log));
  }
}

// The write reached the file whole but reported an error: after a reopen the
// batch is either whole or gone.
TEST_F(LogFaults, AppendThatWroteEverythingButFailedIsWholeOrGone) {
  auto log = open_log();
  append_flushed(*log, 2);
  auto batch = make_varied_batch(rng_, 4, 100, ts_);
  FaultPlan p = plan(ops({FaultOp::append}), kEio);
  p.torn_append_bytes = batch.size();
  faulty_.inject(p);
  auto sent = batch;
  ASSERT_FALSE(log->append(batch, Term(1)));
  model_.append(sent, acked_, Term(1));  // it may survive
  expect_healthy(recover(std::move(log), /*power_loss=*/false));
}

// ---------------------------------------------------------------- sync

TEST_F(LogFaults, EioOnFlushFencesAndIsNeverRetried) {
  auto log = open_log();
  append_flushed(*log, 3);
  ASSERT_TRUE(try_append(*log));
  ASSERT_TRUE(try_append(*log));
  faulty_.inject(plan(ops({FaultOp::sync}), kEio));
  auto s = log->flush();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Errc::io_error) << s.error();
  EXPECT_EQ(log->flushed_end_offset(), acked_);
  const auto syncs = faulty_.calls(ops({FaultOp::sync}));
  expect_fenced(*log);
  EXPECT_EQ(faulty_.calls(ops({FaultOp::sync})), syncs) << "a failed fsync was retried";
  expect_healthy(recover(std::move(log), /*power_loss=*/true));
}

TEST_F(LogFaults, EnospcOnFlushIsNoSpace) {
  auto log = open_log();
  append_flushed(*log, 2);
  ASSERT_TRUE(try_append(*log));
  faulty_.inject(plan(ops({FaultOp::sync}), kEnospc));
  auto s = log->flush();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Errc::no_space) << s.error();
  expect_fenced(*log);
  expect_healthy(recover(std::move(log), /*power_loss=*/true, 50));
}

TEST_F(LogFaults, EioOnATicketSyncFencesAtFinishFlush) {
  auto log = open_log();
  append_flushed(*log, 3);
  ASSERT_TRUE(try_append(*log));
  FlushTicket ticket = log->begin_flush();
  faulty_.inject(plan(ops({FaultOp::sync}), kEio));
  const Status synced = ticket.sync();  // on the disk thread
  ASSERT_FALSE(synced);
  // The owner has not heard yet and keeps appending.
  ASSERT_TRUE(try_append(*log));
  EXPECT_FALSE(log->fenced());
  auto s = log->finish_flush(ticket, synced);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Errc::io_error) << s.error();
  EXPECT_EQ(log->flushed_end_offset(), acked_);
  expect_fenced(*log);
  expect_healthy(recover(std::move(log), /*power_loss=*/true));
}

TEST_F(LogFaults, FailedDirectorySyncInAFlushAfterARollFences) {
  config_.segment_bytes_max = 2000;
  auto log = open_log();
  append_flushed(*log, 2);
  while (log->segment_count() < 3) ASSERT_TRUE(try_append(*log));
  faulty_.inject(plan(ops({FaultOp::directory}), kEio));
  auto s = log->flush();
  ASSERT_FALSE(s);
  expect_fenced(*log);
  expect_healthy(recover(std::move(log), /*power_loss=*/true));
}

// The append that rolls cannot create the new segment: a full disk refuses
// writes (flushes go on) and a restart recovers.
TEST_F(LogFaults, FailureWhileRollingRefusesWritesAndRecovers) {
  config_.segment_bytes_max = 100;  // every append after the first rolls
  auto log = open_log();
  append_flushed(*log, 1);
  faulty_.inject(plan(ops({FaultOp::open}), kEnospc));
  auto r = try_append(*log);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::no_space) << r.error();
  EXPECT_EQ(log->segment_count(), 1U);
  expect_fenced(*log);
  expect_flushes_and_reads_to_the_end(*log);
  expect_healthy(recover(std::move(log), /*power_loss=*/true));
}

// ---------------------------------------------------------------- reads

// A read error is not a write error: it is reported as io_error and the log
// stays usable (the contract fences only after failed writes and syncs).
// A read error is not a write error: it is reported as io_error and the log
// stays usable (the contract fences only after failed writes and syncs).
TEST_F(LogFaults, EioOnReadIsAnIoErrorAndDoesNotFence) {
  config_.index_interval_bytes = 100;
  auto log = open_log();
  append_flushed(*log, 10);
  faulty_.inject(plan(ops({FaultOp::read}), kEio));
  auto r = log->read(Offset(7), 1000);
  faulty_.clear();
  ASSERT_EQ(faulty_.faults_fired(), 1U);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::io_error) << r.error();
  EXPECT_FALSE(log->fenced());
  auto again = log->read(Offset(7), 1000);
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(compare_with_model(*log, model_), "");
}

TEST_F(LogFaults, EioWhileReadingTheReturnedSliceIsAnIoError) {
  auto log = open_log();
  append_flushed(*log, 3);
  auto r = log->read(Offset(0), 1U << 20U);
  ASSERT_TRUE(r);
  faulty_.inject(plan(ops({FaultOp::read}), kEio));
  auto bytes = r->bytes.read_all();
  ASSERT_FALSE(bytes);
  EXPECT_EQ(bytes.error().code(), Errc::io_error) << bytes.error();
}

TEST_F(LogFaults, EioInATimeLookupIsAnIoError) {
  auto log = open_log();
  append_flushed(*log, 4);
  faulty_.inject(plan(ops({FaultOp::read}), kEio));
  auto hit = log->find_offset_by_timestamp(ts_ - 2);
  faulty_.clear();
  ASSERT_EQ(faulty_.faults_fired(), 1U);
  ASSERT_FALSE(hit);
  EXPECT_EQ(hit.error().code(), Errc::io_error) << hit.error();
  EXPECT_FALSE(log->fenced());
}

TEST_F(LogFaults, DeadDiskFailsEveryCallUntilReplaced) {
  auto log = open_log();
  append_flushed(*log, 3);
  FaultPlan p = plan(kAllOps, kEio);
  p.sticky = true;
  faulty_.inject(p);
  ASSERT_FALSE(try_append(*log));
  expect_fenced(*log, /*reads_work=*/false);
  log.reset();
  auto dead = try_open();
  ASSERT_FALSE(dead);
  EXPECT_EQ(dead.error().code(), Errc::io_error) << dead.error();
  expect_healthy(recover(nullptr, /*power_loss=*/true));
}

}  // namespace
}  // namespace spate::storage
