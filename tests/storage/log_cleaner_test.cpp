// SPDX-License-Identifier: Apache-2.0
//
// Log compaction on MemFs: the last record of each key survives below the
// active segment at its offset, tombstones go after delete.retention.ms and
// not before, min.compaction.lag.ms and min.cleanable.dirty.ratio are
// honoured, compressed and idempotent batches are rewritten correctly, and a
// compacted log reopens (clean and after a crash) as it was.

#include "spate/storage/log_cleaner.h"

#include <string>

#include <gtest/gtest.h>

#include "spate/storage/partition_log.h"
#include "spate/storage/producer_state.h"

#include "support/compaction_rig.h"

namespace spate::storage {
namespace {

using spate::testing::flatten;
using spate::testing::keyed_batch;
using spate::testing::KeyedRecord;
using spate::testing::read_keyed_batches;

class LogCleanerTest : public ::testing::Test, public spate::testing::CompactionRig {
 protected:
  LogCleanerTest() {
    config_.cleanup_delete = false;
    config_.segment_bytes_max = 4096;
    ts_ = clock_.wall_ms();
  }

  // `batches` batches of `per_batch` updates over `keys` keys, values v<n>.
  void updates(PartitionLog& log, int batches, int per_batch, int keys) {
    for (int b = 0; b < batches; ++b) {
      std::vector<KeyedRecord> records;
      for (int i = 0; i < per_batch; ++i) {
        records.push_back(
            {-1, "key-" + std::to_string(counter_ % keys), "value-" + std::to_string(counter_)});
        ++counter_;
      }
      put(log, records);
    }
  }
  std::optional<CleanStats> clean(PartitionLog& log, bool force = false) {
    auto r = log.clean(log.end_offset(), force);
    EXPECT_TRUE(r) << r.error();
    EXPECT_TRUE(log.check_invariants()) << log.check_invariants().error();
    return r ? *r : std::nullopt;
  }
  void expect_model(PartitionLog& log) { EXPECT_EQ(check(log), ""); }
  std::size_t count_key(PartitionLog& log, const std::string& key) {
    auto read = read_keyed_batches(log);
    EXPECT_TRUE(read);
    std::size_t n = 0;
    for (const auto& r : flatten(*read)) n += r.key == key ? 1U : 0U;
    return n;
  }

  // Producer 7 writes keys a, b at offsets 0-1 (sequence 0) and 2-3
  // (sequence 2, with `codec`), a plain batch overwrites both, more updates
  // follow; then a forced pass. Producer 7's last batch is left empty.
  void overwrite_producer_and_clean(PartitionLog& log, protocol::Compression codec) {
    put(log, {{-1, "a", "p1"}, {-1, "b", "p1"}}, protocol::Compression::none, 7, 0);
    put(log, {{-1, "a", "p2"}, {-1, "b", "p2"}}, codec, 7, 2);
    put(log, {{-1, "a", "plain"}, {-1, "b", "plain"}});
    updates(log, 30, 10, 3);
    seal(log);
    ASSERT_TRUE(clean(log, true).has_value());
  }

  int counter_ = 0;
};

TEST_F(LogCleanerTest, KeepsTheLastRecordOfEachKeyAtItsOffset) {
  auto log = open_log();
  updates(*log, 100, 10, 20);  // 1000 updates of 20 keys over many segments
  seal(*log);
  const std::size_t segments_before = log->segment_count();
  ASSERT_GT(segments_before, 5U);
  auto stats = clean(*log);
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->records_read, 1000U);
  EXPECT_EQ(stats->records_kept, 20U);
  EXPECT_EQ(stats->keys, 20U);
  EXPECT_EQ(log->clean_point(), log->end_offset());
  // Full segments stay apart (grouping goes by their size before cleaning).
  EXPECT_EQ(log->segment_count(), segments_before);
  auto read = read_keyed_batches(*log);
  ASSERT_TRUE(read);
  const auto records = flatten(*read);
  ASSERT_EQ(records.size(), 20U);
  // The newest values, at the offsets they were written at (980..999).
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].offset, 980 + static_cast<std::int64_t>(i));
    EXPECT_EQ(records[i].value, "value-" + std::to_string(980 + i));
  }
  expect_model(*log);
  // Appends go on at the same end; a fetch from an offset in a gap gets the next batch.
  EXPECT_EQ(log->end_offset(), Offset(1000));
  auto gap = log->read(Offset(3), 1 << 20);
  ASSERT_TRUE(gap) << gap.error();
  EXPECT_GT(gap->bytes.size, 0U);
  updates(*log, 2, 10, 20);
  expect_model(*log);
  // Both a clean reopen and an unclean one (gaps are expected below the clean point).
  ASSERT_TRUE(log->close());
  log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->recovery().clean);
  expect_model(*log);
  log.reset();
  mem_.crash();
  ASSERT_TRUE(mem_.remove(spate::testing::kLogDir / "recovery.point"));
  log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_FALSE(log->recovery().clean);
  EXPECT_TRUE(log->check_invariants());
  expect_model(*log);
}

TEST_F(LogCleanerTest, SecondPassMergesSmallCleanedSegmentsAndNewDirtyOnes) {
  auto log = open_log();
  updates(*log, 60, 10, 30);
  seal(*log);
  ASSERT_TRUE(clean(*log).has_value());
  const std::size_t after_first = log->segment_count();
  updates(*log, 60, 10, 30);
  seal(*log);
  const std::size_t before_second = log->segment_count();
  auto stats = clean(*log);
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->records_kept, 30U);
  // The small cleaned segments were grouped into one up to segment.bytes.
  EXPECT_EQ(log->segment_count(), before_second - (after_first - 1) + 1);
  auto read = read_keyed_batches(*log);
  ASSERT_TRUE(read);
  EXPECT_EQ(flatten(*read).size(), 30U);
  expect_model(*log);
}

TEST_F(LogCleanerTest, TombstonesGoAfterDeleteRetentionAndNotBefore) {
  config_.delete_retention_ms = 10'000;
  auto log = open_log();
  put(*log, {{-1, "gone", "v1"}, {-1, "kept", "k1"}});
  put(*log, {{-1, "gone", std::nullopt}});
  updates(*log, 40, 10, 5);
  seal(*log);
  ASSERT_TRUE(clean(*log).has_value());
  // In the dirty part the tombstone stays; the older value is gone.
  EXPECT_EQ(count_key(*log, "gone"), 1U);
  // Cleaned 5 s ago: still there.
  clock_.advance(std::chrono::milliseconds(5'000));
  updates(*log, 40, 10, 5);
  seal(*log);
  ASSERT_TRUE(clean(*log, true).has_value());
  EXPECT_EQ(count_key(*log, "gone"), 1U);
  expect_model(*log);
  // The segment holding it was last written by the second pass; 10 s after that it goes.
  clock_.advance(std::chrono::milliseconds(10'001));
  updates(*log, 40, 10, 5);
  seal(*log);
  auto stats = clean(*log, true);
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->tombstones_removed, 1U);
  EXPECT_EQ(count_key(*log, "gone"), 0U);
  EXPECT_EQ(count_key(*log, "kept"), 1U);
  expect_model(*log);
}

TEST_F(LogCleanerTest, MinCompactionLagKeepsRecentSegmentsDirty) {
  config_.min_compaction_lag_ms = 60'000;
  auto log = open_log();
  updates(*log, 50, 10, 10);
  seal(*log);
  EXPECT_FALSE(clean(*log, true).has_value()) << "records younger than the lag were compacted";
  clock_.advance(std::chrono::milliseconds(61'000));
  auto stats = clean(*log, true);
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->records_kept, 10U);
  expect_model(*log);
}

TEST_F(LogCleanerTest, DirtyRatioAndMaxCompactionLagDecideWhenToClean) {
  config_.min_cleanable_dirty_ratio = 0.9;
  config_.max_compaction_lag_ms = 3'600'000;
  auto log = open_log();
  updates(*log, 100, 10, 500);  // 500 keys: the cleaned part stays large
  seal(*log);
  ASSERT_TRUE(clean(*log).has_value());  // all dirty: ratio 1
  updates(*log, 5, 10, 500);
  seal(*log);
  EXPECT_FALSE(clean(*log).has_value()) << "cleaned below min.cleanable.dirty.ratio";
  // Not committed: nothing is cleanable.
  EXPECT_EQ(log->begin_clean(Offset(0), true), nullptr);
  clock_.advance(std::chrono::milliseconds(3'601'000));
  EXPECT_TRUE(clean(*log).has_value()) << "max.compaction.lag.ms passed";
  expect_model(*log);
  // Not compacted at all without cleanup.policy=compact.
  config_.cleanup_compact = false;
  ASSERT_TRUE(log->set_config(config_));
  updates(*log, 50, 10, 10);
  seal(*log);
  EXPECT_FALSE(clean(*log, true).has_value());
}

TEST_F(LogCleanerTest, CompressedBatchesAreRewrittenWithTheirCodec) {
  auto log = open_log();
  const protocol::Compression codecs[] = {protocol::Compression::gzip,
                                          protocol::Compression::snappy, protocol::Compression::lz4,
                                          protocol::Compression::zstd};
  for (int round = 0; round < 3; ++round) {
    for (auto codec : codecs) {
      std::vector<KeyedRecord> records;
      for (int i = 0; i < 8; ++i) {
        records.push_back(
            {-1, "k" + std::to_string(i),
             "r" + std::to_string(round) + "-" + std::to_string(static_cast<int>(codec))});
      }
      records.push_back(
          {-1, "only-" + std::to_string(round) + std::to_string(static_cast<int>(codec)), "x"});
      put(*log, records, codec);
    }
  }
  seal(*log);
  ASSERT_TRUE(clean(*log, true).has_value());
  auto read = read_keyed_batches(*log);
  ASSERT_TRUE(read) << read.error();
  for (const auto& b : *read) {
    EXPECT_NE(b.header.compression(), protocol::Compression::none);
    EXPECT_LE(b.header.record_count, b.header.last_offset_delta + 1);
  }
  EXPECT_EQ(flatten(*read).size(), 8U + 12U);
  expect_model(*log);
  ASSERT_TRUE(log->close());
  log = open_log();
  expect_model(*log);
}

TEST_F(LogCleanerTest, LastBatchOfAnIdempotentProducerStaysEvenEmpty) {
  auto log = open_log();
  overwrite_producer_and_clean(*log, protocol::Compression::none);
  auto read = read_keyed_batches(*log);
  ASSERT_TRUE(read);
  int producer_batches = 0;
  for (const auto& b : *read) {
    if (b.header.producer_id != 7) continue;
    ++producer_batches;
    // The second batch (offsets 2-3), kept with its sequence for the producer state.
    EXPECT_EQ(b.header.base_offset, 2);
    EXPECT_EQ(b.header.last_offset_delta, 1);
    EXPECT_EQ(b.header.base_sequence, 2);
    EXPECT_EQ(b.header.record_count, 0);
  }
  EXPECT_EQ(producer_batches, 1);
  expect_model(*log);
  log.reset();
  mem_.crash();
  log = open_log();
  ASSERT_NE(log, nullptr);
  expect_model(*log);
}

// The producer state rebuilt from a compacted log alone (a crash, no
// snapshot) still knows the producer's last batch, kept empty: a retry of it
// is a duplicate of its original offsets, the next sequence is taken, and
// nothing the pass removed can be appended again as new.
TEST_F(LogCleanerTest, ProducerStateRebuiltFromTheCompactedLogStillSeesRetries) {
  auto log = open_log();
  overwrite_producer_and_clean(*log, protocol::Compression::lz4);
  log.reset();
  mem_.crash();
  log = open_log();
  ASSERT_NE(log, nullptr);
  ASSERT_EQ(*mem_.entry_type(spate::testing::kLogDir / kProducerSnapshotFile), EntryType::none);
  ProducerState state;
  auto loaded = load_producer_state(faulty_, *log, state, clock_.wall_ms());
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_FALSE(loaded->snapshot_used);
  auto retry = state.check(7, 0, 2, 3);
  ASSERT_TRUE(retry) << retry.error();
  ASSERT_TRUE(retry->has_value()) << "the retry of the last batch would be appended again";
  EXPECT_EQ((*retry)->first_offset, Offset(2));
  EXPECT_EQ((*retry)->last_offset, Offset(3));
  auto next = state.check(7, 0, 4, 5);
  ASSERT_TRUE(next) << next.error();
  EXPECT_FALSE(next->has_value());
  // The first batch went in the pass: its retry is refused, not appended.
  auto older = state.check(7, 0, 0, 1);
  EXPECT_TRUE(!older || older->has_value());
}

// Keyless records written before the topic became compacted (it refuses them
// from then on) stay.
TEST_F(LogCleanerTest, KeylessRecordsAreNeverCompacted) {
  auto log = open_log();
  put_before_compact(*log, {{-1, std::nullopt, "n1"}, {-1, "k", "1"}});
  put_before_compact(*log, {{-1, std::nullopt, "n2"}, {-1, "k", "2"}});
  updates(*log, 30, 10, 3);
  seal(*log);
  ASSERT_TRUE(clean(*log, true).has_value());
  EXPECT_EQ(count_key(*log, "k"), 1U);
  expect_model(*log);  // the model requires every keyless record
}

}  // namespace
}  // namespace spate::storage

namespace spate::storage {
namespace {

// A compacted topic (compact, or compact,delete) refuses a batch holding any
// record without a key, compressed or not, whole: nothing is appended (Kafka's
// LogValidator.validateKey). Keyed records and tombstones go in.
TEST_F(LogCleanerTest, ACompactedLogRefusesRecordsWithoutAKey) {
  for (bool also_delete : {false, true}) {
    config_.cleanup_delete = also_delete;
    auto log = open_log();
    put(*log, {{-1, "k", "1"}, {-1, "k", std::nullopt}});
    for (auto codec : {protocol::Compression::none, protocol::Compression::lz4}) {
      const Offset end = log->end_offset();
      const auto size = log->size_bytes();
      auto batch =
          keyed_batch({{-1, "a", "1"}, {-1, std::nullopt, "no key"}, {-1, "b", "2"}}, ts_, codec);
      auto r = log->append(batch, Term(1));
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().code(), Errc::invalid_record) << r.error();
      EXPECT_NE(r.error().message().find("record 1"), std::string::npos) << r.error();
      EXPECT_EQ(log->end_offset(), end);
      EXPECT_EQ(log->size_bytes(), size);
      EXPECT_FALSE(log->fenced());
      put(*log, {{-1, "a", "1"}, {-1, "b", std::nullopt}}, codec);
    }
    expect_model(*log);
    ASSERT_TRUE(log->close());  // reopened under the next policy
  }
}

// The policy is the log's current one: keyless records go in under delete,
// not once it is switched to compact, and again once it is switched back.
TEST_F(LogCleanerTest, KeysAreRequiredFromTheMomentThePolicyIsCompact) {
  LogConfig as_delete = config_;
  as_delete.cleanup_compact = false;
  as_delete.cleanup_delete = true;
  auto log = open_log();
  auto keyless = [&] { return keyed_batch({{-1, std::nullopt, "v"}}, ts_); };
  ASSERT_TRUE(log->set_config(as_delete));
  auto before = keyless();
  ASSERT_TRUE(log->append(before, Term(1)));
  ASSERT_TRUE(log->set_config(config_));
  auto during = keyless();
  auto refused = log->append(during, Term(1));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Errc::invalid_record);
  ASSERT_TRUE(log->set_config(as_delete));
  auto after = keyless();
  EXPECT_TRUE(log->append(after, Term(1)));
  EXPECT_EQ(log->end_offset(), Offset(2));
}

TEST_F(LogCleanerTest, AFailedOpenWhileChoosingSegmentsLeavesNoFilePinned) {
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  updates(*log, 30, 10, 3);
  seal(*log);
  const auto baseline = mem_.open_files();
  // The first sealed segment's file opens, the second's fails (EMFILE): no
  // pass, and the first is let go again (pinned, it would stay open outside
  // the file cache's limit until some later pass finished).
  mem_.set_open_files_max(baseline + 1);
  auto r = log->clean(log->end_offset(), true);
  ASSERT_TRUE(r) << r.error();
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(mem_.open_files(), baseline);
  mem_.set_open_files_max(0);
  ASSERT_TRUE(clean(*log, true).has_value());
  expect_model(*log);
}

}  // namespace
}  // namespace spate::storage
