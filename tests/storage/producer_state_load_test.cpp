// SPDX-License-Identifier: Apache-2.0
//
// The producer state rebuilt from a partition's files: a scan of the whole
// log after a crash (no snapshot), the snapshot plus the batches after it, a
// damaged snapshot or one past the log's end (a scan instead), and producers
// outliving the deletion of their segments.

#include <gtest/gtest.h>

#include "spate/storage/envelope.h"
#include "spate/storage/partition_log.h"
#include "spate/storage/producer_state.h"

#include "support/log_fixtures.h"
#include "support/producer_batches.h"

namespace spate::storage {
namespace {

using spate::testing::producer_batch;

class ProducerStateLoad : public spate::testing::PartitionLogTest {
 protected:
  // Appends a batch of `records` for the producer and returns where it landed.
  AppendResult send(PartitionLog& log, std::int64_t id, std::int16_t epoch, std::int32_t seq,
                    int records = 2) {
    return append_bytes(log, producer_batch(id, epoch, seq, records, ts_));
  }

  ProducerState load(PartitionLog& log, ProducerLoadReport* report = nullptr) {
    ProducerState state;
    auto r = load_producer_state(log.filesystem(), log, state, ts_);
    EXPECT_TRUE(r) << r.error();
    if (r && report != nullptr) *report = *r;
    return state;
  }

  // The batch is known as a duplicate at `at`.
  static void expect_duplicate(const ProducerState& s, std::int64_t id, std::int16_t epoch,
                               std::int32_t seq, int records, const AppendResult& at) {
    auto v = s.check(id, epoch, seq, seq + records - 1);
    ASSERT_TRUE(v) << v.error();
    ASSERT_TRUE(v->has_value()) << "producer " << id << " seq " << seq << " not a duplicate";
    EXPECT_EQ((*v)->first_offset, at.base_offset);
    EXPECT_EQ((*v)->last_offset, at.last_offset);
  }

  // Three producers, eight batches, over several segments.
  void fill(PartitionLog& log) {
    for (int i = 0; i < 4; ++i) sent_.push_back(send(log, 100, 0, i * 2));
    sent_.push_back(send(log, 200, 3, 0));
    append(log);  // a batch without a producer id
    sent_.push_back(send(log, 100, 0, 8));
    sent_.push_back(send(log, 300, 0, 40));
    sent_.push_back(send(log, 200, 3, 2));
  }

  void expect_filled(const ProducerState& s) {
    ASSERT_EQ(s.size(), 3U);
    expect_duplicate(s, 100, 0, 0, 2, sent_[0]);
    expect_duplicate(s, 100, 0, 8, 2, sent_[5]);
    expect_duplicate(s, 200, 3, 0, 2, sent_[4]);
    expect_duplicate(s, 200, 3, 2, 2, sent_[7]);
    expect_duplicate(s, 300, 0, 40, 2, sent_[6]);
    EXPECT_EQ(s.check(100, 0, 11, 11).error().code(), Errc::out_of_order_sequence);
  }

  std::vector<AppendResult> sent_;
};

TEST_F(ProducerStateLoad, CrashWithoutSnapshotScansTheWholeLog) {
  config_.segment_bytes_max = 300;  // a few batches per segment
  auto log = open_log();
  fill(*log);
  ASSERT_GT(log->segment_count(), 2U);
  log = recover(std::move(log), /*power_loss=*/false);  // kill -9: no snapshot written
  ProducerLoadReport report;
  auto state = load(*log, &report);
  EXPECT_FALSE(report.snapshot_used);
  EXPECT_FALSE(report.snapshot_problem);
  EXPECT_EQ(report.batches_replayed, 8U);
  expect_filled(state);
  EXPECT_EQ(state.end_offset(), log->end_offset());
}

TEST_F(ProducerStateLoad, SnapshotPlusTheBatchesAfterIt) {
  auto log = open_log();
  for (int i = 0; i < 4; ++i) sent_.push_back(send(*log, 100, 0, i * 2));
  auto at_snapshot = load(*log);
  ASSERT_TRUE(write_producer_snapshot(log->filesystem(), log->dir(), at_snapshot.encode()));
  sent_.push_back(send(*log, 200, 3, 0));
  append(*log);
  sent_.push_back(send(*log, 100, 0, 8));
  sent_.push_back(send(*log, 300, 0, 40));
  sent_.push_back(send(*log, 200, 3, 2));
  log = recover(std::move(log), false);
  ProducerLoadReport report;
  auto state = load(*log, &report);
  EXPECT_TRUE(report.snapshot_used);
  EXPECT_EQ(report.batches_replayed, 4U);  // only the tail
  expect_filled(state);
}

TEST_F(ProducerStateLoad, DamagedSnapshotMeansAScan) {
  auto log = open_log();
  fill(*log);
  ASSERT_TRUE(write_producer_snapshot(log->filesystem(), log->dir(), load(*log).encode()));
  {  // one bit flipped: the envelope's CRC no longer holds
    auto bytes = read_file(log->filesystem(), log->dir() / kProducerSnapshotFile, 1U << 20U);
    ASSERT_TRUE(bytes);
    (*bytes)[10] ^= std::byte{1};
    ASSERT_TRUE(write_file_atomic(log->filesystem(), log->dir() / kProducerSnapshotFile, *bytes));
  }
  log = recover(std::move(log), false);
  ProducerLoadReport report;
  auto state = load(*log, &report);
  EXPECT_FALSE(report.snapshot_used);
  ASSERT_TRUE(report.snapshot_problem);
  EXPECT_NE(report.snapshot_problem->find("CRC"), std::string::npos) << *report.snapshot_problem;
  EXPECT_EQ(report.batches_replayed, 8U);
  expect_filled(state);
}

TEST_F(ProducerStateLoad, SnapshotPastTheLogEndIsNotUsed) {
  auto log = open_log();
  fill(*log);
  auto state = load(*log);
  state.set_end_offset(log->end_offset() + 100);  // as if the log lost its tail since
  ASSERT_TRUE(write_producer_snapshot(log->filesystem(), log->dir(), state.encode()));
  ProducerLoadReport report;
  auto again = load(*log, &report);
  EXPECT_FALSE(report.snapshot_used);
  ASSERT_TRUE(report.snapshot_problem);
  expect_filled(again);
}

TEST_F(ProducerStateLoad, ProducersOutliveTheirSegmentsUntilTheyExpire) {
  config_.segment_bytes_max = 300;
  auto log = open_log();
  fill(*log);
  auto state = load(*log);
  ASSERT_TRUE(write_producer_snapshot(log->filesystem(), log->dir(), state.encode()));
  // Every segment but the active one goes (DeleteRecords up to the end).
  ASSERT_TRUE(log->advance_start(log->end_offset()));
  ASSERT_EQ(log->segment_count(), 1U);
  ASSERT_TRUE(log->close());
  log = open_log();
  auto reloaded = load(*log);
  expect_filled(reloaded);
  // Without the snapshot they would be gone: nothing is left to scan.
  ASSERT_TRUE(log->filesystem().remove(log->dir() / kProducerSnapshotFile));
  EXPECT_EQ(load(*log).size(), 0U);
  // And they expire as any producer does.
  ProducerState expired({.producers_max = 10, .expiration_ms = 1});
  ASSERT_TRUE(write_producer_snapshot(log->filesystem(), log->dir(), reloaded.encode()));
  ASSERT_TRUE(load_producer_state(log->filesystem(), *log, expired, ts_ + 1'000'000));
  EXPECT_EQ(expired.size(), 0U);
}

}  // namespace
}  // namespace spate::storage
