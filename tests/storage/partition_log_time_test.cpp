// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog's time lookups on MemFs: the exact record inside a batch, across
// segments and reopens, against a brute-force scan, below the start offset.

#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/common/rng.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/partition_log.h"

#include "support/log_fixtures.h"

namespace spate::storage {
namespace {

using spate::testing::make_varied_batch;
using spate::testing::PartitionLogTest;

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

}  // namespace
}  // namespace spate::storage
