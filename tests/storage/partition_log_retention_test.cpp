// SPDX-License-Identifier: Apache-2.0
//
// PartitionLog's start offset, rolls and retention on MemFs: advance_start
// (hides, persists, deletes whole segments), rolls by size and age, retention
// by bytes and by age (sarama's batches without maxTimestamp too).

#include <string>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/partition_log.h"

#include "support/log_fixtures.h"

namespace spate::storage {
namespace {

using spate::testing::kLogDir;
using spate::testing::PartitionLogTest;
using spate::testing::unexpected_files;

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
  mem_.crash();  // power loss right after advance_start returned
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
  EXPECT_EQ(unexpected_files(mem_, kLogDir, log->segment_count()), "");
  ASSERT_TRUE(log->advance_start(log->end_offset()));
  EXPECT_EQ(log->segment_count(), 1U);
  EXPECT_EQ(log->start_offset(), Offset(10));
  EXPECT_EQ(append(*log, 1).base_offset, Offset(10));
  log.reset();
  mem_.crash();
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
    append_bytes(*log, fixed_batch(2, 200, ts_));
  }
  EXPECT_EQ(log->segment_count(), 4U);  // 3 + 3 + 3 + 1 batches
  auto names = mem_.list_directory(kLogDir);
  ASSERT_TRUE(names);
  for (const auto& name : *names) {
    if (!name.ends_with(".log")) continue;
    auto bytes = mem_.contents(std::filesystem::path(kLogDir) / name);
    ASSERT_TRUE(bytes);
    EXPECT_LE(bytes->size(), config_.segment_bytes_max) << name;
  }
  EXPECT_EQ(unexpected_files(mem_, kLogDir, log->segment_count()), "");
  expect_matches_model(*log);
}

TEST_F(PartitionLogTest, ABatchLargerThanASegmentGetsASegmentOfItsOwn) {
  config_.segment_bytes_max = 1000;
  auto log = open_log();
  append(*log, 1, 10);
  append_bytes(*log, fixed_batch(3, 2000, ts_));
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

// A replicated log deletes only what its Raft group committed: never a
// segment holding `keep_from` or a later offset.
TEST_F(PartitionLogTest, RetentionNeverDeletesPastKeepFrom) {
  const auto size = fixed_batch(2, 200, 0).size();
  config_.segment_bytes_max = 3 * size;
  auto log = open_log();
  for (int i = 0; i < 15; ++i) append_bytes(*log, fixed_batch(2, 200, ts_));
  ASSERT_EQ(log->segment_count(), 5U);  // bases 0, 6, 12, 18, 24
  ASSERT_TRUE(log->flush());
  LogConfig c = config_;
  c.retention_bytes = 0;
  ASSERT_TRUE(log->set_config(c));
  auto capped = log->apply_retention(Offset(20));
  ASSERT_TRUE(capped) << capped.error();
  EXPECT_EQ(capped->segments_deleted, 3U);
  EXPECT_EQ(log->start_offset(), Offset(18));
  auto at_base = log->apply_retention(Offset(24));  // [18, 24) lies below 24
  ASSERT_TRUE(at_base);
  EXPECT_EQ(at_base->segments_deleted, 1U);
  EXPECT_EQ(log->start_offset(), Offset(24));
  expect_matches_model(*log);
}

TEST_F(PartitionLogTest, RetentionByBytesDeletesTheOldestWholeSegments) {
  const auto size = fixed_batch(2, 200, 0).size();
  config_.segment_bytes_max = 3 * size;
  auto log = open_log();
  for (int i = 0; i < 15; ++i) {
    append_bytes(*log, fixed_batch(2, 200, ts_));
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
  EXPECT_EQ(unexpected_files(mem_, kLogDir, log->segment_count()), "");
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
  mem_.crash();
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
  EXPECT_EQ(unexpected_files(mem_, kLogDir, log->segment_count()), "");
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

}  // namespace
}  // namespace spate::storage
