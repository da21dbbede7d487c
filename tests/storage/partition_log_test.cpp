// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog's plain behaviours on MemFs (offsets, validation, reads, time
// lookups, truncation, start offset, rolls, retention, group commit, flush
// policy, clean and unclean reopen) and a smoke suite on the real file system.

#include "spate/storage/partition_log.h"

#include <algorithm>
#include <limits>
#include <map>
#include <unistd.h>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/common/clock.h"
#include "spate/common/rng.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/faulty_fs.h"
#include "spate/storage/mem_fs.h"

#include "support/batches.h"
#include "support/log_testing.h"
#include "support/temp_dir.h"

namespace spate::storage {
namespace {

using spate::testing::compare_with_model;
using spate::testing::LogModel;
using spate::testing::make_varied_batch;
using spate::testing::split_batches;
using spate::testing::unexpected_files;

constexpr const char* kDir = "/data/topic-0";

class PartitionLogTest : public ::testing::Test {
 protected:
  PartitionLogTest() {
    spate::testing::quiet_storage_logs();
    EXPECT_TRUE(fs_.create_directories("/data"));
    EXPECT_TRUE(fs_.sync_directory("/"));
    config_.retention_ms = -1;
    ts_ = clock_.wall_ms();
  }

  std::unique_ptr<PartitionLog> open_log(Filesystem* fs = nullptr) {
    auto log = PartitionLog::open(fs != nullptr ? *fs : fs_, kDir, config_, clock_);
    EXPECT_TRUE(log) << log.error();
    return log ? std::move(*log) : nullptr;
  }

  // Appends a random batch and records it in the model.
  AppendResult append(PartitionLog& log, int records = 3, std::size_t value_bytes_max = 200,
                      Term term = Term(1)) {
    auto batch = make_varied_batch(rng_, records, value_bytes_max, ts_);
    ts_ += records;
    auto sent = batch;
    auto r = log.append(batch, term);
    EXPECT_TRUE(r) << r.error();
    if (!r) return {};
    model_.append(sent, r->base_offset, term);
    return *r;
  }

  void expect_matches_model(PartitionLog& log) {
    EXPECT_EQ(log.end_offset(), model_.end());
    EXPECT_EQ(compare_with_model(log, model_), "");
  }

  // The only batch a read(from, 1) returns.
  std::vector<std::byte> read_one(PartitionLog& log, Offset from) {
    auto r = log.read(from, 1);
    EXPECT_TRUE(r) << r.error();
    if (!r) return {};
    auto bytes = r->bytes.read_all();
    EXPECT_TRUE(bytes) << bytes.error();
    if (!bytes) return {};
    std::vector<std::span<const std::byte>> parts;
    EXPECT_TRUE(split_batches(*bytes, parts));
    EXPECT_EQ(parts.size(), 1U);
    return *bytes;
  }

  MemFs fs_;
  ManualClock clock_;
  Rng rng_{20261122};
  LogConfig config_;
  LogModel model_;
  std::int64_t ts_ = 0;
};

// ---------------------------------------------------------------- appends

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

// A batch whose size depends only on `records` and `value_bytes`.
std::vector<std::byte> fixed_batch(int records, std::size_t value_bytes, std::int64_t timestamp) {
  protocol::BatchBuilder builder(timestamp);
  for (int i = 0; i < records; ++i) {
    protocol::RecordSpec spec;
    spec.timestamp = timestamp + i;
    spec.value = std::vector<std::byte>(value_bytes, static_cast<std::byte>(0x40 + i));
    builder.add(spec);
  }
  return builder.build();
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
    auto b = fixed_batch(2, 100, ts_);
    auto sent = b;
    auto r = log->append(b, Term(1));
    ASSERT_TRUE(r);
    model_.append(sent, r->base_offset, Term(1));
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

// ---------------------------------------------------------------- time lookups

TEST_F(PartitionLogTest, FindOffsetByTimestampFindsTheExactRecordInsideABatch) {
  auto log = open_log();
  append(*log, 4);  // offsets 0..3
  const std::int64_t t0 = ts_;
  append(*log, 10);  // offsets 4..13, timestamps t0..t0+9
  for (std::int64_t i = 0; i < 10; ++i) {
    auto hit = log->find_offset_by_timestamp(t0 + i);
    ASSERT_TRUE(hit) << hit.error();
    ASSERT_TRUE(hit->has_value());
    EXPECT_EQ((*hit)->offset, Offset(4 + i));
    EXPECT_EQ((*hit)->timestamp, t0 + i);
  }
  auto first = log->find_offset_by_timestamp(0);
  ASSERT_TRUE(first && first->has_value());
  EXPECT_EQ((*first)->offset, Offset(0));
}

TEST_F(PartitionLogTest, FindOffsetByTimestampPastTheNewestRecordIsNullopt) {
  auto log = open_log();
  auto none_yet = log->find_offset_by_timestamp(0);
  ASSERT_TRUE(none_yet);
  EXPECT_FALSE(none_yet->has_value());
  append(*log, 3);
  auto past = log->find_offset_by_timestamp(ts_);  // ts_ is one past the newest
  ASSERT_TRUE(past) << past.error();
  EXPECT_FALSE(past->has_value());
}

TEST_F(PartitionLogTest, FindOffsetByTimestampWorksAcrossSegmentsAndAfterReopen) {
  config_.segment_bytes_max = 2048;
  config_.index_interval_bytes = 256;
  auto log = open_log();
  std::vector<std::pair<std::int64_t, Offset>> records;
  for (int i = 0; i < 40; ++i) {
    const std::int64_t t = ts_;
    auto r = append(*log, 3, 150);
    for (std::int64_t k = 0; k < 3; ++k) records.emplace_back(t + k, r.base_offset + k);
  }
  ASSERT_GT(log->segment_count(), 4U);
  auto check_all = [&](PartitionLog& l) {
    for (const auto& [t, offset] : records) {
      auto hit = l.find_offset_by_timestamp(t);
      ASSERT_TRUE(hit) << hit.error();
      ASSERT_TRUE(hit->has_value()) << "timestamp " << t;
      EXPECT_EQ((*hit)->offset, offset) << "timestamp " << t;
    }
    auto past = l.find_offset_by_timestamp(ts_);
    ASSERT_TRUE(past);
    EXPECT_FALSE(past->has_value());
  };
  check_all(*log);
  ASSERT_TRUE(log->close());
  log = open_log();
  ASSERT_TRUE(log->recovery().clean);
  check_all(*log);
  log.reset();  // unclean: indexes rebuilt from the scan
  log = open_log();
  ASSERT_FALSE(log->recovery().clean);
  check_all(*log);
}

// Timestamps out of order across batches (CreateTime is the client's), and a
// start offset inside a batch: the answer is always the first record, in
// offset order from the start, whose timestamp is >= the target.
TEST_F(PartitionLogTest, FindOffsetByTimestampMatchesABruteForceScan) {
  config_.segment_bytes_max = 4096;
  config_.index_interval_bytes = 400;
  auto log = open_log();
  const std::int64_t base = ts_;
  for (int i = 0; i < 80; ++i) {
    const int records = 1 + static_cast<int>(rng_.uniform(8));
    const std::int64_t t = base + static_cast<std::int64_t>(i) * 10 + rng_.range(-300, 300);
    auto batch = make_varied_batch(rng_, records, 120, t);
    auto sent = batch;
    auto r = log->append(batch, Term(1));
    ASSERT_TRUE(r);
    model_.append(sent, r->base_offset, Term(1));
  }
  auto check = [&](PartitionLog& l, const char* when) {
    Rng targets(99);
    for (int i = 0; i < 600; ++i) {
      const std::int64_t t = base + targets.range(-400, 1200);
      auto want = model_.first_at_or_after(t, l.start_offset());
      auto hit = l.find_offset_by_timestamp(t);
      ASSERT_TRUE(hit) << hit.error();
      ASSERT_EQ(hit->has_value(), want.has_value()) << when << " t=" << t - base;
      if (want) {
        EXPECT_EQ((*hit)->offset, *want) << when << " t=" << t - base;
      }
    }
  };
  check(*log, "whole log");
  // A start offset inside a batch.
  const auto& mid = model_.batches()[30];
  const Offset start = mid.next - 1 > mid.base ? mid.base + 1 : mid.base;
  ASSERT_TRUE(log->advance_start(start));
  check(*log, "start advanced");
  ASSERT_TRUE(log->close());
  log = open_log();
  check(*log, "after a clean reopen");
}

// Timestamps inside one batch need not increase (each record carries its
// own). With the start offset inside such a batch, records below the start
// must not decide the answer.
TEST_F(PartitionLogTest, FindOffsetByTimestampIgnoresRecordsBelowTheStartInsideABatch) {
  auto log = open_log();
  protocol::BatchBuilder builder(1000);
  protocol::RecordSpec newer;
  newer.timestamp = 1000;
  newer.value = to_bytes("a");
  protocol::RecordSpec older;
  older.timestamp = 500;
  older.value = to_bytes("b");
  builder.add(newer).add(older);  // offsets 0 (t=1000) and 1 (t=500)
  auto batch = builder.build();
  ASSERT_TRUE(log->append(batch, Term(1)));
  auto later = fixed_batch(1, 10, 2000);  // offset 2 (t=2000)
  ASSERT_TRUE(log->append(later, Term(1)));
  auto whole = log->find_offset_by_timestamp(800);
  ASSERT_TRUE(whole && whole->has_value());
  EXPECT_EQ((*whole)->offset, Offset(0));
  ASSERT_TRUE(log->advance_start(Offset(1)));
  auto hit = log->find_offset_by_timestamp(800);
  ASSERT_TRUE(hit) << hit.error();
  ASSERT_TRUE(hit->has_value());
  // Offset 1 is at 500, older than 800: the first record at or after 800
  // from the start on is offset 2.
  EXPECT_EQ((*hit)->offset, Offset(2));
  EXPECT_EQ((*hit)->timestamp, 2000);
}

// ---------------------------------------------------------------- truncation

TEST_F(PartitionLogTest, TruncateSuffixToABatchBoundary) {
  auto log = open_log();
  for (int i = 0; i < 6; ++i) append(*log, 2);
  ASSERT_TRUE(log->flush());
  ASSERT_TRUE(log->truncate_suffix(Offset(6)));
  model_.truncate(Offset(6));
  EXPECT_EQ(log->end_offset(), Offset(6));
  EXPECT_LE(log->flushed_end_offset(), Offset(6));
  EXPECT_GE(log->flushed_end_offset(), log->start_offset());
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
  EXPECT_EQ(unexpected_files(fs_, kDir, log->segment_count()), "");
  EXPECT_EQ(append(*log, 3).base_offset, Offset(6));
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
  fs_.crash([](const std::filesystem::path&, std::uint64_t unsynced) { return unsynced; });
  log = open_log();
  expect_matches_model(*log);
  // And the same after new batches replaced the dropped ones.
  append(*log, 5);
  ASSERT_TRUE(log->flush());
  ASSERT_TRUE(log->truncate_suffix(Offset(4)));
  model_.truncate(Offset(4));
  append(*log, 1);
  log.reset();
  fs_.crash();
  log = open_log();
  EXPECT_GE(log->end_offset(), Offset(4));
  model_.truncate(log->end_offset());
  expect_matches_model(*log);
}

// ---------------------------------------------------------------- start offset

TEST_F(PartitionLogTest, AdvanceStartHidesEarlierOffsets) {
  auto log = open_log();
  for (int i = 0; i < 4; ++i) append(*log, 3);
  ASSERT_TRUE(log->advance_start(Offset(5)));
  EXPECT_EQ(log->start_offset(), Offset(5));
  EXPECT_EQ(log->end_offset(), Offset(12));
  auto below = log->read(Offset(4), 1000);
  ASSERT_FALSE(below);
  EXPECT_EQ(below.error().code(), Errc::offset_out_of_range);
  EXPECT_FALSE(log->term_at(Offset(4)));
  EXPECT_TRUE(log->term_at(Offset(5)));
  auto hit = log->find_offset_by_timestamp(0);
  ASSERT_TRUE(hit && hit->has_value());
  EXPECT_EQ((*hit)->offset, Offset(5));
  // Lower or equal is a no-op; past the end is out of range.
  ASSERT_TRUE(log->advance_start(Offset(2)));
  EXPECT_EQ(log->start_offset(), Offset(5));
  auto past = log->advance_start(Offset(13));
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().code(), Errc::offset_out_of_range);
  EXPECT_FALSE(log->fenced());
  expect_matches_model(*log);
}

TEST_F(PartitionLogTest, AdvanceStartPersistsAcrossCleanUncleanAndCrashReopens) {
  auto log = open_log();
  for (int i = 0; i < 4; ++i) append(*log, 3);
  ASSERT_TRUE(log->flush());
  ASSERT_TRUE(log->advance_start(Offset(4)));
  ASSERT_TRUE(log->close());
  log = open_log();
  EXPECT_EQ(log->start_offset(), Offset(4));
  ASSERT_TRUE(log->advance_start(Offset(7)));
  log.reset();  // unclean
  log = open_log();
  EXPECT_EQ(log->start_offset(), Offset(7));
  ASSERT_TRUE(log->advance_start(Offset(8)));
  log.reset();
  fs_.crash();  // power loss right after advance_start returned
  log = open_log();
  EXPECT_EQ(log->start_offset(), Offset(8));
  EXPECT_EQ(log->end_offset(), Offset(12));
  expect_matches_model(*log);
  EXPECT_FALSE(log->read(Offset(7), 100));
}

TEST_F(PartitionLogTest, AdvanceStartDeletesWholeSegmentsBelowItButNeverTheActiveOne) {
  auto log = open_log();
  for (int s = 0; s < 4; ++s) {
    append(*log, 2);
    ASSERT_TRUE(log->roll());
  }
  append(*log, 2);
  ASSERT_TRUE(log->flush());
  ASSERT_EQ(log->segment_count(), 5U);
  ASSERT_TRUE(log->advance_start(Offset(5)));  // inside the third segment [4, 6)
  EXPECT_EQ(log->segment_count(), 3U);
  EXPECT_EQ(unexpected_files(fs_, kDir, log->segment_count()), "");
  ASSERT_TRUE(log->advance_start(log->end_offset()));
  EXPECT_EQ(log->segment_count(), 1U);
  EXPECT_EQ(log->start_offset(), Offset(10));
  EXPECT_EQ(append(*log, 1).base_offset, Offset(10));
  log.reset();
  fs_.crash();
  log = open_log();
  EXPECT_EQ(log->start_offset(), Offset(10));
  EXPECT_GE(log->end_offset(), Offset(10));
}

// ---------------------------------------------------------------- rolls

TEST_F(PartitionLogTest, RollsWhenTheNextBatchWouldPassTheSegmentSize) {
  const auto size = fixed_batch(2, 200, 0).size();
  config_.segment_bytes_max = 3 * size + 1;
  auto log = open_log();
  for (int i = 0; i < 10; ++i) {
    auto b = fixed_batch(2, 200, ts_);
    auto sent = b;
    auto r = log->append(b, Term(1));
    ASSERT_TRUE(r);
    model_.append(sent, r->base_offset, Term(1));
  }
  EXPECT_EQ(log->segment_count(), 4U);  // 3 + 3 + 3 + 1 batches
  auto names = fs_.list_directory(kDir);
  ASSERT_TRUE(names);
  for (const auto& name : *names) {
    if (!name.ends_with(".log")) continue;
    auto bytes = fs_.contents(std::filesystem::path(kDir) / name);
    ASSERT_TRUE(bytes);
    EXPECT_LE(bytes->size(), config_.segment_bytes_max) << name;
  }
  EXPECT_EQ(unexpected_files(fs_, kDir, log->segment_count()), "");
  expect_matches_model(*log);
}

TEST_F(PartitionLogTest, ABatchLargerThanASegmentGetsASegmentOfItsOwn) {
  config_.segment_bytes_max = 1000;
  auto log = open_log();
  append(*log, 1, 10);
  auto big = fixed_batch(3, 2000, ts_);
  auto sent = big;
  auto r = log->append(big, Term(1));
  ASSERT_TRUE(r) << r.error();
  model_.append(sent, r->base_offset, Term(1));
  append(*log, 1, 10);
  EXPECT_EQ(log->segment_count(), 3U);
  expect_matches_model(*log);
}

TEST_F(PartitionLogTest, RollsByAge) {
  config_.segment_age_max = std::chrono::hours(1);
  auto log = open_log();
  append(*log);
  ASSERT_TRUE(log->maybe_roll());
  EXPECT_EQ(log->segment_count(), 1U);
  clock_.advance(std::chrono::minutes(59));
  ASSERT_TRUE(log->maybe_roll());
  EXPECT_EQ(log->segment_count(), 1U);
  clock_.advance(std::chrono::minutes(1));
  ASSERT_TRUE(log->maybe_roll());
  EXPECT_EQ(log->segment_count(), 2U);
  append(*log);
  // An append to a segment that has grown old rolls first.
  clock_.advance(std::chrono::hours(1));
  append(*log);
  EXPECT_EQ(log->segment_count(), 3U);
  // An empty active segment is never rolled, however old.
  ASSERT_TRUE(log->roll());
  clock_.advance(std::chrono::hours(5));
  ASSERT_TRUE(log->maybe_roll());
  EXPECT_EQ(log->segment_count(), 4U);
  expect_matches_model(*log);
}

TEST_F(PartitionLogTest, RollOfAnEmptyActiveSegmentDoesNothing) {
  auto log = open_log();
  ASSERT_TRUE(log->roll());
  EXPECT_EQ(log->segment_count(), 1U);
  append(*log);
  ASSERT_TRUE(log->roll());
  ASSERT_TRUE(log->roll());
  EXPECT_EQ(log->segment_count(), 2U);
}

// ---------------------------------------------------------------- retention

TEST_F(PartitionLogTest, RetentionByBytesDeletesTheOldestWholeSegments) {
  const auto size = fixed_batch(2, 200, 0).size();
  config_.segment_bytes_max = 3 * size;
  auto log = open_log();
  for (int i = 0; i < 15; ++i) {
    auto b = fixed_batch(2, 200, ts_);
    auto sent = b;
    auto r = log->append(b, Term(1));
    ASSERT_TRUE(r);
    model_.append(sent, r->base_offset, Term(1));
  }
  ASSERT_EQ(log->segment_count(), 5U);
  ASSERT_TRUE(log->flush());
  // 15 batches; the oldest segment goes while the rest stays >= 7.5 batches.
  LogConfig c = config_;
  c.retention_bytes = static_cast<std::int64_t>(15 * size / 2);
  ASSERT_TRUE(log->set_config(c));
  auto r = log->apply_retention();
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->segments_deleted, 2U);
  EXPECT_EQ(r->bytes_deleted, 6 * size);
  EXPECT_EQ(log->segment_count(), 3U);
  EXPECT_EQ(log->size_bytes(), 9 * size);
  EXPECT_EQ(log->start_offset(), Offset(12));
  EXPECT_EQ(log->end_offset(), Offset(30));
  EXPECT_FALSE(log->read(Offset(11), 100));
  expect_matches_model(*log);
  EXPECT_EQ(unexpected_files(fs_, kDir, log->segment_count()), "");
  // A second pass finds nothing more to do.
  auto again = log->apply_retention();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->segments_deleted, 0U);
  // Zero bytes: every sealed segment goes, never the active one.
  c.retention_bytes = 0;
  ASSERT_TRUE(log->set_config(c));
  auto all = log->apply_retention();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->segments_deleted, 2U);
  EXPECT_EQ(log->segment_count(), 1U);
  EXPECT_EQ(log->start_offset(), Offset(24));
  EXPECT_EQ(log->end_offset(), Offset(30));
  expect_matches_model(*log);
  // What retention deleted stays deleted after a crash.
  log.reset();
  fs_.crash();
  log = open_log();
  EXPECT_EQ(log->start_offset(), Offset(24));
  expect_matches_model(*log);
}

TEST_F(PartitionLogTest, RetentionByAgeDeletesExpiredSegmentsAndRollsAnExpiredActiveOne) {
  auto log = open_log();
  append(*log);  // segment [0, 3), timestamp now
  ASSERT_TRUE(log->roll());
  clock_.advance(std::chrono::minutes(30));
  ts_ = clock_.wall_ms();
  append(*log);  // segment [3, 6)
  ASSERT_TRUE(log->roll());
  clock_.advance(std::chrono::minutes(40));
  ts_ = clock_.wall_ms();
  append(*log);  // active [6, 9)
  ASSERT_TRUE(log->flush());
  LogConfig c = config_;
  c.retention_ms = 3600 * 1000;
  ASSERT_TRUE(log->set_config(c));
  auto r = log->apply_retention();  // only the first segment is over an hour old
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->segments_deleted, 1U);
  EXPECT_EQ(log->start_offset(), Offset(3));
  EXPECT_EQ(log->segment_count(), 2U);
  expect_matches_model(*log);
  clock_.advance(std::chrono::hours(2));
  // Everything is expired now, the active segment too: it is rolled, and once
  // the new segment is durable no old segment remains.
  for (int pass = 0; pass < 3 && log->start_offset() < log->end_offset(); ++pass) {
    auto more = log->apply_retention();
    ASSERT_TRUE(more) << more.error();
    ASSERT_TRUE(log->flush());
  }
  EXPECT_EQ(log->start_offset(), Offset(9));
  EXPECT_EQ(log->end_offset(), Offset(9));
  EXPECT_EQ(log->segment_count(), 1U);
  EXPECT_EQ(append(*log).base_offset, Offset(9));
  EXPECT_EQ(unexpected_files(fs_, kDir, log->segment_count()), "");
}

TEST_F(PartitionLogTest, RetentionKeepsEverythingWhenUnlimited) {
  config_.segment_bytes_max = 2048;
  auto log = open_log();
  for (int i = 0; i < 30; ++i) append(*log, 3, 100);
  ASSERT_TRUE(log->flush());
  clock_.advance(std::chrono::hours(24 * 365));
  auto r = log->apply_retention();  // retention_ms = -1, retention_bytes = -1
  ASSERT_TRUE(r);
  EXPECT_EQ(r->segments_deleted, 0U);
  EXPECT_EQ(log->start_offset(), Offset(0));
  expect_matches_model(*log);
}

// A batch as sarama 1.22 sends it: records stamped `timestamp`, but the
// header's maxTimestamp left at -1 (CRC correct for that).
std::vector<std::byte> batch_without_max_timestamp(int records, std::int64_t timestamp) {
  protocol::BatchBuilder builder;
  for (int i = 0; i < records; ++i) {
    protocol::RecordSpec spec;
    spec.timestamp = timestamp;
    spec.value = to_bytes("sarama " + std::to_string(i));
    builder.add(spec);
  }
  auto batch = builder.build();
  store_be<std::int64_t>(batch.data() + protocol::batch_field::kMaxTimestamp, -1);
  store_be<std::uint32_t>(batch.data() + protocol::batch_field::kCrc,
                          protocol::compute_batch_crc(batch));
  return batch;
}

TEST_F(PartitionLogTest, BatchesWithoutMaxTimestampSurviveRetention) {
  config_.retention_ms = 3600 * 1000;
  auto log = open_log();
  for (int i = 0; i < 20; ++i) {
    auto batch = batch_without_max_timestamp(50, clock_.wall_ms());
    auto r = log->append(batch, Term(1));
    ASSERT_TRUE(r) << r.error();
    clock_.advance(std::chrono::milliseconds(100));
    ASSERT_TRUE(log->apply_retention());  // as the broker's tick does between appends
    ASSERT_TRUE(log->flush());
  }
  for (int pass = 0; pass < 3; ++pass) {
    auto r = log->apply_retention();
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->segments_deleted, 0U);
    ASSERT_TRUE(log->flush());
  }
  EXPECT_EQ(log->start_offset(), Offset(0));
  EXPECT_EQ(log->end_offset(), Offset(1000));
  EXPECT_EQ(log->segment_count(), 1U);  // no roll per batch
  // The stored header carries the records' timestamp, under a valid CRC.
  auto read = log->read(Offset(0), 1);
  ASSERT_TRUE(read) << read.error();
  auto bytes = read->bytes.read_all();
  ASSERT_TRUE(bytes);
  auto stored = protocol::validate_batch(*bytes, 1U << 20U);
  ASSERT_TRUE(stored) << stored.error();
  EXPECT_EQ(stored->max_timestamp, stored->base_timestamp);
  EXPECT_GT(stored->max_timestamp, 0);
  // The time index works from it.
  auto hit = log->find_offset_by_timestamp(stored->max_timestamp);
  ASSERT_TRUE(hit) << hit.error();
  ASSERT_TRUE(hit->has_value());
  EXPECT_EQ((*hit)->offset, Offset(0));
}

TEST_F(PartitionLogTest, SegmentsWithoutTimestampsAgeByTheirLastAppend) {
  config_.retention_ms = 3600 * 1000;
  auto log = open_log();
  for (int i = 0; i < 5; ++i) {
    auto batch = batch_without_max_timestamp(3, -1);  // records without timestamps
    ASSERT_TRUE(log->append(batch, Term(1)));
  }
  ASSERT_TRUE(log->flush());
  clock_.advance(std::chrono::minutes(59));
  auto kept = log->apply_retention();
  ASSERT_TRUE(kept) << kept.error();
  EXPECT_EQ(kept->segments_deleted, 0U);
  EXPECT_EQ(log->segment_count(), 1U);
  EXPECT_EQ(log->start_offset(), Offset(0));
  clock_.advance(std::chrono::minutes(2));  // an hour after the last append
  for (int pass = 0; pass < 3 && log->start_offset() < log->end_offset(); ++pass) {
    ASSERT_TRUE(log->apply_retention());
    ASSERT_TRUE(log->flush());
  }
  EXPECT_EQ(log->start_offset(), Offset(15));
}

// ---------------------------------------------------------------- flushing

TEST_F(PartitionLogTest, GroupCommitOneFlushCoversSeveralAppends) {
  FaultyFs counting(fs_);
  auto log = open_log(&counting);
  const auto syncs = [&] { return counting.calls(static_cast<std::uint32_t>(FaultOp::sync)); };
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
  fs_.crash([&](const std::filesystem::path&, std::uint64_t) { return torn; });
  auto reopened = PartitionLog::open(fs_, kDir, config_, clock_);
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

// ---------------------------------------------------------------- reopening

struct Snapshot {
  Offset start;
  Offset end;
  Term last_term;
  std::size_t segments = 0;
  std::uint64_t size = 0;
  std::vector<Term> terms;
  std::vector<std::optional<Offset>> lookups;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(PartitionLog& log, const std::vector<std::int64_t>& timestamps) {
  Snapshot s{log.start_offset(),
             log.end_offset(),
             log.last_term(),
             log.segment_count(),
             log.size_bytes(),
             {},
             {}};
  for (Offset o = log.start_offset(); o < log.end_offset(); o = o + 1) {
    auto t = log.term_at(o);
    s.terms.push_back(t ? *t : Term(-1));
  }
  for (auto t : timestamps) {
    auto hit = log.find_offset_by_timestamp(t);
    s.lookups.push_back(hit && hit->has_value() ? std::optional<Offset>((*hit)->offset)
                                                : std::nullopt);
  }
  return s;
}

class Reopen : public PartitionLogTest {
 protected:
  void SetUp() override {
    config_.segment_bytes_max = 4096;
    log_ = open_log();
    for (int i = 0; i < 40; ++i) {
      const Term term(1 + i / 10);
      stamps_.push_back(ts_);
      append(*log_, 1 + static_cast<int>(rng_.uniform(5)), 200, term);
    }
    stamps_.push_back(ts_);
    ASSERT_TRUE(log_->advance_start(model_.batches()[7].base + 1));
    ASSERT_GT(log_->segment_count(), 3U);
  }

  std::unique_ptr<PartitionLog> log_;
  std::vector<std::int64_t> stamps_;
};

TEST_F(Reopen, CleanCloseAndReopenRestoresEverythingWithoutScanning) {
  ASSERT_TRUE(log_->flush());
  for (int i = 0; i < 3; ++i) append(*log_, 2, 200, Term(9));  // unflushed until close
  const Snapshot before = snapshot(*log_, stamps_);
  ASSERT_TRUE(log_->close());
  log_ = open_log();
  const auto& rec = log_->recovery();
  EXPECT_TRUE(rec.clean);
  EXPECT_EQ(rec.segments_scanned, 0U);
  EXPECT_EQ(rec.bytes_scanned, 0U);
  EXPECT_EQ(rec.indexes_rebuilt, 0U);
  EXPECT_FALSE(rec.cut_reason.has_value());
  EXPECT_TRUE(snapshot(*log_, stamps_) == before);
  EXPECT_EQ(log_->flushed_end_offset(), log_->end_offset());
  EXPECT_FALSE(log_->flush_due());
  expect_matches_model(*log_);
  EXPECT_EQ(unexpected_files(fs_, kDir, log_->segment_count()), "");
  // The log goes on where it was: offsets and the term rule.
  auto low = make_varied_batch(rng_, 1, 10, ts_);
  EXPECT_FALSE(log_->append(low, Term(8)));
  EXPECT_EQ(append(*log_, 1, 10, Term(9)).base_offset, before.end);
}

TEST_F(Reopen, AnUncleanReopenScansAndKeepsEverythingInThePageCache) {
  ASSERT_TRUE(log_->flush());
  for (int i = 0; i < 3; ++i) append(*log_, 2, 200, Term(9));  // never flushed
  const Snapshot before = snapshot(*log_, stamps_);
  log_.reset();  // the process dies; the operating system keeps its cache
  log_ = open_log();
  const auto& rec = log_->recovery();
  EXPECT_FALSE(rec.clean);
  EXPECT_GE(rec.segments_scanned, 1U);
  EXPECT_GT(rec.bytes_scanned, 0U);
  EXPECT_FALSE(rec.cut_reason.has_value());
  EXPECT_TRUE(snapshot(*log_, stamps_) == before);
  EXPECT_EQ(log_->flushed_end_offset(), log_->end_offset());
  expect_matches_model(*log_);
  // Recovery made what it kept durable: a power loss now loses nothing.
  log_.reset();
  fs_.crash();
  log_ = open_log();
  EXPECT_TRUE(snapshot(*log_, stamps_) == before);
}

TEST_F(Reopen, CloseIsFinal) {
  ASSERT_TRUE(log_->close());
  auto batch = make_varied_batch(rng_, 1, 10, ts_);
  auto a = log_->append(batch, Term(9));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), Errc::log_fenced);
  auto r = log_->read(log_->start_offset(), 100);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::log_fenced);
  auto c = log_->close();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Errc::log_fenced);
}

TEST_F(PartitionLogTest, InvalidConfigurationIsRejected) {
  LogConfig bad = config_;
  bad.segment_bytes_max = 10;
  auto opened = PartitionLog::open(fs_, kDir, bad, clock_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code(), Errc::invalid_argument);
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
  EXPECT_TRUE(parse_flush_policy("interval"));
  EXPECT_EQ(*parse_flush_policy(flush_policy_name(FlushPolicy::none)), FlushPolicy::none);
  EXPECT_FALSE(parse_flush_policy("sometimes"));
}

// ---------------------------------------------------------------- real disk

TEST(PartitionLogOnPosixFs, AppendReadThroughTheFileAndTheFdCloseAndReopen) {
  spate::testing::quiet_storage_logs();
  TempDir tmp;
  auto fs = make_posix_fs();
  const auto dir = tmp.path() / "topic-0";
  ManualClock clock;
  LogConfig config;
  config.segment_bytes_max = 8192;
  config.index_interval_bytes = 512;
  Rng rng(5);
  LogModel model;
  auto opened = PartitionLog::open(*fs, dir, config, clock);
  ASSERT_TRUE(opened) << opened.error();
  auto log = std::move(*opened);
  for (int i = 0; i < 40; ++i) {
    auto batch = make_varied_batch(rng, 1 + static_cast<int>(rng.uniform(6)), 300, 1000 + i * 10);
    auto sent = batch;
    auto r = log->append(batch, Term(1 + i / 20));
    ASSERT_TRUE(r) << r.error();
    model.append(sent, r->base_offset, Term(1 + i / 20));
  }
  ASSERT_GT(log->segment_count(), 2U);
  ASSERT_TRUE(log->flush());
  auto check = [&](PartitionLog& l) {
    EXPECT_EQ(l.end_offset(), model.end());
    EXPECT_EQ(compare_with_model(l, model), "");
    // Through the descriptor, as sendfile(2) would read it.
    Offset from = l.start_offset();
    while (from < l.end_offset()) {
      auto r = l.read(from, 4096);
      ASSERT_TRUE(r) << r.error();
      const int fd = r->bytes.file->native_handle();
      ASSERT_GE(fd, 0);
      std::vector<std::byte> buffer(r->bytes.size);
      const auto n =
          ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(r->bytes.position));
      ASSERT_EQ(n, static_cast<ssize_t>(buffer.size()));
      std::vector<std::span<const std::byte>> parts;
      ASSERT_TRUE(split_batches(buffer, parts));
      for (auto part : parts) {
        const auto* want = model.starting_at(Offset(load_be<std::int64_t>(part.data())));
        ASSERT_NE(want, nullptr);
        EXPECT_TRUE(std::equal(part.begin(), part.end(), want->bytes.begin(), want->bytes.end()));
      }
      from = r->next_offset;
    }
  };
  check(*log);
  ASSERT_TRUE(log->close());
  opened = PartitionLog::open(*fs, dir, config, clock);
  ASSERT_TRUE(opened) << opened.error();
  log = std::move(*opened);
  EXPECT_TRUE(log->recovery().clean);
  check(*log);
  auto batch = make_varied_batch(rng, 3, 100, 5000);
  auto sent = batch;
  auto r = log->append(batch, Term(2));
  ASSERT_TRUE(r);
  model.append(sent, r->base_offset, Term(2));
  log.reset();  // unclean
  opened = PartitionLog::open(*fs, dir, config, clock);
  ASSERT_TRUE(opened) << opened.error();
  log = std::move(*opened);
  EXPECT_FALSE(log->recovery().clean);
  check(*log);
  EXPECT_EQ(unexpected_files(*fs, dir, log->segment_count()), "");
}

}  // namespace
}  // namespace spate::storage
