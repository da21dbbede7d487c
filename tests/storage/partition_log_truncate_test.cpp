// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog's truncation and flushing on MemFs: truncate_suffix to batch
// boundaries (terms follow, durable when it returns), group commit with flush
// tickets, truncations during a flush, and the flush policies.

#include <gtest/gtest.h>

#include "spate/storage/faulty_fs.h"
#include "spate/storage/partition_log.h"

#include "support/log_fixtures.h"

namespace spate::storage {
namespace {

using spate::testing::kLogDir;
using spate::testing::make_varied_batch;
using spate::testing::PartitionLogTest;
using spate::testing::unexpected_files;

TEST_F(PartitionLogTest, TruncateSuffixToABatchBoundary) {
  auto log = open_log();
  for (int i = 0; i < 6; ++i) append(*log, 2);
  ASSERT_TRUE(log->flush());
  ASSERT_TRUE(log->truncate_suffix(Offset(6)));
  model_.truncate(Offset(6));
  EXPECT_EQ(log->end_offset(), Offset(6));
  EXPECT_EQ(log->flushed_end_offset(), Offset(6));
  expect_matches_model(*log);
  auto at_end = log->read(Offset(6), 1000);
  ASSERT_TRUE(at_end);
  EXPECT_TRUE(at_end->bytes.empty());
  EXPECT_FALSE(log->read(Offset(7), 1000));
  // Truncating to the end is a no-op.
  ASSERT_TRUE(log->truncate_suffix(Offset(6)));
  EXPECT_EQ(log->end_offset(), Offset(6));
}

TEST_F(PartitionLogTest, TruncateSuffixInsideABatchIsInvalidAndChangesNothing) {
  auto log = open_log();
  append(*log, 3);
  append(*log, 3);
  ASSERT_TRUE(log->flush());
  for (Offset bad : {Offset(1), Offset(4), Offset(5)}) {
    auto s = log->truncate_suffix(bad);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code(), Errc::invalid_argument);
  }
  EXPECT_FALSE(log->fenced());
  expect_matches_model(*log);
  // The start offset inside a batch is not a batch boundary either.
  ASSERT_TRUE(log->advance_start(Offset(4)));
  auto at_start = log->truncate_suffix(Offset(4));
  ASSERT_FALSE(at_start);
  EXPECT_EQ(at_start.error().code(), Errc::invalid_argument);
  expect_matches_model(*log);
}

TEST_F(PartitionLogTest, TruncateSuffixOutsideTheLogIsInvalid) {
  auto log = open_log();
  append(*log, 3);
  append(*log, 3);
  auto past = log->truncate_suffix(Offset(7));
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code(), Errc::invalid_argument);
  ASSERT_TRUE(log->advance_start(Offset(3)));
  auto below = log->truncate_suffix(Offset(0));
  ASSERT_FALSE(below);
  EXPECT_EQ(below.error().code(), Errc::invalid_argument);
  expect_matches_model(*log);
}

TEST_F(PartitionLogTest, AppendAfterTruncateContinuesAtTheNewEnd) {
  auto log = open_log();
  for (int i = 0; i < 5; ++i) append(*log, 3);
  ASSERT_TRUE(log->truncate_suffix(Offset(6)));
  model_.truncate(Offset(6));
  auto r = append(*log, 4);
  EXPECT_EQ(r.base_offset, Offset(6));
  EXPECT_EQ(log->end_offset(), Offset(10));
  expect_matches_model(*log);
  ASSERT_TRUE(log->close());
  log = open_log();
  expect_matches_model(*log);
}

TEST_F(PartitionLogTest, TermsFollowTruncation) {
  auto log = open_log();
  append(*log, 2, 50, Term(1));  // [0,2)
  append(*log, 2, 50, Term(1));  // [2,4)
  append(*log, 2, 50, Term(2));  // [4,6)
  append(*log, 2, 50, Term(5));  // [6,8)
  append(*log, 2, 50, Term(5));  // [8,10)
  EXPECT_EQ(log->last_term(), Term(5));
  auto low = make_varied_batch(rng_, 1, 10, ts_);
  EXPECT_FALSE(log->append(low, Term(3)));
  ASSERT_TRUE(log->truncate_suffix(Offset(6)));
  model_.truncate(Offset(6));
  EXPECT_EQ(log->last_term(), Term(2));
  EXPECT_EQ(*log->term_at(Offset(5)), Term(2));
  EXPECT_EQ(*log->term_at(Offset(1)), Term(1));
  auto gone = log->term_at(Offset(6));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), Errc::offset_out_of_range);
  // A term between the surviving last term and the dropped one is fine now.
  EXPECT_EQ(append(*log, 2, 50, Term(3)).base_offset, Offset(6));
  EXPECT_EQ(log->last_term(), Term(3));
  ASSERT_TRUE(log->truncate_suffix(Offset(0)));
  model_.truncate(Offset(0));
  EXPECT_EQ(log->end_offset(), Offset(0));
  EXPECT_EQ(log->last_term(), Term(0));
  EXPECT_EQ(append(*log, 1, 10, Term(1)).base_offset, Offset(0));
  // Terms survive a clean and an unclean reopen.
  ASSERT_TRUE(log->close());
  log = open_log();
  EXPECT_EQ(log->last_term(), Term(1));
  log.reset();
  log = open_log();
  EXPECT_EQ(log->last_term(), Term(1));
  expect_matches_model(*log);
}

TEST_F(PartitionLogTest, TruncateAcrossSegmentsRemovesTheLaterOnes) {
  auto log = open_log();
  for (int s = 0; s < 4; ++s) {
    append(*log, 2);
    append(*log, 2);
    ASSERT_TRUE(log->roll());
  }
  append(*log, 2);
  ASSERT_TRUE(log->flush());
  ASSERT_EQ(log->segment_count(), 5U);
  ASSERT_TRUE(log->truncate_suffix(Offset(6)));  // inside the second segment [4, 8)
  model_.truncate(Offset(6));
  EXPECT_EQ(log->segment_count(), 2U);
  EXPECT_EQ(unexpected_files(mem_, kLogDir, log->segment_count()), "");
  EXPECT_EQ(append(*log, 3).base_offset, Offset(6));
  expect_matches_model(*log);
  ASSERT_TRUE(log->close());
  log = open_log();
  EXPECT_EQ(log->segment_count(), 2U);
  expect_matches_model(*log);
}

TEST_F(PartitionLogTest, TruncationIsDurableWhenItReturns) {
  auto log = open_log();
  for (int i = 0; i < 5; ++i) append(*log, 2);
  ASSERT_TRUE(log->flush());
  ASSERT_TRUE(log->truncate_suffix(Offset(4)));
  model_.truncate(Offset(4));
  log.reset();
  // Power loss that keeps every unsynced byte: the dropped batches stay dropped.
  mem_.crash([](const std::filesystem::path&, std::uint64_t unsynced) { return unsynced; });
  log = open_log();
  expect_matches_model(*log);
  // And the same after new batches replaced the dropped ones.
  append(*log, 5);
  ASSERT_TRUE(log->flush());
  ASSERT_TRUE(log->truncate_suffix(Offset(4)));
  model_.truncate(Offset(4));
  append(*log, 1);
  log.reset();
  mem_.crash();
  log = open_log();
  EXPECT_GE(log->end_offset(), Offset(4));
  model_.truncate(log->end_offset());
  expect_matches_model(*log);
}

// ---------------------------------------------------------------- flushing

TEST_F(PartitionLogTest, GroupCommitOneFlushCoversSeveralAppends) {
  auto log = open_log();
  const auto syncs = [&] { return faulty_.calls(static_cast<std::uint32_t>(FaultOp::sync)); };
  const auto before = syncs();
  for (int i = 0; i < 5; ++i) append(*log);
  EXPECT_EQ(syncs(), before);  // appends never sync
  EXPECT_EQ(log->flushed_end_offset(), Offset(0));
  EXPECT_TRUE(log->flush_due());
  FlushTicket ticket = log->begin_flush();
  EXPECT_EQ(ticket.end_offset(), Offset(15));
  EXPECT_FALSE(ticket.empty());
  append(*log);  // after the ticket was taken: not covered by it
  append(*log);
  const Status synced = ticket.sync();
  ASSERT_TRUE(synced);
  EXPECT_EQ(log->flushed_end_offset(), Offset(0));  // moves only at finish_flush
  ASSERT_TRUE(log->finish_flush(ticket, synced));
  EXPECT_EQ(log->flushed_end_offset(), Offset(15));
  EXPECT_LE(syncs() - before, 2U);  // the one data file, whatever the number of appends
  EXPECT_TRUE(log->flush_due());
  ASSERT_TRUE(log->flush());
  EXPECT_EQ(log->flushed_end_offset(), Offset(21));
  EXPECT_FALSE(log->flush_due());
  // Nothing to do: an empty ticket.
  FlushTicket idle = log->begin_flush();
  EXPECT_TRUE(idle.empty());
  ASSERT_TRUE(log->finish_flush(idle, idle.sync()));
  EXPECT_EQ(log->flushed_end_offset(), Offset(21));
}

TEST_F(PartitionLogTest, ATruncationDuringAFlushNeverRaisesFlushedEndPastIt) {
  auto log = open_log();
  for (int i = 0; i < 5; ++i) append(*log, 2);  // [0, 10)
  ASSERT_TRUE(log->flush());
  for (int i = 0; i < 3; ++i) append(*log, 2);  // [10, 16)
  FlushTicket ticket = log->begin_flush();
  ASSERT_EQ(ticket.end_offset(), Offset(16));
  ASSERT_TRUE(log->truncate_suffix(Offset(12)));
  model_.truncate(Offset(12));
  EXPECT_LE(log->flushed_end_offset(), Offset(12));
  for (int i = 0; i < 6; ++i) append(*log, 2);  // [12, 24): past the ticket's end
  ASSERT_TRUE(log->finish_flush(ticket, ticket.sync()));
  EXPECT_LE(log->flushed_end_offset(), Offset(12));
  EXPECT_GE(log->flushed_end_offset(), Offset(10));
  ASSERT_TRUE(log->flush());
  EXPECT_EQ(log->flushed_end_offset(), Offset(24));
  expect_matches_model(*log);
}

// A ticket taken after a roll carries a new recovery point; a truncation below
// it before the ticket is synced must not leave that recovery point on disk,
// or the next crash makes a torn tail look like corruption of durable data.
TEST_F(PartitionLogTest, ATruncationDuringAFlushAfterARollStillRecoversFromATornTail) {
  auto log = open_log();
  for (int i = 0; i < 3; ++i) append(*log, 2);  // [0, 6)
  ASSERT_TRUE(log->flush());
  ASSERT_TRUE(log->roll());  // the next flush records recovery point 6
  FlushTicket ticket = log->begin_flush();
  ASSERT_TRUE(log->truncate_suffix(Offset(2)));
  model_.truncate(Offset(2));
  ASSERT_TRUE(log->finish_flush(ticket, ticket.sync()));
  auto r = append(*log, 2, 1500);  // [2, 4), unsynced
  ASSERT_EQ(r.base_offset, Offset(2));
  const auto torn = model_.batches().back().bytes.size() / 2;
  model_.truncate(Offset(2));
  log.reset();
  mem_.crash([&](const std::filesystem::path&, std::uint64_t) { return torn; });
  auto reopened = PartitionLog::open(mem_, kLogDir, config_, clock_);
  ASSERT_TRUE(reopened) << "a torn unsynced batch after a truncation: " << reopened.error();
  log = std::move(*reopened);
  EXPECT_EQ(log->end_offset(), Offset(2));
  expect_matches_model(*log);
}

TEST_F(PartitionLogTest, FlushDueUnderPolicyAlways) {
  config_.flush_policy = FlushPolicy::always;
  auto log = open_log();
  EXPECT_FALSE(log->flush_due());
  append(*log);
  EXPECT_TRUE(log->flush_due());
  ASSERT_TRUE(log->flush());
  EXPECT_FALSE(log->flush_due());
  ASSERT_TRUE(log->truncate_suffix(Offset(0)));  // durable at once
  EXPECT_EQ(log->flushed_end_offset(), Offset(0));
}

TEST_F(PartitionLogTest, FlushDueUnderPolicyInterval) {
  config_.flush_policy = FlushPolicy::interval;
  config_.flush_interval = std::chrono::milliseconds(1000);
  auto log = open_log();
  EXPECT_FALSE(log->flush_due());
  append(*log);
  EXPECT_FALSE(log->flush_due());
  clock_.advance(std::chrono::milliseconds(999));
  EXPECT_FALSE(log->flush_due());
  clock_.advance(std::chrono::milliseconds(1));
  EXPECT_TRUE(log->flush_due());
  ASSERT_TRUE(log->flush());
  EXPECT_FALSE(log->flush_due());
  clock_.advance(std::chrono::milliseconds(5000));
  EXPECT_FALSE(log->flush_due());  // nothing written since
  append(*log);
  EXPECT_TRUE(log->flush_due());  // the interval has long passed
}

TEST_F(PartitionLogTest, FlushDueUnderPolicyNoneOnlyForASealedSegment) {
  config_.flush_policy = FlushPolicy::none;
  auto log = open_log();
  append(*log);
  EXPECT_FALSE(log->flush_due());
  clock_.advance(std::chrono::hours(1));
  EXPECT_FALSE(log->flush_due());
  ASSERT_TRUE(log->roll());
  EXPECT_TRUE(log->flush_due());
  ASSERT_TRUE(log->flush());
  EXPECT_FALSE(log->flush_due());
}

}  // namespace
}  // namespace spate::storage
