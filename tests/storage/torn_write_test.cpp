// SPDX-License-Identifier: Apache-2.0
//
// Recovery from torn writes and damaged files (reliability.md S1): 1000 random
// cut points across an unsynced tail, then one named test per kind of damage,
// as leveldb's log_test does.

#include <map>

#include <gtest/gtest.h>

#include "spate/common/bytes.h"
#include "spate/common/clock.h"
#include "spate/common/rng.h"
#include "spate/protocol/record_batch.h"
#include "spate/storage/mem_fs.h"
#include "spate/storage/partition_log.h"

#include "support/log_testing.h"

#include "storage/segment.h"

namespace spate::storage {
namespace {

using spate::testing::compare_with_model;
using spate::testing::LogModel;
using spate::testing::make_varied_batch;
using spate::testing::unexpected_files;

const std::filesystem::path kDir = "/data/topic-0";

std::filesystem::path segment_path(Offset base, const char* suffix) {
  return kDir / segment_file_name(base, suffix);
}

class TornWrite : public ::testing::Test {
 protected:
  TornWrite() {
    spate::testing::quiet_storage_logs();
    reset_fs();
  }

  void reset_fs() {
    fs_ = std::make_unique<MemFs>();
    EXPECT_TRUE(fs_->create_directories("/data"));
    EXPECT_TRUE(fs_->sync_directory("/"));
    model_ = LogModel();
  }

  Result<std::unique_ptr<PartitionLog>> try_open() {
    return PartitionLog::open(*fs_, kDir, config_, clock_);
  }

  std::unique_ptr<PartitionLog> open_log() {
    auto log = try_open();
    EXPECT_TRUE(log) << log.error();
    return log ? std::move(*log) : nullptr;
  }

  AppendResult append(PartitionLog& log, int records, std::size_t value_bytes_max,
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

  // File position of the batch at `base` in a single-segment log.
  std::uint64_t position_of(Offset base) const {
    std::uint64_t at = 0;
    for (const auto& b : model_.batches()) {
      if (b.base == base) return at;
      at += b.bytes.size();
    }
    ADD_FAILURE() << "no batch at " << base;
    return at;
  }

  // Five flushed batches in one segment, then the process dies (no power
  // loss): the next open is unclean and scans the whole segment.
  void five_batches_then_unclean() {
    auto log = open_log();
    for (int i = 0; i < 5; ++i) append(*log, 1 + static_cast<int>(rng_.uniform(6)), 400);
    ASSERT_TRUE(log->flush());
  }

  // Reopens and expects the last batch cut (its bytes were damaged).
  void expect_last_batch_cut(std::uint64_t bytes_cut) {
    const Offset last = model_.batches().back().base;
    const std::uint64_t last_at = position_of(last);
    auto log = open_log();
    ASSERT_NE(log, nullptr);
    EXPECT_FALSE(log->recovery().clean);
    EXPECT_TRUE(log->recovery().cut_reason.has_value());
    EXPECT_EQ(log->recovery().bytes_cut, bytes_cut);
    EXPECT_EQ(log->end_offset(), last);
    model_.truncate(last);
    EXPECT_EQ(compare_with_model(*log, model_), "");
    auto contents = fs_->contents(segment_path(Offset(0), ".log"));
    ASSERT_TRUE(contents);
    EXPECT_EQ(contents->size(), last_at);
    // The log goes on from there, and keeps it through a clean restart.
    EXPECT_EQ(append(*log, 2, 100).base_offset, last);
    ASSERT_TRUE(log->close());
    log = open_log();
    EXPECT_TRUE(log->recovery().clean);
    EXPECT_EQ(compare_with_model(*log, model_), "");
  }

  std::unique_ptr<MemFs> fs_;
  ManualClock clock_;
  Rng rng_{31337};
  LogConfig config_;
  LogModel model_;
  std::int64_t ts_ = 1'700'000'000'000;
};

// ---------------------------------------------------------------- random tears

TEST_F(TornWrite, ThousandRandomCutPointsInTheUnsyncedTailRecoverToTheLastWholeBatch) {
  Rng cuts(2026);
  int cut_inside = 0;
  for (int trial = 0; trial < 1000; ++trial) {
    SCOPED_TRACE(::testing::Message() << "trial " << trial);
    reset_fs();
    auto log = open_log();
    const int flushed = 1 + static_cast<int>(cuts.uniform(6));
    for (int i = 0; i < flushed; ++i) {
      append(*log, 1 + static_cast<int>(cuts.uniform(10)), cuts.uniform(400));
    }
    ASSERT_TRUE(log->flush());
    const Offset durable = log->end_offset();
    std::vector<std::pair<std::uint64_t, Offset>> ends;  // (unsynced bytes, end) per batch
    std::uint64_t unsynced = 0;
    const int tail = 1 + static_cast<int>(cuts.uniform(3));
    for (int i = 0; i < tail; ++i) {
      append(*log, 1 + static_cast<int>(cuts.uniform(20)), cuts.uniform(500));
      unsynced += model_.batches().back().bytes.size();
      ends.emplace_back(unsynced, model_.end());
    }
    const std::uint64_t cut = cuts.uniform(unsynced + 1);
    log.reset();
    fs_->crash([&](const std::filesystem::path& path, std::uint64_t) {
      return path.extension() == ".log" ? cut : 0;
    });
    // Where recovery must land: the end of the last batch wholly before the cut.
    Offset expected = durable;
    std::uint64_t whole = 0;
    for (const auto& [bytes, end] : ends) {
      if (bytes <= cut) {
        expected = end;
        whole = bytes;
      }
    }
    log = open_log();
    ASSERT_NE(log, nullptr);
    EXPECT_FALSE(log->recovery().clean);
    EXPECT_EQ(log->end_offset(), expected);
    EXPECT_EQ(log->recovery().cut_reason.has_value(), cut != whole);
    EXPECT_EQ(log->recovery().bytes_cut, cut - whole);
    cut_inside += cut != whole ? 1 : 0;
    model_.truncate(expected);
    ASSERT_EQ(compare_with_model(*log, model_), "");
    // Appending after recovery works and survives a clean restart.
    EXPECT_EQ(append(*log, 2, 50).base_offset, expected);
    ASSERT_TRUE(log->close());
    log = open_log();
    EXPECT_TRUE(log->recovery().clean);
    EXPECT_EQ(log->end_offset(), model_.end());
    ASSERT_EQ(compare_with_model(*log, model_), "");
  }
  EXPECT_GT(cut_inside, 900);  // the cuts did land inside batches
}

// The unsynced tail spans a roll: the new segment's name was never made
// durable, so it vanishes; the sealed segment keeps a torn prefix.
TEST_F(TornWrite, RandomCutsInATailThatSpansARollRecoverToTheLastWholeBatch) {
  config_.segment_bytes_max = 3000;
  Rng cuts(77);
  for (int trial = 0; trial < 200; ++trial) {
    SCOPED_TRACE(::testing::Message() << "trial " << trial);
    reset_fs();
    auto log = open_log();
    append(*log, 3, 200);
    ASSERT_TRUE(log->flush());
    const Offset durable = log->end_offset();
    std::vector<std::pair<std::uint64_t, Offset>> ends;  // in the first segment
    std::uint64_t unsynced = 0;
    while (log->segment_count() == 1) {
      append(*log, 1 + static_cast<int>(cuts.uniform(5)), cuts.uniform(300));
      if (log->segment_count() == 1) {
        unsynced += model_.batches().back().bytes.size();
        ends.emplace_back(unsynced, model_.end());
      }
    }
    append(*log, 2, 100);  // more in the new segment
    const std::uint64_t cut = cuts.uniform(unsynced + 1);
    const auto first_log = segment_path(Offset(0), ".log");
    log.reset();
    fs_->crash([&](const std::filesystem::path& path, std::uint64_t n) {
      return path == first_log ? cut : cuts.uniform(n + 1);
    });
    Offset expected = durable;
    std::uint64_t whole = 0;
    for (const auto& [bytes, end] : ends) {
      if (bytes <= cut) {
        expected = end;
        whole = bytes;
      }
    }
    log = open_log();
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->end_offset(), expected);
    EXPECT_EQ(log->segment_count(), 1U);
    EXPECT_EQ(log->recovery().cut_reason.has_value(), cut != whole);
    model_.truncate(expected);
    ASSERT_EQ(compare_with_model(*log, model_), "");
    EXPECT_EQ(unexpected_files(*fs_, kDir, log->segment_count()), "");
    EXPECT_EQ(append(*log, 1, 10).base_offset, expected);
    ASSERT_TRUE(log->close());
    log = open_log();
    ASSERT_EQ(compare_with_model(*log, model_), "");
  }
}

// ---------------------------------------------------------------- named damage

TEST_F(TornWrite, HugeLengthInTheTailBatchIsCut) {
  five_batches_then_unclean();
  const auto& last = model_.batches().back();
  std::byte length[4];
  store_be<std::int32_t>(length, 0x7FFFFFF0);
  ASSERT_TRUE(fs_->corrupt(segment_path(Offset(0), ".log"),
                           position_of(last.base) + protocol::batch_field::kBatchLength, length));
  expect_last_batch_cut(last.bytes.size());
}

TEST_F(TornWrite, LengthOneByteShortInTheTailBatchIsCut) {
  five_batches_then_unclean();
  const auto& last = model_.batches().back();
  std::byte length[4];
  store_be<std::int32_t>(length, static_cast<std::int32_t>(last.bytes.size() - 12 - 1));
  ASSERT_TRUE(fs_->corrupt(segment_path(Offset(0), ".log"),
                           position_of(last.base) + protocol::batch_field::kBatchLength, length));
  expect_last_batch_cut(last.bytes.size());
}

TEST_F(TornWrite, LengthRunningPastTheEndOfTheFileIsCut) {
  five_batches_then_unclean();
  const auto& last = model_.batches().back();
  std::byte length[4];
  store_be<std::int32_t>(length, static_cast<std::int32_t>(last.bytes.size() - 12 + 100));
  ASSERT_TRUE(fs_->corrupt(segment_path(Offset(0), ".log"),
                           position_of(last.base) + protocol::batch_field::kBatchLength, length));
  expect_last_batch_cut(last.bytes.size());
}

TEST_F(TornWrite, BadCrcInTheTailBatchIsCut) {
  five_batches_then_unclean();
  const auto& last = model_.batches().back();
  const std::uint64_t at = position_of(last.base) + last.bytes.size() - 1;
  const std::byte flipped[1] = {last.bytes.back() ^ std::byte{0x20}};
  ASSERT_TRUE(fs_->corrupt(segment_path(Offset(0), ".log"), at, flipped));
  expect_last_batch_cut(last.bytes.size());
}

TEST_F(TornWrite, WrongBaseOffsetInTheTailBatchIsCut) {
  five_batches_then_unclean();
  const auto& last = model_.batches().back();
  std::byte base[8];
  store_be<std::int64_t>(base, last.base.value() + 1);  // outside the CRC: only the chain says
  ASSERT_TRUE(fs_->corrupt(segment_path(Offset(0), ".log"), position_of(last.base), base));
  expect_last_batch_cut(last.bytes.size());
}

TEST_F(TornWrite, LowerTermInTheTailBatchIsCut) {
  five_batches_then_unclean();
  const auto& last = model_.batches().back();
  std::byte epoch[4];
  store_be<std::int32_t>(epoch, 0);  // below the term 1 of the batches before it
  ASSERT_TRUE(fs_->corrupt(segment_path(Offset(0), ".log"),
                           position_of(last.base) + protocol::batch_field::kPartitionLeaderEpoch,
                           epoch));
  expect_last_batch_cut(last.bytes.size());
}

// Every prefix of the last batch, from nothing to all of it, on a file whose
// earlier batches are whole.
TEST_F(TornWrite, BatchCutAtEveryByteOfTheLastBatch) {
  five_batches_then_unclean();
  auto image = fs_->contents(segment_path(Offset(0), ".log"));
  ASSERT_TRUE(image);
  const auto& last = model_.batches().back();
  const std::uint64_t last_at = position_of(last.base);
  const LogModel full = model_;
  for (std::uint64_t k = 0; k <= last.bytes.size(); ++k) {
    SCOPED_TRACE(::testing::Message() << "kept " << k << " of " << last.bytes.size());
    MemFs fs;
    ASSERT_TRUE(fs.create_directories(kDir));
    auto file = fs.open(segment_path(Offset(0), ".log"), OpenMode::create);
    ASSERT_TRUE(file);
    ASSERT_TRUE((*file)->append(std::span(*image).first(last_at + k)));
    ASSERT_TRUE((*file)->sync());
    ASSERT_TRUE(fs.sync_directory(kDir));
    auto opened = PartitionLog::open(fs, kDir, config_, clock_);
    ASSERT_TRUE(opened) << opened.error();
    auto& log = **opened;
    const bool whole = k == last.bytes.size();
    EXPECT_EQ(log.end_offset(), whole ? last.next : last.base);
    EXPECT_EQ(log.recovery().cut_reason.has_value(), k > 0 && !whole);
    EXPECT_EQ(log.recovery().bytes_cut, whole ? 0 : k);
    LogModel expected = full;
    expected.truncate(log.end_offset());
    EXPECT_EQ(compare_with_model(log, expected), "");
    EXPECT_EQ((*file)->size(), whole ? image->size() : last_at);
  }
}

TEST_F(TornWrite, ZeroFilledTailIsCut) {
  five_batches_then_unclean();
  const auto path = segment_path(Offset(0), ".log");
  const std::uint64_t size = fs_->contents(path)->size();
  // The file system grew the file but the data never reached the disk.
  ASSERT_TRUE(fs_->set_size_durable(path, size + 4096));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->recovery().cut_reason.has_value());
  EXPECT_EQ(log->recovery().bytes_cut, 4096U);
  EXPECT_EQ(log->end_offset(), model_.end());
  EXPECT_EQ(compare_with_model(*log, model_), "");
  EXPECT_EQ(fs_->contents(path)->size(), size);
}

TEST_F(TornWrite, ZeroedPagesOverTheTailBatchAreCut) {
  five_batches_then_unclean();
  const auto& last = model_.batches().back();
  const std::vector<std::byte> zeros(last.bytes.size() - 20, std::byte{0});
  ASSERT_TRUE(fs_->corrupt(segment_path(Offset(0), ".log"), position_of(last.base) + 20, zeros));
  expect_last_batch_cut(last.bytes.size());
}

TEST_F(TornWrite, GarbageAfterTheLastBatchIsCut) {
  five_batches_then_unclean();
  const auto path = segment_path(Offset(0), ".log");
  const std::uint64_t size = fs_->contents(path)->size();
  std::vector<std::byte> garbage(777);
  for (auto& b : garbage) b = static_cast<std::byte>(rng_.next());
  ASSERT_TRUE(fs_->corrupt(path, size, garbage));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->recovery().cut_reason.has_value());
  EXPECT_EQ(log->recovery().bytes_cut, garbage.size());
  EXPECT_EQ(log->end_offset(), model_.end());
  EXPECT_EQ(compare_with_model(*log, model_), "");
}

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
    auto names = fs_->list_directory(kDir);
    ASSERT_TRUE(names);
    EXPECT_EQ(unexpected_files(*fs_, kDir, log.segment_count()), "");
  }

  std::size_t segments_ = 0;
  Offset sealed_;
};

TEST_F(TornIndexes, MissingOffsetIndexOfASealedSegmentIsRebuilt) {
  build();
  ASSERT_TRUE(fs_->remove(segment_path(sealed_, ".index")));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_GE(log->recovery().indexes_rebuilt, 1U);
  EXPECT_EQ(*fs_->entry_type(segment_path(sealed_, ".index")), EntryType::file);
  expect_fully_usable(*log);
  // Rebuilt for good: the next clean restart trusts it.
  ASSERT_TRUE(log->close());
  log = open_log();
  EXPECT_TRUE(log->recovery().clean);
  expect_fully_usable(*log);
}

TEST_F(TornIndexes, MissingTimeIndexOfASealedSegmentIsRebuilt) {
  build();
  ASSERT_TRUE(fs_->remove(segment_path(sealed_, ".timeindex")));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_GE(log->recovery().indexes_rebuilt, 1U);
  EXPECT_EQ(*fs_->entry_type(segment_path(sealed_, ".timeindex")), EntryType::file);
  expect_fully_usable(*log);
}

// A well-formed index (right magic, right CRC) whose entries point past the
// data the .log holds.
TEST_F(TornIndexes, IndexAheadOfTheLogIsRebuilt) {
  build();
  const std::uint64_t size = fs_->contents(segment_path(sealed_, ".log"))->size();
  const auto ahead = encode_offset_index({{1, 100},
                                          {50, static_cast<std::uint32_t>(size + 10)},
                                          {90, static_cast<std::uint32_t>(size + 900)}});
  ASSERT_TRUE(fs_->set_size_durable(segment_path(sealed_, ".index"), 0));
  ASSERT_TRUE(fs_->corrupt(segment_path(sealed_, ".index"), 0, ahead));
  const auto time_ahead = encode_time_index({{ts_ + 1'000'000, 100000}});
  ASSERT_TRUE(fs_->set_size_durable(segment_path(sealed_, ".timeindex"), 0));
  ASSERT_TRUE(fs_->corrupt(segment_path(sealed_, ".timeindex"), 0, time_ahead));
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
  const std::uint64_t size = fs_->contents(segment_path(sealed_, ".log"))->size();
  const auto ahead = encode_offset_index({{3, static_cast<std::uint32_t>(size + 10)}});
  ASSERT_TRUE(fs_->set_size_durable(segment_path(sealed_, ".index"), 0));
  ASSERT_TRUE(fs_->corrupt(segment_path(sealed_, ".index"), 0, ahead));
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
  ASSERT_TRUE(fs_->corrupt(segment_path(sealed_, ".index"), 0, garbage));
  ASSERT_TRUE(fs_->corrupt(segment_path(sealed_, ".timeindex"), 0, garbage));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_GE(log->recovery().indexes_rebuilt, 1U);
  expect_fully_usable(*log);
}

TEST_F(TornIndexes, EmptyIndexFileIsRebuilt) {
  build();
  ASSERT_TRUE(fs_->set_size_durable(segment_path(sealed_, ".index"), 0));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  expect_fully_usable(*log);
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
  fs_->crash();  // power loss after the clean close: only durable bytes remain
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
  fs_->crash();
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
  auto names = fs_->list_directory(kDir);
  ASSERT_TRUE(names);
  std::filesystem::path last_log;
  for (const auto& n : *names) {
    if (n.ends_with(".log")) last_log = kDir / n;
  }
  const std::uint64_t size = fs_->contents(last_log)->size();
  ASSERT_TRUE(fs_->corrupt(last_log, size, to_bytes("more bytes than the marker says")));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_FALSE(log->recovery().clean);
  EXPECT_GE(log->recovery().segments_scanned, 1U);
  EXPECT_TRUE(log->recovery().cut_reason.has_value());
  expect_fully_usable(*log);
  EXPECT_EQ(fs_->contents(last_log)->size(), size);
}

TEST_F(TornIndexes, CleanMarkerWithAnActiveLogShorterByAWholeBatchMeansAScan) {
  build();
  auto names = fs_->list_directory(kDir);
  ASSERT_TRUE(names);
  std::filesystem::path last_log;
  for (const auto& n : *names) {
    if (n.ends_with(".log")) last_log = kDir / n;
  }
  const auto& last = model_.batches().back();
  const std::uint64_t size = fs_->contents(last_log)->size();
  ASSERT_GT(size, last.bytes.size());
  ASSERT_TRUE(fs_->set_size_durable(last_log, size - last.bytes.size()));
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
  auto names = fs_->list_directory(kDir);
  ASSERT_TRUE(names);
  std::filesystem::path last_log;
  for (const auto& n : *names) {
    if (n.ends_with(".log")) last_log = kDir / n;
  }
  const std::uint64_t size = fs_->contents(last_log)->size();
  ASSERT_TRUE(fs_->set_size_durable(last_log, size - 5));
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
    const auto first_size = fs_->contents(segment_path(Offset(0), ".log"))->size();
    std::uint64_t at = 0;
    for (const auto& b : model_.batches()) {
      if (at >= first_size) break;
      first_segment_.push_back({at, &b});
      at += b.bytes.size();
    }
    ASSERT_GE(first_segment_.size(), 3U);
  }

  void expect_corrupt_and_untouched() {
    const auto before = fs_->contents(segment_path(Offset(0), ".log"));
    auto names_before = fs_->list_directory(kDir);
    auto log = try_open();
    ASSERT_FALSE(log) << "damage in a sealed, durable segment was accepted";
    EXPECT_EQ(log.error().code(), Errc::corrupt_log) << log.error();
    // Nothing was cut: the evidence stays for an operator.
    EXPECT_EQ(fs_->contents(segment_path(Offset(0), ".log"))->size(), before->size());
    EXPECT_EQ(*fs_->list_directory(kDir), *names_before);
  }

  std::size_t segments_ = 0;
  std::vector<std::pair<std::uint64_t, const spate::testing::ModelBatch*>> first_segment_;
};

TEST_F(SealedDamage, BadLengthInTheMiddleOfASealedSegmentIsCorruptLog) {
  build();
  const auto [at, batch] = first_segment_[1];
  std::byte length[4];
  store_be<std::int32_t>(length, static_cast<std::int32_t>(batch->bytes.size() - 12 + 8));
  ASSERT_TRUE(fs_->corrupt(segment_path(Offset(0), ".log"),
                           at + protocol::batch_field::kBatchLength, length));
  expect_corrupt_and_untouched();
}

TEST_F(SealedDamage, WrongBaseOffsetInTheMiddleOfASealedSegmentIsCorruptLog) {
  build();
  const auto [at, batch] = first_segment_[1];
  std::byte base[8];
  store_be<std::int64_t>(base, batch->base.value() + 1000);
  ASSERT_TRUE(fs_->corrupt(segment_path(Offset(0), ".log"), at, base));
  expect_corrupt_and_untouched();
}

TEST_F(SealedDamage, SealedSegmentCutShortIsCorruptLog) {
  build();
  const auto [at, batch] = first_segment_.back();
  ASSERT_TRUE(fs_->set_size_durable(segment_path(Offset(0), ".log"), at + batch->bytes.size() / 2));
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
  ASSERT_TRUE(fs_->corrupt(segment_path(Offset(6), ".log"), at, flipped));
  log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->recovery().cut_reason.has_value());
  EXPECT_EQ(log->recovery().segments_removed, 1U);
  EXPECT_EQ(log->end_offset(), Offset(8));
  EXPECT_EQ(log->segment_count(), 2U);
  model_.truncate(Offset(8));
  EXPECT_EQ(compare_with_model(*log, model_), "");
  EXPECT_EQ(unexpected_files(*fs_, kDir, log->segment_count()), "");
}

// ---------------------------------------------------------------- the directory

TEST_F(TornWrite, ForeignFileInThePartitionDirectoryIsAClearError) {
  { auto log = open_log(); }
  auto file = fs_->open(kDir / "notes.txt", OpenMode::create);
  ASSERT_TRUE(file);
  ASSERT_TRUE((*file)->append(to_bytes("hello")));
  auto log = try_open();
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code(), Errc::malformed) << log.error();
  EXPECT_NE(log.error().message().find("notes.txt"), std::string::npos) << log.error();
  // Moving it away is enough.
  ASSERT_TRUE(fs_->remove(kDir / "notes.txt"));
  EXPECT_TRUE(try_open());
}

TEST_F(TornWrite, SegmentNameWithTooFewDigitsIsForeign) {
  { auto log = open_log(); }
  ASSERT_TRUE(fs_->open(kDir / "0000.log", OpenMode::create));
  auto log = try_open();
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code(), Errc::malformed) << log.error();
  EXPECT_NE(log.error().message().find("0000.log"), std::string::npos) << log.error();
}

TEST_F(TornWrite, PartitionPathThatIsAFileIsAClearError) {
  ASSERT_TRUE(fs_->open(kDir, OpenMode::create));
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
  ASSERT_TRUE(fs_->open(kDir / "recovery.point.tmp", OpenMode::create));
  ASSERT_TRUE(fs_->open(segment_path(Offset(500), ".index"), OpenMode::create));
  ASSERT_TRUE(fs_->open(segment_path(Offset(500), ".timeindex"), OpenMode::create));
  auto log = open_log();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(unexpected_files(*fs_, kDir, log->segment_count()), "");
  EXPECT_EQ(compare_with_model(*log, model_), "");
}

TEST_F(TornWrite, DamagedRecoveryPointMeansAScanOfEverything) {
  config_.segment_bytes_max = 2000;
  {
    auto log = open_log();
    for (int i = 0; i < 12; ++i) append(*log, 2, 200);
    ASSERT_TRUE(log->flush());
  }
  ASSERT_TRUE(fs_->corrupt(kDir / "recovery.point", 10, to_bytes("xx")));
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
  ASSERT_TRUE(fs_->corrupt(kDir / "start.offset", 12, to_bytes("zz")));
  auto log = try_open();
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code(), Errc::corrupt_log) << log.error();
}

}  // namespace
}  // namespace spate::storage
