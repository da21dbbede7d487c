// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog's appends and reads on MemFs: offsets and terms, batch
// validation, whole batches within bytes_max and a given end, one segment at
// a time; configuration checks.

#include <algorithm>
#include <limits>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/partition_log.h"

#include "support/log_fixtures.h"

namespace spate::storage {
namespace {

using spate::testing::kLogDir;
using spate::testing::make_varied_batch;
using spate::testing::PartitionLogTest;
using spate::testing::split_batches;

TEST_F(PartitionLogTest, OffsetsAreAssignedFromZeroAndContiguous) {
  auto log = open_log();
  EXPECT_EQ(log->start_offset(), Offset(0));
  EXPECT_EQ(log->end_offset(), Offset(0));
  const int counts[] = {1, 5, 3, 50, 2};
  Offset expected(0);
  for (int records : counts) {
    auto r = append(*log, records);
    EXPECT_EQ(r.base_offset, expected);
    EXPECT_EQ(r.last_offset, expected + (records - 1));
    expected = expected + records;
    EXPECT_EQ(log->end_offset(), expected);
  }
  expect_matches_model(*log);
}

TEST_F(PartitionLogTest, TermIsWrittenIntoPartitionLeaderEpochAndTheCrcStillHolds) {
  auto log = open_log();
  append(*log, 2, 100, Term(3));
  auto batch = make_varied_batch(rng_, 4, 300, ts_);
  const auto sent = batch;
  protocol::set_base_offset(batch, Offset(12345));  // whatever the client put there
  auto r = log->append(batch, Term(7));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->base_offset, Offset(2));

  auto stored = read_one(*log, Offset(2));
  ASSERT_EQ(stored.size(), sent.size());
  auto header = protocol::validate_batch(stored, 1U << 20U);
  ASSERT_TRUE(header) << header.error();
  EXPECT_EQ(header->base_offset, 2);
  EXPECT_EQ(header->partition_leader_epoch, 7);
  EXPECT_EQ(header->crc, protocol::compute_batch_crc(sent));
  // Every byte but baseOffset [0, 8) and partitionLeaderEpoch [12, 16) as sent.
  EXPECT_TRUE(std::equal(stored.begin() + 8, stored.begin() + 12, sent.begin() + 8));
  EXPECT_TRUE(std::equal(stored.begin() + 16, stored.end(), sent.begin() + 16));
  EXPECT_EQ(log->last_term(), Term(7));
  EXPECT_EQ(*log->term_at(Offset(0)), Term(3));
  EXPECT_EQ(*log->term_at(Offset(5)), Term(7));
}

class RejectedBatch : public PartitionLogTest {
 protected:
  void SetUp() override {
    log_ = open_log();
    append(*log_, 3, 200, Term(2));
    append(*log_, 2, 200, Term(2));
    ASSERT_TRUE(log_->flush());
    size_before_ = log_->size_bytes();
  }

  void expect_rejected(std::vector<std::byte> batch, Errc code, Term term = Term(2)) {
    auto r = log_->append(batch, term);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), code) << r.error();
    EXPECT_FALSE(log_->fenced());
    EXPECT_EQ(log_->size_bytes(), size_before_);
    EXPECT_EQ(log_->end_offset(), Offset(5));
    EXPECT_EQ(log_->flushed_end_offset(), Offset(5));
    EXPECT_EQ(log_->last_term(), Term(2));
    EXPECT_FALSE(log_->flush_due());
    expect_matches_model(*log_);
    // The log still takes good batches, at the next offset.
    EXPECT_EQ(append(*log_, 1, 10, Term(2)).base_offset, Offset(5));
  }

  std::unique_ptr<PartitionLog> log_;
  std::uint64_t size_before_ = 0;
};

TEST_F(RejectedBatch, BadCrcIsRejectedAndTheLogIsUnchanged) {
  auto batch = make_varied_batch(rng_, 3, 100, ts_);
  batch[batch.size() - 1] ^= std::byte{0x01};
  expect_rejected(batch, Errc::crc_mismatch);
}

TEST_F(RejectedBatch, LengthLongerThanTheBytesIsRejected) {
  auto batch = make_varied_batch(rng_, 3, 100, ts_);
  store_be<std::int32_t>(batch.data() + protocol::batch_field::kBatchLength,
                         static_cast<std::int32_t>(batch.size()));  // 12 too many
  expect_rejected(batch, Errc::invalid_record);
}

TEST_F(RejectedBatch, LengthShorterThanTheBytesIsRejected) {
  auto batch = make_varied_batch(rng_, 3, 100, ts_);
  batch.push_back(std::byte{0});  // one byte the length does not count
  expect_rejected(batch, Errc::invalid_record);
}

TEST_F(RejectedBatch, BytesShorterThanAHeaderAreRejected) {
  auto batch = make_varied_batch(rng_, 3, 100, ts_);
  batch.resize(40);
  expect_rejected(batch, Errc::invalid_record);
}

TEST_F(RejectedBatch, MagicOneIsRejectedAsUnsupported) {
  auto batch = make_varied_batch(rng_, 3, 100, ts_);
  batch[protocol::batch_field::kMagic] = std::byte{1};
  expect_rejected(batch, Errc::unsupported_format);
}

TEST_F(RejectedBatch, BatchOverTheConfiguredLimitIsRecordTooLarge) {
  LogConfig small = config_;
  small.batch_bytes_max = 1000;
  ASSERT_TRUE(log_->set_config(small));
  expect_rejected(fixed_batch(2, 1000, ts_), Errc::record_too_large);
}

TEST_F(RejectedBatch, TermBelowTheLastTermIsInvalid) {
  expect_rejected(make_varied_batch(rng_, 2, 50, ts_), Errc::invalid_argument, Term(1));
}

TEST_F(RejectedBatch, TermAboveInt32MaxIsInvalid) {
  expect_rejected(make_varied_batch(rng_, 2, 50, ts_), Errc::invalid_argument,
                  Term(std::int64_t{std::numeric_limits<std::int32_t>::max()} + 1));
}

// ---------------------------------------------------------------- reads

TEST_F(PartitionLogTest, ReadAtEveryOffsetReturnsTheContainingBatch) {
  config_.segment_bytes_max = 4096;
  config_.index_interval_bytes = 300;  // index entries, so reads start from them
  auto log = open_log();
  for (int i = 0; i < 60; ++i) append(*log, 1 + static_cast<int>(rng_.uniform(7)), 250);
  ASSERT_GT(log->segment_count(), 3U);
  for (Offset o(0); o < log->end_offset(); o = o + 1) {
    const auto* want = model_.containing(o);
    ASSERT_NE(want, nullptr);
    auto one = read_one(*log, o);
    EXPECT_EQ(one, want->bytes) << "read(" << o << ", 1)";
    auto r = log->read(o, 1U << 20U);
    ASSERT_TRUE(r) << r.error();
    auto bytes = r->bytes.read_all();
    ASSERT_TRUE(bytes) << bytes.error();
    ASSERT_GE(bytes->size(), want->bytes.size());
    EXPECT_TRUE(std::equal(want->bytes.begin(), want->bytes.end(), bytes->begin()));
    EXPECT_GT(r->next_offset, o);
  }
  expect_matches_model(*log);
}

TEST_F(PartitionLogTest, ReadWithATinyBytesMaxStillReturnsOneWholeBatch) {
  auto log = open_log();
  append(*log, 5, 3000);
  append(*log, 5, 3000);
  for (std::uint64_t bytes_max : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{61}}) {
    auto r = log->read(Offset(2), bytes_max);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->bytes.size, model_.batches()[0].bytes.size());
    EXPECT_EQ(r->next_offset, model_.batches()[0].next);
    auto bytes = r->bytes.read_all();
    ASSERT_TRUE(bytes);
    EXPECT_EQ(*bytes, model_.batches()[0].bytes);
  }
}

TEST_F(PartitionLogTest, ReadStopsBeforeExceedingBytesMax) {
  auto log = open_log();
  const auto size = fixed_batch(2, 100, 0).size();
  for (int i = 0; i < 10; ++i) {
    append_bytes(*log, fixed_batch(2, 100, ts_));
  }
  auto three = log->read(Offset(0), 3 * size);
  ASSERT_TRUE(three);
  EXPECT_EQ(three->bytes.size, 3 * size);
  EXPECT_EQ(three->next_offset, Offset(6));
  auto two = log->read(Offset(1), 3 * size - 1);
  ASSERT_TRUE(two);
  EXPECT_EQ(two->bytes.size, 2 * size);
  EXPECT_EQ(two->next_offset, Offset(4));
  auto all = log->read(Offset(0), 1U << 20U);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->bytes.size, 10 * size);
  EXPECT_EQ(all->next_offset, Offset(20));
}

TEST_F(PartitionLogTest, ReadAtTheEndReturnsNothing) {
  auto log = open_log();
  auto empty = log->read(Offset(0), 1000);
  ASSERT_TRUE(empty) << empty.error();
  EXPECT_TRUE(empty->bytes.empty());
  EXPECT_EQ(empty->next_offset, Offset(0));
  append(*log, 4);
  auto at_end = log->read(Offset(4), 1000);
  ASSERT_TRUE(at_end) << at_end.error();
  EXPECT_TRUE(at_end->bytes.empty());
  EXPECT_EQ(at_end->next_offset, Offset(4));
}

TEST_F(PartitionLogTest, ReadOutsideTheLogIsOutOfRange) {
  auto log = open_log();
  append(*log, 3);
  append(*log, 3);
  auto past = log->read(Offset(7), 1000);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code(), Errc::offset_out_of_range);
  auto negative = log->read(Offset(-1), 1000);
  ASSERT_FALSE(negative);
  EXPECT_EQ(negative.error().code(), Errc::offset_out_of_range);
  ASSERT_TRUE(log->advance_start(Offset(4)));
  auto below = log->read(Offset(3), 1000);
  ASSERT_FALSE(below);
  EXPECT_EQ(below.error().code(), Errc::offset_out_of_range);
  // The start itself is readable, inside its batch.
  auto at_start = log->read(Offset(4), 1000);
  ASSERT_TRUE(at_start) << at_start.error();
  EXPECT_EQ(*at_start->bytes.read_all(), model_.batches()[1].bytes);
  EXPECT_FALSE(log->fenced());
}

TEST_F(PartitionLogTest, ReadStopsBeforeTheGivenEnd) {
  auto log = open_log();
  for (int records : {3, 2, 4, 1}) append(*log, records);  // [0,3) [3,5) [5,9) [9,10)
  auto to_boundary = log->read(Offset(0), 1U << 20U, Offset(5));
  ASSERT_TRUE(to_boundary);
  EXPECT_EQ(to_boundary->next_offset, Offset(5));
  EXPECT_EQ(to_boundary->bytes.size,
            model_.batches()[0].bytes.size() + model_.batches()[1].bytes.size());
  // An end inside a batch: that batch is not returned.
  auto inside = log->read(Offset(1), 1U << 20U, Offset(7));
  ASSERT_TRUE(inside);
  EXPECT_EQ(inside->next_offset, Offset(5));
  auto from_inside = log->read(Offset(5), 1U << 20U, Offset(7));
  ASSERT_TRUE(from_inside);
  EXPECT_LE(from_inside->next_offset, Offset(7));
  if (!from_inside->bytes.empty()) {
    ADD_FAILURE() << "returned a batch that ends past the given end";
  }
  // An end past the log end is the log end.
  auto beyond = log->read(Offset(0), 1U << 20U, Offset(100));
  ASSERT_TRUE(beyond);
  EXPECT_EQ(beyond->next_offset, Offset(10));
}

TEST_F(PartitionLogTest, ReadReturnsBatchesFromOneSegmentAtATime) {
  auto log = open_log();
  append(*log, 2);
  append(*log, 2);
  ASSERT_TRUE(log->roll());
  append(*log, 2);
  ASSERT_EQ(log->segment_count(), 2U);
  auto first = log->read(Offset(0), 1U << 20U);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->next_offset, Offset(4));
  auto second = log->read(first->next_offset, 1U << 20U);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->next_offset, Offset(6));
  EXPECT_EQ(*second->bytes.read_all(), model_.batches()[2].bytes);
}

TEST_F(PartitionLogTest, InvalidConfigurationIsRejected) {
  LogConfig bad = config_;
  bad.segment_bytes_max = 10;
  auto opened = PartitionLog::open(mem_, kLogDir, bad, clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code(), Errc::invalid_argument);
  bad.segment_bytes_max = std::uint64_t{1} << 40U;
  EXPECT_FALSE(validate(bad));
  auto log = open_log();
  for (auto change :
       {+[](LogConfig& c) { c.segment_bytes_max = 0; },
        +[](LogConfig& c) { c.segment_age_max = std::chrono::milliseconds(0); },
        +[](LogConfig& c) { c.retention_ms = -2; }, +[](LogConfig& c) { c.retention_bytes = -2; },
        +[](LogConfig& c) { c.batch_bytes_max = 0; },
        +[](LogConfig& c) { c.flush_interval = std::chrono::milliseconds(-1); }}) {
    LogConfig c = config_;
    change(c);
    auto s = log->set_config(c);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), Errc::invalid_argument);
  }
  EXPECT_EQ(log->config().segment_bytes_max, config_.segment_bytes_max);
  EXPECT_EQ(*parse_flush_policy("always"), FlushPolicy::always);
  EXPECT_EQ(*parse_flush_policy("interval"), FlushPolicy::interval);
  EXPECT_EQ(flush_policy_name(FlushPolicy::interval), "interval");
  EXPECT_EQ(*parse_flush_policy(flush_policy_name(FlushPolicy::none)), FlushPolicy::none);
  EXPECT_FALSE(parse_flush_policy("sometimes"));
}

}  // namespace
}  // namespace spate::storage
