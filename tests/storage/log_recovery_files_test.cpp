// SPDX-License-Identifier: Apache-2.0
//
// Recovery from damaged files besides the tail batch: missing, empty, garbage
// and stale index files are rebuilt (and made durable); a clean marker that
// disagrees with the active segment means a scan; damage to a sealed, durable
// segment is corrupt_log and is left alone; foreign and leftover files.

#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/common/rng.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/mem_fs.h"
#include "spate/storage/partition_log.h"

#include "support/log_fixtures.h"

#include "storage/segment.h"

namespace spate::storage {
namespace {

using spate::testing::compare_with_model;
using spate::testing::kLogDir;
using spate::testing::ModelBatch;
using spate::testing::segment_path;
using spate::testing::TornWrite;
using spate::testing::unexpected_files;

// ---------------------------------------------------------------- indexes

class TornIndexes : public TornWrite {
 protected:
  // Several sealed segments with index entries, closed cleanly.
  void build() {
    config_.segment_bytes_max = 4000;
    config_.index_interval_bytes = 500;
    auto log = open_log();
    for (int i = 0; i < 40; ++i) append(*log, 1 + static_cast<int>(rng_.uniform(4)), 300);
    ASSERT_GE(log->segment_count(), 4U);
    segments_ = log->segment_count();
    ASSERT_TRUE(log->close());
    sealed_ = model_.batches()[0].base;
  }

  // Reads at every offset, the time lookups of every batch, and the index
  // files of every segment present again.
  void expect_fully_usable(PartitionLog& log) {
    EXPECT_EQ(log.end_offset(), model_.end());
    EXPECT_EQ(log.segment_count(), segments_);
    EXPECT_EQ(compare_with_model(log, model_), "");
    for (Offset o = log.start_offset(); o < log.end_offset(); o = o + 1) {
      auto r = log.read(o, 1);
      ASSERT_TRUE(r) << r.error();
      auto bytes = r->bytes.read_all();
      ASSERT_TRUE(bytes);
      EXPECT_EQ(*bytes, model_.containing(o)->bytes) << "read(" << o << ")";
    }
    for (const auto& b : model_.batches()) {
      auto records = protocol::decode_records(b.bytes);
      ASSERT_TRUE(records);
      auto hit = log.find_offset_by_timestamp(records->front().timestamp);
      ASSERT_TRUE(hit) << hit.error();
      ASSERT_TRUE(hit->has_value());
      EXPECT_EQ((*hit)->offset, b.base);
    }
    auto names = mem_.list_directory(kLogDir);
    ASSERT_TRUE(names);
    EXPECT_EQ(unexpected_files(mem_, kLogDir, log.segment_count()), "");
  }

  // The active segment's .log: the one with the highest base.
  std::filesystem::path active_log() {
    std::filesystem::path last;
    auto names = mem_.list_directory(kLogDir);
    EXPECT_TRUE(names);
    if (!names) return last;
    for (const auto& n : *names) {
      if (n.ends_with(".log")) last = kLogDir / n;
    }
    return last;
  }

  std::size_t segments_ = 0;
  Offset sealed_;
};

TEST_F(TornIndexes, MissingOffsetIndexOfASealedSegmentIsRebuilt) {
  build();
  ASSERT_TRUE(mem_.remove(segment_path(sealed_, ".index")));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_FALSE(log->recovery().clean);  // the marker did not match the files
  EXPECT_GE(log->recovery().indexes_rebuilt, 1U);
  EXPECT_EQ(*mem_.entry_type(segment_path(sealed_, ".index")), EntryType::file);
  expect_fully_usable(*log);
  // Rebuilt for good: the next clean restart trusts it.
  ASSERT_TRUE(log->close());
  log = open_log();
  EXPECT_TRUE(log->recovery().clean);
  expect_fully_usable(*log);
}

TEST_F(TornIndexes, MissingTimeIndexOfASealedSegmentIsRebuilt) {
  build();
  ASSERT_TRUE(mem_.remove(segment_path(sealed_, ".timeindex")));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_GE(log->recovery().indexes_rebuilt, 1U);
  EXPECT_EQ(*mem_.entry_type(segment_path(sealed_, ".timeindex")), EntryType::file);
  expect_fully_usable(*log);
}

// A well-formed index (right magic, right CRC) whose entries point past the
// data the .log holds.
TEST_F(TornIndexes, IndexAheadOfTheLogIsRebuilt) {
  build();
  const std::uint64_t size = mem_.contents(segment_path(sealed_, ".log"))->size();
  const auto ahead = encode_offset_index({{1, 100},
                                          {50, static_cast<std::uint32_t>(size + 10)},
                                          {90, static_cast<std::uint32_t>(size + 900)}});
  ASSERT_TRUE(mem_.set_size_durable(segment_path(sealed_, ".index"), 0));
  ASSERT_TRUE(mem_.corrupt(segment_path(sealed_, ".index"), 0, ahead));
  const auto time_ahead = encode_time_index({{ts_ + 1'000'000, 100000}});
  ASSERT_TRUE(mem_.set_size_durable(segment_path(sealed_, ".timeindex"), 0));
  ASSERT_TRUE(mem_.corrupt(segment_path(sealed_, ".timeindex"), 0, time_ahead));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_GE(log->recovery().indexes_rebuilt, 1U);
  expect_fully_usable(*log);
}

TEST_F(TornIndexes, IndexAheadOfTheLogAfterAnUncleanShutdownIsRebuilt) {
  build();
  {
    auto log = open_log();  // clean open, then dies: the next open is unclean
    ASSERT_TRUE(log->recovery().clean);
  }
  const std::uint64_t size = mem_.contents(segment_path(sealed_, ".log"))->size();
  const auto ahead = encode_offset_index({{3, static_cast<std::uint32_t>(size + 10)}});
  ASSERT_TRUE(mem_.set_size_durable(segment_path(sealed_, ".index"), 0));
  ASSERT_TRUE(mem_.corrupt(segment_path(sealed_, ".index"), 0, ahead));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_FALSE(log->recovery().clean);
  EXPECT_GE(log->recovery().indexes_rebuilt, 1U);
  expect_fully_usable(*log);
}

TEST_F(TornIndexes, GarbageIndexFilesAreRebuilt) {
  build();
  std::vector<std::byte> garbage(64);
  for (auto& b : garbage) b = static_cast<std::byte>(rng_.next());
  ASSERT_TRUE(mem_.corrupt(segment_path(sealed_, ".index"), 0, garbage));
  ASSERT_TRUE(mem_.corrupt(segment_path(sealed_, ".timeindex"), 0, garbage));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_GE(log->recovery().indexes_rebuilt, 1U);
  expect_fully_usable(*log);
}

TEST_F(TornIndexes, EmptyIndexFileIsRebuilt) {
  build();
  ASSERT_TRUE(mem_.set_size_durable(segment_path(sealed_, ".index"), 0));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  expect_fully_usable(*log);
}

// An index whose entry count disagrees with the entries it holds.
TEST_F(TornIndexes, IndexWithAWrongEntryCountIsRebuilt) {
  build();
  std::byte count[4];
  store_be<std::uint32_t>(count, 1000);
  ASSERT_TRUE(mem_.corrupt(segment_path(sealed_, ".index"), 8, count));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_GE(log->recovery().indexes_rebuilt, 1U);
  expect_fully_usable(*log);
}

// Without the clean marker the sealed segments below the recovery point are
// walked header by header, and only the rest is scanned.
TEST_F(TornIndexes, UncleanReopenWalksSealedSegmentsAndScansTheRest) {
  build();
  ASSERT_TRUE(mem_.remove(kLogDir / "clean.shutdown"));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_FALSE(log->recovery().clean);
  EXPECT_LE(log->recovery().segments_scanned, 1U);
  expect_fully_usable(*log);
}

// After a clean close a sealed segment that shrank is damage, not a tear.
TEST_F(TornIndexes, ShrunkenSealedSegmentAfterACleanCloseIsCorruptLog) {
  build();
  const auto path = segment_path(sealed_, ".log");
  ASSERT_TRUE(mem_.set_size_durable(path, mem_.contents(path)->size() / 2));
  auto log = try_open();
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code(), Errc::corrupt_log) << log.error();
}

// A roll writes the sealed segment's index files; if the process dies before
// the next flush, the unclean open finds them equal to what it rebuilds (they
// are in the page cache) and must still make them durable: a later clean
// marker vouches for them, and after a power loss a stale (shorter) time index
// would hide the segment's newest records from time lookups and retention.
TEST_F(TornWrite, IndexFilesWrittenBeforeAProcessCrashAreMadeDurableByRecovery) {
  std::int64_t newest = 0;
  {
    auto log = open_log();
    for (int i = 0; i < 3; ++i) append(*log, 3, 100);
    ASSERT_TRUE(log->close());  // segment 0's index files, durable, for 3 batches
  }
  { auto log = open_log(); }  // a clean open, then the process dies
  {
    auto log = open_log();  // unclean: segment 0 is rebuilt by a scan
    ASSERT_NE(log, nullptr);
    clock_.advance(std::chrono::hours(2));
    ts_ = clock_.wall_ms();
    for (int i = 0; i < 3; ++i) append(*log, 3, 100);
    newest = ts_ - 1;
    ASSERT_TRUE(log->roll());  // rewrites segment 0's index files (not synced yet)
  }                            // the process dies before any flush
  {
    auto log = open_log();  // unclean again: must sync what it keeps
    ASSERT_NE(log, nullptr);
    ASSERT_FALSE(log->recovery().clean);
    ASSERT_TRUE(log->close());
  }
  mem_.crash();  // power loss after the clean close: only durable bytes remain
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(compare_with_model(*log, model_), "");
  auto hit = log->find_offset_by_timestamp(newest);
  ASSERT_TRUE(hit) << hit.error();
  EXPECT_TRUE(hit->has_value()) << "the newest record is invisible to time lookups";
  if (hit->has_value()) {
    EXPECT_EQ((*hit)->offset, model_.end() - 1);
  }
  // Retention by age: the first three batches are 2.5 hours old, the rest 30
  // minutes. Segment 0 holds both, so it must stay.
  clock_.advance(std::chrono::minutes(30));
  LogConfig c = config_;
  c.retention_ms = 3600 * 1000;
  ASSERT_TRUE(log->set_config(c));
  auto r = log->apply_retention();
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->segments_deleted, 0U) << "retention deleted records younger than retention.ms";
  EXPECT_EQ(log->start_offset(), Offset(0));
  EXPECT_EQ(compare_with_model(*log, model_), "");
}

// The same with the offset index: after a truncation into a sealed segment and
// new, differently sized batches, an old durable index points into the middle
// of batches. It must never be trusted after a power loss.
TEST_F(TornWrite, OffsetIndexFromBeforeATruncationIsNeverTrustedAfterAPowerLoss) {
  config_.index_interval_bytes = 200;
  {
    auto log = open_log();
    for (int i = 0; i < 12; ++i) append(*log, 2, 150);
    ASSERT_TRUE(log->roll());
    ASSERT_TRUE(log->flush());  // segment 0's index files durable
    const Offset to = model_.batches()[2].base;
    ASSERT_TRUE(log->truncate_suffix(to));
    model_.truncate(to);
    // Fewer, larger batches: a smaller index file whose entries differ.
    for (int i = 0; i < 5; ++i) append(*log, 10, 300);
    ASSERT_TRUE(log->roll());  // new index files for segment 0, not synced
  }                            // the process dies
  {
    auto log = open_log();
    ASSERT_NE(log, nullptr);
    ASSERT_TRUE(log->close());
  }
  mem_.crash();
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  for (Offset o = log->start_offset(); o < log->end_offset(); o = o + 1) {
    auto r = log->read(o, 1);
    ASSERT_TRUE(r) << "read(" << o << "): " << r.error();
    auto bytes = r->bytes.read_all();
    ASSERT_TRUE(bytes);
    EXPECT_EQ(*bytes, model_.containing(o)->bytes) << "read(" << o << ")";
  }
}

// ---------------------------------------------------------------- clean marker

TEST_F(TornIndexes, CleanMarkerWithALongerActiveLogMeansAScan) {
  build();
  // The active segment is the one with the highest base.
  const auto last_log = active_log();
  ASSERT_FALSE(last_log.empty());
  const std::uint64_t size = mem_.contents(last_log)->size();
  ASSERT_TRUE(mem_.corrupt(last_log, size, to_bytes("more bytes than the marker says")));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_FALSE(log->recovery().clean);
  EXPECT_GE(log->recovery().segments_scanned, 1U);
  EXPECT_TRUE(log->recovery().cut_reason.has_value());
  expect_fully_usable(*log);
  EXPECT_EQ(mem_.contents(last_log)->size(), size);
}

TEST_F(TornIndexes, CleanMarkerWithAnActiveLogShorterByAWholeBatchMeansAScan) {
  build();
  const auto last_log = active_log();
  ASSERT_FALSE(last_log.empty());
  const auto& last = model_.batches().back();
  const std::uint64_t size = mem_.contents(last_log)->size();
  ASSERT_GT(size, last.bytes.size());
  ASSERT_TRUE(mem_.set_size_durable(last_log, size - last.bytes.size()));
  auto log = open_log();
  ASSERT_NE(log, nullptr) << "a shorter active segment after a clean close";
  EXPECT_FALSE(log->recovery().clean);
  EXPECT_GE(log->recovery().segments_scanned, 1U);
  EXPECT_EQ(log->end_offset(), last.base);
  model_.truncate(last.base);
  EXPECT_EQ(compare_with_model(*log, model_), "");
}

// After a clean close every byte was durable: a batch cut in half is damage
// to durable data (storage-format.md §Recovery), not a torn write.
TEST_F(TornIndexes, CleanMarkerWithAnActiveLogCutInsideABatchIsCorruption) {
  build();
  const auto last_log = active_log();
  ASSERT_FALSE(last_log.empty());
  const std::uint64_t size = mem_.contents(last_log)->size();
  ASSERT_TRUE(mem_.set_size_durable(last_log, size - 5));
  auto log = try_open();
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code(), Errc::corrupt_log) << log.error();
}

// ---------------------------------------------------------------- sealed segments

class SealedDamage : public TornWrite {
 protected:
  // Sealed segments made durable by a flush (the recovery point is past
  // them), then the process dies.
  void build() {
    config_.segment_bytes_max = 3000;
    auto log = open_log();
    for (int i = 0; i < 30; ++i) append(*log, 1 + static_cast<int>(rng_.uniform(4)), 250);
    ASSERT_GE(log->segment_count(), 4U);
    ASSERT_TRUE(log->flush());
    segments_ = log->segment_count();
    // The first segment's batches: they are all below the recovery point.
    const auto first_size = mem_.contents(segment_path(Offset(0), ".log"))->size();
    std::uint64_t at = 0;
    for (const auto& b : model_.batches()) {
      if (at >= first_size) break;
      first_segment_.push_back({at, &b});
      at += b.bytes.size();
    }
    ASSERT_GE(first_segment_.size(), 3U);
  }

  void expect_corrupt_and_untouched() {
    const auto before = mem_.contents(segment_path(Offset(0), ".log"));
    auto names_before = mem_.list_directory(kLogDir);
    auto log = try_open();
    ASSERT_FALSE(log) << "damage in a sealed, durable segment was accepted";
    EXPECT_EQ(log.error().code(), Errc::corrupt_log) << log.error();
    EXPECT_NE(log.error().detail().find("00000000000000000000.log"), std::string::npos);
    EXPECT_NE(log.error().detail().find("not a torn write"), std::string::npos) << log.error();
    // Nothing was cut: the evidence stays for an operator.
    EXPECT_EQ(mem_.contents(segment_path(Offset(0), ".log"))->size(), before->size());
    EXPECT_EQ(*mem_.list_directory(kLogDir), *names_before);
  }

  std::size_t segments_ = 0;
  std::vector<std::pair<std::uint64_t, const spate::testing::ModelBatch*>> first_segment_;
};

TEST_F(SealedDamage, BadLengthInTheMiddleOfASealedSegmentIsCorruptLog) {
  build();
  const auto [at, batch] = first_segment_[1];
  std::byte length[4];
  store_be<std::int32_t>(length, static_cast<std::int32_t>(batch->bytes.size() - 12 + 8));
  ASSERT_TRUE(mem_.corrupt(segment_path(Offset(0), ".log"),
                           at + protocol::batch_field::kBatchLength, length));
  expect_corrupt_and_untouched();
}

TEST_F(SealedDamage, WrongBaseOffsetInTheMiddleOfASealedSegmentIsCorruptLog) {
  build();
  const auto [at, batch] = first_segment_[1];
  std::byte base[8];
  store_be<std::int64_t>(base, batch->base.value() + 1000);
  ASSERT_TRUE(mem_.corrupt(segment_path(Offset(0), ".log"), at, base));
  expect_corrupt_and_untouched();
}

TEST_F(SealedDamage, SealedSegmentCutShortIsCorruptLog) {
  build();
  const auto [at, batch] = first_segment_.back();
  ASSERT_TRUE(mem_.set_size_durable(segment_path(Offset(0), ".log"), at + batch->bytes.size() / 2));
  expect_corrupt_and_untouched();
}

// A segment rolled after the last flush was never known durable: damage there
// is a torn write, cut with every segment after it.
TEST_F(TornWrite, DamageInASegmentRolledAfterTheLastFlushIsCutWithTheSegmentsAfterIt) {
  auto log = open_log();
  for (int i = 0; i < 3; ++i) append(*log, 2, 100);  // [0, 6)
  ASSERT_TRUE(log->roll());
  ASSERT_TRUE(log->flush());                         // recovery point 6
  for (int i = 0; i < 3; ++i) append(*log, 2, 100);  // [6, 12)
  ASSERT_TRUE(log->roll());
  for (int i = 0; i < 3; ++i) append(*log, 2, 100);  // [12, 18)
  log.reset();  // the process dies; nothing after the flush was synced
  const auto* second = model_.starting_at(Offset(8));
  ASSERT_NE(second, nullptr);
  const std::byte flipped[1] = {second->bytes.back() ^ std::byte{1}};
  const std::uint64_t at = model_.starting_at(Offset(6))->bytes.size() + second->bytes.size() - 1;
  ASSERT_TRUE(mem_.corrupt(segment_path(Offset(6), ".log"), at, flipped));
  log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->recovery().cut_reason.has_value());
  EXPECT_EQ(log->recovery().segments_removed, 1U);
  EXPECT_EQ(log->end_offset(), Offset(8));
  EXPECT_EQ(log->segment_count(), 2U);
  model_.truncate(Offset(8));
  EXPECT_EQ(compare_with_model(*log, model_), "");
  EXPECT_EQ(unexpected_files(mem_, kLogDir, log->segment_count()), "");
}

// ---------------------------------------------------------------- the directory

TEST_F(TornWrite, ForeignFileInThePartitionDirectoryIsAClearError) {
  { auto log = open_log(); }
  auto file = mem_.open(kLogDir / "notes.txt", OpenMode::create);
  ASSERT_TRUE(file);
  ASSERT_TRUE((*file)->append(to_bytes("hello")));
  auto log = try_open();
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code(), Errc::malformed) << log.error();
  EXPECT_NE(log.error().message().find("notes.txt"), std::string::npos) << log.error();
  // Moving it away is enough.
  ASSERT_TRUE(mem_.remove(kLogDir / "notes.txt"));
  EXPECT_TRUE(try_open());
}

TEST_F(TornWrite, SegmentNameWithTooFewDigitsIsForeign) {
  { auto log = open_log(); }
  ASSERT_TRUE(mem_.open(kLogDir / "0000.log", OpenMode::create));
  auto log = try_open();
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code(), Errc::malformed) << log.error();
  EXPECT_NE(log.error().message().find("0000.log"), std::string::npos) << log.error();
}

TEST_F(TornWrite, PartitionPathThatIsAFileIsAClearError) {
  ASSERT_TRUE(mem_.open(kLogDir, OpenMode::create));
  auto log = try_open();
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code(), Errc::malformed) << log.error();
}

TEST_F(TornWrite, LeftoverTmpAndOrphanIndexFilesAreRemoved) {
  {
    auto log = open_log();
    append(*log, 2, 100);
    ASSERT_TRUE(log->close());
  }
  ASSERT_TRUE(mem_.open(kLogDir / "recovery.point.tmp", OpenMode::create));
  ASSERT_TRUE(mem_.open(segment_path(Offset(500), ".index"), OpenMode::create));
  ASSERT_TRUE(mem_.open(segment_path(Offset(500), ".timeindex"), OpenMode::create));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(unexpected_files(mem_, kLogDir, log->segment_count()), "");
  EXPECT_EQ(compare_with_model(*log, model_), "");
}

TEST_F(TornWrite, DamagedRecoveryPointMeansAScanOfEverything) {
  config_.segment_bytes_max = 2000;
  {
    auto log = open_log();
    for (int i = 0; i < 12; ++i) append(*log, 2, 200);
    ASSERT_TRUE(log->flush());
  }
  ASSERT_TRUE(mem_.corrupt(kLogDir / "recovery.point", 10, to_bytes("xx")));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->recovery().segments_scanned, log->segment_count());
  EXPECT_EQ(log->end_offset(), model_.end());
  EXPECT_EQ(compare_with_model(*log, model_), "");
}

TEST_F(TornWrite, DamagedStartOffsetFileStopsTheOpen) {
  {
    auto log = open_log();
    append(*log, 4, 100);
    ASSERT_TRUE(log->advance_start(Offset(2)));
  }
  ASSERT_TRUE(mem_.corrupt(kLogDir / "start.offset", 12, to_bytes("zz")));
  auto log = try_open();
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code(), Errc::corrupt_log) << log.error();
}

}  // namespace
}  // namespace spate::storage
